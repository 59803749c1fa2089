"""Windowed stores and kernel helpers: window bounds, aggregates by key, missing values,
eviction and compaction against a naive model, dates and list lookups."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import kernels
from engine.events import BaseEvent
from engine.runtime import BatchEngine, CompiledPack, StreamEngine
from tests.engine.strategies import DAY, HOUR, MINUTE, event

# One policy for the whole module. `window_values` always fires (a deposit counts itself),
# so the batch driver records its values for every deposit; the other rules probe
# comparisons with missing values.
POLICY = """
policy kernel_probe version 1 for MGA

rule window_values "every aggregate kind over one hour, by player and by device" {
  on deposit
  when count(deposit over 1h) as n >= 1
    or sum(deposit.amount over 1h) as total >= 1 EUR
    or avg(deposit.amount over 1h) as mean >= 1 EUR
    or min(deposit.amount over 1h) as low >= 1 EUR
    or max(deposit.amount over 1h) as high >= 1 EUR
    or count(deposit where amount < 500 EUR over 1h) as small >= 1
    or count(deposit by device over 1h) as device_n >= 1
    or sum(deposit.amount by device over 1h) as device_total >= 1 EUR
    or distinct(player by device over 1h) as device_players >= 1
    or distinct(device over 1h) as devices >= 1
  score 1
}

