"""OAuth2 clients and token signing keys as stored (`auth_clients`, `auth_signing_keys`).

Only hashes of client secrets and sealed private keys pass through here; callers pass a
connection and own the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True, kw_only=True)
class ClientRow:
    id: str
    name: str
    roles: tuple[str, ...]
    secret_hash: str
    created_at: datetime
    disabled_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class KeyRow:
    kid: str
    alg: str
    public_jwk: str  # JSON text
    private_enc: bytes
    created_at: datetime
    superseded_at: datetime | None
    retired_at: datetime | None


_CLIENT_COLUMNS = "id, name, roles, secret_hash, created_at, disabled_at"
_KEY_COLUMNS = "kid, alg, public_jwk, private_enc, created_at, superseded_at, retired_at"


def _client(row: asyncpg.Record) -> ClientRow:
    return ClientRow(
        id=row["id"],
        name=row["name"],
        roles=tuple(row["roles"]),
        secret_hash=row["secret_hash"],
        created_at=row["created_at"],
        disabled_at=row["disabled_at"],
    )


def _key(row: asyncpg.Record) -> KeyRow:
    return KeyRow(
        kid=row["kid"],
        alg=row["alg"],
        public_jwk=row["public_jwk"],
        private_enc=bytes(row["private_enc"]),
        created_at=row["created_at"],
        superseded_at=row["superseded_at"],
        retired_at=row["retired_at"],
    )


async def insert_client(
    conn: asyncpg.Connection, *, id: str, name: str, roles: list[str], secret_hash: str
) -> ClientRow:
    row = await conn.fetchrow(
        f"INSERT INTO auth_clients (id, name, roles, secret_hash) VALUES ($1, $2, $3, $4) "
        f"RETURNING {_CLIENT_COLUMNS}",
        id,
        name,
        roles,
        secret_hash,
    )
    return _client(row)


async def client(conn: asyncpg.Connection, client_id: str) -> ClientRow | None:
    row = await conn.fetchrow(
        f"SELECT {_CLIENT_COLUMNS} FROM auth_clients WHERE id = $1", client_id
    )
    return None if row is None else _client(row)


async def clients(conn: asyncpg.Connection) -> list[ClientRow]:
    rows = await conn.fetch(f"SELECT {_CLIENT_COLUMNS} FROM auth_clients ORDER BY created_at, id")
    return [_client(r) for r in rows]


async def disable_client(conn: asyncpg.Connection, client_id: str) -> ClientRow | None:
    """Disable a client (once: a second call keeps the first time); None if unknown."""
    row = await conn.fetchrow(
        f"UPDATE auth_clients SET disabled_at = coalesce(disabled_at, now()) WHERE id = $1 "
        f"RETURNING {_CLIENT_COLUMNS}",
        client_id,
    )
    return None if row is None else _client(row)


async def disabled_ids(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch("SELECT id FROM auth_clients WHERE disabled_at IS NOT NULL")
    return {r["id"] for r in rows}


async def insert_key(
    conn: asyncpg.Connection, *, kid: str, alg: str, public_jwk: str, private_enc: bytes
) -> KeyRow:
    row = await conn.fetchrow(
        f"INSERT INTO auth_signing_keys (kid, alg, public_jwk, private_enc) "
        f"VALUES ($1, $2, $3, $4) RETURNING {_KEY_COLUMNS}",
        kid,
        alg,
        public_jwk,
        private_enc,
    )
    return _key(row)


async def current_kid(conn: asyncpg.Connection) -> str | None:
    kid: str | None = await conn.fetchval(
        "SELECT kid FROM auth_signing_keys WHERE superseded_at IS NULL AND retired_at IS NULL"
    )
    return kid


async def supersede_current(conn: asyncpg.Connection) -> str | None:
    """Mark the current key superseded; returns its kid (None if there was none)."""
    kid: str | None = await conn.fetchval(
        "UPDATE auth_signing_keys SET superseded_at = now() "
        "WHERE superseded_at IS NULL AND retired_at IS NULL RETURNING kid"
    )
    return kid


async def retire_key(conn: asyncpg.Connection, kid: str) -> KeyRow | None:
    row = await conn.fetchrow(
        f"UPDATE auth_signing_keys SET retired_at = coalesce(retired_at, now()), "
        f"superseded_at = coalesce(superseded_at, now()) WHERE kid = $1 RETURNING {_KEY_COLUMNS}",
        kid,
    )
    return None if row is None else _key(row)


async def keys(conn: asyncpg.Connection) -> list[KeyRow]:
    """Every key, newest first."""
    rows = await conn.fetch(
        f"SELECT {_KEY_COLUMNS} FROM auth_signing_keys ORDER BY created_at DESC, kid"
    )
    return [_key(r) for r in rows]


async def live_keys(conn: asyncpg.Connection, grace_s: float) -> list[KeyRow]:
    """The keys that still verify: not retired, and current or superseded less than
    `grace_s` seconds ago (by the database's clock, which every process shares)."""
    rows = await conn.fetch(
        f"SELECT {_KEY_COLUMNS} FROM auth_signing_keys WHERE retired_at IS NULL AND "
        f"(superseded_at IS NULL OR superseded_at > now() - make_interval(secs => $1)) "
        f"ORDER BY created_at DESC, kid",
        grace_s,
    )
    return [_key(r) for r in rows]
