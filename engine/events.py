"""The event contract (v1) as msgspec Structs: one tagged Struct per event type.

Money is an integer amount in minor units plus an ISO 4217 currency; times are RFC 3339
strings with a timezone or epoch milliseconds, kept as given (`ts_ms` turns either into
milliseconds); unknown fields are rejected. `dsl.vocabulary.EVENTS` is the language's view
of the same contract, and a test holds the two together. `hour` is not here: the engine
derives it from `ts` and the market's timezone.

Decode with `decode_event` / `decode_events_jsonl`: every failure is an `EventError` that
names the offending field.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Final, Literal, TypeAlias, cast

import msgspec
from msgspec import Meta, Struct

from dsl.vocabulary import MARKETS, countries, currencies

__all__ = [
    "EVENT_TYPES",
    "GAME_KINDS",
    "BaseEvent",
    "Bet",
    "BonusGrant",
    "BonusRelease",
    "BonusWager",
    "Cancellation",
    "Chargeback",
    "Deposit",
    "Event",
    "EventError",
    "KycUpdate",
    "LimitChange",
    "Login",
    "Logout",
    "MoneyEvent",
    "RngCheck",
    "SelfExclusion",
    "Win",
    "Withdrawal",
    "decode_event",
    "decode_events_jsonl",
    "encode_event",
    "event_type",
    "to_epoch_ms",
    "ts_ms",
]

# An aware datetime (naive ones are rejected: a time without a zone is ambiguous across
# markets) or epoch milliseconds. Kept as sent so a re-encoded event matches its input.
Time: TypeAlias = Annotated[datetime, Meta(tz=True)] | int
# Ids are keys in the engine and in PostgreSQL's indexes; 256 characters is ample for any
# id scheme and keeps an index entry far below PostgreSQL's limit.
NonEmpty: TypeAlias = Annotated[str, Meta(min_length=1, max_length=256)]
# Times the contract accepts: 1970 up to (not including) 2100. Beyond, local-time
# arithmetic overflows and storage would need partitions for centuries nobody plays in.
TS_MIN_MS: Final = 0
TS_END_MS: Final = 4_102_444_800_000  # 2100-01-01T00:00:00Z
# Amounts go into int64 columns in the batch engine, so the upper bound is int64's.
MinorUnits: TypeAlias = Annotated[int, Meta(ge=0, le=2**63 - 1)]
NonNegative: TypeAlias = Annotated[int, Meta(ge=0)]
Asn: TypeAlias = Annotated[int, Meta(ge=0, le=4_294_967_295)]
Probability: TypeAlias = Annotated[float, Meta(ge=0.0, le=1.0)]
GameKind: TypeAlias = Literal["slot", "live", "table", "sport", "poker"]

GAME_KINDS: Final = ("slot", "live", "table", "sport", "poker")

# Closed sets checked as Literals, so msgspec tests membership in C while decoding and
# names the field in its error; a `__post_init__` doing the same more than halved the
# decode rate. The sets come from the vocabulary, so they are built at runtime; the type
# checker sees plain `str`.
if TYPE_CHECKING:
    MarketCode: TypeAlias = str
    CurrencyCode: TypeAlias = str
    CountryCode: TypeAlias = str
else:
    MarketCode = Literal[tuple(sorted(MARKETS))]
    CurrencyCode = Literal[tuple(sorted(currencies()))]
    CountryCode = Literal[tuple(sorted(countries()))]

# What an "Invalid enum value" means, per field, in words for the sender.
_CLOSED_SETS: Final = {
    "market": f"is not a known market (known: {', '.join(sorted(MARKETS))})",
    "currency": "is not an ISO 4217 currency code",
    "ip_country": "is not an ISO 3166-1 alpha-2 country code",
    "card_country": "is not an ISO 3166-1 alpha-2 country code",
    "doc_country": "is not an ISO 3166-1 alpha-2 country code",
    "game_kind": f"is not a game kind (one of: {', '.join(GAME_KINDS)})",
}

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS: Final = timedelta(milliseconds=1)


class BaseEvent(
    Struct,
    tag_field="type",
    forbid_unknown_fields=True,
    kw_only=True,
    frozen=True,
    omit_defaults=True,
    # Events hold only scalars, so they cannot form cycles; skipping GC tracking makes
    # decoding large batches cheaper.
    gc=False,
):
    """Fields every event carries.

    Constraints (codes, ranges, non-empty ids) are checked when decoding; constructing a
    Struct directly, as the engine's own code and tests may, trusts its arguments.
    """

    event_id: NonEmpty
    player_id: NonEmpty
    ts: Time
    market: MarketCode
    session_id: str | None = None
    device_id: str | None = None
    ip: str | None = None
    asn: Asn | None = None
    ip_country: CountryCode | None = None


class MoneyEvent(BaseEvent, frozen=True):
    """An event that moves money: `amount` in minor units of `currency`."""

    amount: MinorUnits
    currency: CurrencyCode


class _Payment(MoneyEvent, frozen=True):
    method: str | None = None
    psp: str | None = None
    instrument_id: str | None = None  # hashed card or wallet
    card_country: CountryCode | None = None
    status: str | None = None


class _Game(MoneyEvent, frozen=True):
    game_id: str | None = None
    game_kind: GameKind | None = None
    table_id: str | None = None
    round_id: str | None = None
    selection: str | None = None


class _Reversal(MoneyEvent, frozen=True):
    ref_event_id: str | None = None


class _Bonus(MoneyEvent, frozen=True):
    bonus_id: str | None = None


class _Limit(BaseEvent, frozen=True):
    limit_kind: str | None = None
    value: NonNegative | None = None
    until: Time | None = None


class Deposit(_Payment, tag="deposit", frozen=True):
    pass


class Withdrawal(_Payment, tag="withdrawal", frozen=True):
    pass


class Bet(_Game, tag="bet", frozen=True):
    pass


class Win(_Game, tag="win", frozen=True):
    pass


class Chargeback(_Reversal, tag="chargeback", frozen=True):
    pass


class Cancellation(_Reversal, tag="cancellation", frozen=True):
    pass


class BonusGrant(_Bonus, tag="bonus_grant", frozen=True):
    pass


class BonusWager(_Bonus, tag="bonus_wager", frozen=True):
    pass


class BonusRelease(_Bonus, tag="bonus_release", frozen=True):
    pass


class Login(BaseEvent, tag="login", frozen=True):
    pass


class Logout(BaseEvent, tag="logout", frozen=True):
    pass


class KycUpdate(BaseEvent, tag="kyc_update", frozen=True):
    kyc_level: NonNegative | None = None
    status: str | None = None
    dob: date | None = None
    doc_country: CountryCode | None = None
    doc_match: bool | None = None


class LimitChange(_Limit, tag="limit_change", frozen=True):
    pass


class SelfExclusion(_Limit, tag="self_exclusion", frozen=True):
    pass


class RngCheck(BaseEvent, tag="rng_check", frozen=True):
    # An RNG check without its result says nothing, so these three are required.
    game_id: str
    statistic: str
    p_value: Probability


Event: TypeAlias = (
    Deposit
    | Withdrawal
    | Bet
    | Win
    | Chargeback
    | Cancellation
    | BonusGrant
    | BonusWager
    | BonusRelease
    | Login
    | Logout
    | KycUpdate
    | LimitChange
    | SelfExclusion
    | RngCheck
)

_CLASSES: tuple[type[BaseEvent], ...] = (
    Deposit,
    Withdrawal,
    Bet,
    Win,
    Chargeback,
    Cancellation,
    BonusGrant,
    BonusWager,
    BonusRelease,
    Login,
    Logout,
    KycUpdate,
    LimitChange,
    SelfExclusion,
    RngCheck,
)

EVENT_TYPES: Final[dict[str, type[BaseEvent]]] = {
    cast(str, cls.__struct_config__.tag): cls for cls in _CLASSES
}

_KNOWN_TYPES: Final = ", ".join(sorted(EVENT_TYPES))

_DECODER: Final[msgspec.json.Decoder[Event]] = msgspec.json.Decoder(Event)
_ENCODER: Final = msgspec.json.Encoder()


class EventError(Exception):
    """An event that does not meet the contract.

    `field` names the offending field when there is one (None for malformed JSON or a
    body that is not an object); `line` is the 1-based line in a JSONL batch.
    """

    def __init__(self, message: str, *, field: str | None = None, line: int | None = None) -> None:
        self.message = message
        self.field = field
        self.line = line
        where = []
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"field `{field}`")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


# msgspec ends a message with the path, e.g. "Expected `int` >= 0 - at `$.amount`".
_AT_PATH = re.compile(r"^(?P<message>.*) - at `\$(?:\.(?P<field>\w+))?[^`]*`$", re.DOTALL)
# Errors about the object as a whole name the field in the message instead.
_NAMED_FIELD = re.compile(r"field `(?P<field>\w+)`")
_BAD_VALUE = re.compile(r"^Invalid (?:enum )?value (?P<value>.*)$", re.DOTALL)


def _event_error(exc: msgspec.MsgspecError, line: int | None = None) -> EventError:
    """Turn msgspec's error into one that names the field, once, at the boundary."""
    text = str(exc)
    # ValidationError subclasses DecodeError, so test for it, not for DecodeError.
    if not isinstance(exc, msgspec.ValidationError):
        return EventError(f"not valid JSON: {text}", line=line)
    field: str | None = None
    message = text
    if m := _AT_PATH.match(text):
        message, field = m["message"], m["field"]
    if field is None and (m := _NAMED_FIELD.search(message)):
        field = m["field"]
    bad = _BAD_VALUE.match(message)
    if field == "type":
        what = f"unknown event type {bad['value']}" if bad else message
        message = f"{what} (known types: {_KNOWN_TYPES})"
    elif bad and field in _CLOSED_SETS:
        message = f"{bad['value']} {_CLOSED_SETS[field]}"
    return EventError(message, field=field, line=line)


