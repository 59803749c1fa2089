"""From rule hits to alert candidates: subject, family, priority, and folding repeats."""

from __future__ import annotations

import pytest

from engine.alerts import AlertCandidate, candidates, priority
from engine.decisions import Decision, Hit


def hit(rule: str, family: str | None = "aml", severity: str | None = "medium", *,
        policy: str = "aml_core", score: int = 30, shadow: bool = False) -> Hit:  # fmt: skip
    return Hit(policy=policy, rule=rule, fired=True, shadow=shadow, action="allow", score=score,
               severity=severity, family=family, reason=f"{rule} fired")  # fmt: skip


def decision(*hits: Hit, score: int = 30, shadow: tuple[Hit, ...] = (), ts: int = 1_000,
             event_id: str = "e-1", player: str = "p-1") -> Decision:  # fmt: skip
    return Decision(event_id=event_id, player_id=player, market="MGA", ts=ts, action="allow",
                    score=score, policies={}, hits=hits, shadow=shadow)  # fmt: skip


@pytest.mark.parametrize(
    ("severity", "score", "expected"),
    [
        ("critical", 0, 1),
        ("high", 0, 2),
        ("medium", 0, 3),
        ("low", 0, 4),
        ("unheard-of", 0, 3),  # counted as medium
        ("critical", 100, 1),  # never above 1
        ("high", 100, 1),
        ("medium", 99, 3),
        ("medium", 100, 2),
        ("low", 250, 3),
    ],
)
def test_priority(severity: str, score: int, expected: int) -> None:
    assert priority(severity, score) == expected


def test_no_hits_no_candidates() -> None:
    assert candidates(decision(), ("p-1", 1)) == []


def test_one_candidate_per_family() -> None:
    d = decision(
        hit("structuring", severity="high"),
        hit("large_transaction"),
        hit("structuring", severity="low"),
        hit("ip_hop", family="fraud", policy="fraud", severity=None),
        score=70,
    )
    by_family = {c.family: c for c in candidates(d, ("p-1", 1))}
    assert set(by_family) == {"aml", "fraud"}
    aml = by_family["aml"]
    assert aml.rules == ["large_transaction", "structuring"]
    assert aml.severity == "high"
    assert aml.priority == 2
    assert (aml.subject_kind, aml.subject_id, aml.player_id) == ("player", "p-1", "p-1")
    assert (aml.score, aml.ts_ms, aml.event_id) == (70, 1_000, "e-1")
    assert (aml.first_ts_ms, aml.first_event, aml.repeats) == (1_000, "e-1", 1)
    assert len(aml.evidence) == 3
    assert by_family["fraud"].severity == "medium"  # a hit without severity counts as medium


def test_a_hit_without_family_is_grouped_by_its_policy() -> None:
    [c] = candidates(decision(hit("odd", family=None, policy="custom")), ("p-1", 1))
    assert c.family == "custom"


def test_shadow_hits_never_alert() -> None:
    d = decision(shadow=(hit("structuring", shadow=True),))
    assert candidates(d, ("p-1", 1)) == []


@pytest.mark.parametrize("family", ["bonus", "collusion"])
def test_cluster_families_alert_about_the_cluster(family: str) -> None:
    d = decision(hit("farm", family=family), player="p-7")
    [c] = candidates(d, ("p-1", 5))
    assert (c.subject_kind, c.subject_id, c.player_id) == ("cluster", "p-1", "p-7")
    # A player alone is the subject even of a cluster family.
    [alone] = candidates(d, ("p-7", 1))
    assert (alone.subject_kind, alone.subject_id) == ("player", "p-7")


def test_other_families_alert_about_the_player_even_in_a_cluster() -> None:
    [c] = candidates(decision(hit("structuring"), player="p-7"), ("p-1", 5))
    assert (c.subject_kind, c.subject_id) == ("player", "p-7")


def candidate(rules: list[str], severity: str, score: int, ts: int, event: str,
              player: str = "p-1") -> AlertCandidate:  # fmt: skip
    [c] = candidates(
        decision(*(hit(r, severity=severity) for r in rules), score=score, ts=ts,
                 event_id=event, player=player),
        ("p-1", 1),
    )  # fmt: skip
    return c


def test_merge_folds_a_later_candidate_in() -> None:
    first = candidate(["structuring"], "high", 40, 1_000, "e-1")
    later = candidate(["large_transaction"], "medium", 70, 2_000, "e-2", player="p-2")
    first.merge(later)
    assert first.repeats == 2
    assert first.rules == ["large_transaction", "structuring"]
    assert first.severity == "high"  # a milder later hit does not lower it
    assert first.score == 70
    assert (first.ts_ms, first.event_id, first.player_id) == (2_000, "e-2", "p-2")
    assert first.evidence == later.evidence
    assert (first.first_ts_ms, first.first_event) == (1_000, "e-1")
    assert first.priority == 2


def test_merge_raises_severity_and_counts_repeats_of_merged_candidates() -> None:
    first = candidate(["a"], "low", 10, 1_000, "e-1")
    second = candidate(["b"], "medium", 10, 2_000, "e-2")
    third = candidate(["a"], "critical", 120, 3_000, "e-3")
    second.merge(third)
    first.merge(second)
    assert first.repeats == 3
    assert first.severity == "critical"
    assert first.rules == ["a", "b"]
    assert first.priority == 1
    assert first.event_id == "e-3"
