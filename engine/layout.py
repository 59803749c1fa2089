"""The columnar form of events the compiled kernels read.

An event becomes one row of two matrices: `I` (int64: type, market, time, key slots and
interned strings) and `F` (float64: amounts, numbers, times, flags; NaN when missing).
Only the columns a compiled pack reads are laid out, so encoding an event costs what the
policies need and no more.

Money is held in **minor units of the market's base currency** (cents of EUR for MGA), so
sums of amounts are exact integers in float64 and the streaming and batch drivers, which
run the same additions in the same order, agree bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dsl.types import Kind
from dsl.vocabulary import COMMON_FIELDS, EVENTS, KEYS, MARKETS

# Fixed leading columns of `I`.
TYPE, MARKET, TS, PLAYER = 0, 1, 2, 3
# Fixed leading column of `F`.
HOUR = 0

MISSING_ID = -1
EVENT_CODES: dict[str, int] = {name: code for code, name in enumerate(EVENTS)}
EVENT_NAMES: tuple[str, ...] = tuple(EVENTS)
MARKET_CODES: dict[str, int] = {name: code for code, name in enumerate(MARKETS)}
MARKET_NAMES: tuple[str, ...] = tuple(MARKETS)

# Profile columns kept per player (float64 matrix `PF`, int64 matrix `PS`).
PF_KYC_LEVEL, PF_DOB, PF_DOC_MATCH, PF_EXCLUDED_UNTIL, PF_FIRST_SEEN = range(5)
PF_WIDTH = 5
PS_KYC_STATUS, PS_DOC_COUNTRY = range(2)
PS_WIDTH = 2


def field_kind(name: str) -> Kind:
    """The language type of a contract field, whichever event type carries it."""
    if name in COMMON_FIELDS:
        return COMMON_FIELDS[name].kind
    for fields in EVENTS.values():
        if name in fields:
            return fields[name].kind
    raise KeyError(name)


def is_id_kind(kind: Kind) -> bool:
    """Strings and countries are interned to int64 ids; everything else is a float."""
    return kind in (Kind.STRING, Kind.COUNTRY)


@dataclass
class Layout:
    """Column positions for one compiled pack. Build with `add_*`, then read."""

    int_columns: list[str] = field(default_factory=lambda: ["type", "market", "ts", "key:player"])
    float_columns: list[str] = field(default_factory=lambda: ["hour"])

    def key(self, key: str) -> int:
        """The int column holding the slot of `by KEY` (`device`, `round`, …)."""
        assert key in KEYS, key
        return self._int(f"key:{key}")

    def field(self, name: str) -> tuple[str, int]:
        """("I", col) for interned strings and countries, ("F", col) for the rest."""
        if name == "ts":
            return "I", TS
        if name == "hour":
            return "F", HOUR
        if is_id_kind(field_kind(name)):
            return "I", self._int(f"s:{name}")
        return "F", self._float(f"f:{name}")

    def fx(self, currency: str) -> int:
        """A float column: the factor from `currency` minor units to base minor units."""
        return self._float(f"fx:{currency}")

    def _int(self, name: str) -> int:
        if name not in self.int_columns:
            self.int_columns.append(name)
        return self.int_columns.index(name)

    def _float(self, name: str) -> int:
        if name not in self.float_columns:
            self.float_columns.append(name)
        return self.float_columns.index(name)

    @property
    def n_int(self) -> int:
        return len(self.int_columns)

    @property
    def n_float(self) -> int:
        return len(self.float_columns)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(c[4:] for c in self.int_columns if c.startswith("key:"))
