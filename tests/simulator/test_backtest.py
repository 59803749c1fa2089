"""The backtester end to end on a seven-event history: a pack through the batch engine,
a challenger, and a param sweep, each checked against numbers worked out by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from simulator.backtest import BacktestError, Sweep, backtest, truth_of

D0 = 1_767_571_200_000  # 2026-01-05T00:00:00Z
HOUR = 3_600_000
DAY = 24 * HOUR

POLICY = """\
policy big version 1 for MGA
param large: money = {large} EUR
rule big_deposit "a large deposit" {{ on deposit when amount >= large action review }}
"""

# Deposits in MGA (EUR base). 1200 GBP is about 1403 EUR at the reference rate.
#  row player amount        label
#   0  p1     1500.00 EUR   structuring
#   1  p2      500.00 EUR
#   2  p3     1200.00 EUR
#   3  p4     1200.00 GBP   mule
#   4  p2      800.00 EUR
#   5  p1      999.99 EUR   structuring
#   6  p3     (login)
# p5 (honest) has no events.
EVENTS: dict[str, list[Any]] = {
    "type": ["deposit"] * 6 + ["login"],
    "event_id": [f"e{k}" for k in range(7)],
    "player_id": ["p1", "p2", "p3", "p4", "p2", "p1", "p3"],
    "ts": [D0 + k * HOUR for k in range(7)],
    "market": ["MGA"] * 7,
    "amount": [150_000, 50_000, 120_000, 120_000, 80_000, 99_999, None],
    "currency": ["EUR", "EUR", "EUR", "GBP", "EUR", "EUR", None],
    "label_typology": ["structuring", None, None, "mule", None, "structuring", None],
}
PLAYERS = {
    "player_id": ["p1", "p2", "p3", "p4", "p5"],
    "typology": ["structuring", None, None, "mule", None],
}


def events_table() -> pa.Table:
    return pa.table(
        EVENTS
        | {
            "ts": pa.array(EVENTS["ts"], pa.int64()),
            "amount": pa.array(EVENTS["amount"], pa.int64()),
        }
    )


def players_table() -> pa.Table:
    return pa.table(PLAYERS)


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The champion (1000 EUR) and challengers (1250 and 700 EUR), one folder each."""
    root = tmp_path_factory.mktemp("policies")
    out = {}
    for large in ("1000", "1250", "700"):
        folder = root / large
        folder.mkdir()
        (folder / "big.pol").write_text(POLICY.format(large=large))
        out[large] = folder
    return out


@pytest.fixture(scope="module")
def champion(policies: dict[str, Path]) -> dict[str, Any]:
    return backtest(
        [policies["1000"]], events_table(), players_table(), source="test", bad_rows=2,
        bad_samples=[{"row": 3, "field": "amount", "reason": "Expected `int` >= 0"}],
    )  # fmt: skip


def test_players_and_recall(champion: dict[str, Any]) -> None:
    # Alerted: p1 (row 0), p3 (row 2, honest), p4 (row 3: 1200 GBP > 1000 EUR).
    assert champion["players"] == {
        "honest": 3,
        "honest_alerted": 1,
        "honest_alert_rate": pytest.approx(1 / 3),
        "bad": 2,
        "bad_alerted": 2,
        "alerted": 3,
    }
    assert champion["typologies"] == [
        {
            "typology": "mule",
            "players": 1,
            "alerted": 1,
            "recall": 1.0,
            "events": 1,
            "events_hit": 1,
            "event_recall": 1.0,
            "rules": {"big_deposit": 1},
        },
        {
            "typology": "structuring",
            "players": 1,
            "alerted": 1,
            "recall": 1.0,
            "events": 2,
            "events_hit": 1,  # 999.99 EUR stays under the line
            "event_recall": 0.5,
            "rules": {"big_deposit": 1},
        },
    ]


