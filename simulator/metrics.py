"""Detection quality of a backtest: what the pack decided against what really happened.

Everything here works on columns (one entry per event, or per player) so a ten-million
event history is measured in seconds. The definitions are the report's:

- an *alert* is an event whose decision is not `allow`; a player is alerted if any of their
  events is;
- a typology's *recall* is the share of its labelled players alerted; the *honest alert
  rate* (friction) is the share of honest players alerted;
- per rule, player level: TP / FP are labelled-bad / honest players on whom the rule fired,
  FN the labelled-bad players it never fired on; alert level: its hits on events labelled
  with a typology against all its hits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dsl.compiler.program import Program
from dsl.vocabulary import ACTIONS
from engine.runtime import BatchResult

DAY_MS = 86_400_000


@dataclass(frozen=True)
class Truth:
    """Ground truth aligned with the encoded history.

    `player` is a dense player index per event (0..players-1); `player_typology` the label of
    each player ("" for honest); `event_typology` the label of each event ("" if none).
    `labelled` is false for a user's history without ground truth."""

    player: np.ndarray  # int64 [n]
    ts: np.ndarray  # int64 [n] epoch ms
    player_ids: np.ndarray  # object [players]
    player_typology: np.ndarray  # object [players]
    event_typology: np.ndarray  # object [n]
    labelled: bool


@dataclass(frozen=True)
class Outcome:
    """What a pack did to each player, the part of the metrics a comparison needs."""

    alerted: np.ndarray  # bool [players]
    rule_players: dict[str, np.ndarray]  # rule → bool [players] it fired on
    rule_alerts: dict[str, int]


def _ratio(a: float, b: float) -> float | None:
    return float(a) / float(b) if b else None


def _f1(p: float | None, r: float | None) -> float | None:
    if p is None or r is None or p + r == 0:
        return None
    return 2 * p * r / (p + r)


def outcome(program: Program, result: BatchResult, truth: Truth) -> Outcome:
    n_players = len(truth.player_ids)
    alerted = np.zeros(n_players, dtype=bool)
    alerted[truth.player[result.actions > 0]] = True
    rule_players: dict[str, np.ndarray] = {}
    rule_alerts: dict[str, int] = {}
    hit_player = truth.player[result.hit_rows] if len(result.hit_rows) else np.zeros(0, np.int64)
    for g, rule in enumerate(program.rules):
        mine = result.hit_rules == g
        on = np.zeros(n_players, dtype=bool)
        on[hit_player[mine]] = True
        rule_players[rule.name] = on
        rule_alerts[rule.name] = int(mine.sum())
    return Outcome(alerted, rule_players, rule_alerts)


