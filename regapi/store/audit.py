"""SQL of the audit trail: the chain head, rows, sealed segments, exports and purges.

JSON columns are `json` (kept as written) and travel as text both ways, whether or not the
connection has the service's codecs. Callers own transactions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import asyncpg

from regapi.audit.chain import AuditEntry, Segment, decode_json

# Seals take turns (the head lock is for appends; a seal only reads committed rows).
_SEAL_LOCK = 0x70_1B_A0_D1

_ROW = """id, at, actor, entity, entity_id, action, before::text, after::text, patch::text,
          prev_hash, hash, retain_until"""
_SEGMENT = """id, first_id, last_id, rows, prev_hash, first_hash, last_hash, lines_sha256,
              prev_segment_hash, hash, sealed_at, sealed_by, retain_until"""


def _entry(r: asyncpg.Record) -> AuditEntry:
    return AuditEntry(
        id=r["id"],
        at=r["at"],
        actor=r["actor"],
        entity=r["entity"],
        entity_id=r["entity_id"],
        action=r["action"],
        before=decode_json(r["before"]),
        after=decode_json(r["after"]),
        patch=decode_json(r["patch"]),
        prev_hash=r["prev_hash"],
        hash=r["hash"],
        retain_until=r["retain_until"],
    )


def _segment(r: asyncpg.Record) -> Segment:
    return Segment(**dict(r))


async def lock_head(conn: asyncpg.Connection) -> tuple[int, str]:
    """The last row's id and hash, locked until the transaction ends: appends queue here."""
    r = await conn.fetchrow("SELECT last_id, last_hash FROM audit_head FOR UPDATE")
    return int(r["last_id"]), str(r["last_hash"])


async def head(conn: asyncpg.Connection) -> tuple[int, str]:
    """The committed head, without locking it."""
    r = await conn.fetchrow("SELECT last_id, last_hash FROM audit_head")
    return int(r["last_id"]), str(r["last_hash"])


async def insert(
    conn: asyncpg.Connection,
    entry: AuditEntry,
    *,
    before: str | None,
    after: str | None,
    patch: str,
) -> None:
    """Append `entry`, its JSON given as the canonical text that was hashed."""
    await conn.execute(
        """INSERT INTO audit_log (id, at, actor, entity, entity_id, action, before, after,
                                  patch, prev_hash, hash, retain_until)
           VALUES ($1, $2, $3, $4, $5, $6, $7::text::json, $8::text::json, $9::text::json,
                   $10, $11, $12)""",
        entry.id,
        entry.at,
        entry.actor,
        entry.entity,
        entry.entity_id,
        entry.action,
        before,
        after,
        patch,
        entry.prev_hash,
        entry.hash,
        entry.retain_until,
    )


async def history(conn: asyncpg.Connection, entity: str, entity_id: str) -> list[AuditEntry]:
    rows = await conn.fetch(
        f"SELECT {_ROW} FROM audit_log WHERE entity = $1 AND entity_id = $2 ORDER BY id",
        entity,
        entity_id,
    )
    return [_entry(r) for r in rows]


async def latest(conn: asyncpg.Connection, entity: str, entity_id: str) -> AuditEntry | None:
    r = await conn.fetchrow(
        f"""SELECT {_ROW} FROM audit_log WHERE entity = $1 AND entity_id = $2
            ORDER BY id DESC LIMIT 1""",
        entity,
        entity_id,
    )
    return None if r is None else _entry(r)


async def rows(
    conn: asyncpg.Connection, first_id: int, last_id: int | None = None, *, batch: int = 1_000
) -> AsyncIterator[AuditEntry]:
    """Rows from `first_id` (to `last_id`) in id order, fetched `batch` at a time."""
    after = first_id - 1
    while True:
        got = await conn.fetch(
            f"""SELECT {_ROW} FROM audit_log
                WHERE id > $1 AND ($2::bigint IS NULL OR id <= $2)
                ORDER BY id LIMIT $3""",
            after,
            last_id,
            batch,
        )
        for r in got:
            yield _entry(r)
        if len(got) < batch:
            return
        after = got[-1]["id"]


async def first_id(conn: asyncpg.Connection) -> int | None:
    value: int | None = await conn.fetchval("SELECT min(id) FROM audit_log")
    return value


async def lock_seals(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _SEAL_LOCK)


async def segments(conn: asyncpg.Connection) -> list[Segment]:
    return [_segment(r) for r in await conn.fetch(f"SELECT {_SEGMENT} FROM audit_segments "
                                                  "ORDER BY id")]  # fmt: skip


async def last_segment(conn: asyncpg.Connection) -> Segment | None:
    r = await conn.fetchrow(f"SELECT {_SEGMENT} FROM audit_segments ORDER BY id DESC LIMIT 1")
    return None if r is None else _segment(r)


async def insert_segment(conn: asyncpg.Connection, s: Segment) -> None:
    await conn.execute(
        """INSERT INTO audit_segments (id, first_id, last_id, rows, prev_hash, first_hash,
               last_hash, lines_sha256, prev_segment_hash, hash, sealed_at, sealed_by,
               retain_until)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)""",
        s.id,
        s.first_id,
        s.last_id,
        s.rows,
        s.prev_hash,
        s.first_hash,
        s.last_hash,
        s.lines_sha256,
        s.prev_segment_hash,
        s.hash,
        s.sealed_at,
        s.sealed_by,
        s.retain_until,
    )


async def purged(conn: asyncpg.Connection) -> set[int]:
    return {r[0] for r in await conn.fetch("SELECT segment_id FROM audit_purges")}


async def purge(conn: asyncpg.Connection, segment_id: int) -> int:
    """Remove a sealed segment's rows past retention (the database refuses anything else)."""
    removed: int = await conn.fetchval("SELECT audit_purge($1)", segment_id)
    return removed


async def exported_segments(conn: asyncpg.Connection, bucket: str) -> set[int]:
    rows_ = await conn.fetch(
        "SELECT DISTINCT segment_id FROM audit_exports WHERE bucket = $1", bucket
    )
    return {r[0] for r in rows_}


async def insert_export(
    conn: asyncpg.Connection,
    *,
    segment_id: int,
    endpoint: str | None,
    bucket: str,
    key: str,
    version_id: str | None,
    etag: str,
    manifest_key: str,
    manifest_version_id: str | None,
    manifest_etag: str,
    lock_mode: str,
    retain_until: datetime,
) -> int:
    value: int = await conn.fetchval(
        """INSERT INTO audit_exports (segment_id, endpoint, bucket, key, version_id, etag,
               manifest_key, manifest_version_id, manifest_etag, lock_mode, retain_until)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id""",
        segment_id,
        endpoint,
        bucket,
        key,
        version_id,
        etag,
        manifest_key,
        manifest_version_id,
        manifest_etag,
        lock_mode,
        retain_until,
    )
    return value


async def exports(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            """SELECT id, segment_id, endpoint, bucket, key, version_id, etag, manifest_key,
                      manifest_version_id, manifest_etag, lock_mode, retain_until, exported_at
               FROM audit_exports ORDER BY id"""
        )
    )
