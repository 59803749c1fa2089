"""The daily roll-up reports aggregate from, kept current incrementally.

`report_rollup` holds the events of each market-local day summed by type, breakdown,
currency and status (migration 0009). `refresh` brings it up to the newest stored event:
it finds the days that events stored since the last refresh fall on (late events
included: a day is keyed by the event's own time, not by when it arrived), and recomputes
each such day whole from `events`, so a day's rows are always exactly its events. The
watermark is the highest `seq` seen; the service's single writer hands out `seq` in commit
order, so no event below the watermark can commit after a refresh has passed it.

Everything runs in SQL: the JSON fields are read once per event (`jsonb`), and a day is
computed from the `events_ts` index range of its own 24 (23, 25) hours.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import asyncpg

from dsl.vocabulary import MARKETS

# The market's zone, for SQL: a CASE over the known markets (UTC for any other).
_ZONE = (
    "CASE {col} "
    + " ".join(f"WHEN '{m.code}' THEN '{m.timezone}'" for m in MARKETS.values())
    + " ELSE 'UTC' END"
)

# What each type is broken down by, and which types carry a status. An RNG check's status
# is whether it was an anomaly (p below the P1 threshold of engine.incidents).
_KIND = """CASE e.type
    WHEN 'deposit' THEN j->>'method'
    WHEN 'withdrawal' THEN j->>'method'
    WHEN 'bet' THEN j->>'game_kind'
    WHEN 'win' THEN j->>'game_kind'
    WHEN 'limit_change' THEN j->>'limit_kind'
    WHEN 'self_exclusion' THEN j->>'limit_kind'
    WHEN 'rng_check' THEN j->>'game_id'
    WHEN 'kyc_update' THEN j->>'kyc_level'
    ELSE NULL END"""
_STATUS = """CASE e.type
    WHEN 'rng_check' THEN CASE WHEN (j->>'p_value')::float8 < $3 THEN 'anomaly' ELSE 'ok' END
    ELSE j->>'status' END"""

# A chunk of dirty days is aggregated from the events of its time range (the `events_ts`
# index), kept to exactly its (market, local day) pairs by a hash semi-join. `OFFSET 0`
# keeps the planner from inlining the lateral subquery, which would parse each event's JSON
# once per field it reads instead of once.
_AGGREGATE = f"""
SELECT e.market, p.day, e.type,
       coalesce({_KIND}, ''), coalesce(j->>'currency', ''), coalesce({_STATUS}, ''),
       count(*), coalesce(sum((j->>'amount')::bigint), 0)
FROM events e
CROSS JOIN LATERAL (
    SELECT convert_from(e.body, 'UTF8')::jsonb AS j,
           (e.ts AT TIME ZONE ({_ZONE.format(col="e.market")}))::date AS day
    OFFSET 0) AS p
WHERE e.ts >= $4 AND e.ts < $5
  AND (e.market, p.day) IN (SELECT * FROM unnest($1::text[], $2::date[]))
