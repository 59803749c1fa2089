"""What the engine says about an event: the decision, the rules that fired and why."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import msgspec

from dsl.checks.reasons import PLACEHOLDER
from dsl.compiler.program import ExplainItem, PolicyInfo, RuleInfo
from dsl.types import Kind
from dsl.values import format_duration
from dsl.vocabulary import MARKETS, minor_units
from engine.state import Interner

Scalar = str | int | float | bool | None


class Hit(msgspec.Struct, frozen=True, kw_only=True):
    """A rule evaluated on an event: whether it fired, and the values behind it."""

    policy: str
    rule: str
    fired: bool
    shadow: bool
    action: str
    score: int
    severity: str | None = None
    family: str | None = None
    reason: str | None = None
    values: dict[str, Scalar] = msgspec.field(default_factory=dict)


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """The engine's answer for one event."""

    event_id: str
    player_id: str
    market: str
    ts: int
    action: str
    score: int
    policies: dict[str, str]  # policy → its own decision
    hits: tuple[Hit, ...] = ()  # live rules that fired
    shadow: tuple[Hit, ...] = ()  # shadow rules that fired: recorded, never enforced
    evaluated: tuple[Hit, ...] = ()  # with record_all: every rule evaluated, fired or not


def typed_value(item: ExplainItem, raw: float, market: str, strings: Interner) -> object:
    """A kernel's raw float for an explained value → a Python value of the item's type.

    Money comes back as a `Decimal` in major units of the market's base currency."""
    if raw != raw:  # NaN: missing
        return None
    kind = item.type.kind
    if kind in (Kind.STRING, Kind.COUNTRY):
        return strings.lookup(int(raw)) if raw >= 0 else None
    if kind is Kind.INT:
        return int(raw)
    if kind is Kind.BOOL:
        return raw == 1.0
    if kind is Kind.MONEY:
        currency = MARKETS[market].currency
        return Decimal(repr(raw)) / (Decimal(10) ** minor_units(currency))
    return raw


def display(item: ExplainItem, value: object, market: str) -> Scalar:
    """How an explained value is shown to people and written to JSON."""
    if value is None:
        return None
    kind = item.type.kind
    if kind is Kind.MONEY:
        assert isinstance(value, Decimal)
        currency = MARKETS[market].currency
        places = Decimal(1).scaleb(-minor_units(currency))
        return f"{value.quantize(places)} {currency}"
    if kind is Kind.DURATION:
        assert isinstance(value, float)
        return format_duration(int(value))
    if kind is Kind.TIME:
        assert isinstance(value, float)
        return datetime.fromtimestamp(value / 1000, tz=UTC).isoformat().replace("+00:00", "Z")
    if kind is Kind.FLOAT:
        assert isinstance(value, float)
        return round(value, 6)
    assert isinstance(value, str | int | float | bool)
    return value


def render_reason(
    rule: RuleInfo, policy: PolicyInfo, market: str, values: dict[str, Scalar]
) -> str | None:
    """Fill a rule's `reason` template for one evaluation."""
    if rule.reason is None:
        return None
    params = policy.params.get(market, {})

    def fill(match: re.Match[str]) -> str:
        text = match[0]
        if text in ("{{", "}}"):
            return text[0]
        name = (match.group(1) or "").strip()
        if name == "score":
            return str(rule.scores.get(market, 0))
        if name in values:
            value = values[name]
            return "?" if value is None else str(value)
        if name in params:
            return str(params[name])
        return "?"

    return PLACEHOLDER.sub(fill, rule.reason)
