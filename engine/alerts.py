"""From rule hits to alerts: who the alert is about, its family and its priority.

Deduplication itself happens where alerts are stored (`engine.store.alerts`): one open
alert per subject and family while hits keep coming within the window.
"""

from __future__ import annotations

import msgspec

from engine.decisions import Decision, Hit

SEVERITY_RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}
# Families whose typologies involve several accounts: an alert is about the linked
# cluster, so a farm of twenty accounts is one alert, not twenty.
CLUSTER_FAMILIES = frozenset({"bonus", "collusion"})


def priority(severity: str, score: int) -> int:
    """1 (most urgent) to 4: severity sets it; a score at blocking level raises it by one."""
    base = 5 - SEVERITY_RANK.get(severity, 2)
    return max(1, base - 1) if score >= 100 else base


class AlertCandidate(msgspec.Struct, kw_only=True):
    """One event's hits of one family, about to become an alert or repeat an open one."""

    subject_kind: str
    subject_id: str
    player_id: str
    family: str
    rules: list[str]
    severity: str
    score: int
    ts_ms: int
    event_id: str
    evidence: list[Hit]
    repeats: int = 1
    first_ts_ms: int = 0
    first_event: str = ""

    @property
    def priority(self) -> int:
        return priority(self.severity, self.score)

    def merge(self, later: AlertCandidate) -> None:
        """Fold a later candidate for the same subject and family into this one."""
        self.repeats += later.repeats
        self.rules = sorted(set(self.rules) | set(later.rules))
        if SEVERITY_RANK.get(later.severity, 0) > SEVERITY_RANK.get(self.severity, 0):
            self.severity = later.severity
        self.score = max(self.score, later.score)
        self.ts_ms, self.event_id, self.evidence = later.ts_ms, later.event_id, later.evidence
        self.player_id = later.player_id


def candidates(decision: Decision, cluster: tuple[str, int]) -> list[AlertCandidate]:
    """The alerts an event's live hits call for, one per family. Shadow hits never alert."""
    by_family: dict[str, list[Hit]] = {}
    for hit in decision.hits:
        by_family.setdefault(hit.family or hit.policy, []).append(hit)
    out = []
    for family, hits in by_family.items():
        in_cluster = family in CLUSTER_FAMILIES and cluster[1] > 1
        severity = max((h.severity or "medium" for h in hits), key=lambda s: SEVERITY_RANK[s])
        out.append(
            AlertCandidate(
                subject_kind="cluster" if in_cluster else "player",
                subject_id=cluster[0] if in_cluster else decision.player_id,
                player_id=decision.player_id,
                family=family,
                rules=sorted({h.rule for h in hits}),
                severity=severity,
                score=decision.score,
                ts_ms=decision.ts,
                event_id=decision.event_id,
                evidence=hits,
                first_ts_ms=decision.ts,
                first_event=decision.event_id,
            )
        )
    return out
