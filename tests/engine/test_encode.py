"""Encoding events for the kernels: FX to the market's base currency at event time, the
market's local hour (with DST), and the per-event and columnar encoders agreeing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dsl
from dsl.compiler import Program, compile_pack
from dsl.vocabulary import ACTIONS
from engine.encode import Encoder, local_hour
from engine.events import BaseEvent, event_type, ts_ms
from engine.fx import RateTable
from engine.layout import EVENT_CODES, MARKET_CODES, field_kind, is_id_kind
from engine.runtime import BatchEngine, CompiledPack, StreamEngine
from engine.state import Interner
from tests.engine.conftest import WHOLE_PACK
from tests.engine.strategies import BASE_CURRENCY, T0, event, seeded_stream, streams

# A policy that reads (nearly) every field, so the layout has a column for each.
POLICY = """
policy encoding version 1 for MGA, UKGC, CW

param large: money = 100 EUR
param threshold: money = 100 EUR
market UKGC { large = 100 GBP }
market CW { large = 100 USD }

rule large_amount { on deposit when amount >= large score 1 reason "{amount}" }
rule large_fx { on deposit when amount >= fx(threshold) score 1 reason "{amount}" }
rule large_literal_fx { on withdrawal when amount >= fx(100 EUR) score 1 }
rule night { on login when hour < 6 score 1 reason "{hour}" }
rule in_uk { on login when market == "UKGC" score 1 }
rule payment {
  on deposit, withdrawal
  when present(psp) or present(method) or present(status) or present(instrument_id)
  score 1
  reason "{psp} {method} {status} {card_country} {instrument_id} {currency}"
}
rule play {
  on bet, win
  when count(bet by game over 1h) >= 2 or count(bet by table over 1h) >= 2
    or count(bet by round over 1h) >= 2
  score 1
  reason "{selection} {game_id} {game_kind} {table_id} {round_id}"
}
rule reversal {
  on chargeback, cancellation when present(ref_event_id) score 1 reason "{ref_event_id}"
}
rule bonus {
  on bonus_grant, bonus_wager, bonus_release
  when count(bonus_grant by bonus over 1d) >= 2
  score 1
  reason "{bonus_id}"
}
rule kyc {
  on kyc_update when present(dob) score 1
  reason "{kyc_level} {status} {dob} {doc_country} {doc_match}"
}
rule limits {
  on limit_change, self_exclusion when present(value) score 1
  reason "{limit_kind} {value} {until}"
}
rule rng { on rng_check when p_value < 0.01 score 1 reason "{statistic} {p_value}" }
rule network {
  on login, logout
  when distinct(session over 1h) >= 2 or distinct(ip over 1h) >= 2 or distinct(asn over 1h) >= 2
    or distinct(device over 1h) >= 2
  score 1
  reason "{session_id} {device_id} {ip} {asn} {ip_country} {event_id} {player_id}"
}
"""

JUL_2024 = 1_719_792_000_000  # 2024-07-01T00:00:00Z, when new rates take effect
JAN_2025 = 1_735_689_600_000
RATES = RateTable.default()


@pytest.fixture(scope="module")
def program() -> Program:
    result = dsl.check_source(POLICY, "<test>")
    assert result.ok, dsl.render_all(result.issues, POLICY)
    return compile_pack([result])


@pytest.fixture(scope="module")
def pack(compile_policy: Callable[[str], CompiledPack]) -> CompiledPack:
    return compile_policy(POLICY)


def encoder_for(program: Program) -> Encoder:
    keys = {key: Interner() for key in program.layout.keys}
    return Encoder(program, Interner(), keys, RATES)


def amount_of(program: Program, e: BaseEvent) -> float:
    _, F = encoder_for(program).encode([e])
    return float(F[0, program.layout.float_columns.index("f:amount")])


# ---- FX -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("market", "amount", "currency", "at", "expected"),
    [
        ("MGA", 10_000, "EUR", JUL_2024, 10_000),  # the base currency is left alone
        ("MGA", 10_000, "USD", JUL_2024 - 1, 9_050),  # 100 USD / 1.105 (H1 2024 rate)
        ("MGA", 10_000, "USD", JUL_2024, 9_341),  # 100 USD / 1.0705 (from 1 July)
        ("MGA", 10_000, "JPY", JUL_2024, 5_816),  # JPY has no minor unit
        ("CW", 10_000, "GBP", JAN_2025, 12_529),  # a cross rate through EUR
        ("UKGC", 10_000, "GBP", JAN_2025, 10_000),
    ],
)
def test_amounts_convert_to_the_markets_base_currency_at_event_time(
    program: Program, market: str, amount: int, currency: str, at: int, expected: int
) -> None:
    e = event("deposit", at - T0, market=market, amount=amount, currency=currency)
    assert amount_of(program, e) == expected
    assert expected == RATES.convert_minor(amount, currency, BASE_CURRENCY[market], at)


def test_a_foreign_deposit_is_compared_in_the_base_currency(pack: CompiledPack) -> None:
    engine = StreamEngine(pack)
    # 100 EUR is 107.05 USD from 1 July 2024.
    over = engine.process(event("deposit", JUL_2024 - T0, amount=10_706, currency="USD"))
    assert {h.rule for h in over.hits} >= {"large_amount", "large_fx"}
    [large] = [h for h in over.hits if h.rule == "large_amount"]
    assert large.reason == "100.01 EUR"
    under = engine.process(event("deposit", JUL_2024 - T0, amount=10_704, currency="USD"))
    assert not {"large_amount", "large_fx"} & {h.rule for h in under.hits}


@pytest.mark.parametrize(
    ("amount", "at", "fires"),
    [
        (10_705, JUL_2024, True),  # 100 EUR in USD from 1 July 2024
        (10_704, JUL_2024, False),
        (10_704, JUL_2024 - 1, False),  # at 1.105 the line is 110.50 USD
        (11_050, JUL_2024 - 1, True),
    ],
)
def test_fx_converts_a_threshold_at_the_events_time(
    pack: CompiledPack, amount: int, at: int, fires: bool
) -> None:
    engine = StreamEngine(pack)
    decision = engine.process(event("deposit", at - T0, market="CW", amount=amount))
    assert ("large_fx" in {h.rule for h in decision.hits}) is fires
    literal = engine.process(event("withdrawal", at - T0, market="CW", amount=amount))
    assert ("large_literal_fx" in {h.rule for h in literal.hits}) is fires


# ---- local hour -------------------------------------------------------------------------------


def _utc(text: str) -> int:
    return int(datetime.fromisoformat(text).astimezone(UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    ("market", "at", "hour"),
    [
        ("UKGC", "2026-01-14T23:10:00Z", 23),  # GMT
        ("UKGC", "2026-07-14T23:10:00Z", 0),  # BST: already the next day
        ("UKGC", "2026-03-29T00:59:59.999Z", 0),  # the last GMT millisecond
        ("UKGC", "2026-03-29T01:00:00Z", 2),  # clocks go forward: 01:00 never happens
        ("UKGC", "2026-10-25T00:59:59.999Z", 1),  # BST
        ("UKGC", "2026-10-25T01:00:00Z", 1),  # GMT again: 01:00 happens twice
        ("MGA", "2026-01-15T01:00:00Z", 2),  # CET
        ("MGA", "2026-07-15T01:00:00Z", 3),  # CEST
        ("CW", "2026-01-15T01:00:00Z", 21),  # UTC-4, no DST
        ("CW", "2026-07-15T06:00:00Z", 2),
    ],
)
def test_hour_is_the_markets_local_hour(program: Program, market: str, at: str, hour: int) -> None:
    at_ms = _utc(at)
    assert local_hour(at_ms, market) == hour
    e = event("login", at_ms - T0, market=market)
    _, F = encoder_for(program).encode([e])
    assert F[0, 0] == hour
    _, F = encoder_for(program).encode_columns(
        {"type": np.array(["login"]), "market": np.array([market]), "ts": np.array([at_ms])}
    )
    assert F[0, 0] == hour


@pytest.mark.parametrize(
    ("at", "fires"), [("2026-07-14T23:10:00Z", True), ("2026-01-14T23:10:00Z", False)]
)
def test_night_rules_follow_london_summer_time(pack: CompiledPack, at: str, fires: bool) -> None:
    decision = StreamEngine(pack).process(event("login", _utc(at) - T0, market="UKGC"))
    assert ("night" in {h.rule for h in decision.hits}) is fires


# ---- encode() and encode_columns() ------------------------------------------------------


def columns_of(events: Sequence[BaseEvent]) -> dict[str, np.ndarray]:
    """The events as the backtester holds them: one array per field, amounts already in
    the market's base minor units, times in epoch ms, missing values None or NaN."""
    columns = {
        "type": np.array([event_type(e) for e in events]),
        "market": np.array([e.market for e in events]),
        "ts": np.array([ts_ms(e) for e in events], dtype=np.int64),
    }
    names = sorted({f for e in events for f in e.__struct_fields__} - {"ts", "market"})
    for name in names:
        values = [getattr(e, name, None) for e in events]
        if name == "amount":
            columns[name] = np.array(
                [
                    np.nan
                    if v is None
                    else RATES.convert_minor(v, e.currency, BASE_CURRENCY[e.market], ts_ms(e))  # type: ignore[attr-defined]
                    for v, e in zip(values, events, strict=True)
                ],
                dtype=np.float64,
            )
        elif name in ("dob", "until"):
            columns[name] = np.array(
                [np.nan if v is None else _time_ms(v) for v in values], dtype=np.float64
            )
        elif is_id_kind(field_kind(name)):
            columns[name] = np.array(values, dtype=object)
        else:
            columns[name] = np.array(
                [np.nan if v is None else float(v) for v in values], dtype=np.float64
            )
    return columns


