"""Incidents and the notification outbox they fill."""

from __future__ import annotations

from collections.abc import Sequence

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
