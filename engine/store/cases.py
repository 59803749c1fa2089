"""The alert queue, cases and their timeline, and rule quality from labelled alerts.

Callers pass a connection and own the transaction. Writes that check a state first lock
the rows they check (`FOR UPDATE`), so two analysts acting on one case or alert at once
are serialised rather than both succeeding.

Alerts stay `open` while their case is worked, so later hits keep repeating into them
(the case sees the latest evidence); they close when their case closes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

import asyncpg
import msgspec

from engine import cases, incidents
from engine.cases import BadReferenceError, BusyError, NotFoundError, StateConflictError
from engine.decisions import Hit
from engine.store import incidents as incident_store
from engine.store.incidents import Target

_ENCODER = msgspec.json.Encoder()
P = ParamSpec("P")
R = TypeVar("R")


class AlertRow(msgspec.Struct, kw_only=True):
    id: int
    subject_kind: str  # player | cluster
    subject_id: str
    player_id: str  # the player of the latest hit
    family: str
    rules: list[str]
    severity: str
    priority: int
    score: int
    state: str
    repeats: int
    first_seen: datetime
    last_seen: datetime
    first_event: str
    last_event: str
    case_id: int | None
    label: str | None


class AlertDetail(AlertRow, kw_only=True):
    evidence: list[Hit]  # the latest hits


class CaseRow(msgspec.Struct, kw_only=True):
    id: int
    title: str
    subject_kind: str
    subject_id: str
    state: str
    priority: int
    assignee: str | None
    opened_at: datetime
    due_at: datetime
    decided_at: datetime | None
    closed_at: datetime | None
    resolution: str | None
    updated_at: datetime


class EntryRow(msgspec.Struct, kw_only=True):
    id: int
    case_id: int
    at: datetime
    actor: str
    kind: str  # opened | alerts_added | assigned | transition | note | evidence | restriction…
    data: dict[str, Any]


class RuleQuality(msgspec.Struct, kw_only=True):
    family: str
    rule: str
    alerts: int
    true_positive: int
    false_positive: int
    unlabelled: int
    precision: float | None  # true / (true + false); None until an alert is labelled


_ALERT = (
    "id, subject_kind, subject_id, player_id, family, rules, severity, priority, score, "
    "state, repeats, first_seen, last_seen, first_event, last_event, case_id, label"
)
_CASE = (
    "id, title, subject_kind, subject_id, state, priority, assignee, opened_at, due_at, "
    "decided_at, closed_at, resolution, updated_at"
)


def _alert(r: asyncpg.Record) -> AlertRow:
    return AlertRow(**{k: r[k] for k in AlertRow.__struct_fields__})


def _case(r: asyncpg.Record) -> CaseRow:
    return CaseRow(**{k: r[k] for k in CaseRow.__struct_fields__})


def _entry(r: asyncpg.Record) -> EntryRow:
    return EntryRow(
        id=r["id"],
        case_id=r["case_id"],
        at=r["at"],
        actor=r["actor"],
        kind=r["kind"],
        data=msgspec.json.decode(r["data"]),
    )


class _Where:
    """A conjunction of fixed SQL fragments with numbered parameters."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.args: list[object] = []

    def add(self, fragment: str, *values: object) -> None:
        """`fragment` uses `{0}`, `{1}`… for its values."""
        start = len(self.args)
        self.args.extend(values)
        self.parts.append(fragment.format(*(f"${start + i + 1}" for i in range(len(values)))))

    def sql(self) -> str:
        return " AND ".join(self.parts) if self.parts else "true"

    def next(self) -> str:
        return f"${len(self.args) + 1}"


# --- alerts -------------------------------------------------------------------------


async def list_alerts(
    conn: asyncpg.Connection,
    *,
    state: str | None = None,
    family: str | None = None,
    priority: int | None = None,
    player: str | None = None,
    in_case: bool | None = None,
    after: int = 0,
    limit: int = 50,
) -> list[AlertRow]:
    """The queue, oldest first, from the alert after `after` (a cursor: the last id seen).

    `player` matches an alert about that player, or the latest player of a cluster alert,
    or a cluster named after that player."""
    where = _Where()
    where.add("id > {0}", after)
    if state is not None:
        where.add("state = {0}", state)
    if family is not None:
        where.add("family = {0}", family)
    if priority is not None:
        where.add("priority = {0}", priority)
    if player is not None:
        where.add("(player_id = {0} OR subject_id = {0})", player)
    if in_case is not None:
        where.add("case_id IS NOT NULL" if in_case else "case_id IS NULL")
    rows = await conn.fetch(
        f"SELECT {_ALERT} FROM alerts WHERE {where.sql()} ORDER BY id LIMIT {where.next()}",
        *where.args,
        limit,
    )
    return [_alert(r) for r in rows]


