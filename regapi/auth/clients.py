"""OAuth2 clients: registered with roles, given a secret once, authenticated by its hash."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from dataclasses import dataclass

import asyncpg

from regapi.auth import hashing, roles
from regapi.store import auth as store
from regapi.store.auth import ClientRow

_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,200}")


class ClientError(ValueError):
    """A client that cannot be registered as asked; the message says why."""


@dataclass(frozen=True)
class NewClient:
    client: ClientRow
    secret: str  # shown once, never stored


def check_roles(wanted: Iterable[str]) -> list[str]:
    """The roles, each once and in order, or ClientError naming the unknown ones."""
    listed = list(dict.fromkeys(wanted))
    if not listed:
        raise ClientError("a client needs at least one role")
    bad = roles.unknown(listed)
    if bad:
        raise ClientError(
            f"unknown role {', '.join(map(repr, bad))}; roles are {', '.join(sorted(roles.ALL))}"
        )
    return listed


async def create(conn: asyncpg.Connection, *, name: str, roles: Iterable[str]) -> NewClient:
    """Register a client; its secret is in the result and nowhere else."""
    if not _NAME.fullmatch(name):
        raise ClientError("a client name is 1..200 printable characters")
    listed = check_roles(roles)
    secret = hashing.new_secret()
    digest = await asyncio.to_thread(hashing.hash_secret, secret)
    row = await store.insert_client(
        conn, id=hashing.new_client_id(), name=name, roles=listed, secret_hash=digest
    )
    return NewClient(row, secret)


async def authenticate(pool: asyncpg.Pool, client_id: str, secret: str) -> ClientRow | None:
    """The client if `secret` is its secret and it is enabled; None otherwise, after the
    same work whatever the reason (unknown id, wrong secret, disabled)."""
    row = None
    # An id with a NUL is no client's, and PostgreSQL's text could not even be asked.
    if 0 < len(client_id) <= 64 and "\x00" not in client_id:
        async with pool.acquire() as conn:
            row = await store.client(conn, client_id)
    stored = row.secret_hash if row is not None else hashing.decoy()
    # scrypt takes tens of milliseconds of CPU: off the event loop (it releases the GIL),
    # and with no database connection held meanwhile.
    ok = await asyncio.to_thread(hashing.verify_secret, secret, stored)
    if row is None or not ok or row.disabled_at is not None:
        return None
    return row


async def listing(conn: asyncpg.Connection) -> list[ClientRow]:
    return await store.clients(conn)


async def disable(conn: asyncpg.Connection, client_id: str) -> ClientRow | None:
    """Disable a client: no new token, and its tokens refused once the service has
    reloaded (within its refresh interval). None if there is no such client."""
    return await store.disable_client(conn, client_id)
