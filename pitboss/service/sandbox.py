"""The regulator sandbox in the service: its database, keys and signer, its seed, and the
request worker of its file requests, opened and closed with the app.

Nothing here touches the live database: the sandbox has its own pool on its own database
(`PITBOSS_SANDBOX_DATABASE_URL`, or `<live database>_sandbox` on the live server), its own
personal-data keys and its own report-signing key under `<data dir>/sandbox/`, so a file
signed in the sandbox never verifies as a live one.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import structlog

from pitboss.service import database
from pitboss.service.auth import StartupRefusedError
from pitboss.service.regulator_data import RegulatorData
from pitboss.service.regulator_requests import RequestWorker
from pitboss.service.settings import Settings
from regapi.crypto import CryptoError
from regapi.keys import Keys, KeySource, load_keys
from regapi.reports import signing
from sandbox.seed import SandboxSeedError, SeedSpec, ensure_seeded

log = structlog.get_logger("pitboss.sandbox")

REGULATOR_PREFIX = "/sandbox/regulator"
WEBHOOK_PREFIX = "/sandbox/webhook/regulator"
_EMBEDDED_NAME = "pitboss_sandbox"


def home(settings: Settings) -> Path:
    """Where the sandbox keeps its keys and compiled policies."""
    return settings.data_dir / "sandbox"


def sandbox_url(settings: Settings, live_url: str) -> str:
    """The sandbox's database: as configured, or a sibling of the live one."""
    if settings.sandbox_database_url is not None:
        return settings.sandbox_database_url
    parts = urlsplit(live_url)
    name = parts.path.lstrip("/") or _EMBEDDED_NAME
    return urlunsplit(parts._replace(path=f"/{name}_sandbox"))


def spec(settings: Settings) -> SeedSpec:
    return SeedSpec(
        seed=settings.sandbox_seed, players=settings.sandbox_players, days=settings.sandbox_days
    )


def keys(settings: Settings) -> Keys:
    """The sandbox's personal-data keys: generated, kept apart from the live ones."""
    try:
        return load_keys(
            pii=KeySource(variable="sandbox pii key"),
            kyc_media=KeySource(variable="sandbox kyc_media key"),
            data_dir=home(settings),
            production=False,
        )
    except CryptoError as exc:
        raise StartupRefusedError(f"sandbox keys: {exc}") from None


def signer(settings: Settings) -> signing.ReportSigner:
    try:
        return signing.load_or_create(home(settings) / "keys" / "report-signing.pem", create=True)
    except signing.ReportKeyError as exc:
        raise StartupRefusedError(f"sandbox: {exc}") from None


async def ensure_database(url: str, live_url: str) -> None:
    """Make the sandbox's database if it does not exist (on the live server's admin
    connection, which may create databases in development; in production, make it first
    and name it in PITBOSS_SANDBOX_DATABASE_URL)."""
    try:
        conn = await asyncpg.connect(url)
    except asyncpg.InvalidCatalogNameError:
        pass
    else:
        await conn.close()
        return
    name = urlsplit(url).path.lstrip("/")
    admin = await asyncpg.connect(live_url)
    try:
        # The name comes from settings, not from a request; quoted as an identifier.
        await admin.execute(f'CREATE DATABASE "{name.replace(chr(34), chr(34) * 2)}"')
        log.info("sandbox_database_created", database=name)
    except asyncpg.DuplicateDatabaseError:
        pass  # another process made it meanwhile
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def running(settings: Settings, live_url: str) -> AsyncIterator[RegulatorData]:
    """The sandbox, seeded and serving, for the app's lifetime."""
    url = sandbox_url(settings, live_url)
    if urlsplit(url)._replace(query="") == urlsplit(live_url)._replace(query=""):
        raise StartupRefusedError("PITBOSS_SANDBOX_DATABASE_URL: must not be the live database")
    sandbox_keys, sandbox_signer = keys(settings), signer(settings)
    try:
        await ensure_database(url, live_url)
    except (OSError, asyncpg.PostgresError) as exc:
        raise StartupRefusedError(f"sandbox database: {exc}") from None
    async with database.open_pool(url, size=4) as pool:
        try:
            seeded = await ensure_seeded(
                pool,
                spec(settings),
                keys=sandbox_keys,
                signer=sandbox_signer,
                policy_dir=settings.policy_dir,
                data_dir=home(settings),
            )
        except SandboxSeedError as exc:
            raise StartupRefusedError(f"sandbox: {exc}") from None
        log.info("sandbox_ready", events=seeded.events, reports=seeded.reports,
                 seeded_now=seeded.made_now)  # fmt: skip
        requests = RequestWorker(pool, settings, sandbox_keys)
        await requests.start()
        try:
            yield RegulatorData(
                pool=pool,
                keys=sandbox_keys,
                signer=sandbox_signer,
                requests=requests,
                prefix=REGULATOR_PREFIX,
                webhook_prefix=WEBHOOK_PREFIX,
            )
        finally:
            await requests.stop()
