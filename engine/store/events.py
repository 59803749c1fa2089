"""Events, decisions and idempotency keys: what the ingest writer commits and reads back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC, datetime

import asyncpg

EVENT_COLUMNS = ("seq", "event_id", "player_id", "type", "market", "ts", "body")
DECISION_COLUMNS = (
    "event_id",
    "seq",
    "player_id",
    "market",
    "ts",
    "action",
    "score",
    "policy_version",
    "fingerprint",
    "reply",
)
SHADOW_COLUMNS = (
    "version_id",
    "event_id",
    "ts",
    "action",
    "score",
    "live_action",
    "live_score",
    "hits",
)


def month_of(ts: datetime) -> tuple[int, int]:
    return ts.year, ts.month


class Partitions:
    """Monthly partitions of `events`, created the first time a month is written."""

    def __init__(self) -> None:
        self._known: set[tuple[int, int]] = set()

    async def ensure(self, conn: asyncpg.Connection, months: Iterable[tuple[int, int]]) -> None:
        for year, month in sorted(set(months) - self._known):
            start = datetime(year, month, 1, tzinfo=UTC)
            end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
            # Names and bounds come from integers, never from input.
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS events_y{year:04d}m{month:02d} PARTITION OF events "
                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )
            self._known.add((year, month))


async def write(
    conn: asyncpg.Connection,
    events: Sequence[tuple[object, ...]],
    decisions: Sequence[tuple[object, ...]],
    keys: Sequence[tuple[str, bytes, list[str]]],
    shadow: Sequence[tuple[object, ...]],
) -> None:
    """Write one group commit's rows; the caller holds the transaction."""
    await conn.copy_records_to_table("events", records=events, columns=EVENT_COLUMNS)
    await conn.copy_records_to_table("decisions", records=decisions, columns=DECISION_COLUMNS)
    if keys:
        await conn.executemany(
            "INSERT INTO idempotency_keys (key, fingerprint, event_ids) VALUES ($1, $2, $3)",
            keys,
        )
    if shadow:
        await conn.copy_records_to_table("shadow_decisions", records=shadow, columns=SHADOW_COLUMNS)


async def last_seq(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT coalesce(max(seq), 0) FROM decisions"))


async def event_bodies(conn: asyncpg.Connection, *, chunk: int = 20_000) -> AsyncIterator[bytes]:
    """Every stored event, in the order the service decided them."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        cursor = conn.cursor("SELECT body FROM events ORDER BY seq", prefetch=chunk)
        async for row in cursor:
            yield row[0]


async def decisions_of(
    conn: asyncpg.Connection, event_ids: Sequence[str]
) -> dict[str, tuple[bytes, str]]:
    """event_id → (fingerprint, reply JSON) for those of `event_ids` already decided."""
    rows = await conn.fetch(
        "SELECT event_id, fingerprint, reply FROM decisions WHERE event_id = ANY($1::text[])",
        list(event_ids),
    )
    return {r["event_id"]: (bytes(r["fingerprint"]), r["reply"]) for r in rows}


async def decision(conn: asyncpg.Connection, event_id: str) -> str | None:
    value: str | None = await conn.fetchval(
        "SELECT reply FROM decisions WHERE event_id = $1", event_id
    )
    return value


async def idempotency_key(conn: asyncpg.Connection, key: str) -> tuple[bytes, list[str]] | None:
    row = await conn.fetchrow(
        "SELECT fingerprint, event_ids FROM idempotency_keys WHERE key = $1", key
    )
    return None if row is None else (bytes(row["fingerprint"]), list(row["event_ids"]))
