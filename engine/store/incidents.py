"""Incidents and the notification outbox they fill."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import msgspec

from engine.incidents import IncidentCandidate

_ENCODER = msgspec.json.Encoder()

# A repeat of an open incident of the same kind and subject counts up and may raise its
# priority; `inserted` tells the caller whether this was a new incident.
_OPEN = """
INSERT INTO incidents (kind, priority, subject, summary, event_id, case_id, details)
VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
ON CONFLICT (kind, subject) WHERE state = 'open' DO UPDATE SET
    repeats = incidents.repeats + 1,
    priority = least(incidents.priority, EXCLUDED.priority)
RETURNING id, priority, (xmax = 0) AS inserted,
          (SELECT priority FROM incidents i WHERE i.id = incidents.id) AS before
"""


class Target(msgspec.Struct, frozen=True):
    channel: str  # email | webhook
    target: str


async def open_incidents(
    conn: asyncpg.Connection, found: Sequence[IncidentCandidate], targets: Sequence[Target]
) -> list[int]:
    """Open (or repeat) incidents; a new P1, or one raised to P1, queues its notifications.

    Returns the ids of incidents that queued notifications."""
    notified = []
    for c in found:
        row = await conn.fetchrow(
            _OPEN,
            c.kind,
            c.priority,
            c.subject,
            c.summary,
            c.event_id,
            c.case_id,
            _ENCODER.encode(c.details).decode(),
        )
        became_p1 = row["priority"] == 1 and (row["inserted"] or row["before"] != 1)
        if not became_p1 or not targets:
            continue
        payload = {
            "incident_id": row["id"],
            "kind": c.kind,
            "priority": 1,
            "subject": c.subject,
            "summary": c.summary,
            "event_id": c.event_id,
            "case_id": c.case_id,
        }
        await conn.executemany(
            "INSERT INTO notifications (incident_id, channel, target, payload) "
            "VALUES ($1, $2, $3, $4::jsonb)",
            [(row["id"], t.channel, t.target, _ENCODER.encode(payload).decode()) for t in targets],
        )
        notified.append(row["id"])
    return notified


# --- reading and closing -------------------------------------------------------------


class Incident(msgspec.Struct, kw_only=True):
    id: int
    kind: str
    priority: int
    subject: str
    state: str
    opened_at: datetime
    closed_at: datetime | None
    repeats: int
    event_id: str | None
    case_id: int | None
    summary: str
    details: dict[str, Any]


class Notification(msgspec.Struct, kw_only=True):
    id: int
    channel: str
    target: str
    state: str  # pending | sent | failed
    attempts: int
    next_attempt: datetime
    last_error: str | None
    sent_at: datetime | None
    created_at: datetime


_INCIDENT = (
    "id, kind, priority, subject, state, opened_at, closed_at, repeats, event_id, case_id, "
    "summary, details"
)
_NOTIFICATION = (
    "id, channel, target, state, attempts, next_attempt, last_error, sent_at, created_at"
)


def _incident(r: asyncpg.Record) -> Incident:
    fields = dict(r)
    fields["details"] = msgspec.json.decode(r["details"])
    return Incident(**fields)


async def listing(
    conn: asyncpg.Connection,
    *,
    state: str | None = None,
    kind: str | None = None,
    priority: int | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[Incident]:
    """Incidents newest first; `before` is an id to continue after (keyset pagination)."""
    # NULL parameters switch a filter off, so one statement (and one plan) serves all.
    rows = await conn.fetch(
        f"""SELECT {_INCIDENT} FROM incidents
            WHERE ($1::text IS NULL OR state = $1)
              AND ($2::text IS NULL OR kind = $2)
              AND ($3::smallint IS NULL OR priority = $3)
              AND ($4::bigint IS NULL OR id < $4)
            ORDER BY id DESC LIMIT $5""",
        state,
        kind,
        priority,
        before,
        limit,
    )
    return [_incident(r) for r in rows]


async def get(conn: asyncpg.Connection, incident_id: int) -> Incident | None:
    r = await conn.fetchrow(f"SELECT {_INCIDENT} FROM incidents WHERE id = $1", incident_id)
    return None if r is None else _incident(r)


async def notifications_of(conn: asyncpg.Connection, incident_id: int) -> list[Notification]:
    rows = await conn.fetch(
        f"SELECT {_NOTIFICATION} FROM notifications WHERE incident_id = $1 ORDER BY id",
        incident_id,
    )
    return [Notification(**dict(r)) for r in rows]


async def close(
    conn: asyncpg.Connection, incident_id: int, *, by: str, note: str
) -> Incident | None:
    """Close an open incident; None if there is no open incident with this id.

    Who closed it and why go into `details.closed` (the table has no columns for them)."""
    closed = _ENCODER.encode({"closed": {"by": by, "note": note}}).decode()
    r = await conn.fetchrow(
        f"""UPDATE incidents SET state = 'closed', closed_at = now(),
                   details = details || $2::jsonb
            WHERE id = $1 AND state = 'open' RETURNING {_INCIDENT}""",
        incident_id,
        closed,
    )
    return None if r is None else _incident(r)


async def open_count(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM incidents WHERE state = 'open'"))


# --- the outbox, as the notifier works it --------------------------------------------


class Outgoing(msgspec.Struct, kw_only=True):
    """A notification claimed for sending: `attempts` counts this attempt."""

    id: int
    incident_id: int | None
    channel: str
    target: str
    payload: dict[str, Any]
    attempts: int


# Rows another sender has locked are skipped, and a claimed row's next attempt moves past
# the lease, so no two senders (in this process or another) take the same row. A sender
# that dies mid-send leaves the row to be retried when the lease runs out.
_CLAIM = """
WITH due AS (
    SELECT id FROM notifications
    WHERE state = 'pending' AND next_attempt <= now()
    ORDER BY next_attempt, id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE notifications n SET attempts = n.attempts + 1, next_attempt = now() + $2::interval
FROM due WHERE n.id = due.id
RETURNING n.id, n.incident_id, n.channel, n.target, n.payload, n.attempts
"""


async def claim_notifications(
    conn: asyncpg.Connection, *, limit: int, lease: timedelta
) -> list[Outgoing]:
    rows = await conn.fetch(_CLAIM, limit, lease)
    return [
        Outgoing(
            id=r["id"],
            incident_id=r["incident_id"],
            channel=r["channel"],
            target=r["target"],
            payload=msgspec.json.decode(r["payload"]),
            attempts=r["attempts"],
        )
        for r in sorted(rows, key=lambda r: r["id"])
    ]


async def mark_sent(conn: asyncpg.Connection, notification_id: int) -> None:
    await conn.execute(
        "UPDATE notifications SET state = 'sent', sent_at = now() WHERE id = $1",
        notification_id,
    )


async def mark_failed(
    conn: asyncpg.Connection,
    notification_id: int,
    *,
    error: str,
    retry_in: timedelta,
    max_attempts: int,
) -> str:
    """Record a failed attempt; returns the new state (`pending` to retry, or `failed`)."""
    state: str = await conn.fetchval(
        """UPDATE notifications SET
               state = CASE WHEN attempts >= $3 THEN 'failed' ELSE 'pending' END,
               next_attempt = now() + $2::interval,
               last_error = $4
           WHERE id = $1 RETURNING state""",
        notification_id,
        retry_in,
        max_attempts,
        error,
    )
    return state


async def next_due_in(conn: asyncpg.Connection) -> float | None:
    """Seconds until the next pending notification is due (≤ 0: now); None if none."""
    value = await conn.fetchval(
        "SELECT extract(epoch FROM min(next_attempt) - now()) FROM notifications "
        "WHERE state = 'pending'"
    )
    return None if value is None else float(value)