def test_rule_and_decisions(champion: dict[str, Any]) -> None:
    (rule,) = champion["rules"]
    assert rule == {
        "policy": "big",
        "rule": "big_deposit",
        "action": "review",
        "shadow": False,
        "alerts": 3,
        "players": 3,
        "tp": 2,
        "fp": 1,
        "fn": 0,
        "precision": pytest.approx(2 / 3),
        "recall": 1.0,
        "f1": pytest.approx(0.8),
        "alert_tp": 2,
        "alert_fp": 1,
        "alert_precision": pytest.approx(2 / 3),
        "by_typology": {"mule": 1, "structuring": 1},
    }
    assert champion["decisions"] == {
        "allow": 4,
        "limit": 0,
        "review": 3,
        "hold_payment": 0,
        "block": 0,
    }
    assert champion["alerts_per_day"] == [
        {"day": "2026-01-05", "alerts": 3, "players": 3, "honest_players": 1}
    ]
    # No rule scores: no cut-off to calibrate.
    assert champion["calibration"]["points"] == []
    assert champion["calibration"]["param"] is None
    assert champion["comparison"] is None


def test_run_facts(champion: dict[str, Any], policies: dict[str, Path]) -> None:
    run = champion["run"]
    assert run["source"] == "test"
    assert run["policies"] == [
        {"name": "big", "version": 1, "path": str(policies["1000"] / "big.pol")}
    ]
    assert run["events"] == 7
    assert run["players"] == 5  # p5 counts though they have no events
    assert run["start"] == "2026-01-05T00:00:00Z"
    assert run["end"] == "2026-01-05T06:00:00Z"
    assert run["days"] == pytest.approx((6 * HOUR + 1) / DAY)
    assert run["bad_rows"] == 2
    assert run["bad_row_samples"] == [
        {"row": 3, "field": "amount", "reason": "Expected `int` >= 0"}
    ]
    seconds = run["seconds"]
    assert set(seconds) == {"load", "compile", "encode", "engine", "metrics", "total"}
    assert all(v >= 0 for v in seconds.values())
    assert run["events_per_s"] > 0


def test_window_sets_the_period(policies: dict[str, Path]) -> None:
    m = backtest(
        [policies["1000"]],
        events_table(),
        players_table(),
        source="test",
        window=(D0, D0 + 2 * DAY),
    )
    assert m["run"]["days"] == 2.0
    assert (m["run"]["start"], m["run"]["end"]) == ("2026-01-05T00:00:00Z", "2026-01-07T00:00:00Z")
    assert [d["day"] for d in m["alerts_per_day"]] == ["2026-01-05", "2026-01-06"]
    assert [d["alerts"] for d in m["alerts_per_day"]] == [3, 0]


@pytest.mark.parametrize(
    ("challenger", "added", "removed", "rule_alerts"),
    [
        # 1250 EUR: p3's 1200 EUR no longer alerts; 1200 GBP (~1403 EUR) still does.
        ("1250", [], [{"player_id": "p3", "typology": None}], 2),
        # 700 EUR: p2's 800 EUR alerts too, and p1's 999.99 EUR (p1 was alerted already).
        ("700", [{"player_id": "p2", "typology": None}], [], 5),
    ],
)
def test_challenger(
    policies: dict[str, Path],
    challenger: str,
    added: list[dict[str, Any]],
    removed: list[dict[str, Any]],
    rule_alerts: int,
) -> None:
    m = backtest(
        [policies["1000"]],
        events_table(),
        players_table(),
        source="test",
        challenger_paths=[policies[challenger]],
    )
    comparison = m["comparison"]
    assert comparison["champion"] == str(policies["1000"])
    assert comparison["challenger"] == str(policies[challenger])
    assert comparison["players_added"] == added
    assert comparison["players_removed"] == removed
    assert comparison["rules"] == [
        {"rule": "big_deposit", "champion_alerts": 3, "challenger_alerts": rule_alerts}
    ]
    deltas = {d["metric"]: d for d in comparison["deltas"]}
    assert deltas["alert events"]["delta"] == rule_alerts - 3
    assert deltas["players alerted"]["delta"] == len(added) - len(removed)
    # The champion's own metrics are unchanged by the comparison.
    assert m["players"]["alerted"] == 3


