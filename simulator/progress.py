"""A progress bar on a terminal: one line, redrawn in place, for `pitboss simulate`."""

from __future__ import annotations

import sys
import time
from typing import TextIO

_PHASES = {"generate": "generating players", "merge": "sorting events"}


class Bar:
    """Draws `phase [#####.....] done/total` on `stream`, at most ten times a second."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self._last = 0.0
        self._phase = ""

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if phase == self._phase and done < total and now - self._last < 0.1:
            return
        if phase != self._phase and self._phase:
            self.stream.write("\n")
        self._phase, self._last = phase, now
        filled = self.width * done // max(total, 1)
        bar = "#" * filled + "." * (self.width - filled)
        label = _PHASES.get(phase, phase)
        self.stream.write(f"\r{label:<20} [{bar}] {done}/{total}")
        self.stream.flush()

    def close(self) -> None:
        if self._phase:
            self.stream.write("\n")
            self.stream.flush()
            self._phase = ""
