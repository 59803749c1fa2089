"""The policy language's semantics, end to end on small policies: sequences and absence
steps, per-market overrides, the player's profile, decisions and their explanations."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dsl
from dsl.compiler import CompileError
from engine.decisions import Decision
from engine.events import BaseEvent, event_type, ts_ms
from engine.runtime import BatchEngine, CompiledPack, StreamEngine, compile_results
from tests.engine.strategies import DAY, HOUR, MINUTE, T0, event

EUR = 100  # minor units per unit of EUR, GBP and USD

SEQUENCES = """
policy sequences version 1 for MGA

param large_deposit: money = 2000 EUR

rule pass_through "a large deposit withdrawn with little play" {
  on withdrawal
  when sequence within 24h {
    d: deposit where amount >= large_deposit
    !bet where sum(amount) >= 0.2 * d.amount
    withdrawal where amount >= 0.8 * d.amount
  }
  score 60
  action hold_payment
  reason "deposit of {d.amount} withdrawn as {amount}"
}

rule no_big_bet "no single bet of 50 EUR or more between a deposit and a withdrawal" {
  on withdrawal
  when sequence within 24h {
    d: deposit
    !bet where amount >= 50 EUR
    withdrawal
  }
  score 1
}

rule quick_exit "out another way within half an hour" {
  on withdrawal
  when sequence within 24h {
    d: deposit where method == "card"
    withdrawal where method != d.method within 30m
  }
  score 1
  reason "deposited by {d.method}, withdrawn by {method}"
}

rule idle_hour "no bet in the hour after a deposit" {
  on withdrawal
  when sequence within 24h {
    d: deposit
    !bet within 1h
    withdrawal
  }
  score 1
}

rule cold_withdrawal "no login in the hour before a withdrawal" {
  on withdrawal
  when sequence within 24h {
    !login within 1h
    withdrawal
  }
  score 1
}

rule rising "three rising deposits" {
  on deposit
  when sequence within 24h {
    d1: deposit
    d2: deposit where amount > d1.amount
    deposit where amount > d2.amount
  }
  score 1
  reason "deposits rising {d1.amount}, {d2.amount}, {amount}"
}
"""

PER_MARKET = """
policy per_market version 1 for MGA, UKGC

param large: money = 1000 EUR
param deposits_n: int = 3
param points: int = 20
param review_at: int = 40
param gap: duration = 30m
param seq_window: duration = 24h
param kind: string = "live"

market UKGC {
  large = 500 GBP
  deposits_n = 2
  points = 40
  review_at = 30
  gap = 10m
  seq_window = 1h
  kind = "slot"
}

rule large_deposit {
  on deposit when amount >= large score points reason "{amount} at or above {large}"
}
rule many_deposits { on deposit when count(deposit over 1h) as deposits >= deposits_n score 5 }
rule quick_exit {
  on withdrawal
  when sequence within 24h {
    d: deposit
    withdrawal within gap
  }
  score 1
}
rule idle_gap {
  on withdrawal
  when sequence within 24h {
    d: deposit
    !bet within gap
    withdrawal
  }
  score 1
}
rule echo {
  on withdrawal
  when sequence within seq_window {
    d: deposit
    withdrawal
  }
  score 1
  reason "after a deposit of {d.amount}"
}
rule kind_is { on bet when game_kind == kind score 1 }
rule kind_in { on bet when game_kind in [kind] score 1 }
rule kind_not_in { on bet when game_kind not in [kind] score 1 }

decide { score >= review_at -> review; else allow }
"""

DECISIONS = """
policy decisions version 1 for MGA, UKGC

param big: money = 5000 EUR
param trial: money = 3000 EUR
market UKGC { big = 4000 GBP; trial = 2500 GBP }

rule big_deposit "a big deposit" {
  on deposit
  when amount >= big
  score 60
  severity high
  family aml
  reason "{amount} ({score} points), at or above {big}, card {card_country}; {{literal}}"
}
rule odd_hour { on deposit when hour >= 2 and hour < 5 score 30 }
rule sanctioned_card {
  on deposit when card_country == "KP" action block reason "card from {card_country}"
}
rule big_deposit_trial {
  on deposit when amount >= trial score 50 action block mode shadow reason "trial: {amount}"
}
rule trusted { on deposit when player.kyc_level >= 3 score -40 }
rule capped { on withdrawal when amount >= big score 10 action hold_payment }

define day_out = sum(withdrawal.amount over 24h)
rule big_day_out {
  on withdrawal
  when day_out >= big
  except player.kyc_level >= 2
  score 5
  reason "{sum} withdrawn in a day"
}

