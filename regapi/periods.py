"""Reporting periods as regulators name them: `daily/2026-11-20`, `weekly/2026-W47`,
`monthly/2026-11`.

A period is its kind and its first day; weeks are ISO 8601 weeks (Monday to Sunday, week 1
holds the year's first Thursday), as MGA and UKGC returns count them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final, Literal, TypeAlias

PeriodKind: TypeAlias = Literal["daily", "weekly", "monthly"]
KINDS: Final[tuple[PeriodKind, ...]] = ("daily", "weekly", "monthly")

_DAY = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_WEEK = re.compile(r"([0-9]{4})-W([0-9]{2})")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
_EXAMPLES = "daily/2026-11-20, weekly/2026-W47 or monthly/2026-11"


class PeriodError(ValueError):
    """A period that cannot be read; the message says what was expected."""


@dataclass(frozen=True)
class Period:
    kind: PeriodKind
    start: date

    @property
    def end(self) -> date:
        """The first day after the period."""
        if self.kind == "daily":
            return self.start + timedelta(days=1)
        if self.kind == "weekly":
            return self.start + timedelta(days=7)
        year, month = self.start.year + (self.start.month == 12), self.start.month % 12 + 1
        return date(year, month, 1)

    @property
    def label(self) -> str:
        """The period's name after the kind: `2026-11-20`, `2026-W47`, `2026-11`."""
        if self.kind == "daily":
            return self.start.isoformat()
        if self.kind == "weekly":
            year, week, _ = self.start.isocalendar()
            return f"{year:04d}-W{week:02d}"
        return f"{self.start.year:04d}-{self.start.month:02d}"

    def __str__(self) -> str:
        return f"{self.kind}/{self.label}"


def parse(text: str) -> Period:
    """`kind/label` → Period, or `PeriodError` saying what is wrong."""
    kind, slash, label = text.partition("/")
    if not slash:
        raise PeriodError(f"{text!r} is not a period; expected {_EXAMPLES}")
    if kind == "daily":
        return Period("daily", _day(label))
    if kind == "weekly":
        return Period("weekly", _week(label))
    if kind == "monthly":
        return Period("monthly", _month(label))
    raise PeriodError(f"{kind!r} is not a period kind (daily, weekly, monthly)")


def _day(label: str) -> date:
    m = _DAY.fullmatch(label)
    try:
        if m is None:
            raise ValueError
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        raise PeriodError(f"{label!r} is not a date (YYYY-MM-DD)") from None


def _week(label: str) -> date:
    m = _WEEK.fullmatch(label)
    try:
        if m is None:
            raise ValueError
        # fromisocalendar refuses week 53 of a year that has 52.
        return date.fromisocalendar(int(m[1]), int(m[2]), 1)
    except ValueError:
        raise PeriodError(f"{label!r} is not an ISO week of its year (YYYY-Www)") from None


def _month(label: str) -> date:
    m = _MONTH.fullmatch(label)
    try:
        if m is None:
            raise ValueError
        return date(int(m[1]), int(m[2]), 1)
    except ValueError:
        raise PeriodError(f"{label!r} is not a month (YYYY-MM)") from None


def of(kind: PeriodKind, start: date) -> Period:
    """The period of `kind` that `start` must begin; `PeriodError` if it begins none."""
    period = Period(kind, start)
    if parse(str(period)) != period:
        raise PeriodError(f"{start.isoformat()} does not begin a {kind} period")
    return period
