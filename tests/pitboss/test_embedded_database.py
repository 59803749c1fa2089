"""With no DATABASE_URL the service runs on an embedded PostgreSQL in its data folder."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from engine.store.migrate import migrations
from pitboss.service import database


async def test_the_embedded_server_starts_migrates_and_keeps_data(tmp_path: Path) -> None:
    server = database.embedded_server(tmp_path, stop_at_exit=True)
    try:
        url = database.embedded_url(tmp_path)  # a second start finds the same server
        async with database.open_pool(url, size=2) as pool:
            versions = await pool.fetch("SELECT version FROM schema_migrations ORDER BY 1")
            await pool.execute("CREATE TABLE kept (x int)")
        assert [r[0] for r in versions] == [m.version for m in migrations()]
        conn = await asyncpg.connect(url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM kept") == 0
        finally:
            await conn.close()
        assert (tmp_path / "pg" / "PG_VERSION").exists()
    finally:
        server.cleanup()