def test_sweep_over_a_money_param(policies: dict[str, Path]) -> None:
    m = backtest(
        [policies["1000"]],
        events_table(),
        players_table(),
        source="test",
        sweep=Sweep.parse("big.large=700, 1000,1250 ,2000"),
        target_rate=0.01,
    )
    sweep = m["calibration"]["param"]
    assert (sweep["policy"], sweep["param"], sweep["market"], sweep["unit"]) == (
        "big",
        "large",
        "all",
        "EUR",
    )
    points = sweep["points"]
    assert [p["value"] for p in points] == [700.0, 1000.0, 1250.0, 2000.0]
    # Honest players over the line: p2 (800) and p3 (1200) at 700; p3 at 1000; none above.
    rates = [p["honest_alert_rate"] for p in points]
    assert rates == pytest.approx([2 / 3, 1 / 3, 0.0, 0.0])
    assert rates == sorted(rates, reverse=True)
    # p1 (1500 EUR) and p4 (~1403 EUR) are caught up to 1250, missed at 2000.
    assert [p["recall"] for p in points] == [
        {"mule": 1.0, "structuring": 1.0},
        {"mule": 1.0, "structuring": 1.0},
        {"mule": 1.0, "structuring": 1.0},
        {"mule": 0.0, "structuring": 0.0},
    ]
    assert [p["min_recall"] for p in points] == [1.0, 1.0, 1.0, 0.0]
    assert sweep["chosen"] == 1250.0
    # The champion's own run is the 1000 EUR one.
    assert m["players"]["honest_alerted"] == 1


def test_sweep_with_no_value_meeting_the_target(policies: dict[str, Path]) -> None:
    m = backtest(
        [policies["1000"]],
        events_table(),
        players_table(),
        source="test",
        sweep=Sweep.parse("big.large=500,700"),
    )
    assert m["calibration"]["param"]["chosen"] is None


TWO_MARKETS = """\
policy two version 1 for MGA, UKGC
param large: money = 1000 EUR
param window: duration = 1h
param many: int = 2
param flag: bool = true
param method_x: string = "crypto"
market UKGC { large = 1000 GBP }
rule big_deposit { on deposit when amount >= large action review }
rule many_deposits { on deposit when count(deposit over window) >= many and flag action review }
rule odd_method { on deposit when method == method_x action review }
"""


def two_market_events() -> pa.Table:
    """p1 deposits 1500 EUR in MGA, p2 1500 GBP in UKGC, p3 twice 10 EUR 40 minutes apart."""
    return pa.table(
        {
            "type": ["deposit"] * 4,
            "event_id": ["a", "b", "c", "d"],
            "player_id": ["p1", "p2", "p3", "p3"],
            "ts": pa.array([D0, D0 + HOUR, D0 + 2 * HOUR, D0 + 2 * HOUR + 40 * 60_000], pa.int64()),
            "market": ["MGA", "UKGC", "MGA", "MGA"],
            "amount": pa.array([150_000, 150_000, 1_000, 1_000], pa.int64()),
            "currency": ["EUR", "GBP", "EUR", "EUR"],
            "label_typology": ["mule", "structuring", "smurfing", "smurfing"],
        }
    )


@pytest.fixture(scope="module")
def two_markets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("two") / "two.pol"
    path.write_text(TWO_MARKETS)
    return path


def sweep_of(path: Path, text: str, market: str | None = None) -> dict[str, Any]:
    m = backtest([path], two_market_events(), None, source="test", sweep=Sweep.parse(text, market))
    param: dict[str, Any] = m["calibration"]["param"]
    return param


