"""Compliance incidents the service opens by itself, and how urgent each is.

- `AML_suspect`: a live AML rule blocked an event, or a case was escalated.
- `RNG_anomaly`: an `rng_check` whose p-value says the game's output is not random.
- `self_exclusion_event`: a player self-excluded (operators must enforce it everywhere),
  or a self-excluded account was active (P1).

P1 incidents are announced at once by email and signed webhook.
"""

from __future__ import annotations

import msgspec

from engine.decisions import Decision
from engine.events import BaseEvent, RngCheck, SelfExclusion

AML_SUSPECT = "AML_suspect"
RNG_ANOMALY = "RNG_anomaly"
SELF_EXCLUSION = "self_exclusion_event"
KINDS = (AML_SUSPECT, RNG_ANOMALY, SELF_EXCLUSION)

# p-values of an RNG statistic below these are anomalies (P1) or worth a look (P2).
RNG_P1 = 0.001
RNG_P2 = 0.01


class IncidentCandidate(msgspec.Struct, kw_only=True):
    kind: str
    priority: int
    subject: str
    summary: str
    event_id: str | None = None
    case_id: int | None = None
    details: dict[str, object] = msgspec.field(default_factory=dict)


def from_event(event: BaseEvent, decision: Decision) -> list[IncidentCandidate]:
    """The incidents one decided event opens (or repeats, if one is open already)."""
    found: list[IncidentCandidate] = []
    if isinstance(event, RngCheck) and event.p_value < RNG_P2:
        found.append(
            IncidentCandidate(
                kind=RNG_ANOMALY,
                priority=1 if event.p_value < RNG_P1 else 2,
                subject=f"game:{event.game_id}",
                summary=f"RNG check {event.statistic} on game {event.game_id}: "
                f"p = {event.p_value:.2g}",
                event_id=event.event_id,
                details={"statistic": event.statistic, "p_value": event.p_value},
            )
        )
    if isinstance(event, SelfExclusion):
        found.append(
            IncidentCandidate(
                kind=SELF_EXCLUSION,
                priority=2,
                subject=f"player:{event.player_id}",
                summary=f"player {event.player_id} self-excluded",
                event_id=event.event_id,
                details={"until": str(event.until) if event.until else None},
            )
        )
    for hit in decision.hits:
        if hit.family == "rg" and hit.severity == "critical":
            found.append(
                IncidentCandidate(
                    kind=SELF_EXCLUSION,
                    priority=1,
                    subject=f"player:{event.player_id}",
                    summary=f"activity on self-excluded account {event.player_id}: {hit.rule}",
                    event_id=event.event_id,
                    details={"rule": hit.rule, "reason": hit.reason},
                )
            )
        elif hit.family == "aml" and hit.action == "block":
            found.append(
                IncidentCandidate(
                    kind=AML_SUSPECT,
                    priority=1 if hit.severity == "critical" else 2,
                    subject=f"player:{event.player_id}",
                    summary=f"AML rule {hit.rule} blocked event {event.event_id}",
                    event_id=event.event_id,
                    details={"rule": hit.rule, "reason": hit.reason},
                )
            )
    return found


def from_escalation(case_id: int, subject: str, actor: str) -> IncidentCandidate:
    return IncidentCandidate(
        kind=AML_SUSPECT,
        priority=1,
        subject=subject,
        summary=f"case {case_id} escalated by {actor}",
        case_id=case_id,
        details={"case_id": case_id, "by": actor},
    )