def _time_ms(value: object) -> int:
    if isinstance(value, int):
        return value
    assert hasattr(value, "toordinal")
    return (value.toordinal() - 719_163) * 86_400_000  # a date: midnight UTC


def decoded(encoder: Encoder, I: np.ndarray) -> list[list[object]]:
    """`I` with interned ids turned back into the values they stand for."""
    out = []
    for col, name in enumerate(encoder.layout.int_columns):
        if name.startswith("key:"):
            interner: Interner | None = encoder.keys[name[4:]]
        elif name.startswith("s:"):
            interner = encoder.strings
        else:
            interner = None
        column = [int(v) for v in I[:, col]]
        if interner is not None:
            column = [None if v < 0 else _plain(interner.lookup(v)) for v in column]  # type: ignore[misc]
        out.append(column)
    return out


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    return value


def assert_same_rows(
    a: Encoder, I1: np.ndarray, F1: np.ndarray, b: Encoder, I2: np.ndarray, F2: np.ndarray
) -> None:
    """Two encodings hold the same values (ids may differ: they are interned apart)."""
    for name, x, y in zip(a.layout.int_columns, decoded(a, I1), decoded(b, I2), strict=True):
        assert x == y, f"int column {name}"
    for col, name in enumerate(a.layout.float_columns):
        np.testing.assert_array_equal(F1[:, col], F2[:, col], err_msg=f"float column {name}")


