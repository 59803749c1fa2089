"""The nonce store against webhook replay, and the log of refused webhooks."""

from __future__ import annotations

from datetime import timedelta

import asyncpg


async def claim_nonce(conn: asyncpg.Connection, provider: str, nonce: str, keep: timedelta) -> bool:
    """True the first time a provider's nonce is seen (within `keep`; older ones are
    forgotten, since their timestamps are out of tolerance anyway)."""
    await conn.execute("DELETE FROM webhook_nonces WHERE seen_at < now() - $1::interval", keep)
    status = await conn.execute(
        "INSERT INTO webhook_nonces (provider, nonce) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        provider,
        nonce,
    )
    return bool(status == "INSERT 0 1")


async def release_nonce(conn: asyncpg.Connection, provider: str, nonce: str) -> None:
    """Forget a nonce whose request was not taken, so that its retry can be."""
    await conn.execute(
        "DELETE FROM webhook_nonces WHERE provider = $1 AND nonce = $2", provider, nonce
    )


async def log_rejection(
    conn: asyncpg.Connection, provider: str, reason: str, remote: str | None
) -> None:
    await conn.execute(
        "INSERT INTO webhook_rejections (provider, reason, remote) VALUES ($1, $2, $3)",
        provider,
        reason,
        remote,
    )