async def alert(conn: asyncpg.Connection, alert_id: int) -> AlertDetail:
    r = await conn.fetchrow(f"SELECT {_ALERT}, evidence FROM alerts WHERE id = $1", alert_id)
    if r is None:
        raise NotFoundError("alert", alert_id, field="id")
    return AlertDetail(
        **{k: r[k] for k in AlertRow.__struct_fields__},
        evidence=msgspec.json.decode(r["evidence"], type=list[Hit]),
    )


async def case_alerts(conn: asyncpg.Connection, case_id: int) -> list[AlertRow]:
    rows = await conn.fetch(f"SELECT {_ALERT} FROM alerts WHERE case_id = $1 ORDER BY id", case_id)
    return [_alert(r) for r in rows]


def _yields_to_ingest(
    write: Callable[Concatenate[asyncpg.Connection, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[asyncpg.Connection, P], Coroutine[Any, Any, R]]:
    """Make a case write the one to give up if it deadlocks with the ingest writer.

    Case writes lock several alerts, and so does an ingest group commit, in no common
    order. Waiting less than PostgreSQL's deadlock_timeout (1 s by default) means a case
    write times out before the deadlock detector could pick the ingest commit as victim:
    a failed ingest commit fails every event of its group and rebuilds the engine's state,
    a failed case write is one retry (`BusyError`)."""

    @functools.wraps(write)
    async def run(conn: asyncpg.Connection, /, *args: P.args, **kwargs: P.kwargs) -> R:
        await conn.execute("SET LOCAL lock_timeout = '500ms'")
        try:
            return await write(conn, *args, **kwargs)
        except asyncpg.LockNotAvailableError as exc:
            raise BusyError("the alerts are being written; retry shortly") from exc

    return run


async def _take_alerts(
    conn: asyncpg.Connection, alert_ids: Sequence[int], case_id: int | None
) -> list[asyncpg.Record]:
    """Lock the alerts about to join a case and check that they may; those already in
    `case_id` are left out (joining twice is a retry, not a mistake)."""
    ids = sorted(set(alert_ids))
    # In id order, so two requests taking overlapping alerts lock them in the same order.
    rows = await conn.fetch(
        "SELECT id, subject_kind, subject_id, priority, state, case_id, family FROM alerts "
        "WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE",
        ids,
    )
    missing = sorted(set(ids) - {r["id"] for r in rows})
    if missing:
        raise BadReferenceError(f"no alert {', '.join(map(str, missing))}", field="alert_ids")
    taken = []
    for r in rows:
        if case_id is not None and r["case_id"] == case_id:
            continue
        if r["case_id"] is not None:
            raise StateConflictError(
                f"alert {r['id']} is already in case {r['case_id']}", field="alert_ids"
            )
        if r["state"] != "open":
            raise StateConflictError(f"alert {r['id']} is closed", field="alert_ids")
        taken.append(r)
    return taken


# --- cases --------------------------------------------------------------------------


async def add_entry(
    conn: asyncpg.Connection, case_id: int, actor: str, kind: str, data: dict[str, Any]
) -> EntryRow:
    """Append to a case's timeline (the case must exist)."""
    r = await conn.fetchrow(
        "INSERT INTO case_entries (case_id, actor, kind, data) VALUES ($1, $2, $3, $4::jsonb) "
        "RETURNING id, case_id, at, actor, kind, data",
        case_id,
        actor,
        kind,
        _ENCODER.encode(data).decode(),
    )
    return _entry(r)


async def _lock_case(conn: asyncpg.Connection, case_id: int) -> CaseRow:
    r = await conn.fetchrow(f"SELECT {_CASE} FROM cases WHERE id = $1 FOR UPDATE", case_id)
    if r is None:
        raise NotFoundError("case", case_id, field="id")
    return _case(r)


def _open_for_work(case: CaseRow, what: str) -> None:
    if case.state == cases.CLOSED:
        raise StateConflictError(f"case {case.id} is closed; {what} a closed case is not allowed")


@_yields_to_ingest
async def create_case(
    conn: asyncpg.Connection, alert_ids: Sequence[int], *, by: str, title: str | None = None
) -> CaseRow:
    """A case from open alerts that are in no case yet.

    Its subject is that of its most urgent alert (the oldest, on a tie): alerts about
    different subjects may share a case, e.g. a player's AML alert and the bonus farm
    cluster the player belongs to. Its priority is its most urgent alert's."""
    taken = await _take_alerts(conn, alert_ids, None)
    lead = min(taken, key=lambda r: (r["priority"], r["id"]))
    priority = cases.most_urgent([r["priority"] for r in taken])
    families = sorted({r["family"] for r in taken})
    title = title or f"{', '.join(families)}: {lead['subject_kind']} {lead['subject_id']}"
    r = await conn.fetchrow(
        "INSERT INTO cases (title, subject_kind, subject_id, priority, due_at) "
        f"VALUES ($1, $2, $3, $4, now() + $5::interval) RETURNING {_CASE}",
        title,
        lead["subject_kind"],
        lead["subject_id"],
        priority,
        cases.sla_of(priority),
    )
    case = _case(r)
    ids = [a["id"] for a in taken]
    await conn.execute(
        "UPDATE alerts SET case_id = $1, updated_at = now() WHERE id = ANY($2::bigint[])",
        case.id,
        ids,
    )
    await add_entry(conn, case.id, by, "opened", {"alert_ids": ids, "priority": priority})
    return case


@_yields_to_ingest
async def add_alerts(
    conn: asyncpg.Connection, case_id: int, alert_ids: Sequence[int], *, by: str
) -> CaseRow:
    """Join more alerts to a case; a more urgent alert raises its priority and brings its
    deadline forward. An alert joining a decided case takes the case's label."""
    case = await _lock_case(conn, case_id)
    _open_for_work(case, "adding alerts to")
    taken = await _take_alerts(conn, alert_ids, case_id)
    if not taken:
        return case
    ids = [a["id"] for a in taken]
    await conn.execute(
        "UPDATE alerts SET case_id = $1, label = $3, "
        "labelled_at = CASE WHEN $3::text IS NULL THEN NULL ELSE now() END, updated_at = now() "
        "WHERE id = ANY($2::bigint[])",
        case_id,
        ids,
        cases.label_of(case.state),
    )
    priority = cases.most_urgent([case.priority, *(a["priority"] for a in taken)])
    r = await conn.fetchrow(
        "UPDATE cases SET priority = $2, due_at = least(due_at, opened_at + $3::interval), "
        f"updated_at = now() WHERE id = $1 RETURNING {_CASE}",
        case_id,
        priority,
        cases.sla_of(priority),
    )
    await add_entry(conn, case_id, by, "alerts_added", {"alert_ids": ids, "priority": priority})
    return _case(r)


async def assign(
    conn: asyncpg.Connection, case_id: int, assignee: str | None, *, by: str
) -> CaseRow:
    """Give a case to an analyst (None: back to the pool)."""
    case = await _lock_case(conn, case_id)
    _open_for_work(case, "assigning")
    r = await conn.fetchrow(
        f"UPDATE cases SET assignee = $2, updated_at = now() WHERE id = $1 RETURNING {_CASE}",
        case_id,
        assignee,
    )
    await add_entry(conn, case_id, by, "assigned", {"assignee": assignee, "was": case.assignee})
    return _case(r)


class Moved(msgspec.Struct, kw_only=True):
    case: CaseRow
    incident_id: int | None  # the AML_suspect incident an escalation opened or repeated
    notified: list[int]  # incidents that queued notifications (the notifier should wake)


@_yields_to_ingest
async def transition(
    conn: asyncpg.Connection,
    case_id: int,
    to: str,
    *,
    by: str,
    note: str = "",
    targets: Sequence[Target] = (),
) -> Moved:
    """Move a case along the state machine (`engine.cases`).

    An outcome labels the case's alerts; closing closes them; escalating opens an
    `AML_suspect` P1 incident (notifying `targets`) in the same transaction."""
    case = await _lock_case(conn, case_id)
    move = cases.transition(case.state, to)
    r = await conn.fetchrow(
        "UPDATE cases SET state = $2, resolution = coalesce($3, resolution), "
        "decided_at = CASE WHEN $3::text IS NULL THEN decided_at "
        "                  ELSE coalesce(decided_at, now()) END, "
        "closed_at = CASE WHEN $4 THEN now() ELSE closed_at END, updated_at = now() "
        f"WHERE id = $1 RETURNING {_CASE}",
        case_id,
        to,
        to if move.label else None,
        move.closes,
    )
    if move.label is not None:
        await conn.execute(
            "UPDATE alerts SET label = $2, labelled_at = now(), updated_at = now() "
            "WHERE case_id = $1 AND label IS DISTINCT FROM $2",
            case_id,
            move.label,
        )
    if move.closes:
        await conn.execute(
            "UPDATE alerts SET state = 'closed', updated_at = now() "
            "WHERE case_id = $1 AND state = 'open'",
            case_id,
        )
    data: dict[str, Any] = {"from": case.state, "to": to, "note": note}
    incident_id, notified = None, []
    if move.escalates:
        subject = f"{case.subject_kind}:{case.subject_id}"
        candidate = incidents.from_escalation(case_id, subject, by)
        notified = await incident_store.open_incidents(conn, [candidate], targets)
        incident_id = await conn.fetchval(
            "SELECT id FROM incidents WHERE kind = $1 AND subject = $2 AND state = 'open'",
            candidate.kind,
            subject,
        )
        data["incident_id"] = incident_id
    await add_entry(conn, case_id, by, "transition", data)
    return Moved(case=_case(r), incident_id=incident_id, notified=notified)


async def note(
    conn: asyncpg.Connection, case_id: int, kind: str, data: dict[str, Any], *, by: str
) -> EntryRow:
    """A note or a piece of evidence on a case's timeline. Allowed on closed cases too: a
    FIU's acknowledgement of a report, say, arrives after the case is closed."""
    found = await conn.fetchval(
        "UPDATE cases SET updated_at = now() WHERE id = $1 RETURNING id", case_id
    )
    if found is None:
        raise NotFoundError("case", case_id, field="id")
    return await add_entry(conn, case_id, by, kind, data)


async def get_case(conn: asyncpg.Connection, case_id: int) -> CaseRow:
    r = await conn.fetchrow(f"SELECT {_CASE} FROM cases WHERE id = $1", case_id)
    if r is None:
        raise NotFoundError("case", case_id, field="id")
    return _case(r)


async def list_cases(
    conn: asyncpg.Connection,
    *,
    now: datetime,
    state: str | None = None,
    assignee: str | None = None,
    priority: int | None = None,
    overdue: bool | None = None,
    after: int = 0,
    limit: int = 50,
) -> list[CaseRow]:
    """Cases, oldest first, from the case after `after`. Overdue: no outcome yet and past
    the deadline at `now`."""
    where = _Where()
    where.add("id > {0}", after)
    if state is not None:
        where.add("state = {0}", state)
    if assignee is not None:
        where.add("assignee = {0}", assignee)
    if priority is not None:
        where.add("priority = {0}", priority)
    if overdue is not None:
        late = "(decided_at IS NULL AND due_at < {0})"
        where.add(late if overdue else f"NOT {late}", now)
    rows = await conn.fetch(
        f"SELECT {_CASE} FROM cases WHERE {where.sql()} ORDER BY id LIMIT {where.next()}",
        *where.args,
        limit,
    )
    return [_case(r) for r in rows]


async def timeline(conn: asyncpg.Connection, case_id: int) -> list[EntryRow]:
    await get_case(conn, case_id)
    rows = await conn.fetch(
        "SELECT id, case_id, at, actor, kind, data FROM case_entries WHERE case_id = $1 "
        "ORDER BY id",
        case_id,
    )
    return [_entry(r) for r in rows]


async def open_count(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM cases WHERE state <> 'closed'"))


# --- rule quality -------------------------------------------------------------------

# An alert names every rule of its family that fired on it, and each is credited with the
# alert's label: a rule that only ever fires beside stronger ones shows that in its
# precision, which is what its author needs to know.
_QUALITY = """
SELECT family, rule,
       count(*) AS alerts,
       count(*) FILTER (WHERE label = 'true_positive') AS true_positive,
       count(*) FILTER (WHERE label = 'false_positive') AS false_positive
FROM alerts, unnest(rules) AS rule
WHERE $1::text IS NULL OR family = $1
GROUP BY family, rule
ORDER BY family, rule
"""


async def rule_quality(conn: asyncpg.Connection, family: str | None = None) -> list[RuleQuality]:
    """Per rule: its alerts, how their cases ended, and its precision."""
    out = []
    for r in await conn.fetch(_QUALITY, family):
        tp, fp = r["true_positive"], r["false_positive"]
        out.append(
            RuleQuality(
                family=r["family"],
                rule=r["rule"],
                alerts=r["alerts"],
                true_positive=tp,
                false_positive=fp,
                unlabelled=r["alerts"] - tp - fp,
                precision=round(tp / (tp + fp), 4) if tp + fp else None,
            )
        )
    return out