GROUP BY 1, 2, 3, 4, 5, 6
"""
_COLUMNS = ("market", "day", "type", "kind", "currency", "status", "events", "amount")
# Days per statement: a statement stays well inside the pool's command timeout however
# long the history a first refresh reads.
_CHUNK_DAYS = 7
# Every zone is within a day of UTC, so a local day lies inside its UTC date ± 1 day.
_SLACK = timedelta(days=1)
_TIMEOUT_S = 600.0

_DIRTY = f"""
SELECT DISTINCT market, (ts AT TIME ZONE ({_ZONE.format(col="market")}))::date AS day
FROM events WHERE seq > $1 AND seq <= $2
"""


@dataclass(frozen=True)
class Refreshed:
    through: int  # the watermark after the refresh
    days: int  # market-days recomputed


async def refresh(pool: asyncpg.Pool, *, anomaly_p: float, workers: int = 2) -> Refreshed:
    """Recompute every day that events stored since the last refresh fall on.

    The days are aggregated on up to `workers` other connections at once (a statement
    runs on one core), then replaced in one transaction. Those plain reads may see events
    stored after the watermark was taken; that is harmless, since such an event's day is
    recomputed whole again by the next refresh."""
    async with pool.acquire() as conn, conn.transaction():
        # The state row's lock makes two refreshes (two jobs, two processes) take turns
        # instead of recomputing the same days over each other.
        through: int = await conn.fetchval(
            "SELECT through FROM report_rollup_state WHERE one FOR UPDATE"
        )
        newest: int | None = await conn.fetchval("SELECT max(seq) FROM events")
        if newest is None or newest <= through:
            return Refreshed(through, 0)
        dirty = await conn.fetch(_DIRTY, through, newest)
        pairs = sorted((r["day"], r["market"]) for r in dirty)
        # One connection is this transaction's; never wait on the pool for more than it has.
        spare = max(1, min(workers, pool.get_max_size() - 1))
        rows = await _aggregate(pool, _chunks(pairs), anomaly_p, spare)
        await conn.execute(
            "DELETE FROM report_rollup r USING unnest($1::date[], $2::text[]) AS d(day, market) "
            "WHERE r.market = d.market AND r.day = d.day",
            [d for d, _ in pairs],
            [m for _, m in pairs],
        )
        await conn.copy_records_to_table("report_rollup", records=rows, columns=_COLUMNS)
        await conn.execute(
            "UPDATE report_rollup_state SET through = $1, updated_at = now() WHERE one", newest
        )
        return Refreshed(newest, len(pairs))


async def _aggregate(
    pool: asyncpg.Pool, chunks: list[list[tuple[date, str]]], anomaly_p: float, workers: int
) -> list[asyncpg.Record]:
    queue = list(reversed(chunks))
    rows: list[asyncpg.Record] = []

    async def work() -> None:
        async with pool.acquire() as conn:
            while queue:
                chunk = queue.pop()
                first, last = chunk[0][0], chunk[-1][0]
                rows.extend(
                    await conn.fetch(
                        _AGGREGATE,
                        [m for _, m in chunk],
                        [d for d, _ in chunk],
                        anomaly_p,
                        datetime.combine(first, time(), UTC) - _SLACK,
                        datetime.combine(last, time(), UTC) + timedelta(days=1) + _SLACK,
                        timeout=_TIMEOUT_S,
                    )
                )

    await asyncio.gather(*(work() for _ in range(min(workers, len(chunks)))))
    return rows


def _chunks(days: list[tuple[date, str]]) -> list[list[tuple[date, str]]]:
    """Dirty (day, market) pairs in runs spanning at most `_CHUNK_DAYS` days."""
    chunks: list[list[tuple[date, str]]] = []
    for pair in days:
        if chunks and (pair[0] - chunks[-1][0][0]).days < _CHUNK_DAYS:
            chunks[-1].append(pair)
        else:
            chunks.append([pair])
    return chunks


@dataclass(frozen=True)
class RollupRow:
    day: date
    type: str
    kind: str
    currency: str
    status: str
    events: int
    amount: int


async def rows(conn: asyncpg.Connection, market: str, start: date, end: date) -> list[RollupRow]:
    """The roll-up of `market` for the days start ≤ day < end, in key order."""
    records = await conn.fetch(
        "SELECT day, type, kind, currency, status, events, amount FROM report_rollup "
        "WHERE market = $1 AND day >= $2 AND day < $3 "
        "ORDER BY day, type, kind, currency, status",
        market,
        start,
        end,
    )
    return [RollupRow(*r) for r in records]


async def first_day(conn: asyncpg.Connection, market: str) -> date | None:
    """The market's first day with events (where a catch-up starts by default)."""
    day: date | None = await conn.fetchval(
        "SELECT min(day) FROM report_rollup WHERE market = $1", market
    )
    return day
