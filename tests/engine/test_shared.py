"""`shared(EVENT where … by KEY over W within S)`: the most keys (rounds, say) in the
window that the player shared with one partner, both there at most S apart, the partner
being on the current event's key at most S before it. Checked end to end on small
policies, against a brute-force count, and across the two drivers."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.events import BaseEvent, event_type, ts_ms
from engine.runtime import BatchEngine, CompiledPack, StreamEngine
from tests.engine.strategies import MINUTE, event

EUR = 100  # minor units per unit of EUR and GBP
SECOND = 1_000

SHARED = """
policy together version 1 for MGA, UKGC

param stake: money = 100 EUR
param sync: duration = 3s
param window: duration = 30m
market UKGC { stake = 50 GBP; sync = 5s; window = 10m }

rule together {
  on bet
  when shared(bet where amount >= stake by round over window within sync) as rounds >= 0
  score 1
  reason "{rounds} rounds together"
}
rule tables {
  on bet
  when shared(bet by table over 1h within 1m) as tables >= 0
  score 1
}
"""


@pytest.fixture(scope="module")
def shared(compile_policy: Callable[[str], CompiledPack]) -> CompiledPack:
    return compile_policy(SHARED)


def bet(at: int, player: str, round_id: str | None, amount: int = 200, **fields: Any) -> BaseEvent:
    if round_id is not None:
        fields["round_id"] = round_id
    return event("bet", at, player=player, amount=amount * EUR, game_kind="live", **fields)


def values(pack: CompiledPack, events: list[BaseEvent], rule: str = "together") -> list[Any]:
    """The rule's value on each event, streamed (None where the rule did not fire)."""
    engine = StreamEngine(pack)
    out: list[Any] = []
    for e in events:
        decision = engine.process(e)
        found = [h for h in decision.hits if h.rule == rule]
        out.append(next(iter(found[0].values.values())) if found else None)
    return out


def rounds(pairs: int, gap: int = 2 * SECOND, *, partner: str = "p2") -> list[BaseEvent]:
    """p1 bets on rounds r1, r2, … a minute apart, `partner` `gap` later on each."""
    out = []
    for k in range(pairs):
        out.append(bet(k * MINUTE, "p1", f"r{k}"))
        out.append(bet(k * MINUTE + gap, partner, f"r{k}"))
    return out


def test_the_rounds_two_players_share_add_up(shared: CompiledPack) -> None:
    # Whoever bets first on a round has no partner on it yet; the second sees the pair.
    assert values(shared, rounds(4)) == [0, 1, 0, 2, 0, 3, 0, 4]


def test_the_count_is_the_same_from_either_side(shared: CompiledPack) -> None:
    events = rounds(3)
    events.append(bet(3 * MINUTE, "p2", "r3"))
    events.append(bet(3 * MINUTE + SECOND, "p1", "r3"))
    assert values(shared, events)[-2:] == [0, 4]


@pytest.mark.parametrize(("gap", "together"), [(3 * SECOND, 3), (3 * SECOND + 1, 0)])
def test_within_includes_its_bound(shared: CompiledPack, gap: int, together: int) -> None:
    assert values(shared, rounds(3, gap))[-1] == together


def test_the_partner_must_be_on_the_current_round_now(shared: CompiledPack) -> None:
    events = rounds(3)
    events.append(bet(3 * MINUTE, "p1", "r3"))  # nobody else on r3 yet
    events.append(bet(3 * MINUTE + 10 * SECOND, "p2", "r3"))  # too late to be together
    assert values(shared, events)[-2:] == [0, 0]


def test_the_best_partner_counts_not_the_sum(shared: CompiledPack) -> None:
    events = rounds(3, partner="p2")
    later = [
        bet(10 * MINUTE + k * MINUTE + off, who, f"s{k}")
        for k in range(2)
        for who, off in (("p1", 0), ("p3", SECOND))
    ]
    events += later
    # p1 and p3 share two rounds; p3's partner is p1, so p1's three with p2 do not count
    assert values(shared, events)[-1] == 2
    # and on a round with both partners, the better pairing wins
    events += [bet(20 * MINUTE, "p3", "u"), bet(20 * MINUTE + 1, "p2", "u")]
    events.append(bet(20 * MINUTE + 2, "p1", "u"))
    assert values(shared, events)[-1] == 4


def test_rounds_leave_the_window(shared: CompiledPack) -> None:
    events = rounds(3)
    events += [bet(30 * MINUTE + 29 * SECOND, "p1", "x"), bet(30 * MINUTE + 30 * SECOND, "p2", "x")]
    # r0 (at 0 and 2 s) is out of (30s, 30m30s]; r1, r2 and x are in
    assert values(shared, events)[-1] == 3


def test_where_filters_both_players(shared: CompiledPack) -> None:
    events = rounds(3)
    events[3] = bet(MINUTE + 2 * SECOND, "p2", "r1", amount=50)  # p2's r1 stake is small
    assert values(shared, events)[-1] == 2


def test_a_round_counts_once(shared: CompiledPack) -> None:
    events = rounds(2)
    events += [bet(MINUTE + 2 * SECOND, "p1", "r1"), bet(MINUTE + 3 * SECOND, "p2", "r1")]
    assert values(shared, events)[-1] == 2


