"""Filed suspicious activity reports, and what filing one reads about its case.

Callers pass a connection and own the transaction. The `sars` table is append-only: the
database refuses UPDATE, DELETE and TRUNCATE on it (migration 0009). Nothing here is read
by a player-facing or regulator-facing route.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import msgspec


class SarRecord(msgspec.Struct, kw_only=True):
    """A filed report as listed: everything but its narrative and its XML."""

    id: int
    reference: str  # goAML entity_reference, e.g. PB-SAR-MGA-12-1
    case_id: int
    market: str
    report_code: str  # SAR | STR
    sha256: str  # hex digest of the XML as filed
    filed_by: str
    filed_at: datetime


@dataclass(frozen=True, kw_only=True)
class CaseFacts:
    id: int
    subject_kind: str
    subject_id: str
    state: str


@dataclass(frozen=True, kw_only=True)
class EventRow:
    seq: int
    event_id: str
    player_id: str
    type: str
    market: str
    ts: datetime
    body: bytes  # the event's JSON as decided


_SAR = "id, reference, case_id, market, report_code, sha256, filed_by, filed_at"
_EVENT = "e.seq, e.event_id, e.player_id, e.type, e.market, e.ts, e.body"


def _record(r: asyncpg.Record) -> SarRecord:
    return SarRecord(**{k: r[k] for k in SarRecord.__struct_fields__})


def _event(r: asyncpg.Record) -> EventRow:
    return EventRow(
        seq=r["seq"],
        event_id=r["event_id"],
        player_id=r["player_id"],
        type=r["type"],
        market=r["market"],
        ts=r["ts"],
        body=bytes(r["body"]),
    )


# --- reports ----------------------------------------------------------------------------


async def insert(
    conn: asyncpg.Connection,
    *,
    case_id: int,
    market: str,
    reference: str,
    report_code: str,
    reason: str,
    xml: bytes,
    sha256: str,
    filed_by: str,
    filed_at: datetime,
) -> SarRecord:
    r = await conn.fetchrow(
        "INSERT INTO sars (case_id, market, reference, report_code, reason, xml, sha256, "
        f"filed_by, filed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {_SAR}",
        case_id,
        market,
        reference,
        report_code,
        reason,
        xml,
        sha256,
        filed_by,
        filed_at,
    )
    return _record(r)


async def list_by_case(conn: asyncpg.Connection, case_id: int) -> list[SarRecord]:
    """A case's reports, oldest first."""
    rows = await conn.fetch(f"SELECT {_SAR} FROM sars WHERE case_id = $1 ORDER BY id", case_id)
    return [_record(r) for r in rows]


async def get(conn: asyncpg.Connection, sar_id: int) -> SarRecord | None:
    r = await conn.fetchrow(f"SELECT {_SAR} FROM sars WHERE id = $1", sar_id)
    return None if r is None else _record(r)


async def xml_of(conn: asyncpg.Connection, sar_id: int) -> tuple[SarRecord, bytes] | None:
    """A report and the XML it was filed as."""
    r = await conn.fetchrow(f"SELECT {_SAR}, xml FROM sars WHERE id = $1", sar_id)
    return None if r is None else (_record(r), bytes(r["xml"]))


async def count_for_case(conn: asyncpg.Connection, case_id: int) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM sars WHERE case_id = $1", case_id))


async def count_filed(conn: asyncpg.Connection, market: str, start: datetime, end: datetime) -> int:
    """Reports filed for `market` from `start` (included) to `end` (excluded)."""
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM sars WHERE market = $1 AND filed_at >= $2 AND filed_at < $3",
            market,
            start,
            end,
        )
    )


# --- what a report is made from ------------------------------------------------------------


async def lock_case(conn: asyncpg.Connection, case_id: int) -> CaseFacts | None:
    """The case, locked until the end of the transaction: two reports filed at once from
    one case are numbered one after the other."""
    r = await conn.fetchrow(
        "SELECT id, subject_kind, subject_id, state FROM cases WHERE id = $1 FOR UPDATE", case_id
    )
    return None if r is None else CaseFacts(**dict(r))


async def case_exists(conn: asyncpg.Connection, case_id: int) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM cases WHERE id = $1)", case_id))


async def was_escalated(conn: asyncpg.Connection, case_id: int) -> bool:
    """Whether the case was ever moved to `escalated` (its timeline keeps every move)."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM case_entries WHERE case_id = $1 "
            "AND kind = 'transition' AND data->>'to' = 'escalated')",
            case_id,
        )
    )


async def restriction_kinds(conn: asyncpg.Connection, case_id: int) -> list[str]:
    """The kinds of the restrictions placed for the case and still in force."""
    rows = await conn.fetch(
        "SELECT DISTINCT kind FROM restrictions WHERE case_id = $1 AND lifted_at IS NULL "
        "ORDER BY kind",
        case_id,
    )
    return [r["kind"] for r in rows]


async def event_market(conn: asyncpg.Connection, event_id: str) -> str | None:
    value: str | None = await conn.fetchval(
        "SELECT market FROM decisions WHERE event_id = $1", event_id
    )
    return value


async def events_by_id(
    conn: asyncpg.Connection, event_ids: Iterable[str], types: Sequence[str]
) -> list[EventRow]:
    """Those of `event_ids` that are of `types`."""
    rows = await conn.fetch(
        f"SELECT {_EVENT} FROM decisions d JOIN events e ON e.seq = d.seq AND e.ts = d.ts "
        "WHERE d.event_id = ANY($1::text[]) AND e.type = ANY($2::text[])",
        sorted(set(event_ids)),
        list(types),
    )
    return [_event(r) for r in rows]


async def player_events(
    conn: asyncpg.Connection,
    players: Sequence[str],
    types: Sequence[str],
    since: datetime,
    limit: int,
) -> list[EventRow]:
    """The players' events of `types` from `since` on, the latest `limit` of them."""
    rows = await conn.fetch(
        f"SELECT {_EVENT} FROM events e WHERE e.player_id = ANY($1::text[]) "
        "AND e.type = ANY($2::text[]) AND e.ts >= $3 "
        "ORDER BY e.ts DESC, e.seq DESC LIMIT $4",
        list(players),
        list(types),
        since,
        limit,
    )
    return [_event(r) for r in rows]
