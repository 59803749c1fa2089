"""Scenario files: what population to simulate, which typologies to inject, how often.

A scenario is TOML. The shipped default (`simulator/data/default.toml`) spells out every
parameter with a comment; a user's file is laid over it key by key, so it names only what
it changes:

    [scenario]
    players = 2000
    [typologies.structuring]
    rate = 0.01

The merged document is validated into frozen msgspec Structs. Unknown keys, wrong types,
out-of-range numbers, weights that do not add up, ranges upside down and unknown codes all
raise `ScenarioError`, whose message starts with the dotted key (`typologies.structuring.
rate: …`). Money is given in EUR at the scenario's start and converted to each player's
currency with the shipped FX table; amounts are `[p5, p95]` ranges of a lognormal.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Final, TypeAlias

import msgspec
from msgspec import Meta, Struct

from simulator.vocab import (
    COUNTRY,
    CURRENCY,
    GAME_KINDS,
    MARKET_NAMES,
    METHODS,
    SEGMENTS,
    TYPOLOGIES,
)

__all__ = [
    "DEFAULT_SCENARIO",
    "Scenario",
    "ScenarioError",
    "dump_scenario",
    "load_scenario",
    "parse_scenario",
]

DEFAULT_SCENARIO: Final = "data/default.toml"

Share: TypeAlias = Annotated[float, Meta(ge=0.0, le=1.0)]
Positive: TypeAlias = Annotated[float, Meta(gt=0.0)]
NonNegative: TypeAlias = Annotated[float, Meta(ge=0.0)]
Count: TypeAlias = Annotated[int, Meta(ge=0)]
# A `[low, high]` pair; for amounts, the 5th and 95th percentiles of a lognormal.
Range: TypeAlias = tuple[NonNegative, NonNegative]
Weights: TypeAlias = dict[str, NonNegative]


class ScenarioError(Exception):
    """A scenario that cannot be used; `key` is the dotted path of the offending value."""

    def __init__(self, message: str, *, key: str | None = None, source: str | None = None):
        self.message = message
        self.key = key
        self.source = source
        where = ": ".join(part for part in (source, key) if part)
        super().__init__(f"{where}: {message}" if where else message)


class _InvalidError(ValueError):
    """Raised inside `__post_init__`: msgspec adds the Struct's path, `key` adds the field."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")


