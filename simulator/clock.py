"""The scenario's window in epoch milliseconds, and each market's local clock in it."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Final, TypeAlias
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from simulator.vocab import TIMEZONES

I64: TypeAlias = npt.NDArray[np.int64]

SECOND: Final = 1_000
MINUTE: Final = 60 * SECOND
HOUR: Final = 60 * MINUTE
DAY: Final = 24 * HOUR
EPOCH_DAY: Final = date(1970, 1, 1).toordinal()


class Clock:
    """Window start and end, and per market and day the local time's offset from UTC."""

    def __init__(self, start: date, days: int) -> None:
        self.start_day = start
        self.days = days
        self.start = (start.toordinal() - EPOCH_DAY) * DAY
        self.end = self.start + days * DAY
        # The offset at local noon holds for the whole day: a session starting in the hour
        # of a DST change is placed an hour off, which nothing downstream can tell.
        self.offsets = np.zeros((len(TIMEZONES), days + 1), dtype=np.int64)
        for m, zone in enumerate(TIMEZONES):
            tz = ZoneInfo(zone)
            for d in range(days + 1):
                noon = datetime.combine(start + timedelta(days=d), time(12), tzinfo=tz)
                offset = noon.utcoffset()
                assert offset is not None
                self.offsets[m, d] = offset // timedelta(milliseconds=1)

    def local_to_utc(self, market: I64, day: I64, local_ms: I64) -> I64:
        """Epoch ms of `local_ms` after local midnight of window day `day` in `market`."""
        d = np.clip(day, 0, self.days)
        out: I64 = self.start + day * DAY + local_ms - self.offsets[market, d]
        return out

    def day_of(self, ts: I64) -> I64:
        out: I64 = (ts - self.start) // DAY
        return out

    @staticmethod
    def epoch_day(day: date) -> int:
        return day.toordinal() - EPOCH_DAY

    def iso(self, ts: int) -> str:
        return datetime.fromtimestamp(ts / 1000, UTC).isoformat().replace("+00:00", "Z")