rule excluded {
  on login, deposit, bet
  when player.self_excluded
  score 100
  action block
  reason "self-excluded {player_id} ({event_id})"
}
rule minor { on login, kyc_update when player.age < 18 score 1 reason "aged {player.age}" }
rule unknown_kyc { on login when not present(player.kyc_level) score 1 }
rule verified_now {
  on kyc_update when player.kyc_level >= 2 score 1 reason "now at level {player.kyc_level}"
}
rule approved { on login when player.kyc_status == "approved" score 1 }
rule card_not_doc {
  on deposit where present(card_country) and present(player.doc_country)
  when card_country != player.doc_country
  score 1
}
rule new_account {
  on login when player.account_age < 1h score 1 reason "first seen {player.first_seen}"
}

decide {
  score >= 90 -> block
  score >= 60 -> review
  score >= 30 -> limit
  else allow
}
"""


@pytest.fixture(scope="module")
def sequences(compile_policy: Callable[[str], CompiledPack]) -> CompiledPack:
    return compile_policy(SEQUENCES)


@pytest.fixture(scope="module")
def per_market(compile_policy: Callable[[str], CompiledPack]) -> CompiledPack:
    return compile_policy(PER_MARKET)


@pytest.fixture(scope="module")
def decisions(compile_policy: Callable[[str], CompiledPack]) -> CompiledPack:
    return compile_policy(DECISIONS)


def run(pack: CompiledPack, events: Iterable[BaseEvent], *, record_all: bool = False) -> Decision:
    """Stream the events through a fresh engine; the last decision."""
    engine = StreamEngine(pack, record_all=record_all)
    decision = None
    for e in events:
        decision = engine.process(e)
    assert decision is not None
    return decision


def fired(decision: Decision) -> set[str]:
    return {h.rule for h in decision.hits}


def hit(decision: Decision, rule: str) -> dict[str, object]:
    [found] = [h for h in decision.hits + decision.shadow if h.rule == rule]
    return {"reason": found.reason, **found.values}


# ---- sequences ----------------------------------------------------------------------------


def pass_through(
    *, bets: Iterable[tuple[int, int]] = (), withdraw_at: int = 2 * HOUR
) -> list[BaseEvent]:
    """A 3000 EUR deposit at 0, the given (time, amount) bets, a 2900 EUR withdrawal."""
    return [
        event("deposit", 0, amount=3000 * EUR),
        *(event("bet", at, amount=amount) for at, amount in bets),
        event("withdrawal", withdraw_at, amount=2900 * EUR),
    ]


def test_pass_through_fires_with_the_bound_deposit_in_its_reason(sequences: CompiledPack) -> None:
    decision = run(sequences, pass_through(bets=[(10 * MINUTE, 50 * EUR)]))
    assert "pass_through" in fired(decision)
    assert hit(decision, "pass_through") == {
        "reason": "deposit of 3000.00 EUR withdrawn as 2900.00 EUR",
        "d.amount": "3000.00 EUR",
        "amount": "2900.00 EUR",
    }
    assert decision.action == "hold_payment"  # the rule's own action; no decide block
    # With cold_withdrawal (no login in the hour before); the 50 EUR bet, 10 minutes after
    # the deposit, keeps no_big_bet and idle_hour quiet.
    assert decision.score == 61


@pytest.mark.parametrize(
    ("bets", "fires"),
    [
        ([], True),
        ([(MINUTE, 599 * EUR + 99)], True),  # just under 20% of the deposit
        ([(MINUTE, 600 * EUR)], False),  # 20%: the absence step's total is reached
        ([(MINUTE, 300 * EUR), (HOUR, 300 * EUR)], False),  # in total
        ([(MINUTE, 300 * EUR), (HOUR, 299 * EUR)], True),
    ],
)
def test_an_absence_step_on_totals_adds_up_the_events_in_the_gap(
    sequences: CompiledPack, bets: list[tuple[int, int]], fires: bool
) -> None:
    assert ("pass_through" in fired(run(sequences, pass_through(bets=bets)))) is fires


def test_events_before_the_first_step_are_not_in_the_gap(sequences: CompiledPack) -> None:
    events = [
        event("bet", 0, amount=5000 * EUR),
        event("deposit", MINUTE, amount=3000 * EUR),
        event("withdrawal", HOUR, amount=2900 * EUR),
    ]
    assert "pass_through" in fired(run(sequences, events))


def test_the_search_finds_a_later_matching_step(sequences: CompiledPack) -> None:
    events = [
        event("deposit", 0, amount=3000 * EUR),
        event("bet", HOUR, amount=1000 * EUR),  # plays through the first deposit
        event("deposit", 2 * HOUR, amount=2500 * EUR),
        event("withdrawal", 3 * HOUR, amount=2400 * EUR),
    ]
    decision = run(sequences, events)
    assert hit(decision, "pass_through")["d.amount"] == "2500.00 EUR"


@pytest.mark.parametrize(
    ("withdraw_at", "fires"),
    [(24 * HOUR - 1, True), (24 * HOUR, False), (25 * HOUR, False)],
)
def test_the_whole_sequence_fits_in_its_window(
    sequences: CompiledPack, withdraw_at: int, fires: bool
) -> None:
    decision = run(sequences, pass_through(withdraw_at=withdraw_at))
    assert ("pass_through" in fired(decision)) is fires


@pytest.mark.parametrize(("amount", "fires"), [(49 * EUR + 99, True), (50 * EUR, False)])
def test_an_absence_step_on_each_event(sequences: CompiledPack, amount: int, fires: bool) -> None:
    events = [
        event("deposit", 0, amount=100 * EUR),
        event("bet", MINUTE, amount=10 * EUR),
        event("bet", 2 * MINUTE, amount=amount),
        event("withdrawal", HOUR, amount=100 * EUR),
    ]
    assert ("no_big_bet" in fired(run(sequences, events))) is fires


def test_equal_timestamps_follow_arrival_order(sequences: CompiledPack) -> None:
    deposit = event("deposit", 0, amount=3000 * EUR)
    withdrawal = event("withdrawal", 0, amount=2900 * EUR)
    assert "pass_through" in fired(run(sequences, [deposit, withdrawal]))
    engine = StreamEngine(sequences)
    assert "pass_through" not in fired(engine.process(withdrawal))
    assert "pass_through" not in fired(engine.process(deposit))
    # A bet at the same time, arriving between them, is in the gap.
    bet = event("bet", 0, amount=1000 * EUR)
    assert "pass_through" not in fired(run(sequences, [deposit, bet, withdrawal]))


@pytest.mark.parametrize(
    ("at", "method", "fires"),
    [
        (30 * MINUTE, "ewallet", True),  # `within` bounds the time since the step before
        (30 * MINUTE + 1, "ewallet", False),
        (MINUTE, "card", False),
        (MINUTE, None, False),  # `method != d.method` with a missing method is false
    ],
)
def test_a_step_within_bounds_the_time_since_the_step_before(
    sequences: CompiledPack, at: int, method: str | None, fires: bool
) -> None:
    fields = {"method": method} if method else {}
    events = [
        event("deposit", 0, amount=100 * EUR, method="card"),
        event("withdrawal", at, amount=100 * EUR, **fields),
    ]
    decision = run(sequences, events)
    assert ("quick_exit" in fired(decision)) is fires
    if fires:
        assert hit(decision, "quick_exit")["reason"] == "deposited by card, withdrawn by ewallet"


@pytest.mark.parametrize(
    ("bet_at", "fires"),
    [(None, True), (30 * MINUTE, False), (HOUR, False), (HOUR + 1, True)],
)
def test_an_absence_step_within_bounds_the_gap_after_the_step_before(
    sequences: CompiledPack, bet_at: int | None, fires: bool
) -> None:
    events = [event("deposit", 0, amount=100 * EUR)]
    if bet_at is not None:
        events.append(event("bet", bet_at, amount=EUR))
    events.append(event("withdrawal", 2 * HOUR, amount=100 * EUR))
    assert ("idle_hour" in fired(run(sequences, events))) is fires


@pytest.mark.parametrize(
    ("login_at", "fires"),
    [(None, True), (0, True), (1, False), (2 * HOUR - 1, False)],
)
def test_a_leading_absence_step_within_bounds_the_gap_before_the_next_step(
    sequences: CompiledPack, login_at: int | None, fires: bool
) -> None:
    events = [event("login", login_at)] if login_at is not None else []
    events.append(event("withdrawal", HOUR, amount=100 * EUR))
    assert ("cold_withdrawal" in fired(run(sequences, events))) is fires


def test_named_steps_bind_fields_for_later_steps_and_the_reason(sequences: CompiledPack) -> None:
    amounts = [100, 50, 200, 300]
    events = [event("deposit", k * MINUTE, amount=a * EUR) for k, a in enumerate(amounts)]
    decision = run(sequences, events)
    assert hit(decision, "rising")["reason"] == "deposits rising 50.00 EUR, 200.00 EUR, 300.00 EUR"
    assert "rising" not in fired(run(sequences, events[:3]))


def test_the_search_tries_an_earlier_step_when_the_last_step_rejects_the_latest(
    sequences: CompiledPack,
) -> None:
    """The latest large deposit (10000 EUR) is too big for the 1900 EUR withdrawal; the
    one before it (2000 EUR) matches. The last step's condition must not end the search."""
    events = [
        event("deposit", 0, amount=2000 * EUR),
        event("deposit", HOUR, amount=10_000 * EUR),
        event("withdrawal", 2 * HOUR, amount=1900 * EUR),
    ]
    decision = run(sequences, events)
    assert "pass_through" in fired(decision)
    assert hit(decision, "pass_through")["d.amount"] == "2000.00 EUR"


