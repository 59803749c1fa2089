"""SQL behind a regulator's view of one player (`regapi.player` assembles it).

Cases are read as bare facts (ids, dates, state, priority, alerts): never their title,
resolution, notes, evidence or timeline, which are staff's words and may speak of a
suspicious activity report.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg
import msgspec

from regapi.logs import TRANSACTION_TYPES
from regapi.store.logs import AlertRow, TransactionRow, transaction_row


class CaseFacts(msgspec.Struct, kw_only=True):
    id: int
    subject_kind: str
    subject_id: str
    state: str  # as stored; `regapi.player` words it for regulators
    priority: int
    opened_at: datetime
    decided_at: datetime | None
    closed_at: datetime | None
    alert_ids: list[int]


class LimitEvent(msgspec.Struct, kw_only=True):
    type: str  # limit_change | self_exclusion
    event_id: str
    ts: datetime
    body: bytes


_ALERT = ", ".join(AlertRow.__struct_fields__)
# Alerts about the player: alone, as the latest player of a cluster alert, or a cluster
# named after them (as `/v1/alerts?player=` finds them).
_ABOUT = "(player_id = $1 OR subject_id = $1)"


async def known(conn: asyncpg.Connection, player_id: str) -> bool:
    """Whether the service has seen an event of this player."""
    return bool(
        await conn.fetchval("SELECT EXISTS (SELECT 1 FROM events WHERE player_id = $1)", player_id)
    )


async def latest_event(
    conn: asyncpg.Connection, player_id: str, event_type: str
) -> tuple[datetime, bytes] | None:
    """The player's latest event of a type: its time and body."""
    r = await conn.fetchrow(
        "SELECT ts, body FROM events WHERE player_id = $1 AND type = $2 "
        "ORDER BY ts DESC, seq DESC LIMIT 1",
        player_id,
        event_type,
    )
    return None if r is None else (r["ts"], bytes(r["body"]))


async def limit_events(conn: asyncpg.Connection, player_id: str) -> list[LimitEvent]:
    """The player's latest `limit_change` of each limit kind, and latest self-exclusion."""
    rows = await conn.fetch(
        """SELECT DISTINCT ON (type, kind) type, event_id, ts, body
           FROM (SELECT type, event_id, ts, seq, body,
                        convert_from(body, 'UTF8')::jsonb ->> 'limit_kind' AS kind
                 FROM events
                 WHERE player_id = $1 AND type IN ('limit_change', 'self_exclusion')) e
           ORDER BY type, kind, ts DESC, seq DESC""",
        player_id,
    )
    return [
        LimitEvent(type=r["type"], event_id=r["event_id"], ts=r["ts"], body=bytes(r["body"]))
        for r in rows
    ]


async def recent_transactions(
    conn: asyncpg.Connection, player_id: str, limit: int
) -> list[TransactionRow]:
    """The player's latest money events, newest first."""
    rows = await conn.fetch(
        "SELECT seq, event_id, type, player_id, market, ts, received_at, body FROM events "
        "WHERE player_id = $1 AND type = ANY($2::text[]) ORDER BY ts DESC, seq DESC LIMIT $3",
        player_id,
        list(TRANSACTION_TYPES),
        limit,
    )
    return [transaction_row(r) for r in rows]


async def alerts(conn: asyncpg.Connection, player_id: str, limit: int) -> list[AlertRow]:
    """Alerts about the player, newest first."""
    rows = await conn.fetch(
        f"SELECT {_ALERT} FROM alerts WHERE {_ABOUT} ORDER BY id DESC LIMIT $2",
        player_id,
        limit,
    )
    return [AlertRow(**{k: r[k] for k in AlertRow.__struct_fields__}) for r in rows]


async def cases(conn: asyncpg.Connection, player_id: str, limit: int) -> list[CaseFacts]:
    """Cases about the player (as their subject, or holding an alert about them), newest
    first."""
    rows = await conn.fetch(
        f"""SELECT c.id, c.subject_kind, c.subject_id, c.state, c.priority, c.opened_at,
                   c.decided_at, c.closed_at,
                   ARRAY(SELECT a.id FROM alerts a WHERE a.case_id = c.id ORDER BY a.id)
                       AS alert_ids
            FROM cases c
            WHERE c.subject_id = $1
               OR c.id IN (SELECT case_id FROM alerts WHERE {_ABOUT} AND case_id IS NOT NULL)
            ORDER BY c.id DESC LIMIT $2""",
        player_id,
        limit,
    )
    return [
        CaseFacts(
            **{k: r[k] for k in CaseFacts.__struct_fields__ if k != "alert_ids"},
            alert_ids=list(r["alert_ids"]),
        )
        for r in rows
    ]
