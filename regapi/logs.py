"""The logs a regulator reads (`/regulator/logs/{type}`): what each holds, how a query is
bounded in time, and the opaque cursor that continues one.

Every log is read in the order of a time and a tie-breaking id (an event's time and its
sequence number, an alert's first hit and its id, …), so a cursor is that pair: a page
ends at a row, the next starts after it, and rows written meanwhile at later times are
still found. What each log shows is chosen for regulators: nothing in any of them reveals
a suspicious activity report or that one exists (see `regapi.store.logs`).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal, TypeAlias

LogType: TypeAlias = Literal["transactions", "decisions", "alerts", "incidents", "access"]
LOG_TYPES: Final[tuple[LogType, ...]] = (
    "transactions",
    "decisions",
    "alerts",
    "incidents",
    "access",
)
# The events `transactions` holds: those that move money.
TRANSACTION_TYPES: Final = (
    "deposit",
    "withdrawal",
    "bet",
    "win",
    "chargeback",
    "cancellation",
    "bonus_grant",
    "bonus_wager",
    "bonus_release",
)
DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1_000

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_US: Final = timedelta(microseconds=1)
_CURSOR_VERSION: Final = "c1"


class LogQueryError(ValueError):
    """A query that cannot be run; `field` names the parameter at fault."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Position:
    """Where a row sits in its log: its time and its id (the tie-breaker)."""

    at: datetime
    id: int


@dataclass(frozen=True, kw_only=True)
class LogQuery:
    """One read of a log: rows with `start <= time < end`, of `player` if given, after
    `after`, at most `limit` of them (None: all, for a stream)."""

    log: LogType
    start: datetime | None = None
    end: datetime | None = None
    player: str | None = None
    after: Position | None = None
    limit: int | None = DEFAULT_LIMIT


def log_type(text: str) -> LogType:
    for known in LOG_TYPES:
        if text == known:
            return known
    raise LogQueryError(f"{text!r} is not a log (one of: {', '.join(LOG_TYPES)})", field="type")


def parse_time(text: str, field: str) -> datetime:
    """An RFC 3339 time with its offset (`2026-11-20T10:00:00Z`, `…+01:00`)."""
    # A `+` left unescaped in a query string arrives as a space.
    candidate = text.strip().replace(" ", "+") if "T" in text else text
    try:
        if not 0 < len(candidate) <= 40:
            raise ValueError
        at = datetime.fromisoformat(candidate)
    except ValueError:
        raise LogQueryError(
            f"{text!r} is not an RFC 3339 time, e.g. 2026-11-20T10:00:00Z", field=field
        ) from None
    if at.tzinfo is None:
        raise LogQueryError(
            f"{text!r} has no offset; RFC 3339 times end in Z or ±hh:mm", field=field
        )
    return at.astimezone(UTC)


def time_range(start: str | None, end: str | None) -> tuple[datetime | None, datetime | None]:
    """`from` and `to` as given in a query, checked: `from` must come before `to`."""
    lo = None if start is None else parse_time(start, "from")
    hi = None if end is None else parse_time(end, "to")
    if lo is not None and hi is not None and lo >= hi:
        raise LogQueryError("`from` must be before `to` (`to` is not included)", field="to")
    return lo, hi


def page_size(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not (text.isascii() and text.isdigit() and len(text) <= 5) or not (
        1 <= int(text) <= MAX_LIMIT
    ):
        raise LogQueryError(f"limit must be a whole number from 1 to {MAX_LIMIT}", field="limit")
    return int(text)


def encode_cursor(log: LogType, position: Position) -> str:
    """An opaque cursor for the row after `position` in `log`."""
    micros = (position.at - _EPOCH) // _US
    raw = f"{_CURSOR_VERSION}:{log}:{micros}:{position.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(log: LogType, text: str) -> Position:
    """The position a cursor from `encode_cursor` holds; it must come from the same log."""
    bad = LogQueryError("not a cursor this log gave; pass `next_cursor` as given", field="cursor")
    if not 0 < len(text) <= 200:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
        version, kind, micros, ident = raw.split(":")
        if version != _CURSOR_VERSION or kind != log:
            raise ValueError
        return Position(_EPOCH + int(micros) * _US, int(ident))
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError):
        raise bad from None
