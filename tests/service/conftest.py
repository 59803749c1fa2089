"""Fixtures for the live service: a fresh PostgreSQL database per test, the app on a real
socket, and events to send it.

The databases live on the server `PITBOSS_TEST_DATABASE_URL` names (default: the local
PostgreSQL at 127.0.0.1:5432, database `test`); when none answers there, an embedded
PostgreSQL (pgserver) is started for the session, as on a fresh machine.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import structlog
from aiohttp.test_utils import TestClient, TestServer

from pitboss.service import database
from pitboss.service.app import make_app
from pitboss.service.logging import STDERR
from pitboss.service.settings import Settings, WebhookProvider
from tests.service.receivers import Mailbox, Receiver, http_receiver, smtp_server
from tests.service.serving import authorize
from tests.service.serving import token_for as _token_for

# structlog's default console output renders an exception with every frame's locals
# (rich), which took many seconds for the engine's state; tests log plain tracebacks.
structlog.configure(
    processors=[
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback),
    ],
    # Logs go to stderr, as the commands' do: their stdout is the answer tests read.
    logger_factory=structlog.PrintLoggerFactory(file=STDERR),
)

REPO = Path(__file__).resolve().parents[2]
PACK = REPO / "policies"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
PSP_SECRET = "psp-secret-0123456789abcdef"
KYC_SECRET = "kyc-secret-0123456789abcdef"


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), 1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a server where tests may create databases."""
    url = os.environ.get("PITBOSS_TEST_DATABASE_URL", DEFAULT_URL)
    if _reachable(url):
        yield url
        return
    server = database.embedded_server(tmp_path_factory.mktemp("pg"), stop_at_exit=True)
    yield server.get_uri()
    server.cleanup()


async def run_sql(server: str, sql: str) -> None:
    """One statement on its own connection (CREATE / DROP DATABASE cannot share one)."""
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture
async def database_url(pg_server: str) -> AsyncIterator[str]:
    """A new, empty database, dropped after the test."""
    name = "pitboss_t_" + uuid.uuid4().hex[:12]
    admin = await asyncpg.connect(pg_server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield with_database(pg_server, name)
    admin = await asyncpg.connect(pg_server)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def base_settings(database_url: str, tmp_path: Path) -> Settings:
    """The service's settings in tests: the test's database and folder, the shipped pack,
    two webhook providers, console logs."""
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        policy_dir=PACK,
        webhook_providers=(
            WebhookProvider(name="acmepay", kind="psp", secret=PSP_SECRET),
            WebhookProvider(name="idcheck", kind="kyc", secret=KYC_SECRET),
        ),
        log_json=False,
        # The report schedule is tested on its own (tests/service/test_report_schedule.py).
        report_schedule=False,
    )


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return base_settings(database_url, tmp_path)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[TestClient[Any, Any]]:
    """The service on a real socket, started as `pitboss serve` starts it. Its requests
    carry a token with every operator role and compliance_officer's (`serving.authorize`);
    a request with an Authorization header of its own sends that instead."""
    async with TestClient(TestServer(make_app(settings))) as c:
        authorize(c)
        yield c


@pytest.fixture
def token_for(client: TestClient[Any, Any]) -> Callable[..., str]:
    """`token_for(*roles)`: a bearer token for those roles, signed by the service."""

    def make(*granted: str) -> str:
        return _token_for(client, *granted)

    return make


@pytest.fixture
async def db(database_url: str, client: TestClient[Any, Any]) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the service's database (after the service has migrated it)."""
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server on a free port, collecting what it is sent."""
    with smtp_server() as box:
        yield box


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A real HTTP server on a free port, recording the requests it gets."""
    async with http_receiver() as r:
        yield r


_counter = 0


def event(kind: str = "deposit", **fields: Any) -> dict[str, Any]:
    """An event in the contract, with sensible defaults for `kind`; fields override."""
    global _counter
    _counter += 1
    base: dict[str, Any] = {
        "event_id": f"ev-{uuid.uuid4().hex[:10]}-{_counter}",
        "type": kind,
        "player_id": "p-1",
        "ts": "2026-11-01T10:00:00Z",
        "market": "MGA",
    }
    if kind in ("deposit", "withdrawal"):
        base |= {
            "amount": 5_000,
            "currency": "EUR",
            "method": "card",
            "psp": "acmepay",
            "instrument_id": "card-1",
            "card_country": "MT",
            "status": "approved",
        }
    elif kind in ("bet", "win"):
        base |= {"amount": 1_000, "currency": "EUR", "game_id": "g-1", "game_kind": "slot"}
    elif kind in ("chargeback", "cancellation"):
        base |= {"amount": 5_000, "currency": "EUR", "ref_event_id": "ev-0"}
    elif kind == "rng_check":
        base |= {"game_id": "g-1", "statistic": "chi2", "p_value": 0.5}
    elif kind in ("self_exclusion", "limit_change"):
        base |= {"limit_kind": "self_exclusion" if kind == "self_exclusion" else "deposit"}
    base |= fields
    return base


def loop_time() -> float:
    return asyncio.get_running_loop().time()
