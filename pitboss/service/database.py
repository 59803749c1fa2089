"""The PostgreSQL the service uses: the server `DATABASE_URL` names, or an embedded one.

The embedded server is the `pgserver` package's PostgreSQL, run from a data directory
under the service's own, so a fresh machine serves with no set-up.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import structlog

from engine.store.migrate import migrate

log = structlog.get_logger("pitboss.database")


def embedded_server(data_dir: Path, *, stop_at_exit: bool = False) -> Any:
    """Start (or reuse) the embedded PostgreSQL in `data_dir/pg`; returns pgserver's handle.

    By default the server outlives this process on purpose: a restarted service (say,
    after a crash) finds it running with every committed event.
    """
    with warnings.catch_warnings():
        # pgserver asks platformdirs for a runtime folder as it is imported, which warns
        # where XDG_RUNTIME_DIR is unset (containers, CI) and falls back to /tmp: fine here.
        warnings.simplefilter("ignore")
        import pgserver  # only needed when no DATABASE_URL is given

        return pgserver.get_server(  # type: ignore[attr-defined]
            data_dir.resolve() / "pg", cleanup_mode="stop" if stop_at_exit else None
        )


def embedded_url(data_dir: Path) -> str:
    url: str = embedded_server(data_dir).get_uri()
    log.info("embedded_postgres", data_dir=str(data_dir / "pg"))
    return url


async def _init_connection(conn: asyncpg.Connection) -> None:
    # JSON columns travel as text, which the repositories encode and decode with msgspec.
    # Binary format, because COPY (the ingest writer's bulk path) needs it; jsonb's binary
    # form is a version byte, 1, and the text.
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda text: b"\x01" + text.encode(),
        decoder=lambda data: data[1:].decode(),
        schema="pg_catalog",
        format="binary",
    )
    await conn.set_type_codec(
        "json",
        encoder=str.encode,
        decoder=bytes.decode,
        schema="pg_catalog",
        format="binary",
    )


@contextlib.asynccontextmanager
async def open_pool(url: str, *, size: int) -> AsyncIterator[asyncpg.Pool]:
    """A connection pool on a migrated database."""
    async with asyncpg.create_pool(
        url, min_size=1, max_size=size, init=_init_connection, command_timeout=60
    ) as pool:
        async with pool.acquire() as conn:
            applied = await migrate(conn)
        if applied:
            log.info("migrated", versions=[m.version for m in applied])
        yield pool