rule card_is_mt { on deposit when card_country == "MT" score 1 }
rule card_is_not_mt { on deposit when card_country != "MT" score 1 }
rule not_card_is_mt { on deposit when not (card_country == "MT") score 1 }
rule no_card_country { on deposit when not present(card_country) score 1 }
rule risky_card { on deposit when card_country in ["KP", "IR"] score 1 }
rule not_risky_card { on deposit when card_country not in ["KP", "IR"] score 1 }
rule asn_is_not_64500 { on login when asn != 64500 score 1 }
rule asn_below { on login when asn < 64501 score 1 }
rule busy_device { on login when count(login by device over 1h) >= 2 score 1 }
rule not_busy_device { on login when not (count(login by device over 1h) >= 2) score 1 }
"""

NAMES = ("n", "total", "mean", "low", "high", "small", "device_n", "device_total")
NAMES += ("device_players", "devices")
SMALL = 50_000  # 500 EUR in cents


@pytest.fixture(scope="module")
def pack(compile_policy: Callable[[str], CompiledPack]) -> CompiledPack:
    return compile_policy(POLICY)


def window_values(engine: StreamEngine, e: BaseEvent) -> dict[str, float]:
    """Stream one deposit; the raw values of `window_values` on it, by name."""
    engine.process(e)
    rule = _rule_index(engine.pack, "window_values")
    [(_, _, values)] = [r for r in engine.last_raw if r[0] == rule]
    explain = engine.pack.program.rules[rule].explain
    return {item.name: float(values[k]) for k, item in enumerate(explain)}


def _rule_index(pack: CompiledPack, name: str) -> int:
    return next(r.index for r in pack.program.rules if r.name == name)


def fired(engine: StreamEngine, e: BaseEvent) -> set[str]:
    decision = engine.process(e)
    return {h.rule for h in decision.hits}


# ---- window bounds ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gap", "expected"),
    [
        (HOUR, 1),  # exactly W before: out, the window is (t - W, t]
        (HOUR - 1, 2),  # one millisecond inside
        (0, 2),  # the same time
    ],
)
def test_window_is_open_at_its_start_and_closed_at_its_end(
    pack: CompiledPack, gap: int, expected: int
) -> None:
    engine = StreamEngine(pack)
    window_values(engine, event("deposit", 0, amount=100))
    values = window_values(engine, event("deposit", gap, amount=300))
    assert values["n"] == expected
    assert values["total"] == (400 if expected == 2 else 300)


def test_equal_timestamps_count_in_arrival_order(pack: CompiledPack) -> None:
    engine = StreamEngine(pack)
    seen = [window_values(engine, event("deposit", 0, amount=a)) for a in (500, 100, 300)]
    assert [v["n"] for v in seen] == [1, 2, 3]
    assert [v["total"] for v in seen] == [500, 600, 900]
    assert [v["low"] for v in seen] == [500, 100, 100]
    assert [v["high"] for v in seen] == [500, 500, 500]


def test_the_window_slides_with_event_time(pack: CompiledPack) -> None:
    engine = StreamEngine(pack)
    amounts = {0: 100, 20 * MINUTE: 200, 40 * MINUTE: 400, 70 * MINUTE: 800}
    seen = {at: window_values(engine, event("deposit", at, amount=a)) for at, a in amounts.items()}
    last = seen[70 * MINUTE]  # the deposit at 0 has left the window
    assert (last["n"], last["total"], last["low"], last["high"]) == (3, 1400, 200, 800)
    assert last["mean"] == 1400 / 3
    # Long after everything: only the current deposit.
    alone = window_values(engine, event("deposit", 3 * DAY, amount=50))
    assert (alone["n"], alone["total"], alone["mean"], alone["low"]) == (1, 50, 50, 50)


def test_where_filters_the_counted_events(pack: CompiledPack) -> None:
    engine = StreamEngine(pack)
    for at, amount in enumerate((SMALL - 1, SMALL, SMALL + 1, 100)):
        values = window_values(engine, event("deposit", at, amount=amount))
    assert values["small"] == 2
    assert values["n"] == 4


def test_by_key_aggregates_span_players(pack: CompiledPack) -> None:
    engine = StreamEngine(pack)
    window_values(engine, event("deposit", 0, amount=100, player="p1", device_id="dev-1"))
    engine.process(event("login", 1, player="p3", device_id="dev-1"))
    window_values(engine, event("deposit", 2, amount=200, player="p2", device_id="dev-2"))
    values = window_values(engine, event("deposit", 3, amount=400, player="p2", device_id="dev-1"))
    assert (values["device_n"], values["device_total"]) == (2, 500)  # p1's and p2's deposits
    assert values["device_players"] == 3  # the login counts: every event carries a device
    assert (values["n"], values["total"], values["devices"]) == (2, 600, 2)  # p2 alone


def test_aggregates_by_a_missing_key_are_missing(pack: CompiledPack) -> None:
    engine = StreamEngine(pack)
    window_values(engine, event("deposit", 0, amount=100, device_id="dev-1"))
    values = window_values(engine, event("deposit", 1, amount=100))
    assert all(math.isnan(values[k]) for k in ("device_n", "device_total", "device_players"))
    assert values["devices"] == 1  # keyed by the player, who is known
    # The event without a device was not added to any device's state.
    values = window_values(engine, event("deposit", 2, amount=100, device_id="dev-1"))
    assert (values["device_n"], values["device_total"]) == (2, 200)


def test_a_count_over_no_entries_is_zero(pack: CompiledPack) -> None:
    """The `where` count skips the current deposit, which is not small: nothing to count."""
    engine = StreamEngine(pack)
    values = window_values(engine, event("deposit", 0, amount=SMALL))
    assert values["small"] == 0


# ---- missing values ---------------------------------------------------------------------

CARD_RULES = ("card_is_mt", "card_is_not_mt", "not_card_is_mt", "no_card_country")
CARD_RULES += ("risky_card", "not_risky_card")


@pytest.mark.parametrize(
    ("card_country", "expected"),
    [
        (None, {"not_card_is_mt", "no_card_country"}),
        ("MT", {"card_is_mt", "not_risky_card"}),
        ("KP", {"card_is_not_mt", "not_card_is_mt", "risky_card"}),
        ("DE", {"card_is_not_mt", "not_card_is_mt", "not_risky_card"}),
    ],
)
def test_a_comparison_with_a_missing_string_is_false(
    pack: CompiledPack, card_country: str | None, expected: set[str]
) -> None:
    fields = {"card_country": card_country} if card_country else {}
    hits = fired(StreamEngine(pack), event("deposit", 0, amount=100, **fields))
    assert hits & set(CARD_RULES) == expected


@pytest.mark.parametrize(
    ("asn", "expected"),
    [(None, set()), (64500, {"asn_below"}), (64501, {"asn_is_not_64500"})],
)
def test_a_comparison_with_a_missing_number_is_false(
    pack: CompiledPack, asn: int | None, expected: set[str]
) -> None:
    fields = {"asn": asn} if asn is not None else {}
    hits = fired(StreamEngine(pack), event("login", 0, **fields))
    assert hits & {"asn_is_not_64500", "asn_below"} == expected


def test_an_aggregate_by_a_missing_key_compares_false(pack: CompiledPack) -> None:
    engine = StreamEngine(pack)
    for at in range(3):
        hits = fired(engine, event("login", at))
    assert "busy_device" not in hits
    assert "not_busy_device" in hits
    engine = StreamEngine(pack)
    for at in range(2):
        hits = fired(engine, event("login", at, device_id="dev-1"))
    assert "busy_device" in hits


# ---- eviction and compaction against a naive model ------------------------------------------


@dataclass(frozen=True)
class Row:
    kind: str
    ts: int
    player: str
    device: str | None
    amount: int


def random_rows(seed: int, size: int, players: int = 5, devices: int = 3) -> list[Row]:
    rng = random.Random(seed)
    player_ids = [f"p{k}" for k in range(players)]
    device_ids = [None, *(f"dev-{k}" for k in range(devices))]
    gaps = (0, 0, 1, 1_000, 10 * MINUTE, HOUR - 1, HOUR, HOUR + 1)
    at = 0
    rows = []
    for _ in range(size):
        at += rng.choice(gaps) if rng.random() < 0.8 else rng.randrange(3 * HOUR)
        rows.append(
            Row(
                kind="deposit" if rng.random() < 0.8 else "login",
                ts=at,
                player=rng.choice(player_ids),
                device=rng.choice(device_ids),
                amount=rng.choice((1, 100, SMALL - 1, SMALL, 123_456, rng.randrange(1, 10**7))),
            )
        )
    return rows


def naive(rows: Sequence[Row]) -> list[tuple[float, ...]]:
    """`window_values` for each deposit, by scanning the last hour of events."""
    nan = float("nan")
    out = []
    for i, row in enumerate(rows):
        if row.kind != "deposit":
            continue
        window = []
        j = i
        while j >= 0 and rows[j].ts > row.ts - HOUR:
            window.append(rows[j])
            j -= 1
        mine = [r.amount for r in window if r.kind == "deposit" and r.player == row.player]
        values = [len(mine), sum(mine), sum(mine) / len(mine), min(mine), max(mine)]
        values.append(sum(1 for a in mine if a < SMALL))
        if row.device is None:
            values += [nan, nan, nan]
        else:
            on_device = [r for r in window if r.device == row.device]
            deposits = [r.amount for r in on_device if r.kind == "deposit"]
            values += [len(deposits), sum(deposits), len({r.player for r in on_device})]
        values.append(len({r.device for r in window if r.player == row.player and r.device}))
        out.append(tuple(float(v) for v in values))
    return out


def to_events(rows: Sequence[Row]) -> list[BaseEvent]:
    out = []
    for row in rows:
        fields = {"device_id": row.device} if row.device else {}
        if row.kind == "deposit":
            fields["amount"] = row.amount
        out.append(event(row.kind, row.ts, player=row.player, **fields))
    return out


def same(a: Sequence[float], b: Sequence[float]) -> bool:
    return all((x != x and y != y) or x == y for x, y in zip(a, b, strict=True))


def batch_values(pack: CompiledPack, rows: Sequence[Row]) -> list[tuple[float, ...]]:
    result = BatchEngine(pack).run_events(to_events(rows))
    rule = _rule_index(pack, "window_values")
    mask = result.hit_rules == rule
    return [tuple(float(v) for v in vals[: len(NAMES)]) for vals in result.hit_values[mask]]


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.integers(1, 1500),
    players=st.sampled_from([1, 5, 300]),
    devices=st.sampled_from([1, 3, 300]),
)
def test_window_values_match_a_naive_model(
    pack: CompiledPack, seed: int, size: int, players: int, devices: int
) -> None:
    rows = random_rows(seed, size, players, devices)
    expected = naive(rows)
    got = batch_values(pack, rows)
    assert len(got) == len(expected)
    for k, (g, e) in enumerate(zip(got, expected, strict=True)):
        assert same(g, e), (k, dict(zip(NAMES, g, strict=True)), dict(zip(NAMES, e, strict=True)))


def test_thousands_of_events_compact_and_grow_with_exact_counts(
    pack: CompiledPack, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = Counter[str]()
    compact = kernels.compact

    def counting_compact(*args: object) -> int:
        calls["compact"] += 1
        return int(compact(*args))

    monkeypatch.setattr(kernels, "compact", counting_compact)
    # Sparse, then dense: windows first empty out (compaction), then fill up (growth); the
    # dense part has hundreds of players and devices, so the per-key arrays grow too.
    rows = random_rows(1, 3000)
    dense = random_rows(2, 3000, players=400, devices=300)
    rows += [
        Row(r.kind, rows[-1].ts + k, r.player, r.device, r.amount) for k, r in enumerate(dense)
    ]
    expected = naive(rows)
    engine = StreamEngine(pack)
    rule = _rule_index(pack, "window_values")
    got = []
    for e in to_events(rows):
        engine.process(e)
        got += [
            tuple(float(v) for v in vals[: len(NAMES)])
            for r, _, vals in engine.last_raw
            if r == rule
        ]
    assert calls["compact"] > 0
    assert int(engine._run.state.caps.max()) > 256
    assert min(engine._run.state.kcaps.values()) > 256
    assert len(got) == len(expected)
    assert all(same(g, e) for g, e in zip(got, expected, strict=True))
    assert all(same(a, b) for a, b in zip(batch_values(pack, rows), got, strict=True))


# ---- dates ----------------------------------------------------------------------------------

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LEAP_DAYS = [date(1904, 2, 29), date(2000, 2, 29), date(2004, 2, 29), date(2024, 2, 29)]


def _ms(day: date) -> float:
    return float((day - date(1970, 1, 1)).days * DAY)


def birthday_card_age(dob: date, on: date) -> int:
    return on.year - dob.year - ((on.month, on.day) < (dob.month, dob.day))


@settings(max_examples=500, deadline=None)
@given(
    dob=st.one_of(st.dates(date(1900, 1, 1), date(2030, 12, 31)), st.sampled_from(LEAP_DAYS)),
    at=st.datetimes(datetime(1900, 1, 1), datetime(2100, 12, 31), timezones=st.just(UTC)),
)
def test_age_years_is_whole_years_on_the_utc_date(dob: date, at: datetime) -> None:
    at_ms = (at - EPOCH) // timedelta(milliseconds=1)
    assert kernels.age_years(_ms(dob), float(at_ms)) == birthday_card_age(dob, at.date())


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        (date(2018, 2, 28), 17),  # a leap-day birthday, in a year without one
        (date(2018, 3, 1), 18),
        (date(2020, 2, 28), 19),
        (date(2020, 2, 29), 20),
    ],
)
def test_age_of_someone_born_on_a_leap_day(on: date, expected: int) -> None:
    dob = date(2000, 2, 29)
    assert kernels.age_years(_ms(dob), _ms(on)) == expected
    assert kernels.age_years(_ms(dob), _ms(on) + DAY - 1) == expected  # all day long


def test_age_of_a_missing_date_is_missing() -> None:
    assert math.isnan(kernels.age_years(math.nan, _ms(date(2020, 1, 1))))
    assert math.isnan(kernels.age_years(_ms(date(2000, 1, 1)), math.nan))


# ---- list lookups and comparisons -------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    before=st.lists(st.integers(0, 99), max_size=5),
    ids=st.lists(st.integers(0, 60), unique=True, max_size=12),
    after=st.lists(st.integers(0, 99), max_size=5),
    v=st.integers(-3, 65),
)
def test_in_ids_finds_an_id_in_a_sorted_region_only(
    before: list[int], ids: list[int], after: list[int], v: int
) -> None:
    table = np.array([*before, *sorted(ids), *after], dtype=np.int64)
    lo, hi = len(before), len(before) + len(ids)
    assert kernels.in_ids(table, lo, hi, v) == (v >= 0 and v in ids)


def test_in_floats_never_holds_a_missing_value() -> None:
    table = np.array([1.0, np.nan, 3.0])
    assert kernels.in_floats(table, 0, 3, 3.0)
    assert not kernels.in_floats(table, 0, 2, 3.0)
    assert not kernels.in_floats(table, 0, 3, np.nan)
