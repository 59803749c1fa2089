"""A seeded sandbox for tests: seeded once per session into a template database, then
copied (`CREATE DATABASE … TEMPLATE`, a file copy) for each test that serves it, with the
sandbox's keys copied beside it so that its sealed profiles and signatures still open.

Import the fixtures into a test module:
`from tests.sandbox.seeded import sandbox_settings, sandbox_template`.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import asyncpg
import pytest

from pitboss.service import sandbox
from pitboss.service.settings import Settings
from tests.service.conftest import run_sql, with_database

# Small, so the session's one seed takes seconds; big enough for alerts in every market.
PLAYERS = 120
DAYS = 21


@dataclass(frozen=True)
class Template:
    database: str  # the seeded database's name, copied per test
    home: Path  # the sandbox's keys for it


@pytest.fixture(scope="session")
def sandbox_template(
    pg_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Template]:

    data_dir = tmp_path_factory.mktemp("sandbox-template")
    name = "pitboss_sbx_" + uuid.uuid4().hex[:10]
    settings = Settings(
        data_dir=data_dir,
        sandbox=True,
        sandbox_database_url=with_database(pg_server, name),
        sandbox_players=PLAYERS,
        sandbox_days=DAYS,
        policy_dir=Path(__file__).resolve().parents[2] / "policies",
        log_json=False,
    )

    async def seed() -> None:
        async with sandbox.running(settings, pg_server):
            pass

    asyncio.run(seed())
    yield Template(database=name, home=sandbox.home(settings))
    asyncio.run(run_sql(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def sandbox_settings(
    settings: Settings, pg_server: str, sandbox_template: Template
) -> AsyncIterator[Settings]:
    """The test's settings with the sandbox on, over a fresh copy of the seeded database."""
    name = "pitboss_sbx_t_" + uuid.uuid4().hex[:10]
    await run_sql(pg_server, f'CREATE DATABASE "{name}" TEMPLATE "{sandbox_template.database}"')
    shutil.copytree(sandbox_template.home, sandbox.home(settings))
    yield replace(
        settings,
        sandbox=True,
        sandbox_database_url=with_database(pg_server, name),
        sandbox_players=PLAYERS,
        sandbox_days=DAYS,
    )
    await run_sql(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def player_with_a_case(settings: Settings) -> str:
    """A seeded player with a profile, transactions, an alert and a case."""
    conn = await asyncpg.connect(settings.sandbox_database_url)
    try:
        player_id: str = await conn.fetchval(
            "SELECT c.subject_id FROM cases c JOIN players p ON p.player_id = c.subject_id "
            "WHERE c.subject_kind = 'player' ORDER BY c.id LIMIT 1"
        )
        return player_id
    finally:
        await conn.close()
