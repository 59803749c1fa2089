"""One market's report for one period, read from the database into a `ReportData`.

Money, payments, play, RNG checks, KYC updates and limits come from the daily roll-up
(`regapi.reports.rollup`), so a monthly report sums at most 31 rows per breakdown instead
of rescanning a month of events. Alerts, cases, incidents and SARs are counted from their
own tables over the period's instants in the market's time zone. A row with no market of
its own (an alert, a case, an incident) takes the market of the event that started it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from engine.fx import RateTable
from engine.incidents import RNG_P1
from regapi.periods import Period
from regapi.reports import rollup
from regapi.reports.model import (
    AlertRow,
    CaseRow,
    DailyGgr,
    Fairness,
    Financial,
    GamingRow,
    IncidentRow,
    KycAml,
    KycRow,
    LimitRow,
    Operator,
    PaymentRow,
    ReportData,
    ResponsibleGambling,
    RngRow,
    Totals,
)
from regapi.reports.templates import template

_PAYMENTS = ("deposit", "withdrawal", "chargeback")
_OUTCOMES = ("cleared", "escalated", "restricted")
# The only status a payment's money counts under; a declined deposit moved nothing.
_APPROVED = "approved"

# The market an alert, case or incident belongs to: that of the event that raised it.
_ALERT_MARKET = "(SELECT d.market FROM decisions d WHERE d.event_id = a.first_event)"
_CASE_MARKET = (
    "(SELECT d.market FROM alerts a JOIN decisions d ON d.event_id = a.first_event "
    "WHERE a.case_id = c.id ORDER BY a.id LIMIT 1)"
)


def instants(period: Period, zone: str) -> tuple[datetime, datetime]:
    """The period's first instant and the first instant after it, in UTC."""
    tz = ZoneInfo(zone)
    lo = datetime.combine(period.start, time(), tz).astimezone(UTC)
    hi = datetime.combine(period.end, time(), tz).astimezone(UTC)
    return lo, hi


async def collect(
    conn: asyncpg.Connection,
    *,
    market: str,
    period: Period,
    operator: Operator,
    revision: int,
    generated_at: datetime,
    fx: RateTable | None = None,
) -> ReportData:
    """The report's figures; the roll-up must have been refreshed first."""
    t = template(market)
    base = t.market.currency
    fx = fx or RateTable.default()
    days = await rollup.rows(conn, market, period.start, period.end)
    lo, hi = instants(period, t.market.timezone)

    def to_base(amount: int, currency: str, day: date) -> int:
        if not currency or amount == 0:
            return 0
        at_ms = int(datetime.combine(day, time(12), UTC).timestamp() * 1000)
        return fx.convert_minor(amount, currency, base, at_ms)

    payments: dict[tuple[str, str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    gaming: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    ggr_by_day: dict[date, int] = defaultdict(int)
    rng: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    kyc: dict[tuple[int, str], int] = defaultdict(int)
    limits: dict[str, int] = defaultdict(int)
    self_exclusions = events = 0
    totals = dict.fromkeys(("deposit", "withdrawal", "chargeback", "bet", "win"), 0)
    for r in days:
        events += r.events
        if r.type in _PAYMENTS:
            cell = payments[(r.type, r.kind, r.currency, r.status)]
            cell[0] += r.events
            cell[1] += r.amount
            converted = to_base(r.amount, r.currency, r.day)
            cell[2] += converted
            # A chargeback has no status: the money is already gone.
            if r.status == _APPROVED or r.type == "chargeback":
                totals[r.type] += converted
        elif r.type in ("bet", "win"):
            cell = gaming[(r.kind, r.currency)]
            converted = to_base(r.amount, r.currency, r.day)
            if r.type == "bet":
                cell[0] += r.events
                cell[1] += r.amount
                cell[3] += converted
                ggr_by_day[r.day] += converted
            else:
                cell[2] += r.amount
                cell[3] -= converted
                ggr_by_day[r.day] -= converted
            totals[r.type] += converted
        elif r.type == "rng_check":
            rng[r.kind][0] += r.events
            rng[r.kind][1] += r.events if r.status == "anomaly" else 0
        elif r.type == "kyc_update" and r.kind.isdigit():
            kyc[(int(r.kind), r.status)] += r.events
        elif r.type == "limit_change":
            limits[r.kind] += r.events
        elif r.type == "self_exclusion":
            self_exclusions += r.events

    financial = Financial(
        payments=tuple(
            PaymentRow(
                direction=d, method=m, currency=c, status=s, count=n, amount=a, amount_base=b
            )
            for (d, m, c, s), (n, a, b) in sorted(
                payments.items(), key=lambda kv: (_PAYMENTS.index(kv[0][0]), kv[0][1:])
            )
        ),
        gaming=tuple(
            GamingRow(game_kind=k, currency=c, bets=n, stakes=s, wins=w, ggr=s - w, ggr_base=g)
            for (k, c), (n, s, w, g) in sorted(gaming.items())
        ),
        totals=Totals(
            deposits=totals["deposit"],
            withdrawals=totals["withdrawal"],
            chargebacks=totals["chargeback"],
            stakes=totals["bet"],
            wins=totals["win"],
            ggr=totals["bet"] - totals["win"],
        ),
        daily=tuple(
            DailyGgr(day=day, ggr_base=ggr_by_day.get(day, 0))
            for day in _days(period.start, period.end)
        ),
    )
    incidents = await _incidents(conn, market, lo, hi)
    return ReportData(
        market=market,
        market_name=t.market.name,
        period=str(period),
        period_kind=period.kind,
        start=period.start,
        end=period.end,
        timezone=t.market.timezone,
        base_currency=base,
        revision=revision,
        generated_at=generated_at,
        operator=operator,
        events=events,
        financial=financial,
        fairness=Fairness(
            threshold=RNG_P1,
            games=tuple(
                RngRow(game_id=g, checks=n, anomalies=a) for g, (n, a) in sorted(rng.items())
            ),
            incidents=sum(r.opened for r in incidents if r.kind == "RNG_anomaly"),
        ),
        kyc_aml=KycAml(
            active_players=await _active_players(conn, market, lo, hi),
            verifications=tuple(
                KycRow(level=lv, status=s, count=n) for (lv, s), n in sorted(kyc.items())
            ),
            alerts=await _alerts(conn, market, lo, hi),
            cases=await _cases(conn, market, lo, hi),
            sars_filed=await _sars(conn, market, lo, hi),
        ),
        incidents=incidents,
        responsible=ResponsibleGambling(
            limits=tuple(LimitRow(limit_kind=k, count=n) for k, n in sorted(limits.items())),
            self_exclusions=self_exclusions,
        ),
    )


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days)]


