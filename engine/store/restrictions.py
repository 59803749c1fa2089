"""Restrictions on players (recorded, listed, lifted) and what a player's status rests on.

Callers pass a connection and own the transaction. A restriction recorded or lifted for
a case is also written on that case's timeline.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from engine import restrictions
from engine.cases import BadReferenceError, NotFoundError, StateConflictError
from engine.events import SelfExclusion, decode_event, to_epoch_ms
from engine.store.cases import add_entry

_ENCODER = msgspec.json.Encoder()


class RestrictionRow(msgspec.Struct, kw_only=True):
    id: int
    player_id: str
    kind: str
    params: dict[str, Any]
    reason: str
    case_id: int | None
    created_by: str
    created_at: datetime
    lifted_at: datetime | None
    lifted_by: str | None
    active: bool  # not lifted


_COLUMNS = (
    "id, player_id, kind, params, reason, case_id, created_by, created_at, lifted_at, lifted_by"
)


def _row(r: asyncpg.Record) -> RestrictionRow:
    return RestrictionRow(
        **{k: r[k] for k in _COLUMNS.split(", ") if k != "params"},
        params=msgspec.json.decode(r["params"]),
        active=r["lifted_at"] is None,
    )


async def player_known(conn: asyncpg.Connection, player_id: str) -> bool:
    """Whether the service has decided an event of this player."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM decisions WHERE player_id = $1)", player_id
        )
    )


async def record(
    conn: asyncpg.Connection,
    player_id: str,
    params: restrictions.Params,
    *,
    kind: str,
    reason: str,
    by: str,
    case_id: int | None = None,
) -> RestrictionRow:
    """Record a restriction (its parameters already checked by `restrictions.parse`)."""
    if case_id is not None:
        found = await conn.fetchval("SELECT id FROM cases WHERE id = $1 FOR SHARE", case_id)
        if found is None:
            raise BadReferenceError(f"no case {case_id}", field="case_id")
    stored = restrictions.to_dict(params)
    r = await conn.fetchrow(
        "INSERT INTO restrictions (player_id, kind, params, reason, case_id, created_by) "
        f"VALUES ($1, $2, $3::jsonb, $4, $5, $6) RETURNING {_COLUMNS}",
        player_id,
        kind,
        _ENCODER.encode(stored).decode(),
        reason,
        case_id,
        by,
    )
    row = _row(r)
    if case_id is not None:
        await add_entry(conn, case_id, by, "restriction",
                        {"restriction_id": row.id, "player_id": player_id, "kind": kind,
                         "params": stored, "reason": reason})  # fmt: skip
    return row


async def listing(
    conn: asyncpg.Connection, player_id: str, *, active_only: bool = False
) -> list[RestrictionRow]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM restrictions WHERE player_id = $1 "
        "AND (NOT $2 OR lifted_at IS NULL) ORDER BY id",
        player_id,
        active_only,
    )
    return [_row(r) for r in rows]


async def lift(
    conn: asyncpg.Connection, player_id: str, restriction_id: int, *, by: str
) -> RestrictionRow:
    """Lift an active restriction of this player."""
    found = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM restrictions WHERE id = $1 AND player_id = $2 FOR UPDATE",
        restriction_id,
        player_id,
    )
    if found is None:
        raise NotFoundError("restriction", f"{restriction_id} of player {player_id!r}", field="rid")
    if found["lifted_at"] is not None:
        raise StateConflictError(
            f"restriction {restriction_id} was lifted already, by {found['lifted_by']}"
        )
    r = await conn.fetchrow(
        "UPDATE restrictions SET lifted_at = now(), lifted_by = $2 WHERE id = $1 "
        f"RETURNING {_COLUMNS}",
        restriction_id,
        by,
    )
    row = _row(r)
    if row.case_id is not None:
        await add_entry(conn, row.case_id, by, "restriction_lifted",
                        {"restriction_id": row.id, "player_id": player_id,
                         "kind": row.kind})  # fmt: skip
    return row


async def self_excluded(conn: asyncpg.Connection, player_id: str, now: datetime) -> bool:
    """Whether the player's latest self-exclusion is in force at `now`."""
    body = await conn.fetchval(
        "SELECT body FROM events WHERE player_id = $1 AND type = 'self_exclusion' "
        "ORDER BY ts DESC, seq DESC LIMIT 1",
        player_id,
    )
    if body is None:
        return False
    event = decode_event(body)
    assert isinstance(event, SelfExclusion)
    return event.until is None or to_epoch_ms(event.until) > to_epoch_ms(now)
