"""Policy versions and their activations."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import msgspec


class VersionRow(msgspec.Struct, kw_only=True):
    id: int
    created_at: datetime
    created_by: str
    note: str
    digest: str
    ok: bool
    shadow: bool
    files: dict[str, str]
    issues: list[dict[str, object]]


_COLUMNS = "id, created_at, created_by, note, digest, ok, shadow, files, issues"


def _row(r: asyncpg.Record) -> VersionRow:
    return VersionRow(
        id=r["id"],
        created_at=r["created_at"],
        created_by=r["created_by"],
        note=r["note"],
        digest=r["digest"],
        ok=r["ok"],
        shadow=r["shadow"],
        files=msgspec.json.decode(r["files"]),
        issues=msgspec.json.decode(r["issues"]),
    )


async def insert(
    conn: asyncpg.Connection,
    *,
    files: dict[str, str],
    digest: str,
    ok: bool,
    issues: list[dict[str, object]],
    by: str,
    note: str,
) -> VersionRow:
    r = await conn.fetchrow(
        f"""INSERT INTO policy_versions (created_by, note, files, digest, ok, issues)
            VALUES ($1, $2, $3::jsonb, $4, $5, $6::jsonb) RETURNING {_COLUMNS}""",
        by,
        note,
        msgspec.json.encode(files).decode(),
        digest,
        ok,
        msgspec.json.encode(issues).decode(),
    )
    return _row(r)


async def get(conn: asyncpg.Connection, version_id: int) -> VersionRow | None:
    r = await conn.fetchrow(f"SELECT {_COLUMNS} FROM policy_versions WHERE id = $1", version_id)
    return None if r is None else _row(r)


async def listing(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            """SELECT v.id, v.created_at, v.created_by, v.note, v.digest, v.ok, v.shadow,
                      (SELECT max(a.at) FROM policy_activations a WHERE a.version_id = v.id)
                          AS last_activated
               FROM policy_versions v ORDER BY v.id"""
        )
    )


async def live(conn: asyncpg.Connection) -> int | None:
    value: int | None = await conn.fetchval(
        "SELECT version_id FROM policy_activations ORDER BY id DESC LIMIT 1"
    )
    return value


async def history(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return list(
        await conn.fetch("SELECT id, version_id, at, by, kind FROM policy_activations ORDER BY id")
    )


async def activate(conn: asyncpg.Connection, version_id: int, by: str, kind: str) -> None:
    await conn.execute(
        "INSERT INTO policy_activations (version_id, by, kind) VALUES ($1, $2, $3)",
        version_id,
        by,
        kind,
    )


async def set_shadow(conn: asyncpg.Connection, version_id: int, on: bool) -> None:
    await conn.execute("UPDATE policy_versions SET shadow = $2 WHERE id = $1", version_id, on)


async def shadow_ids(conn: asyncpg.Connection) -> list[int]:
    return [
        r[0] for r in await conn.fetch("SELECT id FROM policy_versions WHERE shadow ORDER BY id")
    ]


async def shadow_summary(conn: asyncpg.Connection, version_id: int) -> asyncpg.Record:
    return await conn.fetchrow(
        """SELECT count(*) AS events,
                  count(*) FILTER (WHERE action <> live_action) AS different,
                  count(*) FILTER (WHERE action <> 'allow') AS acted,
                  count(*) FILTER (WHERE live_action <> 'allow') AS live_acted,
                  count(*) FILTER (WHERE action <> 'allow' AND live_action = 'allow') AS added,
                  count(*) FILTER (WHERE action = 'allow' AND live_action <> 'allow') AS removed
           FROM shadow_decisions WHERE version_id = $1""",
        version_id,
    )


async def shadow_differences(
    conn: asyncpg.Connection, version_id: int, limit: int
) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            """SELECT event_id, ts, action, score, live_action, live_score, hits
               FROM shadow_decisions
               WHERE version_id = $1 AND action <> live_action
               ORDER BY ts DESC LIMIT $2""",
            version_id,
            limit,
        )
    )