def decode_event(data: bytes | str) -> Event:
    """Decode one JSON event, or raise `EventError` naming the offending field."""
    try:
        event = _DECODER.decode(data)
    except msgspec.DecodeError as exc:
        raise _event_error(exc) from exc
    _check_values(event, _has_nul(data))
    return event


def _has_nul(data: bytes | str) -> bool:
    # JSON cannot carry a raw NUL inside a string, only the escape.
    if isinstance(data, str):
        return "\\u0000" in data
    return b"\\u0000" in data


def _check_values(event: BaseEvent, has_nul: bool, line: int | None = None) -> None:
    """What the types cannot say: the time's range, and no NUL characters (PostgreSQL's
    text cannot hold one, so such an event could never be stored)."""
    at = ts_ms(event)
    if not TS_MIN_MS <= at < TS_END_MS:
        raise EventError("must be between 1970-01-01 and 2100-01-01", field="ts", line=line)
    if has_nul:
        for name in event.__struct_fields__:
            value = getattr(event, name)
            if isinstance(value, str) and "\x00" in value:
                raise EventError("must not contain a NUL character", field=name, line=line)


def decode_events_jsonl(data: bytes | str) -> list[Event]:
    """Decode newline-delimited JSON events, one per line; blank lines are skipped.

    Raises `EventError` with the 1-based line number of the first bad line.
    """
    if isinstance(data, str):
        data = data.encode()
    # Fast path: msgspec splits and decodes in C. It also accepts several objects on one
    # line and reports an object index rather than a line number, so on an error, or when
    # the count of events is not the count of lines, decode again line by line, which is
    # strict and knows the line. (A blank line and a line holding two objects would cancel
    # out in the count; that is the one leniency left.)
    try:
        events = _DECODER.decode_lines(data)
    except msgspec.DecodeError:
        pass
    else:
        lines = data.count(b"\n") + (not data.endswith(b"\n"))
        if len(events) == lines and not _has_nul(data):
            for number, event in enumerate(events, 1):
                _check_values(event, False, line=number)  # no blank lines: index is line
            return events
    return _decode_line_by_line(data)


def _decode_line_by_line(data: bytes) -> list[Event]:
    events: list[Event] = []
    for number, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            event = _DECODER.decode(line)
        except msgspec.DecodeError as exc:
            raise _event_error(exc, line=number) from exc
        _check_values(event, _has_nul(line), line=number)
        events.append(event)
    return events


def encode_event(event: BaseEvent) -> bytes:
    """Encode an event as JSON, with its `type` tag; unset optional fields are left out."""
    return _ENCODER.encode(event)


def event_type(event: BaseEvent) -> str:
    """The event's `type` tag, e.g. "deposit"."""
    return cast(str, event.__struct_config__.tag)


def to_epoch_ms(value: datetime | int) -> int:
    """Epoch milliseconds of a contract time (sub-millisecond parts are floored)."""
    if isinstance(value, int):
        return value
    # Exact integer arithmetic on timedeltas; `timestamp() * 1000` would round via float.
    return (value - _EPOCH) // _ONE_MS


def ts_ms(event: BaseEvent) -> int:
    """The event's `ts` in epoch milliseconds, whichever form it was sent in."""
    ts = event.ts
    return ts if isinstance(ts, int) else (ts - _EPOCH) // _ONE_MS