def assert_encodings_agree(program: Program, events: Sequence[BaseEvent]) -> None:
    one, many = encoder_for(program), encoder_for(program)
    I1, F1 = one.encode(events)
    I2, F2 = many.encode_columns(columns_of(events))
    assert_same_rows(one, I1, F1, many, I2, F2)


@settings(max_examples=60, deadline=None)
@given(events=streams(max_size=40))
def test_encode_and_encode_columns_agree(program: Program, events: list[BaseEvent]) -> None:
    assert_encodings_agree(program, events)


def test_encode_and_encode_columns_agree_on_a_long_stream(program: Program) -> None:
    assert_encodings_agree(program, seeded_stream(3, 2000))


def test_encode_columns_takes_type_and_market_as_codes(program: Program) -> None:
    """The docstring allows `type` and `market` as names or codes; both must encode the
    same, including the `market` field a rule can compare (`market == "UKGC"`)."""
    events = seeded_stream(5, 200)
    by_name = columns_of(events)
    by_code = dict(by_name)
    by_code["type"] = np.array([EVENT_CODES[str(t)] for t in by_name["type"]])
    by_code["market"] = np.array([MARKET_CODES[str(m)] for m in by_name["market"]])
    named, coded = encoder_for(program), encoder_for(program)
    I1, F1 = named.encode_columns(by_name)
    I2, F2 = coded.encode_columns(by_code)
    assert_same_rows(named, I1, F1, coded, I2, F2)


@settings(max_examples=200, deadline=None)
@given(
    at=st.integers(1_577_836_800_000, 1_893_456_000_000),  # 2020 to 2030
    market=st.sampled_from(["MGA", "UKGC", "CW"]),
)
def test_bulk_local_hours_match_the_scalar_path(program: Program, at: int, market: str) -> None:
    _, F = encoder_for(program).encode_columns(
        {"type": np.array(["login"]), "market": np.array([market]), "ts": np.array([at])}
    )
    assert F[0, 0] == local_hour(at, market)


def _numeric_values(pack: CompiledPack, rule: int, values: np.ndarray) -> tuple[float, ...]:
    """A hit's explained values, without interned strings (whose ids depend on the order
    an encoder first saw them)."""
    items = pack.program.rules[rule].explain
    return tuple(
        float(values[k]) if values[k] == values[k] else -1.0
        for k, item in enumerate(items)
        if not is_id_kind(item.type.kind)
    )


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(1, 400))
def test_the_backtest_path_decides_like_the_stream(
    shipped_packs: dict[str, CompiledPack], seed: int, size: int
) -> None:
    """Columns through `encode_columns` and the batch driver (how histories are
    backtested) give the stream's decisions."""
    pack = shipped_packs[WHOLE_PACK]
    events = seeded_stream(seed, size)
    batch = BatchEngine(pack)
    result = batch.run_encoded(*batch.encoder.encode_columns(columns_of(events)))
    stream = StreamEngine(pack)
    hits: Counter[tuple[int, int, tuple[float, ...]]] = Counter()
    for row, e in enumerate(events):
        decision = stream.process(e)
        assert ACTIONS[int(result.actions[row])] == decision.action
        assert int(result.scores[row]) == decision.score
        hits.update((row, r, _numeric_values(pack, r, v)) for r, _, v in stream.last_raw)
    assert hits == Counter(
        (int(row), int(r), _numeric_values(pack, int(r), v))
        for row, r, v in zip(result.hit_rows, result.hit_rules, result.hit_values, strict=True)
    )
