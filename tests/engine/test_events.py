"""The msgspec event schema: agreement with the vocabulary, decoding, and its errors."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest

from dsl.types import Kind
from dsl.vocabulary import COMMON_FIELDS, EVENTS, MARKETS
from engine.events import (
    EVENT_TYPES,
    Deposit,
    EventError,
    KycUpdate,
    LimitChange,
    MoneyEvent,
    decode_event,
    decode_events_jsonl,
    encode_event,
    event_type,
    to_epoch_ms,
    ts_ms,
)

TS = "2024-03-01T12:00:00Z"
TS_MS = 1_709_294_400_000

# Beyond the common fields, what each type needs to decode.
REQUIRED_EXTRA: dict[str, dict[str, Any]] = {
    **{name: {"amount": 1000, "currency": "EUR"} for name, f in EVENTS.items() if "amount" in f},
    "rng_check": {"game_id": "g1", "statistic": "chi2", "p_value": 0.3},
}

# A value for every field of the contract, to decode each type in full.
FULL_VALUES: dict[str, Any] = {
    "session_id": "s1",
    "device_id": "d1",
    "ip": "203.0.113.7",
    "asn": 64_500,
    "ip_country": "MT",
    "amount": 2500,
    "currency": "GBP",
    "method": "card",
    "psp": "psp1",
    "instrument_id": "c0ffee",
    "card_country": "DE",
    "status": "approved",
    "game_id": "g1",
    "game_kind": "live",
    "table_id": "t1",
    "round_id": "r1",
    "selection": "red",
    "ref_event_id": "e0",
    "bonus_id": "b1",
    "kyc_level": 2,
    "dob": "1990-05-01",
    "doc_country": "GB",
    "doc_match": True,
    "limit_kind": "deposit_daily",
    "value": 50_000,
    "until": "2025-01-01T00:00:00+01:00",
    "statistic": "chi2",
    "p_value": 0.5,
}


def body(type_: str, **fields: Any) -> dict[str, Any]:
    """A valid event of `type_`, with `fields` replacing or adding to it."""
    event: dict[str, Any] = {
        "type": type_,
        "event_id": "e1",
        "player_id": "p1",
        "ts": TS,
        "market": "MGA",
        **REQUIRED_EXTRA.get(type_, {}),
    }
    event.update(fields)
    return event


def raw(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


# -- the schema agrees with the vocabulary ---------------------------------------------

# Which msgspec types carry each kind of vocabulary field.
KIND_TYPES: dict[Kind, tuple[type[msgspec.inspect.Type], ...]] = {
    Kind.MONEY: (msgspec.inspect.IntType,),
    Kind.INT: (msgspec.inspect.IntType,),
    Kind.FLOAT: (msgspec.inspect.FloatType,),
    Kind.BOOL: (msgspec.inspect.BoolType,),
    Kind.STRING: (msgspec.inspect.StrType, msgspec.inspect.LiteralType),
    Kind.COUNTRY: (msgspec.inspect.LiteralType,),
    Kind.TIME: (msgspec.inspect.DateTimeType, msgspec.inspect.DateType),
}


def _types(t: msgspec.inspect.Type) -> set[type[msgspec.inspect.Type]]:
    """The msgspec types a field accepts, leaving out null."""
    if isinstance(t, msgspec.inspect.UnionType):
        return {type(m) for m in t.types if not isinstance(m, msgspec.inspect.NoneType)}
    return {type(t)}


def test_every_vocabulary_event_has_a_struct() -> None:
    assert set(EVENT_TYPES) == set(EVENTS)


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_struct_fields_match_the_vocabulary(name: str) -> None:
    info = msgspec.inspect.type_info(EVENT_TYPES[name])
    assert isinstance(info, msgspec.inspect.StructType)
    assert info.tag_field == "type"
    assert info.tag == name
    fields = {f.name: f for f in info.fields}
    expected = {**COMMON_FIELDS, **EVENTS[name]}
    del expected["hour"]  # derived by the engine, never sent
    assert set(fields) == set(expected)
    for field_name, vocab_type in expected.items():
        accepted = _types(fields[field_name].type)
        allowed = KIND_TYPES[vocab_type.kind]
        assert accepted & set(allowed), (field_name, accepted, vocab_type)
        assert accepted - {msgspec.inspect.IntType} <= set(allowed), (field_name, accepted)
        if vocab_type.kind is Kind.TIME and field_name != "dob":
            # Times come as RFC 3339 with a zone or as epoch milliseconds.
            assert accepted == {msgspec.inspect.DateTimeType, msgspec.inspect.IntType}
        if vocab_type.kind is Kind.COUNTRY:
            country = fields[field_name].type
            assert isinstance(country, msgspec.inspect.UnionType)
            literal = country.types[0]
            assert isinstance(literal, msgspec.inspect.LiteralType)
            assert all(isinstance(c, str) and len(c) == 2 for c in literal.values)


def test_markets_are_the_vocabulary_markets() -> None:
    info = msgspec.inspect.type_info(Deposit)
    assert isinstance(info, msgspec.inspect.StructType)
    market = next(f.type for f in info.fields if f.name == "market")
    assert isinstance(market, msgspec.inspect.LiteralType)
    assert set(market.values) == set(MARKETS)


# -- decoding ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_decodes_every_type_minimal_and_full(name: str) -> None:
    minimal = decode_event(raw(body(name)))
    assert type(minimal) is EVENT_TYPES[name]
    assert event_type(minimal) == name
    assert ts_ms(minimal) == TS_MS

    every_field = {f: FULL_VALUES[f] for f in EVENTS[name] if f != "hour"}
    common = {f: FULL_VALUES[f] for f in COMMON_FIELDS if f in FULL_VALUES}
    full = decode_event(raw(body(name, **common, **every_field)))
    assert type(full) is EVENT_TYPES[name]
    assert decode_event(encode_event(full)) == full


def test_money_is_minor_units_with_a_currency() -> None:
    event = decode_event(raw(body("deposit", amount=123_456, currency="JPY")))
    assert isinstance(event, MoneyEvent)
    assert (event.amount, event.currency) == (123_456, "JPY")


def test_accepts_str_input() -> None:
    assert decode_event(json.dumps(body("login"))) == decode_event(raw(body("login")))


@pytest.mark.parametrize(
    ("ts", "expected_ms"),
    [
        (TS, TS_MS),
        ("2024-03-01T14:00:00+02:00", TS_MS),
        ("2024-03-01T07:00:00-05:00", TS_MS),
        ("2024-03-01T12:00:00.123Z", TS_MS + 123),
        ("2024-03-01T12:00:00.1239Z", TS_MS + 123),  # sub-millisecond parts are floored
        (TS_MS, TS_MS),
        (0, 0),
    ],
)
def test_both_time_forms(ts: str | int, expected_ms: int) -> None:
    event = decode_event(raw(body("deposit", ts=ts)))
    # Kept as sent: an int stays an int, text becomes an aware datetime.
    assert type(event.ts) is (int if isinstance(ts, int) else datetime)
    assert ts_ms(event) == expected_ms


def test_until_takes_both_time_forms() -> None:
    as_text = decode_event(raw(body("limit_change", until="2025-01-01T00:00:00Z")))
    as_ms = decode_event(raw(body("limit_change", until=1_735_689_600_000)))
    assert isinstance(as_text, LimitChange)
    assert isinstance(as_ms, LimitChange)
    assert as_text.until is not None
    assert as_ms.until is not None
    assert to_epoch_ms(as_text.until) == to_epoch_ms(as_ms.until) == 1_735_689_600_000


def test_dob_is_a_date() -> None:
    event = decode_event(raw(body("kyc_update", dob="1990-05-01")))
    assert isinstance(event, KycUpdate)
    assert event.dob == date(1990, 5, 1)


def test_to_epoch_ms_is_exact() -> None:
    # Far from the epoch a float timestamp loses the last millisecond; timedeltas do not.
    when = datetime(2200, 1, 1, tzinfo=UTC) + timedelta(milliseconds=1)
    assert to_epoch_ms(when) % 1000 == 1
    east = datetime(1970, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    assert to_epoch_ms(east) == 0


def test_encode_keeps_the_tag_and_drops_unset_fields() -> None:
    event = decode_event(raw(body("deposit", ts="2024-03-01T14:00:00+02:00")))
    encoded = json.loads(encode_event(event))
    assert encoded == body("deposit", ts="2024-03-01T14:00:00+02:00")


def test_events_are_immutable() -> None:
    event = decode_event(raw(body("deposit")))
    assert isinstance(event, Deposit)
    with pytest.raises(AttributeError):
        event.amount = 5  # type: ignore[misc]


# -- errors name the field --------------------------------------------------------------

BAD = [
    # (type, fields to set, fields to drop, field named, message)
    ("deposit", {"amount": -1}, (), "amount", r"Expected `int` >= 0"),
    ("deposit", {"amount": 2**63}, (), "amount", r"<= 9223372036854775807"),
    ("deposit", {"amount": "10"}, (), "amount", r"Expected `int`, got `str`"),
    ("deposit", {"amount": 10.5}, (), "amount", r"Expected `int`, got `float`"),
    ("deposit", {}, ("amount",), "amount", r"missing required field `amount`"),
    ("bet", {"currency": "XYZ"}, (), "currency", r"'XYZ' is not an ISO 4217 currency code"),
    ("bet", {"currency": "eur"}, (), "currency", r"'eur' is not an ISO 4217"),
    ("win", {}, ("currency",), "currency", r"missing required field `currency`"),
    ("login", {"market": "NJ"}, (), "market", r"'NJ' is not a known market \(known: CW, MGA"),
    ("login", {"ip_country": "XX"}, (), "ip_country", r"'XX' is not an ISO 3166-1 alpha-2"),
    ("deposit", {"card_country": "GBR"}, (), "card_country", r"'GBR' is not an ISO 3166-1"),
    ("kyc_update", {"doc_country": "uk"}, (), "doc_country", r"'uk' is not an ISO 3166-1"),
    ("login", {"event_id": ""}, (), "event_id", r"length >= 1"),
    ("login", {"player_id": ""}, (), "player_id", r"length >= 1"),
    ("login", {}, ("player_id",), "player_id", r"missing required field `player_id`"),
    ("login", {"foo": 1}, (), "foo", r"unknown field `foo`"),
    ("login", {"hour": 3}, (), "hour", r"unknown field `hour`"),
    ("deposit", {"game_id": "g1"}, (), "game_id", r"unknown field `game_id`"),
    ("login", {"asn": -1}, (), "asn", r">= 0"),
    ("login", {"asn": 2**32}, (), "asn", r"<= 4294967295"),
    ("login", {"ts": "2024-03-01T12:00:00"}, (), "ts", r"with a timezone"),
    ("login", {"ts": "yesterday"}, (), "ts", r"Invalid RFC3339"),
    ("login", {"ts": 1.5e12}, (), "ts", r"Expected `int \| datetime`, got `float`"),
    ("limit_change", {"until": "2025-01-01"}, (), "until", r"timezone|RFC3339"),
    ("limit_change", {"value": -5}, (), "value", r">= 0"),
    ("bet", {"game_kind": "bingo"}, (), "game_kind", r"'bingo' is not a game kind"),
    ("rng_check", {"p_value": 1.5}, (), "p_value", r"<= 1.0"),
    ("rng_check", {"p_value": -0.1}, (), "p_value", r">= 0.0"),
    ("rng_check", {}, ("p_value",), "p_value", r"missing required field `p_value`"),
    ("kyc_update", {"dob": "1990-13-01"}, (), "dob", r"Invalid RFC3339 encoded date"),
    ("kyc_update", {"doc_match": "yes"}, (), "doc_match", r"Expected `bool \| null`"),
    ("kyc_update", {"kyc_level": -1}, (), "kyc_level", r">= 0"),
]


@pytest.mark.parametrize(
    ("type_", "fields", "drop", "field", "message"),
    BAD,
    ids=[f"{b[0]}-{b[3]}-{i}" for i, b in enumerate(BAD)],
)
def test_bad_event_names_the_field(
    type_: str, fields: dict[str, Any], drop: tuple[str, ...], field: str, message: str
) -> None:
    event = body(type_, **fields)
    for name in drop:
        del event[name]
    with pytest.raises(EventError, match=message) as info:
        decode_event(raw(event))
    assert info.value.field == field
    assert info.value.line is None
    assert str(info.value).startswith(f"field `{field}`: ")
    assert " - at `$" not in info.value.message


@pytest.mark.parametrize(
    ("event", "match"),
    [
        ({"type": "deposti"}, r"unknown event type 'deposti' \(known types: bet, bonus_grant"),
        ({"type": 5}, r"Expected `str` \(known types: .*withdrawal\)"),
        ({}, r"missing required field `type` \(known types: .*deposit"),
    ],
)
def test_bad_type_lists_the_known_types(event: dict[str, Any], match: str) -> None:
    event = {**body("login"), **event} if event else {"event_id": "e1", "player_id": "p1"}
    with pytest.raises(EventError, match=match) as info:
        decode_event(raw(event))
    assert info.value.field == "type"


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b'{"type": "login",', r"^not valid JSON: "),
        (b"", r"^not valid JSON: "),
        (b"[1, 2]", r"^Expected `object`, got `array`$"),
    ],
)
def test_errors_about_the_whole_body_name_no_field(data: bytes, match: str) -> None:
    with pytest.raises(EventError, match=match) as info:
        decode_event(data)
    assert info.value.field is None


# -- JSONL -----------------------------------------------------------------------------


def test_jsonl_decodes_every_line() -> None:
    lines = [raw(body(name, event_id=f"e{i}")) for i, name in enumerate(sorted(EVENTS))]
    events = decode_events_jsonl(b"\n".join(lines) + b"\n")
    assert [event_type(e) for e in events] == sorted(EVENTS)
    assert decode_events_jsonl(b"\n".join(lines).decode()) == events


def test_jsonl_skips_blank_lines_and_crlf() -> None:
    line = raw(body("login"))
    data = b"\r\n".join([line, b"", b"  ", line, b""])
    assert len(decode_events_jsonl(data)) == 2
    assert decode_events_jsonl(b"") == []


@pytest.mark.parametrize(
    ("lines", "line", "field", "match"),
    [
        ([body("login"), body("login"), body("deposit", amount=-1)], 3, "amount", ">= 0"),
        ([body("login"), None, body("login", foo=1)], 3, "foo", "unknown field"),
        ([body("login"), body("login", type="nope")], 2, "type", "unknown event type"),
    ],
)
def test_jsonl_error_gives_the_line(
    lines: list[dict[str, Any] | None], line: int, field: str, match: str
) -> None:
    data = b"\n".join(raw(event) if event else b"" for event in lines)
    with pytest.raises(EventError, match=rf"^line {line}, field `{field}`: .*{match}") as info:
        decode_events_jsonl(data)
    assert (info.value.line, info.value.field) == (line, field)


def test_jsonl_rejects_two_events_on_one_line() -> None:
    line = raw(body("login"))
    # A blank line and a doubled line would balance in a count of lines; still caught
    # when the doubled line stands alone.
    with pytest.raises(EventError, match=r"^line 2: not valid JSON") as info:
        decode_events_jsonl(line + b"\n" + line + b" " + line)
    assert info.value.line == 2


def test_jsonl_malformed_line() -> None:
    data = raw(body("login")) + b'\n{"type": "login"'
    with pytest.raises(EventError, match=r"^line 2: not valid JSON") as info:
        decode_events_jsonl(data)
    assert info.value.field is None