def test_the_search_tries_an_earlier_step_when_an_absence_step_rejects_the_latest(
    sequences: CompiledPack,
) -> None:
    """A 600 EUR bet is 20% of the latest deposit (2500 EUR) but not of the one before
    (5000 EUR), which the 4000 EUR withdrawal also passes through."""
    events = [
        event("deposit", 0, amount=5000 * EUR),
        event("deposit", HOUR, amount=2500 * EUR),
        event("bet", 90 * MINUTE, amount=600 * EUR),
        event("withdrawal", 2 * HOUR, amount=4000 * EUR),
    ]
    decision = run(sequences, events)
    assert "pass_through" in fired(decision)
    assert hit(decision, "pass_through")["d.amount"] == "5000.00 EUR"


def test_the_search_backtracks_over_every_named_step(sequences: CompiledPack) -> None:
    """100 < 200 < 250 rise, although the latest pair (200 < 300) does not lead to 250."""
    amounts = [100, 200, 300, 250]
    events = [event("deposit", k * MINUTE, amount=a * EUR) for k, a in enumerate(amounts)]
    decision = run(sequences, events)
    assert "rising" in fired(decision)
    assert hit(decision, "rising")["reason"] == "deposits rising 100.00 EUR, 200.00 EUR, 250.00 EUR"


