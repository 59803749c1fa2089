"""Counts behind the service's gauges (open alerts, cases, incidents)."""

from __future__ import annotations

import asyncpg

_OPEN_COUNTS = """
SELECT (SELECT count(*) FROM alerts WHERE state = 'open') AS alerts,
       (SELECT count(*) FROM cases WHERE state <> 'closed') AS cases,
       (SELECT count(*) FROM incidents WHERE state = 'open') AS incidents
"""


async def open_counts(conn: asyncpg.Connection) -> dict[str, int]:
    row = await conn.fetchrow(_OPEN_COUNTS)
    return {k: int(v) for k, v in row.items()}
