"""Currency conversion from a table of dated rates.

Each currency's rate against the pivot (EUR) is a step function of time: a rate is in force
from its effective date until the next one. Cross rates go through the pivot. Amounts are
integers in minor units (`dsl.vocabulary.minor_units`), and a conversion rounds half to
even.

The scalar path (`convert_minor`) and the batch path (`convert_minor_many`) do the same
float64 operations in the same order, so they agree to the last unit; a test holds them
together on random data.
"""

from __future__ import annotations

import csv
import io
import math
import os
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from itertools import pairwise
from typing import Final, TypeAlias

import numpy as np
import numpy.typing as npt

from dsl.vocabulary import currencies, minor_units

__all__ = ["PIVOT", "FxError", "RateTable"]

PIVOT: Final = "EUR"
_DAY_MS: Final = 86_400_000
_HEADER: Final = ("date", "currency", "per_eur")
_INT64_LIMIT: Final = 2.0**63

Effective: TypeAlias = date | str | int
"""When a rate takes effect: a date (or ISO date string), from 00:00 UTC, or epoch ms."""


class FxError(Exception):
    """No rate for a currency at a time, a malformed rate table, or a result too large."""


_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()


def _day_ms(day: date) -> int:
    return (day.toordinal() - _EPOCH_ORDINAL) * _DAY_MS


def _effective_ms(when: Effective) -> int:
    if isinstance(when, int):
        return when
    if isinstance(when, str):
        when = date.fromisoformat(when)
    return _day_ms(when)


def _format_ms(at_ms: int) -> str:
    try:
        when = datetime.fromtimestamp(at_ms / 1000, UTC)
        text = when.isoformat(timespec="milliseconds" if at_ms % 1000 else "seconds")
        return text.replace("+00:00", "Z")
    except (OverflowError, ValueError, OSError):  # outside datetime's years 1–9999
        return f"{at_ms} ms"


def _round_half_even(x: float) -> int:
    # Same bounds as the batch path, where the result has to fit an int64.
    if not -_INT64_LIMIT <= x < _INT64_LIMIT:
        raise FxError(f"converted amount {x:.0f} does not fit a 64-bit integer")
    return round(x)  # round() on a float is half to even


