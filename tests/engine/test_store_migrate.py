"""Schema migrations: applied once each, in order, in their own transaction; a changed
file is refused; concurrent starts take turns. Each test gets a fresh database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import asyncpg
import pytest

from engine.store import migrate as migrate_module
from engine.store.migrate import MigrationError, migrate, migrations
from tests.service import conftest as service_fixtures

pg_server = service_fixtures.pg_server
database_url = service_fixtures.database_url


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    c = await asyncpg.connect(database_url)
    yield c
    await c.close()


async def tables(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
        "AND tablename NOT LIKE 'events_y%'"
    )
    return {r[0] for r in rows}


def test_the_shipped_migrations_are_numbered_in_order() -> None:
    found = migrations()
    assert [m.version for m in found] == list(range(1, len(found) + 1))
    assert found[0].name == "events"
    assert all(m.sql.strip() for m in found)
    assert len({m.checksum for m in found}) == len(found)


async def test_a_fresh_database_gets_every_migration_once(conn: asyncpg.Connection) -> None:
    applied = await migrate(conn)
    assert [m.version for m in applied] == [m.version for m in migrations()]
    assert {"events", "decisions", "idempotency_keys", "policy_versions", "alerts"} <= (
        await tables(conn)
    )
    rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations ORDER BY 1")
    assert [(r["version"], r["name"], r["checksum"]) for r in rows] == [
        (m.version, m.name, m.checksum) for m in migrations()
    ]
    assert await migrate(conn) == []
    assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == len(migrations())


async def test_a_migration_changed_after_it_was_applied_is_refused(
    conn: asyncpg.Connection, database_url: str
) -> None:
    await migrate(conn)
    await conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 2")
    with pytest.raises(MigrationError, match=r"migration 2 \(policies\) was changed"):
        await migrate(conn)
    # The advisory lock was let go: another start is refused the same way, not blocked.
    other = await asyncpg.connect(database_url)
    try:
        with pytest.raises(MigrationError):
            await asyncio.wait_for(migrate(other), timeout=5)
    finally:
        await other.close()


async def test_concurrent_starts_apply_each_migration_once(database_url: str) -> None:
    conns = [await asyncpg.connect(database_url) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate(c) for c in conns))
        assert sorted(len(r) for r in results) == [0, 0, len(migrations())]
        assert await conns[0].fetchval("SELECT count(*) FROM schema_migrations") == len(
            migrations()
        )
    finally:
        for c in conns:
            await c.close()


def fake_migrations(monkeypatch: pytest.MonkeyPatch, folder: Path, files: dict[str, str]) -> None:
    (folder / "migrations").mkdir()
    for name, sql in files.items():
        (folder / "migrations" / name).write_text(sql)
    (folder / "migrations" / "README.txt").write_text("not a migration")
    monkeypatch.setattr(migrate_module, "resources", SimpleNamespace(files=lambda package: folder))


def test_a_gap_in_the_numbers_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_migrations(monkeypatch, tmp_path, {"0001_a.sql": "SELECT 1", "0003_c.sql": "SELECT 1"})
    with pytest.raises(MigrationError, match=r"without gaps, found \[1, 3\]"):
        migrations()


async def test_a_failing_migration_leaves_no_trace(
    conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake_migrations(
        monkeypatch,
        tmp_path,
        {
            "0001_first.sql": "CREATE TABLE first (x int)",
            "0002_broken.sql": "CREATE TABLE second (x int); SELECT 1 / 0",
        },
    )
    with pytest.raises(asyncpg.DivisionByZeroError):
        await migrate(conn)
    assert await conn.fetchval("SELECT array_agg(version) FROM schema_migrations") == [1]
    assert "second" not in await tables(conn)
    assert "first" in await tables(conn)
    # Fixed, it applies; the lock was released on the failure.
    (tmp_path / "migrations" / "0002_broken.sql").write_text("CREATE TABLE second (x int)")
    applied = await asyncio.wait_for(migrate(conn), timeout=5)
    assert [m.name for m in applied] == ["broken"]