SEQUENCE_RULES = ("pass_through", "no_big_bet", "quick_exit", "idle_hour", "cold_withdrawal")
SEQUENCE_RULES += ("rising",)


def sequence_stream(seed: int, size: int) -> list[BaseEvent]:
    rng = random.Random(seed)
    gaps = (0, 1, 10 * MINUTE, 30 * MINUTE, 30 * MINUTE + 1, HOUR, HOUR + 1, 3 * HOUR)
    gaps += (24 * HOUR - 1, 24 * HOUR)
    amounts = {
        "deposit": (500, 1000, 2000, 2500, 3000, 5000, 10_000),
        "withdrawal": (400, 1600, 1900, 2400, 2500, 4000, 8000),
        "bet": (10, 49.99, 50, 100, 400, 500, 600, 1000),
    }
    out, at = [], 0
    for _ in range(size):
        at += rng.choice(gaps) if rng.random() < 0.5 else rng.randrange(2 * HOUR)
        kind = rng.choice(("deposit", "deposit", "withdrawal", "bet", "bet", "login"))
        fields: dict[str, object] = {}
        if kind != "login":
            fields["amount"] = round(rng.choice(amounts[kind]) * EUR)
        if kind in ("deposit", "withdrawal") and rng.random() < 0.8:
            fields["method"] = rng.choice(("card", "ewallet"))
        out.append(event(kind, at, player=rng.choice(("p1", "p2")), **fields))
    return out


def brute_force(events: list[BaseEvent]) -> set[tuple[int, str]]:
    """(row, rule) for every firing of SEQUENCES' rules, by trying every binding."""
    out = set()
    for i, current in enumerate(events):
        t = ts_ms(current)
        # The player's events inside the 24h window, in arrival order, current last.
        mine = [
            (k, e)
            for k, e in enumerate(events[: i + 1])
            if e.player_id == current.player_id and ts_ms(e) > t - 24 * HOUR
        ]
        kind = event_type(current)
        before = [(k, e) for k, e in mine if k < i]
        deposits = [(k, e) for k, e in before if event_type(e) == "deposit"]
        if kind == "withdrawal":
            w: Any = current
            for k, d in deposits:
                dd: Any = d
                bets: list[Any] = [b for n, b in before if n > k and event_type(b) == "bet"]
                if (
                    dd.amount >= 2000 * EUR
                    and not sum(b.amount for b in bets) >= 0.2 * dd.amount
                    and w.amount >= 0.8 * dd.amount
                ):
                    out.add((i, "pass_through"))
                if not any(b.amount >= 50 * EUR for b in bets):
                    out.add((i, "no_big_bet"))
                if (
                    dd.method == "card"
                    and w.method is not None
                    and w.method != dd.method
                    and t - ts_ms(d) <= 30 * MINUTE
                ):
                    out.add((i, "quick_exit"))
                if not any(ts_ms(b) <= ts_ms(d) + HOUR for b in bets):
                    out.add((i, "idle_hour"))
            if not any(event_type(e) == "login" and ts_ms(e) > t - HOUR for _, e in before):
                out.add((i, "cold_withdrawal"))
        if kind == "deposit":
            c: Any = current
            for a, (_, d1) in enumerate(deposits):
                for _, d2 in deposits[a + 1 :]:
                    if d1.amount < d2.amount < c.amount:  # type: ignore[attr-defined]
                        out.add((i, "rising"))
    return out


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(1, 60))
def test_sequences_match_a_brute_force_search(
    sequences: CompiledPack, seed: int, size: int
) -> None:
    events = sequence_stream(seed, size)
    result = BatchEngine(sequences).run_events(events)
    names = [r.name for r in sequences.program.rules]
    got = {
        (int(row), names[int(rule)])
        for row, rule in zip(result.hit_rows, result.hit_rules, strict=True)
    }
    expected = brute_force(events)
    assert sorted(got - expected) == [], "fired, but no binding matches"
    assert sorted(expected - got) == [], "a binding matches, but did not fire"


