"""The regulator access log: one row per request, written before it is answered and
completed with its outcome once. The database refuses any other change (migration 0007).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import asyncpg
import msgspec

_ENCODER = msgspec.json.Encoder()


class Access(msgspec.Struct, kw_only=True, frozen=True):
    """Who asked what, from where."""

    client_id: str
    principal: str
    roles: Sequence[str]
    method: str
    route: str
    path: str
    params: Mapping[str, str]
    player_id: str | None = None
    remote: str | None = None
    cert_subject: str | None = None
    request_id: str | None = None


async def record(conn: asyncpg.Connection, access: Access) -> int:
    """Log a request about to be answered; returns the row's id for `complete`."""
    value: int = await conn.fetchval(
        """INSERT INTO access_log (client_id, principal, roles, method, route, path, params,
                                   player_id, remote, cert_subject, request_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11) RETURNING id""",
        access.client_id,
        access.principal,
        sorted(access.roles),
        access.method,
        access.route,
        access.path,
        _ENCODER.encode(access.params).decode(),
        access.player_id,
        access.remote,
        access.cert_subject,
        access.request_id,
    )
    return value


async def complete(
    conn: asyncpg.Connection, entry_id: int, *, status: int, duration_ms: float
) -> None:
    await conn.execute(
        "UPDATE access_log SET status = $2, duration_ms = $3 WHERE id = $1 AND status IS NULL",
        entry_id,
        status,
        duration_ms,
    )