class RateTable:
    """Rates per currency against EUR, each a step function of time.

    Build one with `from_csv`, `default` or `from_rows`. The pivot itself is 1 at all
    times and needs no rows.
    """

    __slots__ = ("_arrays", "_dates", "_rates")

    def __init__(self, steps: dict[str, list[tuple[int, float]]]) -> None:
        """`steps`: currency → [(effective_from_ms, units per EUR)], in any order."""
        self._dates: dict[str, list[int]] = {}
        self._rates: dict[str, list[float]] = {}
        # The batch path searches numpy arrays; the scalar path bisects lists, which is
        # several times faster than np.searchsorted on one value.
        self._arrays: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = {}
        for currency, points in steps.items():
            if currency not in currencies():
                raise FxError(f"{currency!r} is not an ISO 4217 currency code")
            points = sorted(points)
            for (d1, _), (d2, _) in pairwise(points):
                if d1 == d2:
                    raise FxError(f"two {currency} rates take effect at {_format_ms(d1)}")
            for at, rate in points:
                if not (math.isfinite(rate) and rate > 0):
                    raise FxError(f"{currency} rate at {_format_ms(at)} is {rate}, not > 0")
                if currency == PIVOT and rate != 1.0:
                    raise FxError(f"{PIVOT} is the pivot; its rate must be 1, not {rate}")
            if currency == PIVOT or not points:
                continue
            self._dates[currency] = [at for at, _ in points]
            self._rates[currency] = [rate for _, rate in points]
            self._arrays[currency] = (
                np.array(self._dates[currency], dtype=np.int64),
                np.array(self._rates[currency], dtype=np.float64),
            )

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[Effective, str, float]]) -> RateTable:
        """A table from `(effective_from, currency, units_per_eur)` rows."""
        steps: dict[str, list[tuple[int, float]]] = {}
        for when, currency, per_eur in rows:
            steps.setdefault(currency, []).append((_effective_ms(when), float(per_eur)))
        return cls(steps)

    @classmethod
    def from_csv(cls, path: str | os.PathLike[str]) -> RateTable:
        """Load a CSV with header `date,currency,per_eur`; lines starting with '#' are
        comments. A rate is in force from 00:00 UTC on its date."""
        with open(path, encoding="utf-8", newline="") as f:
            return cls._parse(f.read(), os.fspath(path))

    @classmethod
    def default(cls) -> RateTable:
        """The approximate reference rates shipped in `engine/data/fx_rates.csv`: for tests
        and backtests, not market data."""
        return _default_table()

    @classmethod
    def _parse(cls, text: str, source: str) -> RateTable:
        rows: list[tuple[Effective, str, float]] = []
        header_seen = False
        for number, line in enumerate(io.StringIO(text, newline=None), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            fields = tuple(cell.strip() for cell in next(csv.reader([line])))
            if not header_seen:
                if fields != _HEADER:
                    raise FxError(f"{source}:{number}: expected header {','.join(_HEADER)}")
                header_seen = True
                continue
            if len(fields) != len(_HEADER):
                raise FxError(f"{source}:{number}: expected 3 columns, got {len(fields)}")
            day, currency, per_eur = fields
            try:
                rows.append((date.fromisoformat(day), currency, float(per_eur)))
            except ValueError as exc:
                raise FxError(f"{source}:{number}: {exc}") from None
        if not header_seen:
            raise FxError(f"{source}: empty rate table")
        try:
            return cls.from_rows(rows)
        except FxError as exc:
            raise FxError(f"{source}: {exc}") from None

    @property
    def currencies(self) -> frozenset[str]:
        """Currencies with at least one rate, and the pivot."""
        return frozenset(self._dates) | {PIVOT}

    def _per_eur(self, currency: str, at_ms: int) -> float:
        if currency == PIVOT:
            return 1.0
        dates = self._dates.get(currency)
        if dates is None:
            raise FxError(f"no FX rate for {currency!r}: the table has none for it")
        i = bisect_right(dates, at_ms) - 1
        if i < 0:
            raise FxError(
                f"no FX rate for {currency} at {_format_ms(at_ms)}: "
                f"its first rate takes effect at {_format_ms(dates[0])}"
            )
        return self._rates[currency][i]

    def rate(self, from_cur: str, to_cur: str, at_ms: int) -> float:
        """Units of `to_cur` per unit of `from_cur` in force at `at_ms` (epoch ms)."""
        if from_cur == to_cur:
            return 1.0
        return self._per_eur(to_cur, at_ms) / self._per_eur(from_cur, at_ms)

    def convert_minor(self, amount_minor: int, from_cur: str, to_cur: str, at_ms: int) -> int:
        """Convert an amount in minor units of `from_cur` to minor units of `to_cur` at the
        rate in force at `at_ms`, rounding half to even. The same currency is unchanged."""
        if from_cur == to_cur:
            return amount_minor
        x = amount_minor * self.rate(from_cur, to_cur, at_ms)
        shift = minor_units(to_cur) - minor_units(from_cur)
        # Multiply or divide by an exact power of ten, never by an inexact 0.01.
        x = x * 10**shift if shift >= 0 else x / 10**-shift
        return _round_half_even(x)

    def convert_minor_many(
        self,
        amounts: npt.NDArray[np.int64],
        from_codes: Sequence[str] | npt.NDArray[np.str_] | npt.NDArray[np.integer],
        to_cur: str,
        at_ms: npt.NDArray[np.int64],
        *,
        categories: Sequence[str] | None = None,
    ) -> npt.NDArray[np.int64]:
        """`convert_minor` over one-dimensional arrays, with exactly its results.

        `from_codes` holds one currency per amount: as strings, or, with `categories`, as
        integer indices into `categories` (a dictionary-encoded column). The integer form
        is the fast one; strings are first grouped with `np.unique`, which sorts them.
        """
        amounts = np.asarray(amounts, dtype=np.int64)
        at_ms = np.asarray(at_ms, dtype=np.int64)
        if categories is not None:
            names = list(categories)
            codes = np.asarray(from_codes, dtype=np.intp)
        else:
            if isinstance(from_codes, np.ndarray) and from_codes.dtype.kind in "iu":
                raise ValueError("integer currency codes need `categories` to name them")
            names_array, codes = np.unique(
                np.asarray(from_codes, dtype=np.str_), return_inverse=True
            )
            names = [str(name) for name in names_array]
        if not amounts.ndim == codes.ndim == at_ms.ndim == 1:
            raise ValueError("amounts, from_codes and at_ms must be one-dimensional")
        if not len(amounts) == len(codes) == len(at_ms):
            raise ValueError(
                f"amounts, from_codes and at_ms differ in length: "
                f"{len(amounts)}, {len(codes)}, {len(at_ms)}"
            )
        out = amounts.copy()  # same-currency amounts stay as they are
        if codes.size == 0:
            return out
        if codes.min() < 0 or codes.max() >= len(names):
            raise ValueError(f"currency codes must index categories (0..{len(names) - 1})")
        # Codes are small non-negative integers: counting them is cheaper than np.unique.
        present = np.flatnonzero(np.bincount(codes, minlength=len(names)))
        for code in present:
            from_cur = names[code]
            if from_cur == to_cur:
                continue
            # Look up rates only for this group's rows: a group never pays for another's.
            rows = np.flatnonzero(codes == code)
            times = at_ms[rows]
            ratio = self._per_eur_many(to_cur, times) / self._per_eur_many(from_cur, times)
            x = amounts[rows].astype(np.float64) * ratio
            shift = minor_units(to_cur) - minor_units(from_cur)
            x = x * float(10**shift) if shift >= 0 else x / float(10**-shift)
            outside = (x < -_INT64_LIMIT) | (x >= _INT64_LIMIT)
            if outside.any():
                bad = x[outside][0]
                raise FxError(f"converted amount {bad:.0f} does not fit a 64-bit integer")
            out[rows] = np.rint(x).astype(np.int64)  # rint rounds half to even
        return out

    def _per_eur_many(self, currency: str, at_ms: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """Units of `currency` per EUR at each time."""
        if currency == PIVOT:
            return np.ones(at_ms.shape, dtype=np.float64)
        if currency not in self._arrays:
            raise FxError(f"no FX rate for {currency!r}: the table has none for it")
        dates, rates = self._arrays[currency]
        i = np.searchsorted(dates, at_ms, side="right") - 1
        if len(i) and i.min() < 0:
            first = int(at_ms.min())
            raise FxError(
                f"no FX rate for {currency} at {_format_ms(first)}: "
                f"its first rate takes effect at {_format_ms(int(dates[0]))}"
            )
        return rates[i]


@cache
def _default_table() -> RateTable:
    text = resources.files("engine").joinpath("data/fx_rates.csv").read_text(encoding="utf-8")
    return RateTable._parse(text, "engine/data/fx_rates.csv")