def test_sequences_follow_one_player(sequences: CompiledPack) -> None:
    events = [
        event("deposit", 0, amount=3000 * EUR, player="p2"),
        event("withdrawal", HOUR, amount=2900 * EUR),
    ]
    assert "pass_through" not in fired(run(sequences, events))


def test_an_absence_step_cannot_end_a_sequence() -> None:
    """The last step is the event being decided (docs §10, PB407); an absence step after
    it can never be satisfied, so the rule could never fire."""
    text = """
policy trailing version 1 for MGA
rule never { on withdrawal when sequence within 1h { withdrawal
  !bet } score 10 }
"""
    result = dsl.check_source(text, "<test>")
    assert not result.ok


# ---- per-market overrides ----------------------------------------------------------------------


def test_the_same_deposit_decides_differently_per_market(per_market: CompiledPack) -> None:
    mga = run(per_market, [event("deposit", 0, amount=800 * EUR, market="MGA")])
    ukgc = run(per_market, [event("deposit", 0, amount=800 * EUR, market="UKGC")])
    assert fired(mga) == set()
    assert fired(ukgc) == {"large_deposit"}
    assert hit(ukgc, "large_deposit")["reason"] == "800.00 GBP at or above 500 GBP"
    assert (ukgc.score, ukgc.action) == (40, "review")  # score and band from UKGC's params
    big = run(per_market, [event("deposit", 0, amount=1200 * EUR, market="MGA")])
    assert (big.score, big.action) == (20, "allow")


def test_aggregate_thresholds_per_market(per_market: CompiledPack) -> None:
    for market, fires in (("MGA", False), ("UKGC", True)):
        events = [event("deposit", k, amount=EUR, market=market) for k in range(2)]
        assert ("many_deposits" in fired(run(per_market, events))) is fires


def test_sequence_windows_per_market(per_market: CompiledPack) -> None:
    for market, fires in (("MGA", True), ("UKGC", False)):
        events = [
            event("deposit", 0, amount=EUR, market=market),
            event("withdrawal", 2 * HOUR, amount=EUR, market=market),
        ]
        assert ("echo" in fired(run(per_market, events))) is fires


@pytest.mark.parametrize(("market", "fires"), [("MGA", True), ("UKGC", False)])
def test_a_step_within_takes_the_markets_value(
    per_market: CompiledPack, market: str, fires: bool
) -> None:
    """gap is 30m in MGA and 10m in UKGC: a withdrawal 20 minutes after the deposit is
    quick only in MGA."""
    events = [
        event("deposit", 0, amount=EUR, market=market),
        event("withdrawal", 20 * MINUTE, amount=EUR, market=market),
    ]
    assert ("quick_exit" in fired(run(per_market, events))) is fires


@pytest.mark.parametrize(("market", "fires"), [("MGA", False), ("UKGC", True)])
def test_an_absence_step_within_takes_the_markets_value(
    per_market: CompiledPack, market: str, fires: bool
) -> None:
    """A bet 15 minutes after the deposit is inside MGA's 30m gap, outside UKGC's 10m."""
    events = [
        event("deposit", 0, amount=EUR, market=market),
        event("bet", 15 * MINUTE, amount=EUR, market=market),
        event("withdrawal", 20 * MINUTE, amount=EUR, market=market),
    ]
    assert ("idle_gap" in fired(run(per_market, events))) is fires