def test_sweep_one_market(two_markets: Path) -> None:
    # Only UKGC's line moves: p2's 1500 GBP is missed at 2000 GBP, p1's 1500 EUR still alerts.
    sweep = sweep_of(two_markets, "two.large=1000,2000", "UKGC")
    assert sweep["market"] == "UKGC"
    assert sweep["unit"] == "GBP"
    assert [p["value"] for p in sweep["points"]] == [1000.0, 2000.0]
    assert [p["recall"]["structuring"] for p in sweep["points"]] == [1.0, 0.0]
    assert [p["recall"]["mule"] for p in sweep["points"]] == [1.0, 1.0]


def test_sweep_every_market_keeps_each_markets_currency(two_markets: Path) -> None:
    sweep = sweep_of(two_markets, "two.large=2000")
    assert sweep["unit"] == "EUR"  # the first market's
    # Both 1500 deposits are missed; p3's two small ones still alert through many_deposits.
    assert sweep["points"][0]["recall"] == {"mule": 0.0, "smurfing": 1.0, "structuring": 0.0}


def test_sweep_a_duration_param(two_markets: Path) -> None:
    # p3's deposits are 40 minutes apart: two within 1h, not within 30m.
    sweep = sweep_of(two_markets, "two.window=30m,1h")
    assert sweep["unit"] == "minutes"
    assert [p["value"] for p in sweep["points"]] == [30.0, 60.0]
    assert [p["recall"]["smurfing"] for p in sweep["points"]] == [0.0, 1.0]


def test_sweep_an_int_param(two_markets: Path) -> None:
    sweep = sweep_of(two_markets, "two.many=2,3")
    assert sweep["unit"] == ""
    assert [p["value"] for p in sweep["points"]] == [2.0, 3.0]
    assert [p["recall"]["smurfing"] for p in sweep["points"]] == [1.0, 0.0]


@pytest.mark.parametrize(
    "text",
    ["big.large", "large=1,2", "big.large=", "big.large= , ", ".large=1", "big.=1", "=1", ""],
)
def test_sweep_parse_refuses_malformed_text(text: str) -> None:
    with pytest.raises(BacktestError, match=r"write POLICY\.PARAM=VALUE,VALUE"):
        Sweep.parse(text)


def test_sweep_parse() -> None:
    assert Sweep.parse(" big.large = 1, 2 ,3 ", "MGA") == Sweep(
        "big", "large", ("1", "2", "3"), "MGA"
    )
    assert Sweep.parse("a.b=5") == Sweep("a", "b", ("5",), None)


@pytest.mark.parametrize(
    ("text", "market", "message"),
    [
        ("two.nope=1", None, "policy two has no param nope in market MGA"),
        ("other.large=1", None, "no policy named other in the pack"),
        ("two.large=1", "CW", r"policy two has no param large \(no market CW\)"),
        ("two.large=lots", None, "two.large: 'lots' is not a value of this param"),
        ("two.many=2.5", None, "two.many: '2.5' is not a value of this param"),
        ("two.window=soon", None, "two.window: 'soon' is not a value of this param"),
        ("two.flag=false", None, "two.flag: a bool param cannot be swept"),
        ("two.method_x=card", None, "only number, money and duration params can be swept"),
    ],
)
def test_sweep_that_cannot_run(
    two_markets: Path, text: str, market: str | None, message: str
) -> None:
    with pytest.raises(BacktestError, match=message):
        sweep_of(two_markets, text, market)


def test_sweep_value_in_another_currency_is_not_relabelled(two_markets: Path) -> None:
    with pytest.raises(BacktestError, match="GBP"):
        sweep_of(two_markets, "two.large=500 GBP", "MGA")


DERIVED = """\
policy derived version 1 for MGA
param large: money = 1000 EUR
param very_large: money = 2 * large
rule huge { on deposit when amount >= very_large action review }
"""
SCORED = """\
policy scored version 1 for MGA
param points: int = 30
rule big { on deposit when amount >= 1000 EUR score points }
decide { score >= 30 -> review; else allow }
"""


