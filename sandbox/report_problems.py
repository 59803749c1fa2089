"""What the report validator says about a file: one `Problem` per mistake, each with where
it is, collected up to a cap so that a hostile file cannot make the answer huge."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final

import msgspec

# A file can hold thousands of mistakes; the first hundred say what is wrong.
MAX_PROBLEMS: Final = 100

_RFC3339_UTC: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z"
)


class Problem(msgspec.Struct, frozen=True):
    """One reason a file is not a valid report.

    `line` and `column` are 1-based when known: for XML, libxml2's line and column; for a
    CSV row, the line the row ends on and the field's position in the row (1 = `section`);
    for a manifest, the place of a JSON syntax error; for a PDF, None (the location names
    the page). `location` says the same in words
    (`row 14, column amount_minor`, `line 3, column 7`, `page 1`, `files[2].sha256`,
    `file`)."""

    line: int | None
    column: int | None
    location: str
    message: str


class Problems:
    """The problems found so far: the first `MAX_PROBLEMS` kept, the rest only counted."""

    def __init__(self) -> None:
        self._kept: list[Problem] = []
        self._more = 0

    def __len__(self) -> int:
        return len(self._kept) + self._more

    def add(
        self, location: str, message: str, *, line: int | None = None, column: int | None = None
    ) -> None:
        if len(self._kept) < MAX_PROBLEMS:
            self._kept.append(Problem(line, column, location, message))
        else:
            self._more += 1

    def count_more(self, n: int) -> None:
        """`n` further problems found elsewhere (another checker's overflow)."""
        self._more += n

    def listed(self) -> list[Problem]:
        """The kept problems, then one saying how many more there were."""
        if not self._more:
            return list(self._kept)
        noun = "problem" if self._more == 1 else "problems"
        return [*self._kept, Problem(None, None, "file", f"… and {self._more} more {noun}")]


def is_utc_time(text: str) -> bool:
    """True for an RFC 3339 time in UTC written with `Z` (`2026-02-01T03:15:07Z`), as the
    reports write `generated_at`."""
    if not _RFC3339_UTC.fullmatch(text):
        return False
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def position(content: bytes, offset: int) -> tuple[int, int]:
    """The 1-based line and column (in bytes) of `offset` in `content`."""
    line = content.count(b"\n", 0, offset) + 1
    return line, offset - (content.rfind(b"\n", 0, offset) + 1) + 1


def quoted(text: str, limit: int = 60) -> str:
    """`text` for a message: repr-quoted and cut short, so a hostile value cannot make a
    problem huge."""
    return repr(text if len(text) <= limit else text[:limit] + "…")