@pytest.mark.parametrize(
    ("market", "game_kind", "expected"),
    [
        ("MGA", "live", {"kind_is", "kind_in"}),
        ("MGA", "slot", {"kind_not_in"}),
        ("UKGC", "slot", {"kind_is", "kind_in"}),
        ("UKGC", "live", {"kind_not_in"}),
    ],
)
def test_a_list_of_params_takes_the_markets_values(
    per_market: CompiledPack, market: str, game_kind: str, expected: set[str]
) -> None:
    decision = run(per_market, [event("bet", 0, amount=EUR, market=market, game_kind=game_kind)])
    assert fired(decision) == expected


def test_a_bound_step_in_a_reason_after_the_stores_are_compacted(per_market: CompiledPack) -> None:
    """UKGC's `echo` reads a 1h sequence store, MGA's a 24h one. Once the stores have been
    compacted (another player's 300 deposits over 50 hours), the same entry sits at a
    different place in each, and `{d.amount}` must still be read from UKGC's."""
    engine = StreamEngine(per_market)
    for k in range(300):
        engine.process(
            event("deposit", k * 10 * MINUTE, amount=k + 1, market="UKGC", player="filler")
        )
    at = 300 * 10 * MINUTE
    engine.process(event("deposit", at, amount=777 * EUR, market="UKGC"))
    decision = engine.process(event("withdrawal", at + MINUTE, amount=EUR, market="UKGC"))
    assert hit(decision, "echo")["reason"] == "after a deposit of 777.00 GBP"


def test_a_list_param_compiles() -> None:
    """`param kinds: list of string` is a documented param type (docs §4): it compiles,
    and each market reads its own list."""
    text = """
policy list_param version 1 for MGA, UKGC
param kinds: list of string = ["live", "table"]
market UKGC { kinds = ["slot"] }
rule listed { on bet when game_kind in kinds score 1 }
"""
    result = dsl.check_source(text, "<test>")
    assert result.ok, result.issues
    try:
        pack = compile_results([result])
    except CompileError as exc:
        pytest.fail(f"a checked policy does not compile: {exc}")
    for market, kind, fires in (
        ("MGA", "live", True),
        ("MGA", "slot", False),
        ("UKGC", "slot", True),
        ("UKGC", "live", False),
    ):
        decision = run(pack, [event("bet", 0, amount=EUR, market=market, game_kind=kind)])
        assert ("listed" in fired(decision)) is fires, (market, kind)


def test_an_aggregate_in_on_where_compiles_or_is_rejected() -> None:
    """The checker accepts an aggregate in `on … where`; the compiler must then compile it
    (today it recurses until RecursionError)."""
    text = """
policy on_where version 1 for MGA
rule again { on deposit where count(deposit over 1h) >= 2 when amount >= 1 EUR score 10 }
"""
    result = dsl.check_source(text, "<test>")
    if not result.ok:
        return
    try:
        pack = compile_results([result])
    except RecursionError:
        pytest.fail("a checked policy sends the compiler into endless recursion")
    engine = StreamEngine(pack)
    decisions = [engine.process(event("deposit", k, amount=EUR)) for k in range(2)]
    assert [fired(d) for d in decisions] == [set(), {"again"}]


# ---- decisions ----------------------------------------------------------------------------------


def test_scores_add_up_and_pick_a_band(decisions: CompiledPack) -> None:
    # 03:00 in Malta (UTC+1 in winter) is an odd hour.
    decision = run(decisions, [event("deposit", 14 * HOUR, amount=6000 * EUR)])
    assert fired(decision) == {"big_deposit", "odd_hour"}
    assert (decision.score, decision.action) == (90, "block")


def test_a_rules_hard_action_wins_over_a_softer_band(decisions: CompiledPack) -> None:
    decision = run(decisions, [event("deposit", 0, amount=6000 * EUR, card_country="KP")])
    assert fired(decision) == {"big_deposit", "sanctioned_card"}
    assert decision.score == 60  # the review band
    assert decision.action == "block"
    assert decision.policies == {"decisions": "block"}


def test_shadow_rules_are_recorded_apart_and_never_enforced(decisions: CompiledPack) -> None:
    decision = run(decisions, [event("deposit", 0, amount=3500 * EUR)])
    assert fired(decision) == set()
    assert [h.rule for h in decision.shadow] == ["big_deposit_trial"]
    [trial] = decision.shadow
    assert trial.shadow
    assert trial.fired
    assert trial.reason == "trial: 3500.00 EUR"
    assert (decision.score, decision.action) == (0, "allow")  # its score and block ignored


