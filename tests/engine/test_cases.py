"""The case state machine, SLA clock, restriction parameters and the player's status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engine import cases, restrictions
from engine.alerts import CLUSTER_FAMILIES, candidates
from engine.cases import TransitionError
from engine.decisions import Decision, Hit
from engine.restrictions import RestrictionError

T0 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)

ALLOWED = [
    ("open", "investigating"),
    ("investigating", "cleared"),
    ("investigating", "escalated"),
    ("investigating", "restricted"),
    ("escalated", "restricted"),
    ("restricted", "escalated"),
    ("cleared", "closed"),
    ("escalated", "closed"),
    ("restricted", "closed"),
]


@pytest.mark.parametrize(("current", "to"), ALLOWED)
def test_allowed_transitions(current: str, to: str) -> None:
    move = cases.transition(current, to)
    assert (move.current, move.to) == (current, to)


@pytest.mark.parametrize(
    ("current", "to"),
    [(a, b) for a in cases.STATES for b in cases.STATES if (a, b) not in ALLOWED],
)
def test_every_other_transition_is_refused_naming_the_allowed_ones(current: str, to: str) -> None:
    with pytest.raises(TransitionError) as info:
        cases.transition(current, to)
    assert info.value.allowed == cases.TRANSITIONS[current]
    assert f"from {current} to {to}" in str(info.value)
    for option in cases.TRANSITIONS[current]:
        assert option in str(info.value)


def test_closed_is_reached_only_from_an_outcome() -> None:
    before_closed = {a for a, b in ALLOWED if b == "closed"}
    assert before_closed == {"cleared", "escalated", "restricted"}
    assert cases.allowed("closed") == ()
    with pytest.raises(TransitionError, match="none, the case is closed"):
        cases.transition("closed", "open")


@pytest.mark.parametrize(
    ("to", "label"),
    [("cleared", "false_positive"), ("escalated", "true_positive"),
     ("restricted", "true_positive")],
)  # fmt: skip
def test_outcomes_label_the_alerts(to: str, label: str) -> None:
    assert cases.transition("investigating", to).label == label
    assert cases.label_of(to) == label


def test_only_escalation_opens_an_incident_and_only_closing_closes() -> None:
    assert [(a, b) for a, b in ALLOWED if cases.transition(a, b).escalates] == [
        ("investigating", "escalated"),
        ("restricted", "escalated"),
    ]
    assert {b for a, b in ALLOWED if cases.transition(a, b).closes} == {"closed"}
    assert cases.transition("open", "investigating").label is None


@pytest.mark.parametrize(("priority", "hours"), [(1, 24), (2, 72), (3, 7 * 24), (4, 14 * 24)])
def test_sla_by_priority(priority: int, hours: int) -> None:
    assert cases.due_at(T0, priority) == T0 + timedelta(hours=hours)


def test_sla_runs_until_the_first_outcome() -> None:
    due = T0 + timedelta(hours=24)
    running = cases.sla(due, None, T0 + timedelta(hours=23))
    assert (running.overdue, running.time_left_s, running.met) == (False, 3600, None)
    late = cases.sla(due, None, T0 + timedelta(hours=25))
    assert (late.overdue, late.time_left_s) == (True, -3600)
    decided = cases.sla(due, T0 + timedelta(hours=2), T0 + timedelta(days=30))
    assert (decided.overdue, decided.time_left_s, decided.met) == (False, None, True)
    assert cases.sla(due, T0 + timedelta(hours=30), T0).met is False


def test_a_case_takes_its_most_urgent_alerts_priority() -> None:
    assert cases.most_urgent([3, 1, 4]) == 1


# --- restrictions -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("lower_limits", {"limit_kind": "deposit", "value": 50_000, "currency": "EUR"}),
        ("lower_limits", {"limit_kind": "session_time", "value": 60, "period": "week"}),
        ("withdrawal_freeze", {}),
        ("document_request", {"documents": ["proof_of_address", "source_of_funds"]}),
        ("withdrawal_cooling_off", {"min_amount": 100_000, "currency": "GBP", "hours": 48}),
    ],
)
def test_valid_restrictions(kind: str, params: dict[str, Any]) -> None:
    parsed = restrictions.parse(kind, params)
    assert restrictions.to_dict(parsed).items() >= params.items()


@pytest.mark.parametrize(
    ("kind", "params", "field", "message"),
    [
        ("ban", {}, "kind", "one of: lower_limits"),
        ("lower_limits", {"value": 1, "currency": "EUR"}, "params.limit_kind", "missing"),
        ("lower_limits", {"limit_kind": "deposit", "currency": "EUR"}, "params.value", "missing"),
        ("lower_limits", {"limit_kind": "bets", "value": 1}, "params.limit_kind", "one of"),
        ("lower_limits", {"limit_kind": "deposit", "value": -1, "currency": "EUR"},
         "params.value", ">= 0"),
        ("lower_limits", {"limit_kind": "deposit", "value": 1}, "params.currency", "currency"),
        ("lower_limits", {"limit_kind": "loss", "value": 1, "currency": "XXQ"},
         "params.currency", "ISO 4217"),
        ("lower_limits", {"limit_kind": "session_time", "value": 1, "currency": "EUR"},
         "params.currency", "minutes"),
        ("withdrawal_freeze", {"hours": 3}, "params.hours", "unknown field"),
        ("document_request", {}, "params.documents", "missing"),
        ("document_request", {"documents": []}, "params.documents", "length >= 1"),
        ("document_request", {"documents": ["selfie"]}, "params.documents[0]",
         "proof_of_address"),
        ("withdrawal_cooling_off", {"currency": "EUR", "hours": 24}, "params.min_amount",
         "missing"),
        ("withdrawal_cooling_off", {"min_amount": 100, "currency": "EUR"}, "params.hours",
         "missing"),
        ("withdrawal_cooling_off", {"min_amount": 100, "currency": "EUR", "hours": 0},
         "params.hours", ">= 1"),
        ("withdrawal_cooling_off", {"min_amount": 0, "currency": "EUR", "hours": 5},
         "params.min_amount", ">= 1"),
    ],
)  # fmt: skip
def test_invalid_restrictions_name_the_field(
    kind: str, params: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(RestrictionError, match=message) as info:
        restrictions.parse(kind, params)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("kind", "params", "told"),
    [
        ("lower_limits", {"limit_kind": "deposit", "value": 50_000, "currency": "EUR"},
         "Your daily deposit limit is 500.00 EUR."),
        ("lower_limits", {"limit_kind": "session_time", "value": 90, "period": "week"},
         "Your weekly session time limit is 90 minutes."),
        ("withdrawal_freeze", {}, "Withdrawals are temporarily unavailable."),
        ("document_request", {"documents": ["proof_of_address"]},
         "Please provide: proof of address."),
        ("withdrawal_cooling_off", {"min_amount": 250_000, "currency": "EUR", "hours": 48},
         "Withdrawals of 2,500.00 EUR or more are paid out after 48 hours."),
    ],
)  # fmt: skip
def test_what_the_player_is_told(kind: str, params: dict[str, Any], told: str) -> None:
    assert restrictions.notice(restrictions.parse(kind, params)) == told


def test_status_ignores_order_and_repeats() -> None:
    freeze = restrictions.parse("withdrawal_freeze", {})
    docs = restrictions.parse("document_request", {"documents": ["proof_of_identity"]})
    one = restrictions.status("p", self_excluded=False, active=[freeze, docs, freeze])
    other = restrictions.status("p", self_excluded=False, active=[docs, freeze])
    assert one == other
    assert one.account == "limited"
    assert [n.kind for n in one.restrictions] == ["document_request", "withdrawal_freeze"]
    assert restrictions.status("p", self_excluded=False, active=[]).account == "active"
    assert restrictions.status("p", self_excluded=True, active=[docs]).account == "self_excluded"


# --- alert candidates for linked clusters -------------------------------------------


def _decision(player: str, family: str, rule: str) -> Decision:
    hit = Hit(policy="p", rule=rule, fired=True, shadow=False, action="allow", score=60,
              severity="high", family=family)  # fmt: skip
    return Decision(event_id=f"e-{player}", player_id=player, market="MGA", ts=1, action="allow",
                    score=60, policies={}, hits=(hit,))  # fmt: skip


def test_bonus_hits_of_linked_players_are_about_the_cluster() -> None:
    assert "bonus" in CLUSTER_FAMILIES
    a = candidates(_decision("p-a", "bonus", "bonus_farm_device"), ("p-a", 2))
    b = candidates(_decision("p-b", "bonus", "bonus_farm_device"), ("p-a", 2))
    assert [(c.subject_kind, c.subject_id) for c in a + b] == [("cluster", "p-a")] * 2
    alone = candidates(_decision("p-c", "bonus", "bonus_farm_device"), ("p-c", 1))
    assert [(c.subject_kind, c.subject_id) for c in alone] == [("player", "p-c")]
    aml = candidates(_decision("p-b", "aml", "large_transaction"), ("p-a", 2))
    assert [(c.subject_kind, c.subject_id) for c in aml] == [("player", "p-b")]
