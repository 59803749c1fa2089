"""The code generator: what it lays out and what it refuses (no numba compile here)."""

from __future__ import annotations

import pytest

import dsl
from dsl.compiler import CompileError, compile_pack
from engine.kernels import (
    AQ_KEY,
    AQ_PARTNERS,
    AQ_STORE,
    AQ_SYNC,
    AQ_WIDTH,
    AQ_WINDOW,
    SHARED,
    ST_WIDTH,
)

POLICY = """
policy demo version 1 for MGA, UKGC
param cap: money = 1000 EUR
param window: duration = 24h
market UKGC { cap = 800 GBP; window = 12h }
rule many { on deposit when count(deposit over window) >= 3 score 10 reason "{count}" }
rule big { on deposit when sum(deposit.amount over 24h) as total >= cap score 20 reason "{total}" }
rule shared { on login when distinct(player by device over 7d) >= 3 score 30 reason "{distinct}" }
decide { score >= 30 -> review; else allow }
"""


def _checked(text: str, path: str = "<demo>") -> dsl.CheckResult:
    result = dsl.check_source(text, path)
    assert result.ok, dsl.render_all(result.issues, text)
    return result


def test_a_window_that_differs_by_market_gets_a_store_per_market() -> None:
    program = compile_pack([_checked(POLICY)])
    windows = sorted(s.window_ms for s in program.stores if not s.distinct)
    # count over `window` (24h MGA, 12h UKGC and CW falls back to MGA's) and sum over 24h
    assert 43_200_000 in windows
    assert 86_400_000 in windows
    count_slot = program.aggregate_table[0]
    assert len(count_slot) == AQ_WIDTH
    mga_store, ukgc_store = count_slot[2], count_slot[3]
    assert mga_store != ukgc_store


def test_identical_aggregates_share_a_store() -> None:
    text = POLICY.replace(
        "rule shared",
        'rule again { on deposit when count(deposit over 24h) >= 9 score 1 reason "{count}" }'
        "\nrule shared",
    )
    program = compile_pack([_checked(text)])
    slots = program.aggregate_table
    # `many` in MGA (24h) and `again` read the same store
    assert slots[0][2] == slots[-2][2]
    assert all(len(row) == ST_WIDTH for row in program.store_table)


def test_money_params_are_in_each_markets_minor_units() -> None:
    program = compile_pack([_checked(POLICY)])
    caps = [p for p in program.float_params if p.get("MGA") == 100_000.0]
    assert caps == [{"MGA": 100_000.0, "UKGC": 80_000.0}]


def test_distinct_keeps_a_hash_table_and_reads_both_keys() -> None:
    program = compile_pack([_checked(POLICY)])
    distinct = [s for s in program.stores if s.distinct]
    assert len(distinct) == 1
    assert distinct[0].key == "device"
    assert "key:device" in program.layout.int_columns


def test_shared_reads_a_log_per_player_and_the_partners_per_key() -> None:
    text = POLICY.replace(
        "rule shared",
        "rule pair { on bet when shared(bet by round over 30m within 3s) >= 9 score 1 }"
        "\nrule shared",
    )
    program = compile_pack([_checked(text)])
    [slot] = [row for row in program.aggregate_table if row[0] == SHARED]
    assert len(slot) == AQ_WIDTH
    assert slot[AQ_KEY] == program.layout.key("round")
    log = program.stores[slot[AQ_STORE]]
    partners = program.stores[slot[AQ_PARTNERS]]
    assert (log.key, log.window_ms, log.distinct, log.events) == (
        "player",
        1_800_000,
        False,
        ("bet",),
    )
    # partners `within` 3 s are kept: the store holds one millisecond more
    assert (partners.key, partners.window_ms, partners.distinct) == ("round", 3_001, True)
    assert slot[AQ_WINDOW] == 1_800_000
    assert slot[AQ_SYNC] == 3_000


def test_two_policies_with_one_name_are_refused() -> None:
    one = _checked(POLICY, "a.pol")
    two = _checked(POLICY, "b.pol")
    with pytest.raises(CompileError, match=r"two policies are named `demo` \(a\.pol and b\.pol\)"):
        compile_pack([one, two])


def test_rules_report_their_explained_values() -> None:
    program = compile_pack([_checked(POLICY)])
    explained = {r.name: [i.name for i in r.explain] for r in program.rules}
    assert explained == {"many": ["count"], "big": ["total"], "shared": ["distinct"]}
    assert {r.name: r.scores for r in program.rules}["big"] == {"MGA": 20, "UKGC": 20}