def test_an_event_without_the_key_has_no_value(shared: CompiledPack) -> None:
    events = [*rounds(2), bet(2 * MINUTE, "p1", None)]
    assert values(shared, events)[-1] is None


def test_the_markets_window_and_within(shared: CompiledPack) -> None:
    events = [
        bet(k * MINUTE + off, who, f"r{k}", amount=60, market="UKGC", currency="GBP")
        for k in range(12)
        for who, off in (("p1", 0), ("p2", 4 * SECOND))
    ]
    # UKGC: stakes from 50 GBP, 5 s apart is together, and only the last 10 minutes count
    assert values(shared, events)[-1] == 10


def test_other_keys_are_shared_too(shared: CompiledPack) -> None:
    events = [
        event("bet", 0, player="p1", amount=EUR, table_id="t1"),
        event("bet", 30 * SECOND, player="p2", amount=EUR, table_id="t1"),
        event("bet", 5 * MINUTE, player="p1", amount=EUR, table_id="t2"),
        event("bet", 5 * MINUTE + 59 * SECOND, player="p2", amount=EUR, table_id="t2"),
    ]
    assert values(shared, events, "tables") == [0, 1, 0, 2]


def test_the_reason_quotes_the_count(shared: CompiledPack) -> None:
    engine = StreamEngine(shared)
    for e in rounds(2):
        decision = engine.process(e)
    [found] = [h for h in decision.hits if h.rule == "together"]
    assert found.reason == "2 rounds together"


# ---- against a brute-force count, and across the drivers ---------------------------------


def shared_stream(seed: int, size: int) -> list[BaseEvent]:
    rng = random.Random(seed)
    gaps = (0, 0, 1, 500, 1_000, 2_999, 3_000, 3_001, 5 * SECOND, 20 * SECOND, 40 * SECOND)
    out, at = [], 0
    for _ in range(size):
        at += rng.choice(gaps) if rng.random() < 0.97 else 10 * MINUTE
        fields: dict[str, Any] = {}
        if rng.random() < 0.9:
            # Mostly the round being dealt now (a new one every 30 s), so pairs build up.
            dealt = f"r{at // (30 * SECOND)}"
            fields["round_id"] = dealt if rng.random() < 0.8 else rng.choice(("r1", "r2"))
        if rng.random() < 0.8:
            fields["table_id"] = rng.choice(("t1", "t2", "t3", "t4"))
        kind = "win" if rng.random() < 0.1 else "bet"
        amount = rng.choice((50, 99.99, 100, 300)) * EUR
        out.append(
            event(kind, at, player=rng.choice(("p1", "p2", "p3")), amount=round(amount), **fields)
        )
    return out


def brute_force(
    events: list[BaseEvent], key: str, stake: int, window: int, sync: int
) -> list[float]:
    """`shared(bet where amount >= stake by KEY over window within sync)` on every event."""
    out = []
    for i, current in enumerate(events):
        mine = getattr(current, key, None)
        if event_type(current) != "bet" or mine is None:
            out.append(np.nan)
            continue
        t = ts_ms(current)
        seen = [
            e
            for e in events[: i + 1]
            if event_type(e) == "bet"
            and getattr(e, key, None) is not None
            and getattr(e, "amount", 0) >= stake
        ]
        partners = {
            e.player_id
            for e in seen
            if getattr(e, key) == mine and t - ts_ms(e) <= sync and e.player_id != current.player_id
        }
        inside = [e for e in seen if ts_ms(e) > t - window]
        best = 0
        for q in partners:
            keys = {
                getattr(a, key)
                for a in inside
                if a.player_id == current.player_id
                for b in inside
                if b.player_id == q
                and getattr(b, key) == getattr(a, key)
                and abs(ts_ms(a) - ts_ms(b)) <= sync
            }
            best = max(best, len(keys))
        out.append(float(best))
    return out


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(1, 120))
def test_shared_matches_a_brute_force_count_in_both_drivers(
    shared: CompiledPack, seed: int, size: int
) -> None:
    events = shared_stream(seed, size)
    expected = {
        "together": brute_force(events, "round_id", 100 * EUR, 30 * MINUTE, 3 * SECOND),
        "tables": brute_force(events, "table_id", 0, 60 * MINUTE, MINUTE),
    }
    names = [r.name for r in shared.program.rules]
    result = BatchEngine(shared).run_events(events)
    batch: dict[str, list[float]] = {name: [np.nan] * len(events) for name in names}
    for row, rule, v in zip(result.hit_rows, result.hit_rules, result.hit_values, strict=True):
        batch[names[int(rule)]][int(row)] = float(v[0])
    engine = StreamEngine(shared)
    streamed: dict[str, list[float]] = {name: [np.nan] * len(events) for name in names}
    for row, e in enumerate(events):
        engine.process(e)
        for rule, _fired, v in engine.last_raw:
            streamed[names[rule]][row] = float(v[0])
    for name in names:
        np.testing.assert_array_equal(batch[name], expected[name], err_msg=name)
        np.testing.assert_array_equal(streamed[name], expected[name], err_msg=name)
