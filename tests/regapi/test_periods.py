"""Reporting periods as regulators name them."""

from __future__ import annotations

from datetime import date

import pytest

from regapi import periods
from regapi.periods import Period, PeriodError


@pytest.mark.parametrize(
    ("text", "kind", "start", "end"),
    [
        ("daily/2026-11-20", "daily", date(2026, 11, 20), date(2026, 11, 21)),
        ("daily/2028-02-29", "daily", date(2028, 2, 29), date(2028, 3, 1)),
        ("weekly/2026-W47", "weekly", date(2026, 11, 16), date(2026, 11, 23)),
        # ISO week 1 of 2027 starts in 2027; week 53 of 2026 exists (2026 starts on a Thursday).
        ("weekly/2027-W01", "weekly", date(2027, 1, 4), date(2027, 1, 11)),
        ("weekly/2026-W53", "weekly", date(2026, 12, 28), date(2027, 1, 4)),
        ("monthly/2026-11", "monthly", date(2026, 11, 1), date(2026, 12, 1)),
        ("monthly/2026-12", "monthly", date(2026, 12, 1), date(2027, 1, 1)),
    ],
)
def test_periods_parse_to_their_first_day_and_back(
    text: str, kind: str, start: date, end: date
) -> None:
    period = periods.parse(text)
    assert (period.kind, period.start, period.end) == (kind, start, end)
    assert str(period) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-11-20", "is not a period"),
        ("yearly/2026", "'yearly' is not a period kind"),
        ("daily/2026-02-30", "not a date"),
        ("daily/2026-11-20T00:00", "not a date"),
        ("daily/26-11-20", "not a date"),
        ("weekly/2027-W53", "not an ISO week"),
        ("weekly/2026-W00", "not an ISO week"),
        ("weekly/2026-47", "not an ISO week"),
        ("monthly/2026-13", "not a month"),
        ("monthly/2026-11-01", "not a month"),
        ("daily/0000-01-01", "not a date"),
        ("daily/\uff12\uff10\uff12\uff16-11-20", "not a date"),  # full-width digits
    ],
)
def test_bad_periods_say_what_was_expected(text: str, message: str) -> None:
    with pytest.raises(PeriodError, match=message):
        periods.parse(text)


def test_a_period_is_found_from_its_first_day_only() -> None:
    assert periods.of("weekly", date(2026, 11, 16)) == Period("weekly", date(2026, 11, 16))
    with pytest.raises(PeriodError, match="does not begin a weekly period"):
        periods.of("weekly", date(2026, 11, 17))
    with pytest.raises(PeriodError, match="does not begin a monthly period"):
        periods.of("monthly", date(2026, 11, 2))
