"""What a regulatory report says, independent of its format.

`regapi.reports.collect` fills a `ReportData` from the database for one market and
period; the renderers (`render_csv`, `render_xml`, `render_pdf`) turn the same value into
each format, so the three files of a report always agree.

Money is an integer in minor units of the row's currency; `*_base` fields are the same
money in the market's base currency (EUR for MGA, GBP for UKGC, USD for Curaçao),
converted day by day at the rate in force on the day.
"""

from __future__ import annotations

from datetime import date, datetime

import msgspec


class Operator(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    licence: str  # the licence the report is filed under, e.g. MGA/B2C/123/2019


class PaymentRow(msgspec.Struct, frozen=True, kw_only=True):
    """Deposits, withdrawals or chargebacks of one method, currency and status."""

    direction: str  # deposit | withdrawal | chargeback
    method: str  # card, ewallet… ('' for a chargeback, which names none)
    currency: str
    status: str  # approved, declined… ('' when the event had none)
    count: int
    amount: int
    amount_base: int


class GamingRow(msgspec.Struct, frozen=True, kw_only=True):
    """Stakes and wins of one game kind and currency; GGR is stakes less wins."""

    game_kind: str
    currency: str
    bets: int
    stakes: int
    wins: int
    ggr: int
    ggr_base: int


class DailyGgr(msgspec.Struct, frozen=True, kw_only=True):
    day: date  # in the market's time zone
    ggr_base: int


class Totals(msgspec.Struct, frozen=True, kw_only=True):
    """The period's money in the base currency (approved payments only)."""

    deposits: int
    withdrawals: int
    chargebacks: int
    stakes: int
    wins: int
    ggr: int


class Financial(msgspec.Struct, frozen=True, kw_only=True):
    payments: tuple[PaymentRow, ...]
    gaming: tuple[GamingRow, ...]
    totals: Totals
    daily: tuple[DailyGgr, ...]  # one per day of the period, zero on a day without play


class RngRow(msgspec.Struct, frozen=True, kw_only=True):
    game_id: str
    checks: int
    anomalies: int  # checks with p < `Fairness.threshold`


class Fairness(msgspec.Struct, frozen=True, kw_only=True):
    threshold: float  # the p-value under which a check counts as an anomaly
    games: tuple[RngRow, ...]
    incidents: int  # RNG_anomaly incidents opened in the period


class KycRow(msgspec.Struct, frozen=True, kw_only=True):
    level: int
    status: str
    count: int  # KYC updates in the period at this level and status


class AlertRow(msgspec.Struct, frozen=True, kw_only=True):
    family: str  # the rule family, e.g. aml_core
    severity: str
    count: int  # alerts first raised in the period


class CaseRow(msgspec.Struct, frozen=True, kw_only=True):
    outcome: str  # cleared | escalated | restricted
    count: int  # cases that reached the outcome in the period


class KycAml(msgspec.Struct, frozen=True, kw_only=True):
    active_players: int  # players with at least one event in the period
    verifications: tuple[KycRow, ...]
    alerts: tuple[AlertRow, ...]
    cases: tuple[CaseRow, ...]
    sars_filed: int


class IncidentRow(msgspec.Struct, frozen=True, kw_only=True):
    kind: str  # AML_suspect, RNG_anomaly, self_exclusion_event
    priority: int  # 1 (most urgent) .. 4
    opened: int  # opened in the period
    closed: int  # of those, closed by the period's end


class LimitRow(msgspec.Struct, frozen=True, kw_only=True):
    limit_kind: str  # deposit, loss, session…
    count: int  # limit changes in the period


class ResponsibleGambling(msgspec.Struct, frozen=True, kw_only=True):
    limits: tuple[LimitRow, ...]
    self_exclusions: int


class ReportData(msgspec.Struct, frozen=True, kw_only=True):
    """One market's report for one period. Rows are sorted by their leading fields, so
    the same data always renders to the same bytes."""

    market: str  # MGA, UKGC, CW
    market_name: str  # Malta Gaming Authority…
    period: str  # e.g. monthly/2026-01
    period_kind: str
    start: date  # first day, in the market's time zone
    end: date  # first day after the period
    timezone: str  # e.g. Europe/Malta
    base_currency: str
    revision: int
    generated_at: datetime  # UTC
    operator: Operator
    events: int  # events the period's figures are computed from
    financial: Financial
    fairness: Fairness
    kyc_aml: KycAml
    incidents: tuple[IncidentRow, ...]
    responsible: ResponsibleGambling
