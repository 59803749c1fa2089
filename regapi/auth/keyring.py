"""The signing keys in the database: rotate, retire, and load the ones that still verify.

Rotation makes a new key current; the one it replaces is *superseded*: it signs nothing
more but still verifies (and stays in the JWKS) until every token it signed has expired,
which is the grace period below. Retiring a key (after a compromise, say) stops it
verifying at once; retiring the current key rotates first, so something always signs.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import msgspec

from regapi.auth import keys
from regapi.auth.keys import SigningKey, SigningKeyError
from regapi.store import auth as store
from regapi.store.auth import KeyRow


@dataclass(frozen=True)
class Rotation:
    current: SigningKey
    superseded: str | None  # the kid that was current until now


def grace_s(token_ttl_s: int, refresh_s: float) -> float:
    """How long a superseded key still verifies: a token's lifetime, plus the time a
    service process may go on signing with it before it reloads the keys (twice, for
    margin)."""
    return token_ttl_s + 2 * refresh_s


def _signing_key(row: KeyRow, kek: bytes | None) -> SigningKey:
    if row.alg != keys.ALG:
        raise SigningKeyError(f"signing key {row.kid}: algorithm {row.alg!r} is not {keys.ALG}")
    if kek is not None and row.superseded_at is None and row.retired_at is None:
        key = keys.unseal(kek, row.kid, row.private_enc)
    else:
        key = keys.public_key(msgspec.json.decode(row.public_jwk))
    return SigningKey(
        kid=row.kid,
        alg=row.alg,
        key=key,
        created_at=row.created_at,
        superseded_at=row.superseded_at,
        retired_at=row.retired_at,
    )


async def rotate(conn: asyncpg.Connection, kek: bytes) -> Rotation:
    """Make a new key current. Runs in its own transaction."""
    rotation = await _rotate(conn, kek, only_if_none=False)
    assert rotation is not None
    return rotation


async def _rotate(conn: asyncpg.Connection, kek: bytes, *, only_if_none: bool) -> Rotation | None:
    kid = keys.new_kid()
    key = keys.generate(kid)
    async with conn.transaction():
        # Two rotations (or two first starts) at once take turns rather than fail on the
        # one-current-key index.
        await conn.execute("LOCK TABLE auth_signing_keys IN SHARE ROW EXCLUSIVE MODE")
        if only_if_none and await store.current_kid(conn) is not None:
            return None
        old = await store.supersede_current(conn)
        row = await store.insert_key(
            conn,
            kid=kid,
            alg=keys.ALG,
            public_jwk=msgspec.json.encode(key.as_dict(private=False)).decode(),
            private_enc=keys.seal(kek, kid, key),
        )
    return Rotation(_signing_key(row, kek), old)


async def retire(conn: asyncpg.Connection, kek: bytes | None, kid: str) -> Rotation | None:
    """Stop `kid` verifying now. If it was current, a new key is made current first (which
    needs the key-encryption key) and returned; None if there is no such key."""
    rows = {r.kid: r for r in await store.keys(conn)}
    if kid not in rows:
        return None
    rotation = None
    if rows[kid].superseded_at is None and rows[kid].retired_at is None:
        if kek is None:
            raise SigningKeyError(f"{kid} is the current key: replacing it needs the KEK file")
        rotation = await rotate(conn, kek)
    await store.retire_key(conn, kid)
    return rotation or Rotation(_signing_key(rows[kid], None), None)


async def listing(conn: asyncpg.Connection) -> list[KeyRow]:
    return await store.keys(conn)


async def live(conn: asyncpg.Connection, kek: bytes, grace: float) -> list[SigningKey]:
    """The keys that verify, newest first; the current one (if any) opened to sign."""
    return [_signing_key(r, kek) for r in await store.live_keys(conn, grace)]


async def ensure_current(conn: asyncpg.Connection, kek: bytes) -> bool:
    """Make a first key if there is no current one (a development start). True if made."""
    return await _rotate(conn, kek, only_if_none=True) is not None