def measure(
    program: Program,
    result: BatchResult,
    truth: Truth,
    *,
    target_rate: float = 0.01,
    target_recall: float = 0.9,
    window: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The metrics document (see the module docstring), without the `run` facts."""
    out = outcome(program, result, truth)
    honest = truth.player_typology == ""
    bad = ~honest if truth.labelled else np.zeros(len(honest), dtype=bool)
    n_honest, n_bad = int(honest.sum()), int(bad.sum())
    typologies = sorted({str(t) for t in truth.player_typology if t}) if truth.labelled else []
    labelled_event = truth.event_typology != ""
    hit_rows = result.hit_rows

    rules = []
    for g, rule in enumerate(program.rules):
        on = out.rule_players[rule.name]
        row: dict[str, Any] = {
            "policy": rule.policy,
            "rule": rule.name,
            "action": rule.action,
            "shadow": rule.shadow,
            "alerts": out.rule_alerts[rule.name],
            "players": int(on.sum()),
        }
        if truth.labelled:
            tp, fp = int((on & bad).sum()), int((on & honest).sum())
            precision, recall = _ratio(tp, tp + fp), _ratio(tp, n_bad)
            rows = hit_rows[result.hit_rules == g]
            alert_tp = int(labelled_event[rows].sum())
            row |= {
                "tp": tp,
                "fp": fp,
                "fn": n_bad - tp,
                "precision": precision,
                "recall": recall,
                "f1": _f1(precision, recall),
                "alert_tp": alert_tp,
                "alert_fp": len(rows) - alert_tp,
                "alert_precision": _ratio(alert_tp, len(rows)),
                "by_typology": {
                    t: int((on & (truth.player_typology == t)).sum()) for t in typologies
                },
            }
        else:
            row |= dict.fromkeys(
                ("tp", "fp", "fn", "precision", "recall", "f1", "alert_tp", "alert_fp"), None
            )
            row |= {"alert_precision": None, "by_typology": {}}
        rules.append(row)

    event_alert = result.actions > 0
    typology_rows = []
    for t in typologies:
        members = truth.player_typology == t
        events = truth.event_typology == t
        n_members, n_alerted = int(members.sum()), int((out.alerted & members).sum())
        n_events, n_hit = int(events.sum()), int((events & event_alert).sum())
        caught = {rule: int((on & members).sum()) for rule, on in out.rule_players.items()}
        typology_rows.append(
            {
                "typology": t,
                "players": n_members,
                "alerted": n_alerted,
                "recall": _ratio(n_alerted, n_members),
                "events": n_events,
                "events_hit": n_hit,
                "event_recall": _ratio(n_hit, n_events),
                "rules": {rule: k for rule, k in caught.items() if k},
            }
        )

    counts = np.bincount(result.actions.astype(np.int64), minlength=len(ACTIONS))
    return {
        "target": {"honest_alert_rate": target_rate, "recall": target_recall},
        "labelled": truth.labelled,
        "players": {
            "honest": n_honest,
            "honest_alerted": int((out.alerted & honest).sum()),
            "honest_alert_rate": _ratio(int((out.alerted & honest).sum()), n_honest),
            "bad": n_bad,
            "bad_alerted": int((out.alerted & bad).sum()),
            "alerted": int(out.alerted.sum()),
        },
        "typologies": typology_rows,
        "rules": rules,
        "decisions": {a: int(c) for a, c in zip(ACTIONS, counts, strict=False)},
        "scores": _score_histogram(result, truth, honest, bad),
        "alerts_per_day": _per_day(result, truth, honest, window),
        "calibration": cutoff_sweep(program, result, truth, target_rate),
        "comparison": None,
    }


def _player_max_score(result: BatchResult, truth: Truth) -> np.ndarray:
    best = np.zeros(len(truth.player_ids), dtype=np.int64)
    np.maximum.at(best, truth.player, result.scores)
    return best


def _score_histogram(
    result: BatchResult, truth: Truth, honest: np.ndarray, bad: np.ndarray
) -> dict[str, Any]:
    """Each player's highest total score over the history, honest against labelled-bad."""
    best = _player_max_score(result, truth)
    top = int(best.max()) if len(best) else 0
    step = max(1, -(-top // 40))  # at most about 40 bins of whole points
    edges = np.arange(0, top + 2 * step, step)
    return {
        "edges": [float(e) for e in edges],
        "honest": [int(c) for c in np.histogram(best[honest], bins=edges)[0]],
        "bad": [int(c) for c in np.histogram(best[bad], bins=edges)[0]],
    }


def _per_day(
    result: BatchResult, truth: Truth, honest: np.ndarray, window: tuple[int, int] | None
) -> list[dict[str, Any]]:
    if len(truth.ts) == 0:
        return []
    day = truth.ts // DAY_MS
    alert = result.actions > 0
    if window is not None:
        first, last = window[0] // DAY_MS, (window[1] - 1) // DAY_MS
    else:
        first, last = int(day.min()), int(day.max())
    rows = []
    alert_days, alert_players = day[alert], truth.player[alert]
    for d in range(first, last + 1):
        on = alert_days == d
        players = np.unique(alert_players[on])
        rows.append(
            {
                "day": np.datetime64(d * DAY_MS, "ms").astype("datetime64[D]").item().isoformat(),
                "alerts": int(on.sum()),
                "players": len(players),
                "honest_players": int(honest[players].sum()),
            }
        )
    return rows


def cutoff_sweep(
    program: Program, result: BatchResult, truth: Truth, target_rate: float
) -> dict[str, Any]:
    """What a single decision cut-off on the total score would do: a player is alerted when
    one of their events reaches the cut-off, or when a fired rule carries its own action
    (those alert whatever the score). The chosen cut-off is the lowest that keeps honest
    players alerted at or under the target."""
    n_players = len(truth.player_ids)
    forced = np.zeros(n_players, dtype=bool)
    acting = np.array(
        [r.action != "allow" and not r.shadow for r in program.rules] or [False], dtype=bool
    )
    if len(result.hit_rules):
        forced[truth.player[result.hit_rows[acting[result.hit_rules]]]] = True
    best = _player_max_score(result, truth)
    honest = truth.player_typology == ""
    typologies = sorted({str(t) for t in truth.player_typology if t}) if truth.labelled else []
    values = sorted({int(v) for v in np.unique(best) if v > 0})
    points = []
    chosen: float | None = None
    for value in values:
        alerted = forced | (best >= value)
        rate = float((alerted & honest).sum() / max(1, honest.sum()))
        recall = {t: float(alerted[truth.player_typology == t].mean()) for t in typologies}
        points.append(
            {
                "value": float(value),
                "honest_alert_rate": rate,
                "min_recall": min(recall.values()) if recall else None,
                "recall": recall,
            }
        )
        if chosen is None and rate <= target_rate:
            chosen = float(value)
    return {
        "target": target_rate,
        "kind": "cutoff",
        "chosen": chosen,
        "points": points,
        "param": None,
    }


def compare(
    champion: tuple[str, Program, BatchResult, dict[str, Any]],
    challenger: tuple[str, Program, BatchResult, dict[str, Any]],
    truth: Truth,
) -> dict[str, Any]:
    """Champion against challenger on the same history: headline deltas, the players whose
    alert status changes, and the rules whose alert counts change."""
    (name_a, prog_a, res_a, met_a), (name_b, prog_b, res_b, met_b) = champion, challenger
    out_a, out_b = outcome(prog_a, res_a, truth), outcome(prog_b, res_b, truth)

    def headline(m: dict[str, Any]) -> dict[str, float | None]:
        row: dict[str, float | None] = {
            "honest alert rate": m["players"]["honest_alert_rate"],
            "players alerted": m["players"]["alerted"],
            "alert events": sum(v for k, v in m["decisions"].items() if k != "allow"),
        }
        for t in m["typologies"]:
            row[f"recall {t['typology']}"] = t["recall"]
        return row

    ha, hb = headline(met_a), headline(met_b)
    deltas = []
    for metric in dict.fromkeys([*ha, *hb]):
        a, b = ha.get(metric), hb.get(metric)
        deltas.append(
            {
                "metric": metric,
                "champion": a,
                "challenger": b,
                "delta": (b - a) if a is not None and b is not None else None,
            }
        )

    def players(mask: np.ndarray) -> list[dict[str, Any]]:
        return [
            {
                "player_id": str(truth.player_ids[p]),
                "typology": str(truth.player_typology[p]) or None,
            }
            for p in np.nonzero(mask)[0]
        ]

    rules = []
    for rule in dict.fromkeys([*out_a.rule_alerts, *out_b.rule_alerts]):
        a, b = out_a.rule_alerts.get(rule, 0), out_b.rule_alerts.get(rule, 0)
        if a != b:
            rules.append({"rule": rule, "champion_alerts": a, "challenger_alerts": b})
    return {
        "champion": name_a,
        "challenger": name_b,
        "deltas": deltas,
        "players_added": players(out_b.alerted & ~out_a.alerted),
        "players_removed": players(out_a.alerted & ~out_b.alerted),
        "rules": rules,
    }
