"""Cases: the states an investigation goes through, what each outcome says about its
alerts, and how long an analyst has to decide.

```
open ─► investigating ─► cleared ────────────────► closed
                      ├► escalated ◄─► restricted ─► closed
                      └► restricted ───────────────┘
```
`cleared` labels the case's alerts false positives; `escalated` (a suspicious activity
report is being filed) and `restricted` (the account was restricted) label them true
positives. Those labels are the real outcomes rule quality is measured against.

Pure domain: no I/O. `engine.store.cases` applies these rules to the database.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Final

import msgspec

OPEN: Final = "open"
INVESTIGATING: Final = "investigating"
CLEARED: Final = "cleared"
ESCALATED: Final = "escalated"
RESTRICTED: Final = "restricted"
CLOSED: Final = "closed"
STATES: Final = (OPEN, INVESTIGATING, CLEARED, ESCALATED, RESTRICTED, CLOSED)

TRUE_POSITIVE: Final = "true_positive"
FALSE_POSITIVE: Final = "false_positive"

# Escalated and restricted lead to each other because both happen to real cases, in
# either order: a SAR is filed and the account then restricted, or a restriction finds
# more and the case goes on to a SAR. Both keep the alerts true positives. Nothing leads
# back from an outcome to investigating: an outcome has labelled the alerts, and undoing
# it would silently rewrite rule quality figures; a new case is opened instead.
TRANSITIONS: Final[dict[str, tuple[str, ...]]] = {
    OPEN: (INVESTIGATING,),
    INVESTIGATING: (CLEARED, ESCALATED, RESTRICTED),
    CLEARED: (CLOSED,),
    ESCALATED: (RESTRICTED, CLOSED),
    RESTRICTED: (ESCALATED, CLOSED),
    CLOSED: (),
}

# The outcome states and the label each gives the case's alerts.
LABELS: Final = {CLEARED: FALSE_POSITIVE, ESCALATED: TRUE_POSITIVE, RESTRICTED: TRUE_POSITIVE}
OUTCOMES: Final = frozenset(LABELS)

# How long an analyst has to reach an outcome, by the case's priority (its most urgent
# alert's). P1 is a critical or blocking hit: money may still be leaving, and a payment
# held on suspicion cannot be held for long without a decision, so a day. P2 (high
# severity) gets three days, which keeps a SAR well inside the few working days FIUs
# expect between suspicion and report. P3 gets a week and P4 two weeks: low-severity
# alerts still get read before the next monthly review, without crowding out urgent ones.
SLA: Final = {
    1: timedelta(hours=24),
    2: timedelta(days=3),
    3: timedelta(days=7),
    4: timedelta(days=14),
}
PRIORITIES: Final = tuple(SLA)


class CaseError(Exception):
    """Base of what case handling refuses; each names the field at fault when there is one."""

    field: str | None = None


class TransitionError(CaseError):
    """A move the state machine does not allow from the case's current state."""

    field = "to"

    def __init__(self, current: str, to: str) -> None:
        self.current, self.to = current, to
        self.allowed = TRANSITIONS.get(current, ())
        options = ", ".join(self.allowed) if self.allowed else "none, the case is closed"
        super().__init__(f"a case cannot go from {current} to {to}; allowed: {options}")


class NotFoundError(CaseError):
    """An alert, case or restriction that does not exist (or not where it was looked for)."""

    def __init__(self, what: str, ident: object, *, field: str | None = None) -> None:
        self.what, self.ident, self.field = what, ident, field
        super().__init__(f"no {what} {ident}")


class BadReferenceError(CaseError):
    """A request body that names something which does not exist (a 422, not a 404: the
    resource addressed is there, what the body says about it is wrong)."""

    def __init__(self, message: str, *, field: str) -> None:
        self.field = field
        super().__init__(message)


class StateConflictError(CaseError):
    """Something the current state of an alert or case forbids, e.g. adding an alert
    that is already in another case, or assigning a closed case."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class BusyError(CaseError):
    """The alerts were being written by ingestion for longer than a case write waits; the
    caller should retry shortly."""

    retry_after = 1


class Transition(msgspec.Struct, frozen=True, kw_only=True):
    """What moving a case from one state to another implies."""

    current: str
    to: str
    label: str | None  # the label the case's alerts take, if this is an outcome
    closes: bool
    escalates: bool  # opens an AML_suspect incident


def allowed(state: str) -> tuple[str, ...]:
    return TRANSITIONS.get(state, ())


def transition(current: str, to: str) -> Transition:
    """The move from `current` to `to`, or `TransitionError` if it is not allowed."""
    if to not in allowed(current):
        raise TransitionError(current, to)
    return Transition(
        current=current,
        to=to,
        label=LABELS.get(to),
        closes=to == CLOSED,
        escalates=to == ESCALATED,
    )


def label_of(state: str) -> str | None:
    """The label a case in `state` gives its alerts (None before an outcome)."""
    if state in LABELS:
        return LABELS[state]
    return None


def sla_of(priority: int) -> timedelta:
    # A priority outside 1..4 cannot come from `engine.alerts.priority`; treat it as the
    # nearest known one rather than fail a case.
    return SLA[min(max(priority, 1), 4)]


def due_at(opened_at: datetime, priority: int) -> datetime:
    """When a case opened at `opened_at` with `priority` must reach an outcome."""
    return opened_at + sla_of(priority)


class Sla(msgspec.Struct, frozen=True, kw_only=True):
    """Where a case stands against its deadline.

    The clock stops at the first outcome (cleared, escalated or restricted): closing is
    bookkeeping, the decision is what the deadline is for."""

    due_at: datetime
    overdue: bool  # no outcome yet, and the deadline has passed
    time_left_s: int | None  # seconds to the deadline, negative once past; None once decided
    decided_at: datetime | None
    met: bool | None  # decided by the deadline; None while undecided


def sla(due: datetime, decided_at: datetime | None, now: datetime) -> Sla:
    if decided_at is not None:
        return Sla(due_at=due, overdue=False, time_left_s=None, decided_at=decided_at,
                   met=decided_at <= due)  # fmt: skip
    left = (due - now).total_seconds()
    return Sla(due_at=due, overdue=left < 0, time_left_s=math.floor(left), decided_at=None,
               met=None)  # fmt: skip


def most_urgent(priorities: list[int]) -> int:
    """A case's priority: that of its most urgent alert (1 is the most urgent)."""
    return min(priorities)
