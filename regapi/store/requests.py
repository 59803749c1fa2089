"""Regulators' asynchronous requests: an outbox worked in two steps, preparing the file
and delivering it to the callback.

Rows are claimed as `engine.store.incidents` claims notifications: locked rows are skipped
and a claimed row's next attempt moves past a lease, so two workers (in one process or
several) never work the same row, and a worker that dies leaves its rows to be retried
when the lease runs out.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import asyncpg
import msgspec

_ENCODER = msgspec.json.Encoder()


class FileInfo(msgspec.Struct, kw_only=True):
    name: str
    format: str
    size: int
    sha256: str
    rows: int


class RequestRow(msgspec.Struct, kw_only=True):
    """A request and its state, without its file's content."""

    id: str
    client_id: str
    principal: str
    type: str
    parameters: dict[str, Any]
    format: str
    callback_url: str
    state: str  # queued | delivering | delivered | failed
    attempts: int  # deliveries tried
    next_attempt: datetime | None  # None once delivered or failed
    last_error: str | None
    file: FileInfo | None  # None until prepared
    created_at: datetime
    prepared_at: datetime | None
    delivered_at: datetime | None


class Outgoing(msgspec.Struct, kw_only=True):
    """A prepared request claimed for delivery; `attempts` counts this attempt."""

    id: str
    client_id: str
    callback_url: str
    format: str
    file_name: str
    file: bytes
    attempts: int


class ToPrepare(msgspec.Struct, kw_only=True):
    id: str
    client_id: str
    type: str
    parameters: dict[str, Any]
    format: str


_COLUMNS = (
    "id::text AS id, client_id, principal, type, parameters, format, callback_url, state, "
    "attempts, next_attempt, last_error, file_name, file_size, file_sha256, file_rows, "
    "created_at, prepared_at, delivered_at"
)


def _row(r: asyncpg.Record) -> RequestRow:
    done = r["state"] in ("delivered", "failed")
    return RequestRow(
        id=r["id"],
        client_id=r["client_id"],
        principal=r["principal"],
        type=r["type"],
        parameters=msgspec.json.decode(r["parameters"]),
        format=r["format"],
        callback_url=r["callback_url"],
        state=r["state"],
        attempts=r["attempts"],
        next_attempt=None if done else r["next_attempt"],
        last_error=r["last_error"],
        file=None
        if r["file_name"] is None
        else FileInfo(
            name=r["file_name"],
            format=r["format"],
            size=r["file_size"],
            sha256=r["file_sha256"],
            rows=r["file_rows"],
        ),
        created_at=r["created_at"],
        prepared_at=r["prepared_at"],
        delivered_at=r["delivered_at"],
    )


async def create(
    conn: asyncpg.Connection,
    *,
    client_id: str,
    principal: str,
    kind: str,
    parameters: dict[str, Any],
    fmt: str,
    callback_url: str,
) -> RequestRow:
    r = await conn.fetchrow(
        f"""INSERT INTO regulator_requests
                (client_id, principal, type, parameters, format, callback_url)
            VALUES ($1, $2, $3, $4::jsonb, $5, $6) RETURNING {_COLUMNS}""",
        client_id,
        principal,
        kind,
        _ENCODER.encode(parameters).decode(),
        fmt,
        callback_url,
    )
    return _row(r)


async def get(conn: asyncpg.Connection, request_id: str) -> RequestRow | None:
    r = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM regulator_requests WHERE id = $1::uuid", request_id
    )
    return None if r is None else _row(r)


async def file_of(conn: asyncpg.Connection, request_id: str) -> tuple[str, str, bytes] | None:
    """A prepared request's file: name, format and content."""
    r = await conn.fetchrow(
        "SELECT file_name, format, file FROM regulator_requests "
        "WHERE id = $1::uuid AND file IS NOT NULL",
        request_id,
    )
    return None if r is None else (r["file_name"], r["format"], bytes(r["file"]))


# --- preparing -----------------------------------------------------------------------

_CLAIM_QUEUED = """
WITH due AS (
    SELECT id FROM regulator_requests
    WHERE state = 'queued' AND next_attempt <= now()
    ORDER BY next_attempt, created_at
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE regulator_requests r SET next_attempt = now() + $2::interval, updated_at = now()
FROM due WHERE r.id = due.id
RETURNING r.id::text AS id, r.client_id, r.type, r.parameters, r.format
"""