class _Section(Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    pass


def _range(owner: object, *names: str) -> None:
    for name in names:
        low, high = getattr(owner, name)
        if low > high:
            raise _InvalidError(
                name, f"range [{low:g}, {high:g}] has its low end above its high end"
            )


def _weights(value: Mapping[str, float], key: str, known: Mapping[str, int] | None) -> None:
    if not value:
        raise _InvalidError(key, "needs at least one entry")
    if known is not None:
        for name in value:
            if name not in known:
                raise _InvalidError(f"{key}.{name}", f"unknown code {name!r}")
    if sum(value.values()) <= 0:
        raise _InvalidError(key, "weights add up to 0")


class Run(_Section, frozen=True):
    name: str
    seed: Annotated[int, Meta(ge=0, le=2**63 - 1)]
    players: Annotated[int, Meta(ge=1, le=100_000_000)]
    days: Annotated[int, Meta(ge=1, le=366)]
    start: date
    # Players generated together from one random stream; rings, farms and households are
    # formed inside a block. Part of the data's definition: changing it changes the data.
    block_players: Annotated[int, Meta(ge=64, le=1_000_000)]


class Market(_Section, frozen=True):
    share: Share
    currencies: Weights
    countries: Weights
    methods: Weights

    def __post_init__(self) -> None:
        _weights(self.currencies, "currencies", CURRENCY)
        _weights(self.countries, "countries", COUNTRY)
        _weights(self.methods, "methods", dict.fromkeys(METHODS, 0))


class Markets(_Section, frozen=True):
    MGA: Market
    UKGC: Market
    CW: Market

    def __post_init__(self) -> None:
        total = sum(getattr(self, m).share for m in MARKET_NAMES)
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise _InvalidError("*.share", f"market shares add up to {total:g}, not 1")


class Payments(_Section, frozen=True):
    # Payment service providers per method, with their shares.
    psps: dict[str, Weights]
    # Instruments per player: cards and wallets they deposit with.
    instruments: Range
    declined_rate: Share

    def __post_init__(self) -> None:
        for method in METHODS:
            if method not in self.psps:
                raise _InvalidError(
                    f"psps.{method}", "missing: every payment method needs its PSPs"
                )
        for method, weights in self.psps.items():
            if method not in METHODS:
                raise _InvalidError(f"psps.{method}", f"unknown payment method {method!r}")
            _weights(weights, f"psps.{method}", None)
        _range(self, "instruments")


class Network(_Section, frozen=True):
    # Sessions on mobile data, behind a carrier's NAT: one address, many players.
    mobile_share: Share
    carrier_pool: Annotated[int, Meta(ge=1)]
    # A home address changes (DHCP lease, router restart) at this rate per session.
    home_ip_churn: Share
    # Hosting and VPN networks (ASNs) that VPN users and fraudsters connect through.
    hosting_asns: list[Annotated[int, Meta(ge=1, le=4_294_967_295)]]
    # Countries VPN exits and travellers' trips land in.
    abroad_countries: Weights

    def __post_init__(self) -> None:
        if not self.hosting_asns:
            raise _InvalidError("hosting_asns", "needs at least one ASN")
        _weights(self.abroad_countries, "abroad_countries", COUNTRY)


class Segment(_Section, frozen=True):
    share: Share
    # Mean sessions per week of an active player; players spread lognormally around it.
    sessions_per_week: Positive
    activity_spread: NonNegative
    hours: str
    game_mix: Weights
    bets_per_session: Positive
    stake: Range
    deposit: Range
    # Share of sessions that start with a deposit (the first session always does).
    deposit_rate: Share
    # Bonuses granted per active month.
    bonuses_per_month: NonNegative

    def __post_init__(self) -> None:
        _weights(self.game_mix, "game_mix", dict.fromkeys(GAME_KINDS, 0))
        _range(self, "stake", "deposit")


class Segments(_Section, frozen=True):
    casual_slots: Segment
    live_regular: Segment
    sports_bettor: Segment
    high_roller: Segment
    bonus_hunter: Segment
    night_owl: Segment

    def __post_init__(self) -> None:
        total = sum(getattr(self, s).share for s in SEGMENTS)
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise _InvalidError("*.share", f"segment shares add up to {total:g}, not 1")


class Honest(_Section, frozen=True):
    active_share: Share
    new_player_share: Share
    # KYC level of existing players (1, 2, 3); high rollers are one level up.
    kyc_levels: tuple[NonNegative, NonNegative, NonNegative]
    age: Range
    # New players verify their identity (KYC level 2) before a first withdrawal.
    verify_before_withdrawal: Share
    # Sessions ending ahead by this share of the session's deposits cash out.
    cashout_rate: Share
    # Withdrawals to a bank account or wallet the player never deposited with.
    withdrawal_new_method_share: Share
    withdrawal_cancel_rate: Share
    redeposit_rate: Share
    limit_change_rate: Share
    self_exclusion_rate: Share
    # Bonuses with no wagering requirement (free-spin winnings, cashback).
    no_wager_bonus_share: Share
    wagering: dict[str, Annotated[float, Meta(ge=0.0, le=100.0)]]
    # Honest players who look suspicious.
    household_rate: Share
    household_size: Range
    traveller_rate: Share
    travel_days: Range
    expat_rate: Share
    vpn_rate: Share
    one_chargeback_rate: Share
    big_win_cashout_rate: Share
    high_risk_rate: Share

    def __post_init__(self) -> None:
        _range(self, "age", "household_size", "travel_days")
        if sum(self.kyc_levels) <= 0:
            raise _InvalidError("kyc_levels", "weights add up to 0")
        for market in MARKET_NAMES:
            if market not in self.wagering:
                raise _InvalidError(
                    f"wagering.{market}", "missing: every market needs its wagering"
                )
        if self.household_size[0] < 2:
            raise _InvalidError("household_size", "a household has at least 2 players")


class Structuring(_Section, frozen=True):
    rate: Share
    # Reporting lines (EUR) structurers keep under, and how many pick each.
    lines: list[Positive]
    line_weights: list[NonNegative]
    # Deposit as a share of the line: just under it.
    under_line: Range
    deposits_per_day: Range
    days: Range
    # Cards and wallets used (smurfing spreads deposits over several).
    instruments: Range
    play_share: Range
    withdraw_share: Range

    def __post_init__(self) -> None:
        if not self.lines or len(self.lines) != len(self.line_weights):
            raise _InvalidError("line_weights", "needs one weight per entry of `lines`")
        if sum(self.line_weights) <= 0:
            raise _InvalidError("line_weights", "weights add up to 0")
        _range(self, "under_line", "deposits_per_day", "days", "instruments")
        _range(self, "play_share", "withdraw_share")


class PassThrough(_Section, frozen=True):
    rate: Share
    deposit: Range
    episodes: Range
    play_share: Range
    withdraw_share: Range
    hold_hours: Range
    new_instrument_share: Share

    def __post_init__(self) -> None:
        _range(self, "deposit", "episodes", "play_share", "withdraw_share", "hold_hours")


class ChargebackAbuse(_Section, frozen=True):
    rate: Share
    deposits: Range
    deposit: Range
    chargebacks: Range
    delay_days: Range

    def __post_init__(self) -> None:
        _range(self, "deposits", "deposit", "chargebacks", "delay_days")


class CancellationAbuse(_Section, frozen=True):
    rate: Share
    cancellations: Range
    deposit: Range
    delay_hours: Range
    # Share of the cancelled deposit staked before the cancellation.
    play_share: Range

    def __post_init__(self) -> None:
        _range(self, "cancellations", "deposit", "delay_hours", "play_share")


class StolenCard(_Section, frozen=True):
    rate: Share
    # Share of cases that take over an existing account rather than open a new one.
    takeover_share: Share
    cards: Range
    card_countries: Weights
    deposits: Range
    deposit: Range
    declined_share: Share
    ips: Range
    asns: Range
    play_share: Range
    cashout_share: Share
    chargeback_share: Share
    chargeback_delay_days: Range

    def __post_init__(self) -> None:
        _weights(self.card_countries, "card_countries", COUNTRY)
        _range(self, "cards", "deposits", "deposit", "ips", "asns", "play_share")
        _range(self, "chargeback_delay_days")


class MultiAccounting(_Section, frozen=True):
    rate: Share
    farm_size: Range
    devices: Range
    shared_ip_share: Share
    shared_instrument_share: Share
    registration_days: Range
    bonus: Range
    # Wagering actually done, as a multiple of the bonus, before the release.
    wager_multiple: Range
    release_hours: Range
    low_risk_share: Share
    withdraw_share: Share

    def __post_init__(self) -> None:
        _range(self, "farm_size", "devices", "registration_days", "bonus", "wager_multiple")
        _range(self, "release_hours")
        if self.farm_size[0] < 2:
            raise _InvalidError("farm_size", "a farm has at least 2 accounts")


class Collusion(_Section, frozen=True):
    rate: Share
    ring_size: Range
    sittings: Range
    rounds: Range
    stake: Range
    # Spread of the ring's bets on one round, in seconds.
    sync_seconds: Range
    private_table_share: Share
    poker_share: Share

    def __post_init__(self) -> None:
        _range(self, "ring_size", "sittings", "rounds", "stake", "sync_seconds")
        if self.ring_size[0] < 2:
            raise _InvalidError("ring_size", "a ring has at least 2 players")


class KycMismatch(_Section, frozen=True):
    rate: Share
    uploads: Range
    doc_mismatch_share: Share
    foreign_doc_share: Share
    foreign_card_share: Share

    def __post_init__(self) -> None:
        _range(self, "uploads")


class Underage(_Section, frozen=True):
    rate: Share
    age: Range
    # Minors who upload a parent's document: an adult's date of birth, not their own.
    parent_document_share: Share

    def __post_init__(self) -> None:
        _range(self, "age")


class SelfExclusionBreach(_Section, frozen=True):
    rate: Share
    exclusion_days: Range
    indefinite_share: Share
    return_after_days: Range
    sessions: Range

    def __post_init__(self) -> None:
        _range(self, "exclusion_days", "return_after_days", "sessions")


class ChasingLosses(_Section, frozen=True):
    rate: Share
    episodes: Range
    deposits: Range
    first_deposit: Range
    growth: Range
    # Staked per deposit, as a multiple of it: the deposit is played through and lost.
    turnover: Range
    night_share: Share
    limit_raise_share: Share

    def __post_init__(self) -> None:
        _range(self, "episodes", "deposits", "first_deposit", "growth", "turnover")


class Typologies(_Section, frozen=True):
    structuring: Structuring
    pass_through: PassThrough
    chargeback_abuse: ChargebackAbuse
    cancellation_abuse: CancellationAbuse
    stolen_card: StolenCard
    multi_accounting: MultiAccounting
    collusion: Collusion
    kyc_mismatch: KycMismatch
    underage: Underage
    self_exclusion_breach: SelfExclusionBreach
    chasing_losses: ChasingLosses
    # Typology players keep some ordinary play as cover, at this share of their segment's.
    cover_activity: Range

    def __post_init__(self) -> None:
        _range(self, "cover_activity")
        total = sum(getattr(self, name).rate for name in TYPOLOGIES)
        if total > 0.5:
            raise _InvalidError("*.rate", f"typology rates add up to {total:g}; at most 0.5")


class Scenario(_Section, frozen=True):
    scenario: Run
    markets: Markets
    payments: Payments
    network: Network
    hours: dict[str, list[NonNegative]]
    segments: Segments
    honest: Honest
    typologies: Typologies

    def __post_init__(self) -> None:
        for name, weights in self.hours.items():
            if len(weights) != 24:
                raise _InvalidError(f"hours.{name}", f"needs 24 hourly weights, not {len(weights)}")
            if sum(weights) <= 0:
                raise _InvalidError(f"hours.{name}", "weights add up to 0")
        for segment in SEGMENTS:
            hours = getattr(self.segments, segment).hours
            if hours not in self.hours:
                known = ", ".join(sorted(self.hours))
                raise _InvalidError(
                    f"segments.{segment}.hours", f"no hour profile {hours!r} (known: {known})"
                )

    def segment(self, index: int) -> Segment:
        seg: Segment = getattr(self.segments, SEGMENTS[index])
        return seg

    def market(self, index: int) -> Market:
        market: Market = getattr(self.markets, MARKET_NAMES[index])
        return market

    @property
    def psp_names(self) -> tuple[str, ...]:
        """Every PSP the scenario names, sorted: the `psp` column's codes."""
        return tuple(sorted({p for weights in self.payments.psps.values() for p in weights}))


# ---- loading ---------------------------------------------------------------------------

_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)