def test_a_negative_score_lowers_the_total(decisions: CompiledPack) -> None:
    events = [
        event("kyc_update", 0, kyc_level=3),
        event("deposit", 14 * HOUR, amount=6000 * EUR),
    ]
    decision = run(decisions, events)
    assert fired(decision) == {"big_deposit", "odd_hour", "trusted"}
    assert (decision.score, decision.action) == (50, "limit")


def test_a_hard_action_wins_over_the_allow_band(decisions: CompiledPack) -> None:
    decision = run(decisions, [event("withdrawal", 0, amount=5000 * EUR)])
    assert fired(decision) == {"capped", "big_day_out"}
    assert (decision.score, decision.action) == (15, "hold_payment")


def test_a_define_and_an_exception(decisions: CompiledPack) -> None:
    engine = StreamEngine(decisions)
    engine.process(event("withdrawal", 0, amount=3000 * EUR))
    second = engine.process(event("withdrawal", HOUR, amount=2500 * EUR))
    assert hit(second, "big_day_out")["reason"] == "5500.00 EUR withdrawn in a day"
    # The exception compares a missing KYC level: false, so no exemption above. Level 1
    # does not exempt either; level 2 does.
    engine.process(event("kyc_update", 2 * HOUR, kyc_level=1))
    assert "big_day_out" in fired(engine.process(event("withdrawal", 3 * HOUR, amount=EUR)))
    engine.process(event("kyc_update", 4 * HOUR, kyc_level=2))
    assert "big_day_out" not in fired(engine.process(event("withdrawal", 5 * HOUR, amount=EUR)))


@pytest.mark.parametrize(("at", "fires"), [(24 * HOUR - 1, True), (24 * HOUR, False)])
def test_a_define_reads_its_window(decisions: CompiledPack, at: int, fires: bool) -> None:
    events = [
        event("withdrawal", 0, amount=3000 * EUR),
        event("withdrawal", at, amount=2500 * EUR),
    ]
    assert ("big_day_out" in fired(run(decisions, events))) is fires


def test_the_decision_carries_every_fired_rule_with_its_explanation(
    decisions: CompiledPack,
) -> None:
    e = event("deposit", 0, amount=6000 * EUR, market="UKGC", player="p7")
    decision = run(decisions, [e])
    assert decision.event_id == e.event_id
    assert (decision.player_id, decision.market, decision.ts) == ("p7", "UKGC", T0)
    [big] = decision.hits
    assert big.policy == "decisions"
    assert big.rule == "big_deposit"
    assert (big.fired, big.shadow, big.action, big.score) == (True, False, "allow", 60)
    assert (big.severity, big.family) == ("high", "aml")
    # A missing value shows as "?"; params show as written; {{ }} are literal braces.
    assert big.reason == "6000.00 GBP (60 points), at or above 4000 GBP, card ?; {literal}"
    assert big.values == {"amount": "6000.00 GBP", "card_country": None}
    assert decision.evaluated == ()


def test_record_all_lists_the_rules_that_did_not_fire(decisions: CompiledPack) -> None:
    decision = run(decisions, [event("deposit", 0, amount=EUR)], record_all=True)
    evaluated = {h.rule: h.fired for h in decision.evaluated}
    assert evaluated == {
        "big_deposit": False,
        "odd_hour": False,
        "sanctioned_card": False,
        "big_deposit_trial": False,
        "trusted": False,
        "excluded": False,
        # card_not_doc is not evaluated: its `on … where` needs a card country.
    }


# ---- the player's profile ------------------------------------------------------------------------


def test_the_profile_is_updated_by_the_current_event_first(decisions: CompiledPack) -> None:
    engine = StreamEngine(decisions)
    first = engine.process(event("kyc_update", 0, kyc_level=1))
    assert "verified_now" not in fired(first)
    second = engine.process(event("kyc_update", 1, kyc_level=2, status="approved"))
    assert hit(second, "verified_now")["reason"] == "now at level 2"
    # An update without a level keeps the last one.
    third = engine.process(event("kyc_update", 2, doc_country="MT"))
    assert "verified_now" in fired(third)
    login = engine.process(event("login", 3))
    assert "approved" in fired(login)
    assert "unknown_kyc" not in fired(login)


def test_a_missing_profile_field_is_not_present(decisions: CompiledPack) -> None:
    engine = StreamEngine(decisions)
    assert "unknown_kyc" in fired(engine.process(event("login", 0)))
    assert "unknown_kyc" in fired(engine.process(event("login", 1, player="p2")))
    engine.process(event("kyc_update", 2, kyc_level=0))
    assert "unknown_kyc" not in fired(engine.process(event("login", 3)))
    assert "unknown_kyc" in fired(engine.process(event("login", 4, player="p2")))


