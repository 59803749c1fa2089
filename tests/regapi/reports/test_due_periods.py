"""Which periods a scheduled run generates: ended in the market's time zone, grace passed,
within the catch-up horizon, from the first day with data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from regapi.periods import Period
from regapi.reports.collect import instants
from regapi.reports.due import GRACE, due_periods, next_period, period_containing


def test_a_day_is_due_an_hour_after_it_ends_on_the_markets_clock() -> None:
    # 2026-11-20 ends at 23:00 UTC in Malta (UTC+1 in winter); due at 00:00 UTC.
    lo, hi = instants(Period("daily", date(2026, 11, 20)), "Europe/Malta")
    assert lo == datetime(2026, 11, 19, 23, tzinfo=UTC)
    assert hi == datetime(2026, 11, 20, 23, tzinfo=UTC)
    just_before = hi + GRACE - timedelta(seconds=1)
    since = date(2026, 11, 20)
    assert due_periods("MGA", "daily", now=just_before, since=since) == []
    assert due_periods("MGA", "daily", now=hi + GRACE, since=since) == [
        Period("daily", date(2026, 11, 20))
    ]


def test_curacao_days_end_four_hours_behind_utc() -> None:
    lo, hi = instants(Period("daily", date(2026, 11, 20)), "America/Curacao")
    assert (lo, hi) == (
        datetime(2026, 11, 20, 4, tzinfo=UTC),
        datetime(2026, 11, 21, 4, tzinfo=UTC),
    )


def test_a_london_day_across_the_clock_change_has_25_hours() -> None:
    lo, hi = instants(Period("daily", date(2026, 10, 25)), "Europe/London")
    assert hi - lo == timedelta(hours=25)


def test_three_missed_days_are_three_reports() -> None:
    now = datetime(2026, 11, 21, 3, tzinfo=UTC)
    due = due_periods("UKGC", "daily", now=now, since=date(2026, 11, 18))
    assert [str(p) for p in due] == ["daily/2026-11-18", "daily/2026-11-19", "daily/2026-11-20"]


def test_weeks_and_months_are_whole_and_due_only_once_ended() -> None:
    now = datetime(2026, 11, 21, 3, tzinfo=UTC)
    weeks = due_periods("MGA", "weekly", now=now, since=date(2026, 11, 1))
    # The week holding 1 November started on 26 October; the current week has not ended.
    assert [str(p) for p in weeks] == ["weekly/2026-W44", "weekly/2026-W45", "weekly/2026-W46"]
    months = due_periods("MGA", "monthly", now=now, since=date(2026, 9, 15))
    assert [str(p) for p in months] == ["monthly/2026-10"]


def test_the_catch_up_stops_at_its_horizon() -> None:
    now = datetime(2026, 11, 21, 3, tzinfo=UTC)
    due = due_periods("MGA", "daily", now=now, since=date(2025, 1, 1), horizon=timedelta(days=3))
    assert [str(p) for p in due] == ["daily/2026-11-18", "daily/2026-11-19", "daily/2026-11-20"]


@pytest.mark.parametrize(
    ("kind", "day", "start"),
    [
        ("daily", date(2026, 2, 28), date(2026, 2, 28)),
        ("weekly", date(2026, 11, 22), date(2026, 11, 16)),
        ("monthly", date(2026, 12, 31), date(2026, 12, 1)),
    ],
)
def test_the_period_holding_a_day(kind: str, day: date, start: date) -> None:
    period = period_containing(kind, day)  # type: ignore[arg-type]
    assert period.start == start
    assert next_period(period).start == period.end