async def _active_players(conn: asyncpg.Connection, market: str, lo: datetime, hi: datetime) -> int:
    n: int = await conn.fetchval(
        "SELECT count(DISTINCT player_id) FROM events WHERE market = $1 AND ts >= $2 AND ts < $3",
        market,
        lo,
        hi,
    )
    return n


async def _alerts(
    conn: asyncpg.Connection, market: str, lo: datetime, hi: datetime
) -> tuple[AlertRow, ...]:
    rows = await conn.fetch(
        f"SELECT family, severity, count(*) AS n FROM alerts a "
        f"WHERE a.first_seen >= $2 AND a.first_seen < $3 AND {_ALERT_MARKET} = $1 "
        "GROUP BY family, severity ORDER BY family, severity",
        market,
        lo,
        hi,
    )
    return tuple(AlertRow(family=r["family"], severity=r["severity"], count=r["n"]) for r in rows)


async def _cases(
    conn: asyncpg.Connection, market: str, lo: datetime, hi: datetime
) -> tuple[CaseRow, ...]:
    # A case counts once per outcome it reached in the period (a case reopened and decided
    # again counts again: each decision is a decision the regulator may ask about).
    rows = await conn.fetch(
        f"""SELECT e.data->>'to' AS outcome, count(*) AS n
            FROM case_entries e JOIN cases c ON c.id = e.case_id
            WHERE e.kind = 'transition' AND e.data->>'to' = ANY($4::text[])
              AND e.at >= $2 AND e.at < $3 AND {_CASE_MARKET} = $1
            GROUP BY 1""",
        market,
        lo,
        hi,
        list(_OUTCOMES),
    )
    found = {r["outcome"]: r["n"] for r in rows}
    return tuple(CaseRow(outcome=o, count=found.get(o, 0)) for o in _OUTCOMES)


async def _sars(conn: asyncpg.Connection, market: str, lo: datetime, hi: datetime) -> int:
    n: int = await conn.fetchval(
        "SELECT count(*) FROM sars WHERE market = $1 AND filed_at >= $2 AND filed_at < $3",
        market,
        lo,
        hi,
    )
    return n


_INCIDENT_MARKET = """coalesce(
    (SELECT d.market FROM decisions d WHERE d.event_id = i.event_id),
    (SELECT d.market FROM alerts a JOIN decisions d ON d.event_id = a.first_event
     WHERE a.case_id = i.case_id ORDER BY a.id LIMIT 1))"""


async def _incidents(
    conn: asyncpg.Connection, market: str, lo: datetime, hi: datetime
) -> tuple[IncidentRow, ...]:
    rows = await conn.fetch(
        f"""SELECT i.kind, i.priority, count(*) AS opened,
                   count(*) FILTER (WHERE i.closed_at IS NOT NULL AND i.closed_at < $3) AS closed
            FROM incidents i
            WHERE i.opened_at >= $2 AND i.opened_at < $3 AND {_INCIDENT_MARKET} = $1
            GROUP BY 1, 2 ORDER BY 1, 2""",
        market,
        lo,
        hi,
    )
    return tuple(
        IncidentRow(kind=r["kind"], priority=r["priority"], opened=r["opened"], closed=r["closed"])
        for r in rows
    )
