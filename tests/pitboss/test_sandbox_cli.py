"""`pitboss sandbox seed` against a real PostgreSQL: makes the sandbox's database beside
the live one, fills it once, and re-makes it only when asked to."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from tests.pitboss.test_clients_cli import database_url, run
from tests.service.conftest import PACK

__all__ = ["database_url"]


async def _exists(server: str, name: str) -> bool:
    conn = await asyncpg.connect(server)
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


def test_seed_makes_fills_and_remakes_the_sandbox(
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("PITBOSS_POLICY_DIR", str(PACK))
    monkeypatch.setenv("PITBOSS_SANDBOX_PLAYERS", "20")
    monkeypatch.setenv("PITBOSS_SANDBOX_DAYS", "3")
    sandbox_db = database_url.rsplit("/", 1)[1] + "_sandbox"
    try:
        status, out, err = run(capsys, "sandbox", "seed")
        assert status == 0, err
        assert "seed 20260105, 20 players, 3 days from 2026-01-05" in out
        assert asyncio.run(_exists(database_url, sandbox_db))
        first = out
        status, out, _ = run(capsys, "sandbox", "seed")  # already seeded: nothing made
        assert (status, out) == (0, first)

        monkeypatch.setenv("PITBOSS_SANDBOX_SEED", "7")
        status, _, err = run(capsys, "sandbox", "seed")
        assert status == 1
        assert "pitboss sandbox seed --reset" in err
        status, out, err = run(capsys, "sandbox", "seed", "--reset")
        assert status == 0, err
        assert "seed 7, 20 players" in out
    finally:
        asyncio.run(_drop(database_url, sandbox_db))


async def _drop(url: str, name: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
