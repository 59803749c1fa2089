"""SQL of versioned configuration entities: the current document and the versions.

Documents and patches are `json` columns holding canonical JSON text. Callers own the
transaction; a change locks its entity first (`lock`).
"""

from __future__ import annotations

from datetime import datetime

import asyncpg
import msgspec

from regapi.audit.chain import AuditEntry, Document, Patch, decode_json, encode_json


class Current(msgspec.Struct, kw_only=True):
    """An entity as it is now."""

    kind: str
    id: str
    version: int
    document: Document | None  # None: deleted
    created_at: datetime
    updated_at: datetime
    updated_by: str


class Version(msgspec.Struct, kw_only=True):
    """One change: who, when, what kind, and the patch from the previous document."""

    version: int
    at: datetime
    actor: str
    action: str
    patch: Patch
    audit_id: int


# Changes to one entity take turns; the lock is keyed by this class and the entity.
_LOCK_CLASS = 0x0C0F


async def lock(conn: asyncpg.Connection, kind: str, entity_id: str) -> None:
    """Hold changes to this entity (even one that does not exist yet) until commit."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2 || '/' || $3))", _LOCK_CLASS, kind, entity_id
    )


def _current(r: asyncpg.Record) -> Current:
    return Current(
        kind=r["kind"],
        id=r["id"],
        version=r["version"],
        document=decode_json(r["document"]),
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        updated_by=r["updated_by"],
    )


_CURRENT = "kind, id, version, document::text, created_at, updated_at, updated_by"


async def current(conn: asyncpg.Connection, kind: str, entity_id: str) -> Current | None:
    r = await conn.fetchrow(
        f"SELECT {_CURRENT} FROM config_entities WHERE kind = $1 AND id = $2", kind, entity_id
    )
    return None if r is None else _current(r)


async def save(
    conn: asyncpg.Connection,
    kind: str,
    entity_id: str,
    version: int,
    document: Document | None,
    entry: AuditEntry,
) -> Current:
    r = await conn.fetchrow(
        f"""INSERT INTO config_entities
                (kind, id, version, document, created_at, updated_at, updated_by)
            VALUES ($1, $2, $3, $4::text::json, $5, $5, $6)
            ON CONFLICT (kind, id) DO UPDATE
                SET version = EXCLUDED.version, document = EXCLUDED.document,
                    updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by
            RETURNING {_CURRENT}""",
        kind,
        entity_id,
        version,
        encode_json(document),
        entry.at,
        entry.actor,
    )
    return _current(r)


async def insert_version(
    conn: asyncpg.Connection, kind: str, entity_id: str, version: int, entry: AuditEntry
) -> None:
    await conn.execute(
        """INSERT INTO config_versions (kind, id, version, at, actor, action, patch, audit_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7::text::json, $8)""",
        kind,
        entity_id,
        version,
        entry.at,
        entry.actor,
        entry.action,
        encode_json(entry.patch),
        entry.id,
    )


async def versions(
    conn: asyncpg.Connection, kind: str, entity_id: str, *, after: int, limit: int
) -> list[Version]:
    rows = await conn.fetch(
        """SELECT version, at, actor, action, patch::text, audit_id FROM config_versions
           WHERE kind = $1 AND id = $2 AND version > $3 ORDER BY version LIMIT $4""",
        kind,
        entity_id,
        after,
        limit,
    )
    return [
        Version(
            version=r["version"],
            at=r["at"],
            actor=r["actor"],
            action=r["action"],
            patch=decode_json(r["patch"]),
            audit_id=r["audit_id"],
        )
        for r in rows
    ]
