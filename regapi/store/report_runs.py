"""Report runs: one generation of one market's report for one period (migration 0009)."""

from __future__ import annotations

from datetime import date, datetime

import asyncpg
import msgspec

from regapi.periods import Period


class RunBusyError(Exception):
    """Another run of the same market and period is generating now."""


class Run(msgspec.Struct, kw_only=True):
    id: int
    market: str
    period: str  # e.g. monthly/2026-01
    revision: int
    trigger: str  # schedule | manual
    state: str  # generating | generated | failed
    started_at: datetime
    finished_at: datetime | None
    duration_s: float | None
    events: int | None
    files: list[str]
    error: str | None


_COLUMNS = (
    "id, market, period_kind, period_start, revision, trigger, state, started_at, "
    "finished_at, duration_s, events, files, error"
)


def _run(r: asyncpg.Record) -> Run:
    return Run(
        id=r["id"],
        market=r["market"],
        period=str(Period(r["period_kind"], r["period_start"])),
        revision=r["revision"],
        trigger=r["trigger"],
        state=r["state"],
        started_at=r["started_at"],
        finished_at=r["finished_at"],
        duration_s=r["duration_s"],
        events=r["events"],
        files=list(r["files"] or ()),
        error=r["error"],
    )


async def latest(conn: asyncpg.Connection, market: str, period: Period) -> Run | None:
    """The period's newest run that did not fail (generating or generated)."""
    r = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM report_runs WHERE market = $1 AND period_kind = $2 "
        "AND period_start = $3 AND state <> 'failed' ORDER BY revision DESC LIMIT 1",
        market,
        period.kind,
        period.start,
    )
    return None if r is None else _run(r)


async def start(
    conn: asyncpg.Connection, market: str, period: Period, *, revision: int, trigger: str
) -> Run:
    """Record a run as generating; `RunBusyError` if one of the period already is."""
    try:
        r = await conn.fetchrow(
            f"INSERT INTO report_runs (market, period_kind, period_start, revision, trigger) "
            f"VALUES ($1, $2, $3, $4, $5) RETURNING {_COLUMNS}",
            market,
            period.kind,
            period.start,
            revision,
            trigger,
        )
    except asyncpg.UniqueViolationError:
        raise RunBusyError(f"{market} {period}: another run is generating it now") from None
    return _run(r)


async def finish(
    conn: asyncpg.Connection, run_id: int, *, events: int, files: list[str], duration_s: float
) -> Run:
    r = await conn.fetchrow(
        f"UPDATE report_runs SET state = 'generated', finished_at = now(), duration_s = $2, "
        f"events = $3, files = $4 WHERE id = $1 AND state = 'generating' RETURNING {_COLUMNS}",
        run_id,
        duration_s,
        events,
        files,
    )
    assert r is not None, f"run {run_id} is not generating"
    return _run(r)


async def fail(conn: asyncpg.Connection, run_id: int, *, error: str, duration_s: float) -> None:
    await conn.execute(
        "UPDATE report_runs SET state = 'failed', finished_at = now(), duration_s = $2, "
        "error = $3 WHERE id = $1 AND state = 'generating'",
        run_id,
        duration_s,
        error[:2000],
    )


async def generated_starts(
    conn: asyncpg.Connection, market: str, kind: str, since: date
) -> set[date]:
    """The periods of `kind` from `since` on that have a generated run."""
    rows = await conn.fetch(
        "SELECT DISTINCT period_start FROM report_runs WHERE market = $1 AND period_kind = $2 "
        "AND period_start >= $3 AND state = 'generated'",
        market,
        kind,
        since,
    )
    return {r["period_start"] for r in rows}


async def recent(
    conn: asyncpg.Connection,
    *,
    market: str | None = None,
    period: Period | None = None,
    limit: int = 100,
) -> list[Run]:
    """Runs, newest first."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM report_runs WHERE ($1::text IS NULL OR market = $1) "
        "AND ($2::text IS NULL OR (period_kind = $2 AND period_start = $3)) "
        "ORDER BY id DESC LIMIT $4",
        market,
        None if period is None else period.kind,
        None if period is None else period.start,
        limit,
    )
    return [_run(r) for r in rows]


async def get(conn: asyncpg.Connection, run_id: int) -> Run | None:
    r = await conn.fetchrow(f"SELECT {_COLUMNS} FROM report_runs WHERE id = $1", run_id)
    return None if r is None else _run(r)


async def last_generated(conn: asyncpg.Connection) -> list[tuple[str, str, datetime]]:
    """When each (market, period kind) last had a report generated, for the metrics."""
    rows = await conn.fetch(
        "SELECT market, period_kind, max(finished_at) AS at FROM report_runs "
        "WHERE state = 'generated' GROUP BY 1, 2"
    )
    return [(r["market"], r["period_kind"], r["at"]) for r in rows]