@pytest.fixture(scope="module")
def derived(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("derived")
    (root / "derived.pol").write_text(DERIVED)
    (root / "scored.pol").write_text(SCORED)
    return {"derived": root / "derived.pol", "scored": root / "scored.pol"}


def deposit_of_3000_eur() -> pa.Table:
    """One 3000 EUR deposit by a mule."""
    return pa.table(
        {
            "type": ["deposit"],
            "event_id": ["a"],
            "player_id": ["p1"],
            "ts": pa.array([D0], pa.int64()),
            "market": ["MGA"],
            "amount": pa.array([300_000], pa.int64()),
            "currency": ["EUR"],
            "label_typology": ["mule"],
        }
    )


@pytest.mark.parametrize("policy", ["derived", "scored"])
def test_pack_reviews_the_deposit_as_written(derived: dict[str, Path], policy: str) -> None:
    # derived: 3000 EUR >= very_large (2000 EUR); scored: 30 points reach the review band.
    m = backtest([derived[policy]], deposit_of_3000_eur(), None, source="test")
    assert m["decisions"]["review"] == 1
    assert m["typologies"][0]["recall"] == 1.0


def test_sweep_moves_params_computed_from_the_swept_one(derived: dict[str, Path]) -> None:
    # large 2000 EUR makes very_large 4000 EUR: the 3000 EUR deposit is no longer reviewed.
    m = backtest(
        [derived["derived"]],
        deposit_of_3000_eur(),
        None,
        source="test",
        sweep=Sweep.parse("derived.large=1000,2000"),
    )
    points = m["calibration"]["param"]["points"]
    assert [p["recall"] for p in points] == [{"mule": 1.0}, {"mule": 0.0}]


def test_sweep_a_score_param(derived: dict[str, Path]) -> None:
    # At 10 points the deposit is under the review band.
    m = backtest(
        [derived["scored"]],
        deposit_of_3000_eur(),
        None,
        source="test",
        sweep=Sweep.parse("scored.points=10,30"),
    )
    points = m["calibration"]["param"]["points"]
    assert [p["recall"] for p in points] == [{"mule": 0.0}, {"mule": 1.0}]


# --- truth ----------------------------------------------------------------------------------


def test_truth_from_a_population() -> None:
    truth = truth_of(events_table(), players_table())
    assert truth.labelled
    assert truth.player.tolist() == [0, 1, 2, 3, 1, 0, 2]
    assert truth.player_ids.tolist() == ["p1", "p2", "p3", "p4", "p5"]
    assert truth.player_typology.tolist() == ["structuring", "", "", "mule", ""]
    assert truth.event_typology.tolist() == [
        "structuring",
        "",
        "",
        "mule",
        "",
        "structuring",
        "",
    ]
    assert truth.ts.tolist() == EVENTS["ts"]


def test_truth_from_labelled_events() -> None:
    truth = truth_of(events_table(), None)
    assert truth.labelled
    # Players in order of first appearance; p5 is unknown without a population.
    assert truth.player_ids.tolist() == ["p1", "p2", "p3", "p4"]
    assert truth.player_typology.tolist() == ["structuring", "", "", "mule"]


def test_truth_without_labels() -> None:
    truth = truth_of(events_table().drop_columns(["label_typology"]), None)
    assert not truth.labelled
    assert truth.player_typology.tolist() == ["", "", "", ""]
    assert truth.event_typology.tolist() == [""] * 7


def test_events_of_players_the_population_lacks(policies: dict[str, Path]) -> None:
    players = pa.table({"player_id": ["p1", "p2"], "typology": ["structuring", None]})
    with pytest.raises(BacktestError, match="events of players the population lacks"):
        backtest([policies["1000"]], events_table(), players, source="test")


def test_unlabelled_history(policies: dict[str, Path]) -> None:
    m = backtest(
        [policies["1000"]], events_table().drop_columns(["label_typology"]), None, source="test"
    )
    assert m["labelled"] is False
    assert m["typologies"] == []
    assert m["rules"][0]["tp"] is None
    assert m["rules"][0]["alerts"] == 3
    assert m["players"]["alerted"] == 3
    assert m["run"]["players"] == 4