def _error(exc: msgspec.ValidationError, source: str | None) -> ScenarioError:
    """msgspec says "… - at `$.a.b`"; a `_InvalidError` adds "field: …" in front of the message."""
    m = _AT.match(str(exc))
    assert m is not None
    message, path = m["message"], (m["path"] or "").lstrip(".")
    head = message.split(": ", 1)[0]
    if ": " in message and head.replace(".", "").replace("*", "_").isidentifier():
        field, message = message.split(": ", 1)
        path = f"{path}.{field}" if path else field
    if message.startswith("Object contains unknown field"):
        name = message.split("`")[1]
        path = f"{path}.{name}" if path else name
        message = "unknown key"
    elif message.startswith("Object missing required field"):
        name = message.split("`")[1]
        path = f"{path}.{name}" if path else name
        message = "missing key"
    return ScenarioError(message[:1].lower() + message[1:], key=path or None, source=source)


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`over` laid on `base`: tables merge key by key, every other value replaces."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _default_document() -> dict[str, Any]:
    text = resources.files("simulator").joinpath(DEFAULT_SCENARIO).read_text(encoding="utf-8")
    return tomllib.loads(text)


def parse_scenario(
    text: str | None = None,
    *,
    source: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Scenario:
    """A scenario from TOML text laid over the default (None: the default alone), then
    `overrides` (e.g. `{"scenario": {"seed": 7}}`) laid over that."""
    document = _default_document()
    if text is not None:
        try:
            user = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError(f"not valid TOML: {exc}", source=source) from None
        document = merge(document, user)
    if overrides:
        document = merge(document, overrides)
    try:
        return msgspec.convert(document, Scenario)
    except msgspec.ValidationError as exc:
        raise _error(exc, source) from None


def load_scenario(
    path: str | Path | None = None, *, overrides: Mapping[str, Any] | None = None
) -> Scenario:
    """Read a scenario file (laid over the shipped default); None reads the default."""
    if path is None:
        return parse_scenario(overrides=overrides, source=DEFAULT_SCENARIO)
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ScenarioError(f"cannot read the file: {reason}", source=str(path)) from None
    return parse_scenario(text, source=str(path), overrides=overrides)


# ---- writing ---------------------------------------------------------------------------

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(name: str) -> str:
    return name if _BARE.match(name) else f'"{name}"'


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | date):
        return str(value) if not isinstance(value, float) else repr(value)
    if isinstance(value, str):
        return msgspec.json.encode(value).decode()  # a JSON string is a TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _table(name: str, body: Mapping[str, Any], out: list[str]) -> None:
    scalars = {k: v for k, v in body.items() if not _is_table(v)}
    tables = {k: v for k, v in body.items() if _is_table(v)}
    if scalars or not tables:
        out.append(f"\n[{name}]")
        out.extend(f"{_key(k)} = {_value(v)}" for k, v in scalars.items())
    for key, value in tables.items():
        _table(f"{name}.{_key(key)}", value, out)


def _is_table(value: object) -> bool:
    # A table of tables, or a table holding lists or other tables, gets its own header;
    # a flat table of numbers stays inline (`currencies = { EUR = 0.9 }`).
    return isinstance(value, Mapping) and any(
        isinstance(v, Mapping | list | tuple) for v in value.values()
    )


def dump_scenario(scenario: Scenario) -> str:
    """The scenario as a complete TOML document that `parse_scenario` reads back equal."""
    document = msgspec.to_builtins(scenario, builtin_types=(date,))
    out = ["# A resolved Pitboss simulator scenario: every parameter, as the run used it."]
    for name, body in document.items():
        _table(name, body, out)
    return "\n".join(out).lstrip("\n") + "\n"
