"""The sandbox's seed is reproducible: the same seed makes the same events, decisions,
players and report files in another database, with other keys."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from pitboss.service import sandbox
from pitboss.service.settings import Settings
from sandbox.seed import SeedSpec, periods
from tests.service import conftest as service_fixtures
from tests.service.conftest import PACK, with_database

pg_server = service_fixtures.pg_server


@pytest.fixture
async def two_databases(pg_server: str) -> AsyncIterator[list[str]]:
    names = [f"pitboss_sbx_r_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    yield [with_database(pg_server, n) for n in names]
    conn = await asyncpg.connect(pg_server)
    try:
        for n in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)')
    finally:
        await conn.close()


async def snapshot(url: str) -> dict[str, object]:
    conn = await asyncpg.connect(url)
    try:
        return {
            "events": await conn.fetch("SELECT event_id, body FROM events ORDER BY seq"),
            "decisions": await conn.fetch(
                "SELECT event_id, action, score FROM decisions ORDER BY seq"
            ),
            "alerts": await conn.fetch(
                "SELECT subject_id, family, rules, first_event FROM alerts ORDER BY id"
            ),
            "players": await conn.fetch("SELECT player_id, market FROM players ORDER BY 1"),
            "cases": await conn.fetch("SELECT subject_id, state FROM cases ORDER BY id"),
            # Signatures and manifests name the key; the reports themselves must not differ.
            "files": await conn.fetch(
                "SELECT name, sha256 FROM report_files WHERE format IN ('csv', 'xml', 'pdf') "
                "ORDER BY name"
            ),
        }
    finally:
        await conn.close()


async def test_the_same_seed_makes_the_same_casino(
    pg_server: str, two_databases: list[str], tmp_path: Path
) -> None:
    seen = []
    for i, url in enumerate(two_databases):
        s = Settings(data_dir=tmp_path / str(i), sandbox=True, sandbox_database_url=url,
                     sandbox_players=30, sandbox_days=7, policy_dir=PACK,
                     log_json=False)  # fmt: skip
        async with sandbox.running(s, pg_server):
            pass
        seen.append(await snapshot(url))
    first, second = seen
    assert first["events"]
    assert first["alerts"]
    states = [state for _, state in first["cases"]]  # type: ignore[attr-defined]
    # One case per early player alert, as far as there are alerts (a small seed has few).
    assert len(states) >= 3
    assert states == ["cleared", "escalated", "restricted", "investigating", "open"][: len(states)]
    for part in first:
        assert first[part] == second[part], part
    # Three markets' reports for each period the seed covers.
    assert len(first["files"]) == 3 * 3 * len(periods(SeedSpec(players=30, days=7)))  # type: ignore[arg-type]


def test_the_seeded_periods_cover_the_data() -> None:
    found = [str(p) for p in periods(SeedSpec(days=28))]
    assert found[:2] == ["monthly/2026-01", "monthly/2026-02"]
    assert "weekly/2026-W02" in found
    assert found[-1] == "daily/2026-02-01"
    assert len([p for p in found if p.startswith("daily/")]) == 7
