"""SQL of the regulator logs: a page of rows, or every row of a range as a stream.

Each query is built from the filters present only, so that its time bounds are index
conditions (and prune `events` partitions) whichever plan PostgreSQL settles on; a
`$n IS NULL OR …` form would leave a generic plan scanning from the start of time.

What regulators see, and why some things are left out: alerts carry no outcome label
(a label tells a cleared case from one escalated to a suspicious activity report),
incidents opened by a case's escalation are not listed at all (their existence is a
SAR's), and incident details are limited to what the service itself computed, never an
analyst's closing note.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from regapi.logs import TRANSACTION_TYPES, LogQuery, LogType, Position

# --- rows ----------------------------------------------------------------------------


class TransactionRow(msgspec.Struct, kw_only=True):
    seq: int  # the order the service decided events in
    event_id: str
    type: str
    player_id: str
    market: str
    ts: datetime
    received_at: datetime
    event: msgspec.Raw  # the event as received (the v1 contract)


class DecisionRow(msgspec.Struct, kw_only=True):
    seq: int
    event_id: str
    player_id: str
    market: str
    ts: datetime
    action: str
    score: int
    policy_version: int
    decision: msgspec.Raw  # the decision as the event's sender got it


class AlertRow(msgspec.Struct, kw_only=True):
    id: int
    subject_kind: str
    subject_id: str
    player_id: str
    family: str
    rules: list[str]
    severity: str
    priority: int
    score: int
    state: str
    repeats: int
    first_seen: datetime
    last_seen: datetime
    first_event: str
    last_event: str
    case_id: int | None


class IncidentRow(msgspec.Struct, kw_only=True):
    id: int
    kind: str
    priority: int
    subject: str
    state: str
    opened_at: datetime
    closed_at: datetime | None
    event_id: str | None
    summary: str
    details: dict[str, Any]


class AccessRow(msgspec.Struct, kw_only=True):
    id: int
    at: datetime
    client_id: str
    principal: str
    roles: list[str]
    method: str
    route: str
    path: str
    params: dict[str, str]
    player_id: str | None
    remote: str | None
    cert_subject: str | None
    request_id: str | None
    status: int | None  # None while the request is being answered
    duration_ms: float | None


LogRow = TransactionRow | DecisionRow | AlertRow | IncidentRow | AccessRow

# The details of an incident the service computed itself; anything else (who closed it and
# their note) is staff's.
_INCIDENT_DETAILS = ("statistic", "p_value", "until", "rule", "reason")


def transaction_row(r: asyncpg.Record) -> TransactionRow:
    return TransactionRow(
        seq=r["seq"],
        event_id=r["event_id"],
        type=r["type"],
        player_id=r["player_id"],
        market=r["market"],
        ts=r["ts"],
        received_at=r["received_at"],
        event=msgspec.Raw(bytes(r["body"])),
    )


def _decision(r: asyncpg.Record) -> DecisionRow:
    return DecisionRow(
        **{k: r[k] for k in DecisionRow.__struct_fields__ if k != "decision"},
        decision=msgspec.Raw(r["reply"].encode()),
    )


def _alert(r: asyncpg.Record) -> AlertRow:
    return AlertRow(**{k: r[k] for k in AlertRow.__struct_fields__})


def _incident(r: asyncpg.Record) -> IncidentRow:
    details = msgspec.json.decode(r["details"])
    return IncidentRow(
        **{k: r[k] for k in IncidentRow.__struct_fields__ if k != "details"},
        details={k: details[k] for k in _INCIDENT_DETAILS if k in details},
    )


def _access(r: asyncpg.Record) -> AccessRow:
    return AccessRow(
        **{k: r[k] for k in AccessRow.__struct_fields__ if k not in ("params", "roles")},
        params=msgspec.json.decode(r["params"]),
        roles=list(r["roles"]),
    )


# --- queries -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Log:
    select: str  # columns and table
    at: str  # the time column
    id: str  # the tie-breaker
    player: str  # a condition on the player, `{0}` for its parameter
    always: str  # a condition every row meets
    row: Callable[[asyncpg.Record], LogRow]

    def position(self, r: asyncpg.Record) -> Position:
        return Position(r[self.at], r[self.id])


_LOGS: dict[LogType, _Log] = {
    "transactions": _Log(
        "SELECT seq, event_id, type, player_id, market, ts, received_at, body FROM events",
        "ts",
        "seq",
        "player_id = {0}",
        "type = ANY('{" + ",".join(TRANSACTION_TYPES) + "}'::text[])",
        transaction_row,
    ),
    "decisions": _Log(
        "SELECT seq, event_id, player_id, market, ts, action, score, policy_version, reply "
        "FROM decisions",
        "ts",
        "seq",
        "player_id = {0}",
        "true",
        _decision,
    ),
    "alerts": _Log(
        "SELECT " + ", ".join(AlertRow.__struct_fields__) + " FROM alerts",
        "first_seen",
        "id",
        "(player_id = {0} OR subject_id = {0})",
        "true",
        _alert,
    ),
    "incidents": _Log(
        "SELECT id, kind, priority, subject, state, opened_at, closed_at, event_id, summary, "
        "details FROM incidents",
        "opened_at",
        "id",
        "subject = 'player:' || {0}",
        # Only a case's escalation gives an incident a case.
        "case_id IS NULL",
        _incident,
    ),
    "access": _Log(
        "SELECT " + ", ".join(AccessRow.__struct_fields__) + " FROM access_log",
        "at",
        "id",
        "player_id = {0}",
        "true",
        _access,
    ),
}


def _statement(q: LogQuery, *, probe: bool) -> tuple[str, list[object]]:
    """The query `q` asks; with `probe`, one row past the limit tells whether more follow."""
    log = _LOGS[q.log]
    args: list[object] = []

    def arg(value: object) -> str:
        args.append(value)
        return f"${len(args)}"

    where = [log.always]
    if q.start is not None:
        where.append(f"{log.at} >= {arg(q.start)}")
    if q.end is not None:
        where.append(f"{log.at} < {arg(q.end)}")
    if q.player is not None:
        where.append(log.player.format(arg(q.player)))
    if q.after is not None:
        at, ident = arg(q.after.at), arg(q.after.id)
        # Spelled out rather than as a row comparison so that the first half is an index
        # condition on the time column alone.
        where.append(f"{log.at} >= {at} AND ({log.at} > {at} OR {log.id} > {ident})")
    sql = f"{log.select} WHERE {' AND '.join(where)} ORDER BY {log.at}, {log.id}"
    if q.limit is not None:
        sql += f" LIMIT {arg(q.limit + probe)}"
    return sql, args


async def page(conn: asyncpg.Connection, q: LogQuery) -> tuple[list[LogRow], Position | None]:
    """Up to `q.limit` rows, and the position to continue after (None: no more rows)."""
    sql, args = _statement(q, probe=True)
    records = await conn.fetch(sql, *args)
    log = _LOGS[q.log]
    more = q.limit is not None and len(records) > q.limit
    records = records[: q.limit]
    return [log.row(r) for r in records], (log.position(records[-1]) if more else None)


async def stream(
    conn: asyncpg.Connection, q: LogQuery, *, prefetch: int = 1_000
) -> AsyncGenerator[LogRow, None]:
    """Every row `q` selects, read through a server-side cursor `prefetch` rows at a time,
    from one snapshot. Close the iterator (`contextlib.aclosing`) if it is left early."""
    sql, args = _statement(q, probe=False)
    row = _LOGS[q.log].row
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        async for r in conn.cursor(sql, *args, prefetch=prefetch):
            yield row(r)