async def claim_queued(
    conn: asyncpg.Connection, *, limit: int, lease: timedelta
) -> list[ToPrepare]:
    rows = await conn.fetch(_CLAIM_QUEUED, limit, lease)
    return [
        ToPrepare(
            id=r["id"],
            client_id=r["client_id"],
            type=r["type"],
            parameters=msgspec.json.decode(r["parameters"]),
            format=r["format"],
        )
        for r in rows
    ]


async def prepared(
    conn: asyncpg.Connection,
    request_id: str,
    *,
    name: str,
    content: bytes,
    sha256: str,
    rows: int,
) -> None:
    """Keep the prepared file; the request is due for delivery at once."""
    await conn.execute(
        """UPDATE regulator_requests SET state = 'delivering', file_name = $2, file = $3,
               file_sha256 = $4, file_size = $5, file_rows = $6, prepared_at = now(),
               next_attempt = now(), last_error = NULL, updated_at = now()
           WHERE id = $1::uuid AND state = 'queued'""",
        request_id,
        name,
        content,
        sha256,
        len(content),
        rows,
    )


async def not_prepared(
    conn: asyncpg.Connection, request_id: str, *, error: str, retry_in: timedelta | None
) -> None:
    """Preparing failed: try again after `retry_in`, or (None) give the request up."""
    await conn.execute(
        """UPDATE regulator_requests SET
               state = CASE WHEN $3::interval IS NULL THEN 'failed' ELSE 'queued' END,
               next_attempt = now() + coalesce($3::interval, '0'::interval),
               last_error = $2, updated_at = now()
           WHERE id = $1::uuid AND state = 'queued'""",
        request_id,
        error,
        retry_in,
    )


# --- delivering ----------------------------------------------------------------------

_CLAIM_DELIVERIES = """
WITH due AS (
    SELECT id FROM regulator_requests
    WHERE state = 'delivering' AND next_attempt <= now()
    ORDER BY next_attempt, created_at
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE regulator_requests r SET attempts = r.attempts + 1,
       next_attempt = now() + $2::interval, updated_at = now()
FROM due WHERE r.id = due.id
RETURNING r.id::text AS id, r.client_id, r.callback_url, r.format, r.file_name, r.file,
          r.attempts
"""


async def claim_deliveries(
    conn: asyncpg.Connection, *, limit: int, lease: timedelta
) -> list[Outgoing]:
    rows = await conn.fetch(_CLAIM_DELIVERIES, limit, lease)
    return [
        Outgoing(
            id=r["id"],
            client_id=r["client_id"],
            callback_url=r["callback_url"],
            format=r["format"],
            file_name=r["file_name"],
            file=bytes(r["file"]),
            attempts=r["attempts"],
        )
        for r in rows
    ]


async def delivered(conn: asyncpg.Connection, request_id: str) -> None:
    await conn.execute(
        "UPDATE regulator_requests SET state = 'delivered', delivered_at = now(), "
        "updated_at = now() WHERE id = $1::uuid",
        request_id,
    )


async def not_delivered(
    conn: asyncpg.Connection,
    request_id: str,
    *,
    error: str,
    retry_in: timedelta,
    max_attempts: int,
) -> str:
    """Record a failed delivery; returns the new state (`delivering` to retry, or
    `failed` after the last attempt)."""
    state: str = await conn.fetchval(
        """UPDATE regulator_requests SET
               state = CASE WHEN attempts >= $3 THEN 'failed' ELSE 'delivering' END,
               next_attempt = now() + $2::interval, last_error = $4, updated_at = now()
           WHERE id = $1::uuid RETURNING state""",
        request_id,
        retry_in,
        max_attempts,
        error,
    )
    return state


async def next_due_in(conn: asyncpg.Connection) -> float | None:
    """Seconds until the next request is due for work (≤ 0: now); None if none."""
    value = await conn.fetchval(
        "SELECT extract(epoch FROM min(next_attempt) - now()) FROM regulator_requests "
        "WHERE state IN ('queued', 'delivering')"
    )
    return None if value is None else float(value)
