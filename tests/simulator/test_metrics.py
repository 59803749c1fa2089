"""Detection metrics on a hand-made history: every expectation is worked out by hand from
the tables below, not by running the code under test another way.

The BatchResult is built directly (no engine run): the pack only gives the rules' names,
actions and modes, so the hits need not be ones the pack could produce.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import dsl
from dsl.compiler import Program, compile_pack
from engine.runtime import BatchResult
from simulator.metrics import DAY_MS, Truth, compare, cutoff_sweep, measure

PACK = """\
policy m version 1 for MGA
rule r_big { on deposit when amount >= 1000 EUR score 30 }
rule r_hard { on deposit when amount >= 5000 EUR action block }
rule r_shadow { on deposit when amount >= 10 EUR score 40 mode shadow }
rule r_small { on login when ip_country == "KP" score 5 }
rule r_trial { on deposit when amount >= 3000 EUR action block mode shadow }
decide { score >= 30 -> review; else allow }
"""
# Global rule indices, in the pack's order.
R_BIG, R_HARD, R_SHADOW, R_SMALL, R_TRIAL = range(5)

D0 = 1_767_571_200_000  # 2026-01-05T00:00:00Z
HOUR = 3_600_000

# The players; p4 (structuring) has no events at all.
PLAYER_IDS = ["p0", "p1", "p2", "p3", "p4"]
PLAYER_TYPOLOGY = ["", "structuring", "", "mule", "structuring"]

# row: player, time, event label, action, score, rules that fired on it
#  0: p0  d0 10h  -            allow   5   r_small, r_trial (shadow with an action)
#  1: p1  d0 11h  structuring  review  30  r_big
#  2: p2  d0 12h  -            review  30  r_big
#  3: p1  d1 09h  -            review  35  r_big, r_small, r_shadow
#  4: p3  d1 10h  mule         block   0   r_hard
#  5: p3  d2 10h  mule         allow   0   -
#  6: p2  d2 11h  -            allow   0   r_shadow
#  7: p0  d4 10h  -            allow   5   r_small
PLAYER = [0, 1, 2, 1, 3, 3, 2, 0]
TS = [
    D0 + 10 * HOUR,
    D0 + 11 * HOUR,
    D0 + 12 * HOUR,
    D0 + DAY_MS + 9 * HOUR,
    D0 + DAY_MS + 10 * HOUR,
    D0 + 2 * DAY_MS + 10 * HOUR,
    D0 + 2 * DAY_MS + 11 * HOUR,
    D0 + 4 * DAY_MS + 10 * HOUR,
]
EVENT_TYPOLOGY = ["", "structuring", "", "", "mule", "mule", "", ""]
ACTIONS = [0, 2, 2, 2, 4, 0, 0, 0]
SCORES = [5, 30, 30, 35, 0, 0, 0, 5]
HITS = [
    (0, R_SMALL),
    (0, R_TRIAL),
    (1, R_BIG),
    (2, R_BIG),
    (3, R_BIG),
    (3, R_SMALL),
    (3, R_SHADOW),
    (4, R_HARD),
    (6, R_SHADOW),
    (7, R_SMALL),
]


@pytest.fixture(scope="module")
def program() -> Program:
    result = dsl.check_source(PACK, "<metrics>")
    assert result.ok, dsl.render_all(result.issues, PACK)
    program = compile_pack([result])
    assert [r.name for r in program.rules] == ["r_big", "r_hard", "r_shadow", "r_small", "r_trial"]
    return program


def batch(
    actions: list[int], scores: list[int], hits: list[tuple[int, int]], policies: int = 1
) -> BatchResult:
    n = len(actions)
    return BatchResult(
        actions=np.array(actions, dtype=np.int8),
        scores=np.array(scores, dtype=np.int64),
        policy_actions=np.array(actions, dtype=np.int8).reshape(n, policies),
        policy_scores=np.array(scores, dtype=np.int64).reshape(n, policies),
        hit_rows=np.array([r for r, _ in hits], dtype=np.int64),
        hit_rules=np.array([g for _, g in hits], dtype=np.int64),
        hit_values=np.zeros((len(hits), 1)),
    )


def truth(*, labelled: bool = True) -> Truth:
    return Truth(
        player=np.array(PLAYER, dtype=np.int64),
        ts=np.array(TS, dtype=np.int64),
        player_ids=np.array(PLAYER_IDS, dtype=object),
        player_typology=np.array(PLAYER_TYPOLOGY if labelled else [""] * 5, dtype=object),
        event_typology=np.array(EVENT_TYPOLOGY if labelled else [""] * 8, dtype=object),
        labelled=labelled,
    )


@pytest.fixture(scope="module")
def metrics(program: Program) -> dict[str, Any]:
    out: dict[str, Any] = measure(program, batch(ACTIONS, SCORES, HITS), truth(), target_rate=0.01)
    return out


def rule_row(metrics: dict[str, Any], name: str) -> dict[str, Any]:
    rows: list[dict[str, Any]] = [r for r in metrics["rules"] if r["rule"] == name]
    assert len(rows) == 1
    return rows[0]


def test_players_and_honest_alert_rate(metrics: dict[str, Any]) -> None:
    # Alerted: p1 (rows 1, 3), p2 (row 2), p3 (row 4). Honest: p0, p2. Bad: p1, p3, p4.
    assert metrics["labelled"] is True
    assert metrics["players"] == {
        "honest": 2,
        "honest_alerted": 1,
        "honest_alert_rate": 0.5,
        "bad": 3,
        "bad_alerted": 2,
        "alerted": 3,
    }
    assert metrics["target"] == {"honest_alert_rate": 0.01, "recall": 0.9}
    assert metrics["comparison"] is None


def test_recall_per_typology(metrics: dict[str, Any]) -> None:
    assert metrics["typologies"] == [
        {
            "typology": "mule",
            "players": 1,
            "alerted": 1,
            "recall": 1.0,
            "events": 2,
            "events_hit": 1,
            "event_recall": 0.5,
            "rules": {"r_hard": 1},
        },
        {
            # p4 has no events, so half the structurers are caught.
            "typology": "structuring",
            "players": 2,
            "alerted": 1,
            "recall": 0.5,
            "events": 1,
            "events_hit": 1,
            "event_recall": 1.0,
            "rules": {"r_big": 1, "r_shadow": 1, "r_small": 1},
        },
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param(
            "r_big",
            {
                "policy": "m",
                "action": "allow",
                "shadow": False,
                "alerts": 3,
                "players": 2,
                "tp": 1,
                "fp": 1,
                "fn": 2,
                "precision": 0.5,
                "recall": 1 / 3,
                "f1": 0.4,
                "alert_tp": 1,
                "alert_fp": 2,
                "alert_precision": 1 / 3,
                "by_typology": {"mule": 0, "structuring": 1},
            },
            id="score-rule",
        ),
        pytest.param(
            "r_hard",
            {
                "policy": "m",
                "action": "block",
                "shadow": False,
                "alerts": 1,
                "players": 1,
                "tp": 1,
                "fp": 0,
                "fn": 2,
                "precision": 1.0,
                "recall": 1 / 3,
                "f1": 0.5,
                "alert_tp": 1,
                "alert_fp": 0,
                "alert_precision": 1.0,
                "by_typology": {"mule": 1, "structuring": 0},
            },
            id="action-rule",
        ),
        pytest.param(
            "r_shadow",
            {
                "policy": "m",
                "action": "allow",
                "shadow": True,
                "alerts": 2,
                "players": 2,
                "tp": 1,
                "fp": 1,
                "fn": 2,
                "precision": 0.5,
                "recall": 1 / 3,
                "f1": 0.4,
                "alert_tp": 0,
                "alert_fp": 2,
                "alert_precision": 0.0,
                "by_typology": {"mule": 0, "structuring": 1},
            },
            id="shadow-rule",
        ),
        pytest.param(
            "r_trial",
            {
                "policy": "m",
                "action": "block",
                "shadow": True,
                "alerts": 1,
                "players": 1,
                "tp": 0,
                "fp": 1,
                "fn": 3,
                "precision": 0.0,
                "recall": 0.0,
                "f1": None,  # precision + recall == 0
                "alert_tp": 0,
                "alert_fp": 1,
                "alert_precision": 0.0,
                "by_typology": {"mule": 0, "structuring": 0},
            },
            id="never-right",
        ),
    ],
)
def test_rule_confusion(metrics: dict[str, Any], name: str, expected: dict[str, Any]) -> None:
    row = rule_row(metrics, name)
    assert row.keys() == {"rule", *expected}
    for key, value in expected.items():
        assert row[key] == (pytest.approx(value) if isinstance(value, float) else value), key


def test_rule_without_hits(program: Program) -> None:
    result = batch(ACTIONS, SCORES, [(4, R_HARD)])
    row = rule_row(measure(program, result, truth()), "r_big")
    assert (row["alerts"], row["players"], row["tp"], row["fp"], row["fn"]) == (0, 0, 0, 0, 3)
    assert row["precision"] is None
    assert row["alert_precision"] is None
    assert row["recall"] == 0.0
    assert row["f1"] is None


def test_decision_counts(metrics: dict[str, Any]) -> None:
    assert metrics["decisions"] == {
        "allow": 4,
        "limit": 0,
        "review": 3,
        "hold_payment": 0,
        "block": 1,
    }


def test_score_histogram_is_each_players_best_score(metrics: dict[str, Any]) -> None:
    # Best scores: p0 5, p1 35, p2 30, p3 0, p4 0 (no events). Top 35: bins of 1 point.
    scores = metrics["scores"]
    assert scores["edges"] == [float(e) for e in range(37)]
    honest, bad = np.array(scores["honest"]), np.array(scores["bad"])
    assert len(honest) == len(bad) == 36
    assert np.flatnonzero(honest).tolist() == [5, 30]
    assert honest[[5, 30]].tolist() == [1, 1]
    assert np.flatnonzero(bad).tolist() == [0, 35]
    assert bad[[0, 35]].tolist() == [2, 1]


@pytest.mark.parametrize("top", [1, 39, 40, 41, 100, 997])
def test_score_histogram_counts_every_player_once(program: Program, top: int) -> None:
    rng = np.random.default_rng(top)
    n = 50
    scores = rng.integers(-10, top + 1, n)
    scores[0] = top
    result = batch([0] * n, scores.tolist(), [])
    players = np.arange(n) % 20
    t = Truth(
        player=players.astype(np.int64),
        ts=np.full(n, D0, dtype=np.int64),
        player_ids=np.array([f"p{k}" for k in range(20)], dtype=object),
        player_typology=np.array(["mule" if k % 3 == 0 else "" for k in range(20)], dtype=object),
        event_typology=np.array([""] * n, dtype=object),
        labelled=True,
    )
    hist = measure(program, result, t)["scores"]
    assert sum(hist["honest"]) == 13
    assert sum(hist["bad"]) == 7
    edges = hist["edges"]
    assert edges[0] == 0.0
    assert edges[-1] > top  # the top score is inside the last bin
    assert len(edges) - 1 <= 41
    assert len(set(np.diff(edges))) == 1


def day(offset: int) -> str:
    return str(np.datetime64(D0 + offset * DAY_MS, "ms").astype("datetime64[D]"))


def test_alerts_per_day_span_the_events(metrics: dict[str, Any]) -> None:
    assert day(0) == "2026-01-05"
    assert metrics["alerts_per_day"] == [
        {"day": "2026-01-05", "alerts": 2, "players": 2, "honest_players": 1},
        {"day": "2026-01-06", "alerts": 2, "players": 2, "honest_players": 0},
        {"day": "2026-01-07", "alerts": 0, "players": 0, "honest_players": 0},
        {"day": "2026-01-08", "alerts": 0, "players": 0, "honest_players": 0},
        {"day": "2026-01-09", "alerts": 0, "players": 0, "honest_players": 0},
    ]


def test_alerts_per_day_cover_the_window(program: Program) -> None:
    result = batch(ACTIONS, SCORES, HITS)
    # From the day before the first event to the end of day 5 (end exclusive).
    wide = measure(program, result, truth(), window=(D0 - DAY_MS, D0 + 6 * DAY_MS))
    days = wide["alerts_per_day"]
    assert [d["day"] for d in days] == [day(k) for k in range(-1, 6)]
    assert [d["alerts"] for d in days] == [0, 2, 2, 0, 0, 0, 0]
    # A window of exactly day 1: its end is exclusive, so day 2 is not in it.
    narrow = measure(program, result, truth(), window=(D0 + DAY_MS, D0 + 2 * DAY_MS))
    assert narrow["alerts_per_day"] == [
        {"day": "2026-01-06", "alerts": 2, "players": 2, "honest_players": 0}
    ]


def test_cutoff_sweep_points_and_choice(metrics: dict[str, Any]) -> None:
    # p3 is alerted at every cut-off: r_hard (block, live) fired on them. r_trial's block
    # is in shadow, so it forces nothing (else p0 would count at 35). Best scores:
    # p0 5, p1 35, p2 30.
    calibration = metrics["calibration"]
    assert calibration["kind"] == "cutoff"
    assert calibration["target"] == 0.01
    assert calibration["param"] is None
    assert calibration["points"] == [
        {
            "value": 5.0,
            "honest_alert_rate": 1.0,
            "min_recall": 0.5,
            "recall": {"mule": 1.0, "structuring": 0.5},
        },
        {
            "value": 30.0,
            "honest_alert_rate": 0.5,
            "min_recall": 0.5,
            "recall": {"mule": 1.0, "structuring": 0.5},
        },
        {
            "value": 35.0,
            "honest_alert_rate": 0.0,
            "min_recall": 0.5,
            "recall": {"mule": 1.0, "structuring": 0.5},
        },
    ]
    assert calibration["chosen"] == 35.0


@pytest.mark.parametrize(
    ("target", "chosen"), [(0.0, 35.0), (0.49, 35.0), (0.5, 30.0), (0.99, 30.0), (1.0, 5.0)]
)
def test_cutoff_chosen_is_the_lowest_meeting_the_target(
    program: Program, target: float, chosen: float
) -> None:
    result = cutoff_sweep(program, batch(ACTIONS, SCORES, HITS), truth(), target)
    assert result["chosen"] == chosen


def test_cutoff_none_when_no_cutoff_meets_the_target(program: Program) -> None:
    # A live blocking rule on the honest p2 alerts them whatever the cut-off.
    hits = [*HITS, (6, R_HARD)]
    result = cutoff_sweep(program, batch(ACTIONS, SCORES, hits), truth(), 0.0)
    assert [p["honest_alert_rate"] for p in result["points"]] == [1.0, 0.5, 0.5]
    assert result["chosen"] is None


def test_unlabelled_history_has_no_typologies_and_null_rule_quality(program: Program) -> None:
    result = batch(ACTIONS, SCORES, HITS)
    m = measure(program, result, truth(labelled=False))
    assert m["labelled"] is False
    assert m["typologies"] == []
    for row in m["rules"]:
        for key in ("tp", "fp", "fn", "precision", "recall", "f1", "alert_tp", "alert_fp"):
            assert row[key] is None, (row["rule"], key)
        assert row["alert_precision"] is None
        assert row["by_typology"] == {}
    assert rule_row(m, "r_big")["alerts"] == 3
    assert rule_row(m, "r_big")["players"] == 2
    # Without labels every player counts as honest: the rate is the share alerted.
    assert m["players"] == {
        "honest": 5,
        "honest_alerted": 3,
        "honest_alert_rate": 0.6,
        "bad": 0,
        "bad_alerted": 0,
        "alerted": 3,
    }
    assert sum(m["scores"]["honest"]) == 5
    assert sum(m["scores"]["bad"]) == 0
    assert all(p["recall"] == {} and p["min_recall"] is None for p in m["calibration"]["points"])


def test_empty_history(program: Program) -> None:
    empty = Truth(
        player=np.zeros(0, np.int64),
        ts=np.zeros(0, np.int64),
        player_ids=np.array(["p0"], dtype=object),
        player_typology=np.array([""], dtype=object),
        event_typology=np.zeros(0, dtype=object),
        labelled=True,
    )
    m = measure(program, batch([], [], []), empty)
    assert m["alerts_per_day"] == []
    assert m["players"]["honest_alert_rate"] == 0.0
    assert m["calibration"]["points"] == []
    assert m["calibration"]["chosen"] is None
    assert sum(m["decisions"].values()) == 0


# The challenger alerts p0 (row 0, limit) and no longer alerts p2 (row 2) nor p3 (row 4).
CHALLENGER_ACTIONS = [1, 2, 0, 2, 0, 0, 0, 0]
CHALLENGER_HITS = [(0, R_SMALL), (1, R_BIG), (3, R_BIG), (3, R_SMALL), (6, R_SHADOW), (7, R_SMALL)]


def test_compare_champion_and_challenger(program: Program) -> None:
    t = truth()
    a = batch(ACTIONS, SCORES, HITS)
    b = batch(CHALLENGER_ACTIONS, SCORES, CHALLENGER_HITS)
    met_a, met_b = measure(program, a, t), measure(program, b, t)
    out = compare(("A", program, a, met_a), ("B", program, b, met_b), t)
    assert (out["champion"], out["challenger"]) == ("A", "B")
    assert out["players_added"] == [{"player_id": "p0", "typology": None}]
    assert out["players_removed"] == [
        {"player_id": "p2", "typology": None},
        {"player_id": "p3", "typology": "mule"},
    ]
    assert out["rules"] == [
        {"rule": "r_big", "champion_alerts": 3, "challenger_alerts": 2},
        {"rule": "r_hard", "champion_alerts": 1, "challenger_alerts": 0},
        {"rule": "r_shadow", "champion_alerts": 2, "challenger_alerts": 1},
        {"rule": "r_trial", "champion_alerts": 1, "challenger_alerts": 0},
    ]
    # B alerts p0 (honest) and p1: the honest rate stays at 1 of 2.
    assert out["deltas"] == [
        {"metric": "honest alert rate", "champion": 0.5, "challenger": 0.5, "delta": 0.0},
        {"metric": "players alerted", "champion": 3, "challenger": 2, "delta": -1},
        {"metric": "alert events", "champion": 4, "challenger": 3, "delta": -1},
        {"metric": "recall mule", "champion": 1.0, "challenger": 0.0, "delta": -1.0},
        {"metric": "recall structuring", "champion": 0.5, "challenger": 0.5, "delta": 0.0},
    ]


def test_compare_same_result_changes_nothing(program: Program) -> None:
    t = truth()
    a = batch(ACTIONS, SCORES, HITS)
    met = measure(program, a, t)
    out = compare(("A", program, a, met), ("A again", program, a, met), t)
    assert out["players_added"] == out["players_removed"] == out["rules"] == []
    assert all(d["delta"] == 0 for d in out["deltas"])


def test_compare_unlabelled_has_null_recall_free_deltas(program: Program) -> None:
    t = truth(labelled=False)
    a = batch(ACTIONS, SCORES, HITS)
    b = batch(CHALLENGER_ACTIONS, SCORES, CHALLENGER_HITS)
    out = compare(
        ("A", program, a, measure(program, a, t)), ("B", program, b, measure(program, b, t)), t
    )
    assert [d["metric"] for d in out["deltas"]] == [
        "honest alert rate",
        "players alerted",
        "alert events",
    ]
    assert out["deltas"][0] == {
        "metric": "honest alert rate",
        "champion": 0.6,
        "challenger": 0.4,
        "delta": pytest.approx(-0.2),
    }
    assert [p["player_id"] for p in out["players_added"]] == ["p0"]
    assert [p["typology"] for p in out["players_removed"]] == [None, None]
