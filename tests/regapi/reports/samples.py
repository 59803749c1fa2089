"""Report data as the collector would give it, for the renderers' tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec

from dsl.vocabulary import MARKETS
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
from regapi.reports.templates import TEMPLATES

MARKET_CODES = tuple(TEMPLATES)  # MGA, UKGC, CW
# The other currency players of each market pay in, and what one minor unit of it is
# worth in the base currency (in thousandths), so base amounts are believable.
_FOREIGN = {"MGA": ("USD", 920), "UKGC": ("EUR", 850), "CW": ("EUR", 1080)}


def _base(amount: int, rate: int) -> int:
    return amount * rate // 1000


def sample_report(market: str = "MGA", **overrides: Any) -> ReportData:
    """A month of a mid-sized operator's figures in `market`: payments in the base and
    one foreign currency, a game kind whose wins exceed its stakes, every section
    filled. `overrides` replace top-level fields (`period=`, `incidents=()`…)."""
    m = MARKETS[market]
    base, (foreign, rate) = m.currency, _FOREIGN[market]
    payments = (
        PaymentRow(
            direction="chargeback",
            method="",
            currency=base,
            status="",
            count=2,
            amount=15_000,
            amount_base=15_000,
        ),
        PaymentRow(
            direction="deposit",
            method="card",
            currency=base,
            status="approved",
            count=412,
            amount=12_345_678,
            amount_base=12_345_678,
        ),
        PaymentRow(
            direction="deposit",
            method="card",
            currency=base,
            status="declined",
            count=37,
            amount=980_000,
            amount_base=980_000,
        ),
        PaymentRow(
            direction="deposit",
            method="ewallet",
            currency=foreign,
            status="approved",
            count=95,
            amount=2_500_000,
            amount_base=_base(2_500_000, rate),
        ),
        PaymentRow(
            direction="withdrawal",
            method="bank_transfer",
            currency=base,
            status="approved",
            count=120,
            amount=7_654_321,
            amount_base=7_654_321,
        ),
        PaymentRow(
            direction="withdrawal",
            method="ewallet",
            currency=foreign,
            status="approved",
            count=14,
            amount=410_000,
            amount_base=_base(410_000, rate),
        ),
    )
    gaming = (
        GamingRow(
            game_kind="live",
            currency=base,
            bets=8_200,
            stakes=4_100_000,
            wins=4_350_000,
            ggr=-250_000,
            ggr_base=-250_000,
        ),
        GamingRow(
            game_kind="slot",
            currency=base,
            bets=153_000,
            stakes=21_500_000,
            wins=20_400_000,
            ggr=1_100_000,
            ggr_base=1_100_000,
        ),
        GamingRow(
            game_kind="slot",
            currency=foreign,
            bets=21_000,
            stakes=3_000_000,
            wins=2_700_000,
            ggr=300_000,
            ggr_base=_base(300_000, rate),
        ),
        GamingRow(
            game_kind="sport",
            currency=base,
            bets=2_400,
            stakes=900_000,
            wins=610_000,
            ggr=290_000,
            ggr_base=290_000,
        ),
    )
    approved = [p for p in payments if p.status in ("approved", "")]
    totals = Totals(
        deposits=sum(p.amount_base for p in approved if p.direction == "deposit"),
        withdrawals=sum(p.amount_base for p in approved if p.direction == "withdrawal"),
        chargebacks=sum(p.amount_base for p in approved if p.direction == "chargeback"),
        stakes=sum(g.stakes for g in gaming if g.currency == base)
        + sum(_base(g.stakes, rate) for g in gaming if g.currency != base),
        wins=sum(g.wins for g in gaming if g.currency == base)
        + sum(_base(g.wins, rate) for g in gaming if g.currency != base),
        ggr=sum(g.ggr_base for g in gaming),
    )
    start = date(2026, 1, 1)
    # A month of days that add up to the total, one of them a losing day.
    days = [totals.ggr // 31] * 31
    days[14] = -days[14]
    days[0] += totals.ggr - sum(days)
    daily = tuple(DailyGgr(day=start + timedelta(days=i), ggr_base=g) for i, g in enumerate(days))
    data = ReportData(
        market=market,
        market_name=m.name,
        period="monthly/2026-01",
        period_kind="monthly",
        start=start,
        end=date(2026, 2, 1),
        timezone=m.timezone,
        base_currency=base,
        revision=1,
        generated_at=datetime(2026, 2, 1, 3, 15, 7, tzinfo=UTC),
        operator=Operator(name="Example Casino Ltd", licence=TEMPLATES[market].licence_example),
        events=1_250_431,
        financial=Financial(payments=payments, gaming=gaming, totals=totals, daily=daily),
        fairness=Fairness(
            threshold=0.001,
            games=(
                RngRow(game_id="blackjack-eu-7", checks=31, anomalies=0),
                RngRow(game_id="roulette-live-2", checks=31, anomalies=1),
                RngRow(game_id="starburst", checks=62, anomalies=0),
            ),
            incidents=1,
        ),
        kyc_aml=KycAml(
            active_players=5_873,
            verifications=(
                KycRow(level=1, status="verified", count=640),
                KycRow(level=2, status="pending", count=85),
                KycRow(level=2, status="verified", count=212),
                KycRow(level=3, status="rejected", count=9),
            ),
            alerts=(
                AlertRow(family="aml_core", severity="high", count=14),
                AlertRow(family="aml_core", severity="medium", count=57),
                AlertRow(family="bonus_abuse", severity="low", count=23),
            ),
            cases=(
                CaseRow(outcome="cleared", count=31),
                CaseRow(outcome="escalated", count=4),
                CaseRow(outcome="restricted", count=2),
            ),
            sars_filed=3,
        ),
        incidents=(
            IncidentRow(kind="AML_suspect", priority=2, opened=4, closed=3),
            IncidentRow(kind="RNG_anomaly", priority=1, opened=1, closed=1),
            IncidentRow(kind="self_exclusion_event", priority=3, opened=11, closed=11),
        ),
        responsible=ResponsibleGambling(
            limits=(
                LimitRow(limit_kind="deposit", count=143),
                LimitRow(limit_kind="loss", count=38),
                LimitRow(limit_kind="session", count=12),
            ),
            self_exclusions=11,
        ),
    )
    return msgspec.structs.replace(data, **overrides)


def empty_report(market: str = "MGA", **overrides: Any) -> ReportData:
    """A quiet day: no payments, no play, nothing to count, one daily figure of zero."""
    data = sample_report(market)
    day = date(2026, 1, 15)
    quiet = msgspec.structs.replace(
        data,
        period=f"daily/{day.isoformat()}",
        period_kind="daily",
        start=day,
        end=day + timedelta(days=1),
        events=0,
        financial=Financial(
            payments=(),
            gaming=(),
            totals=Totals(deposits=0, withdrawals=0, chargebacks=0, stakes=0, wins=0, ggr=0),
            daily=(DailyGgr(day=day, ggr_base=0),),
        ),
        fairness=Fairness(threshold=0.001, games=(), incidents=0),
        kyc_aml=KycAml(active_players=0, verifications=(), alerts=(), cases=(), sars_filed=0),
        incidents=(),
        responsible=ResponsibleGambling(limits=(), self_exclusions=0),
    )
    return msgspec.structs.replace(quiet, **overrides)