@pytest.mark.parametrize(
    ("dob", "at", "age"),
    [
        (date(2008, 1, 2), 0, 17),  # T0 is 2026-01-01
        (date(2008, 1, 1), 0, 18),
        (date(2008, 2, 29), 58 * DAY, 17),  # 2026-02-28: no leap day this year
        (date(2008, 2, 29), 59 * DAY, 18),  # 2026-03-01
    ],
)
def test_player_age_is_taken_at_each_events_time(
    decisions: CompiledPack, dob: date, at: int, age: int
) -> None:
    engine = StreamEngine(decisions, record_all=True)
    engine.process(event("kyc_update", 0, dob=dob))
    decision = engine.process(event("login", at))
    assert engine.last_values["minor"] == {"player.age": age}
    assert ("minor" in fired(decision)) is (age < 18)
    if age < 18:
        assert hit(decision, "minor")["reason"] == f"aged {age}"


def test_player_age_follows_the_markets_calendar(decisions: CompiledPack) -> None:
    """T0 - 12h30 is 2026-01-01 00:30 in Malta (UTC+1) but still 2025-12-31 in UTC: a
    player born on 2008-01-01 is 18 on Malta's calendar."""
    engine = StreamEngine(decisions, record_all=True)
    engine.process(event("kyc_update", -13 * HOUR, dob=date(2008, 1, 1)))
    engine.process(event("login", -12 * HOUR - 30 * MINUTE))
    assert engine.last_values["minor"] == {"player.age": 18}


def test_self_exclusion_lasts_until_its_end(decisions: CompiledPack) -> None:
    engine = StreamEngine(decisions)
    engine.process(event("self_exclusion", 0, until=T0 + 7 * DAY))
    during = engine.process(event("login", DAY))
    assert "excluded" in fired(during)
    assert during.action == "block"
    assert hit(during, "excluded")["reason"] == f"self-excluded p1 ({during.event_id})"
    assert "excluded" in fired(engine.process(event("deposit", 7 * DAY - 1, amount=EUR)))
    assert "excluded" not in fired(engine.process(event("login", 7 * DAY)))
    assert "excluded" not in fired(engine.process(event("login", 8 * DAY, player="p2")))


def test_a_self_exclusion_without_an_end_never_lapses(decisions: CompiledPack) -> None:
    engine = StreamEngine(decisions)
    engine.process(event("self_exclusion", 0))
    assert "excluded" in fired(engine.process(event("bet", 400 * DAY, amount=EUR)))


def test_profile_countries_compare_with_event_countries(decisions: CompiledPack) -> None:
    engine = StreamEngine(decisions)
    assert "card_not_doc" not in fired(
        engine.process(event("deposit", 0, amount=EUR, card_country="NG"))
    )
    engine.process(event("kyc_update", 1, doc_country="MT"))
    assert "card_not_doc" in fired(
        engine.process(event("deposit", 2, amount=EUR, card_country="NG"))
    )
    assert "card_not_doc" not in fired(
        engine.process(event("deposit", 3, amount=EUR, card_country="MT"))
    )


def test_account_age_counts_from_the_first_event(decisions: CompiledPack) -> None:
    engine = StreamEngine(decisions)
    engine.process(event("deposit", 0, amount=EUR))
    first = engine.process(event("login", HOUR - 1))
    assert hit(first, "new_account")["reason"] == "first seen 2026-01-01T12:00:00Z"
    assert "new_account" not in fired(engine.process(event("login", HOUR)))


# ---- several policies in one pack -------------------------------------------------------------


def test_a_pack_scores_only_the_policies_for_the_events_market() -> None:
    results = [dsl.check_source(text, "<test>") for text in (DECISIONS, SEQUENCES)]
    pack = compile_results(results)
    events = [
        event("deposit", 0, amount=6000 * EUR, market=market, player=market)
        for market in ("MGA", "UKGC")
    ] + [
        event("withdrawal", HOUR, amount=5900 * EUR, market=market, player=market)
        for market in ("MGA", "UKGC")
    ]
    engine = StreamEngine(pack)
    decided = [engine.process(e) for e in events]
    assert [d.policies for d in decided] == [
        {"decisions": "review", "sequences": "allow"},
        {"decisions": "review"},
        {"decisions": "hold_payment", "sequences": "hold_payment"},
        {"decisions": "hold_payment"},
    ]
    # capped (10), big_day_out (5); in MGA also pass_through (60) and no_big_bet,
    # cold_withdrawal and idle_hour (1 each).
    assert [d.score for d in decided] == [60, 60, 78, 15]
    batch = BatchEngine(pack).run_events(events)
    assert batch.scores.tolist() == [d.score for d in decided]
