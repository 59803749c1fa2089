"""Player profiles and KYC documents as stored: sealed bytes in, sealed bytes out.

This module never sees a key or a plaintext; `regapi.players` seals and opens. Callers
pass a connection and own the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

# The sealed columns of `players`, in the order the profile has them.
SEALED_COLUMNS = ("full_name", "email", "phone", "address", "date_of_birth", "document_number")


@dataclass(frozen=True, kw_only=True)
class PlayerRow:
    player_id: str
    market: str
    sealed: dict[str, bytes | None]  # column → ciphertext (None: not given)
    email_hmac: bytes
    document_hmac: bytes | None
    kyc_level: int
    kyc_status: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, kw_only=True)
class DocumentRow:
    id: int
    player_id: str
    kind: str
    content_type: str
    sha256: str
    size: int
    uploaded_at: datetime
    uploaded_by: str


_PLAYER = (
    "player_id, market, " + ", ".join(SEALED_COLUMNS) + ", email_hmac, document_hmac, "
    "kyc_level, kyc_status, created_at, updated_at"
)
_DOCUMENT = "id, player_id, kind, content_type, sha256, size, uploaded_at, uploaded_by"


def _player(r: asyncpg.Record) -> PlayerRow:
    return PlayerRow(
        player_id=r["player_id"],
        market=r["market"],
        sealed={c: r[c] for c in SEALED_COLUMNS},
        email_hmac=r["email_hmac"],
        document_hmac=r["document_hmac"],
        kyc_level=r["kyc_level"],
        kyc_status=r["kyc_status"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


def _document(r: asyncpg.Record) -> DocumentRow:
    return DocumentRow(**{k: r[k] for k in _DOCUMENT.split(", ")})


async def get(
    conn: asyncpg.Connection, player_id: str, *, for_update: bool = False
) -> PlayerRow | None:
    lock = " FOR UPDATE" if for_update else ""
    r = await conn.fetchrow(f"SELECT {_PLAYER} FROM players WHERE player_id = $1{lock}", player_id)
    return None if r is None else _player(r)


async def put(
    conn: asyncpg.Connection,
    player_id: str,
    *,
    market: str,
    sealed: dict[str, bytes | None],
    email_hmac: bytes,
    document_hmac: bytes | None,
) -> tuple[PlayerRow, bool]:
    """Create or replace a profile (its KYC state is kept); also whether it was created."""
    values = [sealed[c] for c in SEALED_COLUMNS]
    r = await conn.fetchrow(
        f"""INSERT INTO players (player_id, market, {", ".join(SEALED_COLUMNS)},
                                 email_hmac, document_hmac)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT (player_id) DO UPDATE SET
                market = EXCLUDED.market,
                {", ".join(f"{c} = EXCLUDED.{c}" for c in SEALED_COLUMNS)},
                email_hmac = EXCLUDED.email_hmac,
                document_hmac = EXCLUDED.document_hmac,
                updated_at = now()
            RETURNING {_PLAYER}, (xmax = 0) AS created""",
        player_id,
        market,
        *values,
        email_hmac,
        document_hmac,
    )
    return _player(r), bool(r["created"])


async def set_kyc(conn: asyncpg.Connection, player_id: str, level: int, status: str) -> PlayerRow:
    r = await conn.fetchrow(
        "UPDATE players SET kyc_level = $2, kyc_status = $3, updated_at = now() "
        f"WHERE player_id = $1 RETURNING {_PLAYER}",
        player_id,
        level,
        status,
    )
    return _player(r)


async def by_email_hmac(conn: asyncpg.Connection, digest: bytes) -> list[str]:
    rows = await conn.fetch(
        "SELECT player_id FROM players WHERE email_hmac = $1 ORDER BY player_id", digest
    )
    return [r["player_id"] for r in rows]


async def by_document_hmac(conn: asyncpg.Connection, digest: bytes) -> list[str]:
    rows = await conn.fetch(
        "SELECT player_id FROM players WHERE document_hmac = $1 ORDER BY player_id", digest
    )
    return [r["player_id"] for r in rows]


async def players_after(conn: asyncpg.Connection, after: str | None, limit: int) -> list[PlayerRow]:
    """A page of profiles in id order, locked for update (rewrapping)."""
    rows = await conn.fetch(
        f"SELECT {_PLAYER} FROM players WHERE $1::text IS NULL OR player_id > $1 "
        "ORDER BY player_id LIMIT $2 FOR UPDATE",
        after,
        limit,
    )
    return [_player(r) for r in rows]


async def reseal(
    conn: asyncpg.Connection,
    player_id: str,
    sealed: dict[str, bytes | None],
    email_hmac: bytes,
    document_hmac: bytes | None,
) -> None:
    """Store values sealed again (key rotation); the profile's meaning is unchanged, so
    `updated_at` is too."""
    await conn.execute(
        f"UPDATE players SET {', '.join(f'{c} = ${n}' for n, c in enumerate(SEALED_COLUMNS, 2))}, "
        f"email_hmac = ${len(SEALED_COLUMNS) + 2}, document_hmac = ${len(SEALED_COLUMNS) + 3} "
        "WHERE player_id = $1",
        player_id,
        *(sealed[c] for c in SEALED_COLUMNS),
        email_hmac,
        document_hmac,
    )


# --- KYC documents ------------------------------------------------------------------


async def next_document_id(conn: asyncpg.Connection) -> int:
    """The id the next document will have: taken first, because its ciphertext is bound
    to it."""
    value: int = await conn.fetchval(
        "SELECT nextval(pg_get_serial_sequence('kyc_documents', 'id'))"
    )
    return value


async def add_document(
    conn: asyncpg.Connection,
    *,
    doc_id: int,
    player_id: str,
    kind: str,
    content: bytes,
    content_type: str,
    sha256: str,
    size: int,
    uploaded_by: str,
) -> DocumentRow:
    r = await conn.fetchrow(
        "INSERT INTO kyc_documents "
        "(id, player_id, kind, content, content_type, sha256, size, uploaded_by) "
        f"VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_DOCUMENT}",
        doc_id,
        player_id,
        kind,
        content,
        content_type,
        sha256,
        size,
        uploaded_by,
    )
    return _document(r)


async def documents(conn: asyncpg.Connection, player_id: str) -> list[DocumentRow]:
    rows = await conn.fetch(
        f"SELECT {_DOCUMENT} FROM kyc_documents WHERE player_id = $1 ORDER BY id", player_id
    )
    return [_document(r) for r in rows]


async def document(
    conn: asyncpg.Connection, player_id: str, doc_id: int
) -> tuple[DocumentRow, bytes] | None:
    """A document's metadata and sealed content."""
    r = await conn.fetchrow(
        f"SELECT {_DOCUMENT}, content FROM kyc_documents WHERE id = $1 AND player_id = $2",
        doc_id,
        player_id,
    )
    return None if r is None else (_document(r), r["content"])


async def documents_after(
    conn: asyncpg.Connection, after: int, limit: int
) -> list[tuple[int, str, bytes]]:
    """A page of (id, player, sealed content), locked for update (rewrapping)."""
    rows = await conn.fetch(
        "SELECT id, player_id, content FROM kyc_documents WHERE id > $1 "
        "ORDER BY id LIMIT $2 FOR UPDATE",
        after,
        limit,
    )
    return [(r["id"], r["player_id"], r["content"]) for r in rows]


async def reseal_document(conn: asyncpg.Connection, doc_id: int, content: bytes) -> None:
    await conn.execute("UPDATE kyc_documents SET content = $2 WHERE id = $1", doc_id, content)
