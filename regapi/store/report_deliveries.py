"""Delivering report runs (migration 0009, `report_deliveries`): the SFTP upload of a run's
files, then its notices (an email per address, a webhook), as an outbox.

A notice is queued `waiting` when the run has an upload, and becomes `pending` in the
transaction that records the upload as sent; if the upload fails for good, its waiting
notices are `cancelled` (they would point at files that are not there). Rows are claimed
with a lease, as incident notifications are (`engine.store.incidents`), so two workers
never send the same row at once and a worker that dies mid-send leaves it to be retried.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import msgspec

from regapi.periods import Period
from regapi.store import reports
from regapi.store.reports import ReportFile

_ENCODER = msgspec.json.Encoder()


class RunFilesError(LookupError):
    """A run whose files cannot be delivered: unknown, without files, or one not stored."""


class Delivery(msgspec.Struct, kw_only=True):
    """One delivery of a run, as shown to operators."""

    id: int
    run_id: int
    channel: str  # sftp | email | webhook
    target: str  # sftp://user@host:port/dir, an email address, a URL
    state: str  # waiting | pending | sent | failed | cancelled
    attempts: int
    next_attempt: datetime | None  # while waiting or pending
    last_error: str | None
    detail: dict[str, Any]  # where it went: remote paths, message id…
    created_at: datetime
    sent_at: datetime | None
    updated_at: datetime


class Claimed(msgspec.Struct, kw_only=True):
    """A delivery claimed for one attempt (`attempts` counts it), with its run."""

    id: int
    run_id: int
    channel: str
    target: str
    attempts: int
    market: str
    period: Period
    revision: int
    # The run's sent upload's detail (remote paths), for a notice; {} without one.
    uploaded: dict[str, Any]


_DELIVERY = """d.id, d.run_id, d.channel, d.target, d.state, d.attempts,
    CASE WHEN d.state IN ('waiting', 'pending') THEN d.next_attempt END AS next_attempt,
    d.last_error, d.detail, d.created_at, d.sent_at, d.updated_at"""


def _detail(value: object) -> dict[str, Any]:
    # jsonb arrives as text (the pool's codec, and asyncpg's default alike).
    if isinstance(value, (str, bytes)):
        decoded = msgspec.json.decode(value)
        return decoded if isinstance(decoded, dict) else {}
    return {}


def _delivery(r: asyncpg.Record) -> Delivery:
    return Delivery(**{**dict(r), "detail": _detail(r["detail"])})


async def queue(
    conn: asyncpg.Connection,
    run_id: int,
    *,
    sftp: str | None,
    emails: Sequence[str],
    webhook: str | None,
) -> list[Delivery]:
    """Queue a run's deliveries: the upload to `sftp` (a target's description), then an
    email to each address and the `webhook`, which wait for the upload if there is one.
    Run it in the transaction that marks the run generated, so a run is never left
    undelivered."""
    notice = "waiting" if sftp is not None else "pending"
    rows: list[tuple[str, str, str]] = []
    if sftp is not None:
        rows.append(("sftp", sftp, "pending"))
    # An address given twice is mailed once.
    rows += [("email", address, notice) for address in dict.fromkeys(emails)]
    if webhook is not None:
        rows.append(("webhook", webhook, notice))
    out = []
    async with conn.transaction():
        for channel, target, state in rows:
            r = await conn.fetchrow(
                f"""INSERT INTO report_deliveries AS d (run_id, channel, target, state)
                    VALUES ($1, $2, $3, $4) RETURNING {_DELIVERY}""",
                run_id,
                channel,
                target,
                state,
            )
            out.append(_delivery(r))
    return out


# Rows another worker holds are skipped, and a claimed row's next attempt moves past the
# lease (see engine.store.incidents).
_CLAIM = """
WITH due AS (
    SELECT id FROM report_deliveries
    WHERE state = 'pending' AND next_attempt <= now()
    ORDER BY next_attempt, id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE report_deliveries d
SET attempts = d.attempts + 1, next_attempt = now() + $2::interval, updated_at = now()
FROM due, report_runs r
WHERE d.id = due.id AND r.id = d.run_id
RETURNING d.id, d.run_id, d.channel, d.target, d.attempts,
    r.market, r.period_kind, r.period_start, r.revision,
    (SELECT s.detail FROM report_deliveries s
     WHERE s.run_id = d.run_id AND s.channel = 'sftp' AND s.state = 'sent'
     ORDER BY s.id DESC LIMIT 1) AS uploaded
"""


async def claim(conn: asyncpg.Connection, *, limit: int, lease: timedelta) -> list[Claimed]:
    """Take up to `limit` due deliveries for one attempt each, for `lease`."""
    rows = await conn.fetch(_CLAIM, limit, lease)
    return [
        Claimed(
            id=r["id"],
            run_id=r["run_id"],
            channel=r["channel"],
            target=r["target"],
            attempts=r["attempts"],
            market=r["market"],
            period=Period(r["period_kind"], r["period_start"]),
            revision=r["revision"],
            uploaded=_detail(r["uploaded"]),
        )
        for r in sorted(rows, key=lambda r: r["id"])
    ]


async def mark_sent(conn: asyncpg.Connection, delivery_id: int, detail: dict[str, Any]) -> bool:
    """Record a delivery as sent, with where it went; an upload releases its run's
    waiting notices at once. False if the row was not pending (already recorded)."""
    async with conn.transaction():
        r = await conn.fetchrow(
            """UPDATE report_deliveries
               SET state = 'sent', sent_at = now(), updated_at = now(), detail = $2::jsonb
               WHERE id = $1 AND state = 'pending' RETURNING run_id, channel""",
            delivery_id,
            _ENCODER.encode(detail).decode(),
        )
        if r is None:
            return False
        if r["channel"] == "sftp":
            await conn.execute(
                """UPDATE report_deliveries
                   SET state = 'pending', next_attempt = now(), updated_at = now()
                   WHERE run_id = $1 AND state = 'waiting'""",
                r["run_id"],
            )
    return True


async def mark_failed(
    conn: asyncpg.Connection, delivery_id: int, error: str, *, retry_at: datetime | None
) -> str | None:
    """Record a failed attempt: to be tried again at `retry_at`, or (None) failed for
    good, which for an upload cancels its run's waiting notices. Returns the new state,
    None if the row was not pending."""
    async with conn.transaction():
        r = await conn.fetchrow(
            """UPDATE report_deliveries
               SET state = CASE WHEN $3::timestamptz IS NULL THEN 'failed' ELSE 'pending' END,
                   next_attempt = coalesce($3, next_attempt),
                   last_error = $2,
                   updated_at = now()
               WHERE id = $1 AND state = 'pending' RETURNING state, run_id, channel""",
            delivery_id,
            error,
            retry_at,
        )
        if r is None:
            return None
        if r["state"] == "failed" and r["channel"] == "sftp":
            await conn.execute(
                """UPDATE report_deliveries
                   SET state = 'cancelled', updated_at = now(),
                       last_error = 'not sent: the SFTP upload failed'
                   WHERE run_id = $1 AND state = 'waiting'""",
                r["run_id"],
            )
        state: str = r["state"]
        return state


async def due_in(conn: asyncpg.Connection) -> float | None:
    """Seconds until the next pending delivery is due (≤ 0: now); None if none."""
    value = await conn.fetchval(
        "SELECT extract(epoch FROM min(next_attempt) - now()) FROM report_deliveries "
        "WHERE state = 'pending'"
    )
    return None if value is None else float(value)


async def for_run(conn: asyncpg.Connection, run_id: int) -> list[Delivery]:
    rows = await conn.fetch(
        f"SELECT {_DELIVERY} FROM report_deliveries d WHERE d.run_id = $1 ORDER BY d.id",
        run_id,
    )
    return [_delivery(r) for r in rows]


async def recent(
    conn: asyncpg.Connection, *, market: str | None = None, limit: int = 100
) -> list[Delivery]:
    """The latest deliveries, newest first, of one market's runs or all."""
    rows = await conn.fetch(
        f"""SELECT {_DELIVERY} FROM report_deliveries d JOIN report_runs r ON r.id = d.run_id
            WHERE $1::text IS NULL OR r.market = $1
            ORDER BY d.id DESC LIMIT $2""",
        market,
        limit,
    )
    return [_delivery(r) for r in rows]


# --- the run's files ------------------------------------------------------------------


async def _run(conn: asyncpg.Connection, run_id: int) -> tuple[str, Period, list[str]]:
    r = await conn.fetchrow(
        "SELECT market, period_kind, period_start, files FROM report_runs WHERE id = $1", run_id
    )
    if r is None:
        raise RunFilesError(f"report run {run_id} does not exist")
    if not r["files"]:
        raise RunFilesError(f"report run {run_id} has no files")
    return r["market"], Period(r["period_kind"], r["period_start"]), list(r["files"])


async def files_of(conn: asyncpg.Connection, run_id: int) -> list[ReportFile]:
    """A run's stored files as listed (no content), in the run's order."""
    market, period, names = await _run(conn, run_id)
    found = await reports.named(conn, period, names, market=market)
    _all_there(run_id, names, found)
    return [found[n] for n in names]


async def contents_of(
    conn: asyncpg.Connection, run_id: int, *, only: Collection[str] | None = None
) -> list[tuple[str, bytes]]:
    """A run's files with their bytes, in the run's order (those named in `only`, if
    given). Each is read whole: report files are kilobytes to tens of megabytes."""
    market, period, names = await _run(conn, run_id)
    if only is not None:
        names = [n for n in names if n in only]
    rows = await conn.fetch(
        """SELECT name, market, content FROM report_files
           WHERE period_kind = $1 AND period_start = $2 AND name = ANY($3::text[])""",
        period.kind,
        period.start,
        names,
    )
    found = {r["name"]: r for r in rows if r["market"] == market}
    _all_there(run_id, names, found)
    return [(n, bytes(found[n]["content"])) for n in names]


def _all_there(run_id: int, names: list[str], found: Collection[str]) -> None:
    missing = [n for n in names if n not in found]
    if missing:
        raise RunFilesError(f"report run {run_id}: not stored: {', '.join(missing)}")
