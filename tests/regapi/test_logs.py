"""The regulator logs' query parameters: times, page sizes and opaque cursors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from regapi import logs
from regapi.logs import LogQueryError, Position


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-20T10:00:00Z", datetime(2026, 11, 20, 10, tzinfo=UTC)),
        ("2026-11-20T11:00:00+01:00", datetime(2026, 11, 20, 10, tzinfo=UTC)),
        # A `+` sent unescaped in a query string arrives as a space.
        ("2026-11-20T11:00:00 01:00", datetime(2026, 11, 20, 10, tzinfo=UTC)),
        ("2026-11-20T10:00:00.123456Z", datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=UTC)),
    ],
)
def test_times_are_rfc_3339_with_an_offset(text: str, expected: datetime) -> None:
    assert logs.parse_time(text, "from") == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-11-20T10:00:00", "has no offset"),
        ("yesterday", "not an RFC 3339 time"),
        ("", "not an RFC 3339 time"),
        ("2026-11-20T10:00:00Z" * 5, "not an RFC 3339 time"),
    ],
)
def test_bad_times_name_their_parameter(text: str, message: str) -> None:
    with pytest.raises(LogQueryError, match=message) as caught:
        logs.parse_time(text, "to")
    assert caught.value.field == "to"


def test_from_must_come_before_to() -> None:
    with pytest.raises(LogQueryError, match="before") as caught:
        logs.time_range("2026-11-20T10:00:00Z", "2026-11-20T10:00:00Z")
    assert caught.value.field == "to"
    assert logs.time_range(None, None) == (None, None)


@pytest.mark.parametrize("text", ["0", "1001", "-1", "ten", "1e3", "\u0661\u0660"])
def test_page_sizes_are_bounded(text: str) -> None:
    with pytest.raises(LogQueryError, match="limit") as caught:
        logs.page_size(text)
    assert caught.value.field == "limit"


def test_page_size_defaults_and_bounds() -> None:
    assert logs.page_size(None) == logs.DEFAULT_LIMIT
    assert logs.page_size("1") == 1
    assert logs.page_size("1000") == 1000


def test_cursors_round_trip_to_the_microsecond() -> None:
    at = datetime(2026, 11, 20, 10, 0, 0, 123457, tzinfo=UTC)
    for position in (Position(at, 7), Position(at - timedelta(days=20_000), 2**62)):
        cursor = logs.encode_cursor("transactions", position)
        assert cursor.isascii()
        assert "=" not in cursor
        assert logs.decode_cursor("transactions", cursor) == position


@pytest.mark.parametrize(
    "cursor",
    ["", "x", "not base64 !", "YWJj", "Yzk6dHJhbnNhY3Rpb25zOjE6MQ", "a" * 300],
)
def test_bad_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(LogQueryError, match="not a cursor") as caught:
        logs.decode_cursor("transactions", cursor)
    assert caught.value.field == "cursor"


def test_a_cursor_belongs_to_its_log() -> None:
    cursor = logs.encode_cursor("alerts", Position(datetime(2026, 1, 1, tzinfo=UTC), 1))
    with pytest.raises(LogQueryError, match="not a cursor"):
        logs.decode_cursor("incidents", cursor)


def test_log_types() -> None:
    assert logs.log_type("access") == "access"
    with pytest.raises(LogQueryError, match="one of: transactions") as caught:
        logs.log_type("sars")
    assert caught.value.field == "type"
