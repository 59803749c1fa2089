"""A report as one CSV file in long form: a header row, then one row per figure.

RFC 4180 (comma-separated, CRLF line ends, quotes only where needed), UTF-8 without a
byte-order mark. Columns:

- `section`: `metadata`, `totals`, `payments`, `gaming`, `daily`, `fairness`, `kyc_aml`,
  `incidents` or `responsible_gambling`.
- `item`: what the row counts (`deposit`, `stakes`, `ggr`, `checks`, `opened`…); in
  `metadata`, the field's name.
- `label`: the first thing the row is about: payment method, game kind, day, game id, KYC
  level, alert family, case outcome, incident kind or limit kind; empty if none.
- `detail`: the second: payment status, KYC status, alert severity or incident priority.
- `currency`: ISO 4217 code of `amount_minor`; empty on a row without money.
- `count`: a number of things (payments, bets, checks, players, alerts…).
- `amount_minor`: money in minor units of `currency`, an integer (GGR may be negative).
- `amount_base_minor`: the same money in minor units of the report's base currency (the
  `base_currency` metadata row); on figures that exist only in the base currency (totals,
  daily GGR) it equals `amount_minor`.
- `value`: anything else: the metadata values, the RNG anomaly threshold.

UKGC's gross gambling yield is written `ggy` where the other markets write `ggr`, as each
report's own words; rows are in the order of `ReportData`, so the same data always gives
the same bytes.

A text cell that a spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`,
a tab or a carriage return) is written with a leading `'`; numbers are never altered, so a
negative GGR stays a number.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC
from typing import Final

from regapi.reports.model import ReportData
from regapi.reports.templates import template

COLUMNS: Final = (
    "section",
    "item",
    "label",
    "detail",
    "currency",
    "count",
    "amount_minor",
    "amount_base_minor",
    "value",
)
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")

Cell = str | int | float | None


def render_csv(data: ReportData) -> bytes:
    """The report as CSV (see the module's docstring for the columns)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows([_cell(c) for c in row] for row in _rows(data))
    return buffer.getvalue().encode("utf-8")


def neutralise(text: str) -> str:
    """`text`, with a leading `'` if a spreadsheet would run it as a formula."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _cell(value: Cell) -> str | int:
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, float):
        return repr(value)
    return value


def _row(
    section: str,
    item: str,
    *,
    label: Cell = None,
    detail: Cell = None,
    currency: str | None = None,
    count: int | None = None,
    amount: int | None = None,
    amount_base: int | None = None,
    value: Cell = None,
) -> tuple[Cell, ...]:
    return (section, item, label, detail, currency, count, amount, amount_base, value)


def _rows(data: ReportData) -> Iterator[tuple[Cell, ...]]:
    t = template(data.market)
    ggr = t.ggr_label.lower()
    base = data.base_currency
    generated_at = data.generated_at
    if generated_at.tzinfo is None or generated_at.utcoffset() is None:
        raise ValueError(f"generated_at: {generated_at.isoformat()} has no time zone")
    meta: list[tuple[str, Cell]] = [
        ("market", data.market),
        ("market_name", data.market_name),
        ("operator", data.operator.name),
        ("licence", data.operator.licence),
        ("period", data.period),
        ("period_kind", data.period_kind),
        ("start", data.start.isoformat()),
        ("end", data.end.isoformat()),
        ("timezone", data.timezone),
        ("base_currency", base),
        ("generated_at", generated_at.astimezone(UTC).isoformat().replace("+00:00", "Z")),
        ("revision", data.revision),
        ("events", data.events),
    ]
    for key, value in meta:
        yield _row("metadata", key, value=value)

    totals = data.financial.totals
    for item, amount in (
        ("deposits", totals.deposits),
        ("withdrawals", totals.withdrawals),
        ("chargebacks", totals.chargebacks),
        ("stakes", totals.stakes),
        ("wins", totals.wins),
        (ggr, totals.ggr),
    ):
        yield _row("totals", item, currency=base, amount=amount, amount_base=amount)

    for p in data.financial.payments:
        yield _row(
            "payments",
            p.direction,
            label=p.method,
            detail=p.status,
            currency=p.currency,
            count=p.count,
            amount=p.amount,
            amount_base=p.amount_base,
        )
    for g in data.financial.gaming:
        yield _row("gaming", "bets", label=g.game_kind, count=g.bets)
        yield _row("gaming", "stakes", label=g.game_kind, currency=g.currency, amount=g.stakes)
        yield _row("gaming", "wins", label=g.game_kind, currency=g.currency, amount=g.wins)
        yield _row(
            "gaming",
            ggr,
            label=g.game_kind,
            currency=g.currency,
            amount=g.ggr,
            amount_base=g.ggr_base,
        )
    for d in data.financial.daily:
        yield _row(
            "daily",
            ggr,
            label=d.day.isoformat(),
            currency=base,
            amount=d.ggr_base,
            amount_base=d.ggr_base,
        )

    fairness = data.fairness
    yield _row("fairness", "anomaly_threshold", value=float(fairness.threshold))
    yield _row("fairness", "anomaly_incidents", count=fairness.incidents)
    for r in fairness.games:
        yield _row("fairness", "checks", label=r.game_id, count=r.checks)
        yield _row("fairness", "anomalies", label=r.game_id, count=r.anomalies)

    kyc = data.kyc_aml
    yield _row("kyc_aml", "active_players", count=kyc.active_players)
    yield _row("kyc_aml", "sars_filed", count=kyc.sars_filed)
    for v in kyc.verifications:
        yield _row("kyc_aml", "verifications", label=v.level, detail=v.status, count=v.count)
    for a in kyc.alerts:
        yield _row("kyc_aml", "alerts", label=a.family, detail=a.severity, count=a.count)
    for c in kyc.cases:
        yield _row("kyc_aml", "cases", label=c.outcome, count=c.count)

    for i in data.incidents:
        yield _row("incidents", "opened", label=i.kind, detail=i.priority, count=i.opened)
        yield _row("incidents", "closed", label=i.kind, detail=i.priority, count=i.closed)

    yield _row("responsible_gambling", "self_exclusions", count=data.responsible.self_exclusions)
    for limit in data.responsible.limits:
        yield _row(
            "responsible_gambling", "limit_changes", label=limit.limit_kind, count=limit.count
        )
