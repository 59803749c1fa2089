"""Generated report files: written by the report jobs, listed and downloaded by regulators.

Files are kept in the database (see migration 0007 for why); a download reads them a
slice at a time, so serving a large file does not hold it in memory.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from datetime import datetime

import asyncpg
import msgspec

from regapi.periods import Period

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_FORMAT = re.compile(r"[a-z0-9]{1,16}")
# A download reads this much per round trip: large enough to be cheap, small enough that
# many concurrent downloads stay within memory.
CHUNK = 1 << 20


class ReportFileError(ValueError):
    """A report file that cannot be stored as given; `field` names the argument."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class ReportFile(msgspec.Struct, kw_only=True):
    """A report file as listed: everything but its content."""

    id: int
    name: str
    market: str
    period: str  # e.g. weekly/2026-W47
    format: str  # csv, xml, json, pdf…
    size: int
    sha256: str
    generated_at: datetime


_COLUMNS = "id, name, market, period_kind, period_start, format, size, sha256, generated_at"


def _file(r: asyncpg.Record) -> ReportFile:
    return ReportFile(
        id=r["id"],
        name=r["name"],
        market=r["market"],
        period=str(Period(r["period_kind"], r["period_start"])),
        format=r["format"],
        size=r["size"],
        sha256=r["sha256"],
        generated_at=r["generated_at"],
    )


async def add_report_file(
    conn: asyncpg.Connection,
    *,
    market: str,
    period: Period,
    format: str,
    name: str,
    content: bytes,
) -> ReportFile:
    """Store a generated report file for `period` and return it as listed.

    A file is named once per period: storing the same name again with the same content is
    a retry and returns the stored file; with other content it is refused
    (`ReportFileError`), because a report a regulator may already have downloaded must
    not change under the same name; a corrected report takes a new name."""
    if not _NAME.fullmatch(name):
        raise ReportFileError(
            f"{name!r}: 1..200 letters, digits, '.', '_' or '-', not starting with a "
            "punctuation mark",
            field="name",
        )
    if not _FORMAT.fullmatch(format):
        raise ReportFileError(f"{format!r}: a lower-case format name, e.g. csv", field="format")
    if not market or len(market) > 16:
        raise ReportFileError(f"{market!r}: a market code", field="market")
    digest = hashlib.sha256(content).hexdigest()
    r = await conn.fetchrow(
        f"""INSERT INTO report_files
                (market, period_kind, period_start, format, name, sha256, size, content)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (period_kind, period_start, name) DO NOTHING
            RETURNING {_COLUMNS}""",
        market,
        period.kind,
        period.start,
        format,
        name,
        digest,
        len(content),
        content,
    )
    if r is not None:
        return _file(r)
    r = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM report_files "
        "WHERE period_kind = $1 AND period_start = $2 AND name = $3",
        period.kind,
        period.start,
        name,
    )
    if r["sha256"] != digest or r["market"] != market or r["format"] != format:
        raise ReportFileError(
            f"{period}/{name} exists with other content; give a corrected report a new name",
            field="name",
        )
    return _file(r)


async def listing(
    conn: asyncpg.Connection, period: Period, *, market: str | None = None
) -> list[ReportFile]:
    """The files of a period, by market and name."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM report_files
            WHERE period_kind = $1 AND period_start = $2 AND ($3::text IS NULL OR market = $3)
            ORDER BY market, name""",
        period.kind,
        period.start,
        market,
    )
    return [_file(r) for r in rows]


async def find(conn: asyncpg.Connection, period: Period, name: str) -> ReportFile | None:
    r = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM report_files "
        "WHERE period_kind = $1 AND period_start = $2 AND name = $3",
        period.kind,
        period.start,
        name,
    )
    return None if r is None else _file(r)


async def named(
    conn: asyncpg.Connection, period: Period, names: list[str], *, market: str
) -> dict[str, ReportFile]:
    """The files of `market` for `period` among `names`, by name (absent ones left out)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM report_files "
        "WHERE period_kind = $1 AND period_start = $2 AND name = ANY($3::text[]) AND market = $4",
        period.kind,
        period.start,
        names,
        market,
    )
    return {r["name"]: _file(r) for r in rows}


async def content(
    conn: asyncpg.Connection, file_id: int, *, chunk: int = CHUNK
) -> AsyncIterator[bytes]:
    """A stored file's bytes, `chunk` at a time (the caller holds the connection)."""
    offset = 0
    while True:
        # substring on bytea counts from 1.
        part: bytes | None = await conn.fetchval(
            "SELECT substring(content FROM $2 FOR $3) FROM report_files WHERE id = $1",
            file_id,
            offset + 1,
            chunk,
        )
        if not part:
            return
        yield part
        offset += len(part)
        if len(part) < chunk:
            return
