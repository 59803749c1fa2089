"""Events → the columnar rows a compiled pack reads.

The encoder is specialised once per pack ("decide before the hot path"): for each event
type it keeps only the (field, column, conversion) triples the pack's layout asks for.
Amounts are converted to the market's base currency, in minor units, with the FX rate in
force at the event's time; `hour` is the hour of `ts` in the market's time zone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from dsl.compiler.program import Program
from dsl.vocabulary import KEYS, MARKETS, minor_units
from engine.events import EVENT_TYPES, BaseEvent, event_type, to_epoch_ms, ts_ms
from engine.fx import FxError, RateTable
from engine.layout import EVENT_CODES, MARKET_CODES, MISSING_ID
from engine.state import Interner

_DAY_MS = 86_400_000
_ZONES = {code: ZoneInfo(m.timezone) for code, m in MARKETS.items()}
_BASE = {code: m.currency for code, m in MARKETS.items()}

Convert = Callable[[object], float]


def time_value(value: object) -> float:
    """A date or time field (`dob`, `until`) as the engine holds it: epoch ms, dates at
    UTC midnight."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return float((value - date(1970, 1, 1)).days * _DAY_MS)
    assert isinstance(value, datetime | int)
    return float(to_epoch_ms(value))


def _number(value: object) -> float:
    assert isinstance(value, int | float)
    return float(value)


def local_hour(at_ms: int, market: str) -> int:
    """The hour of a time on the market's clock (Europe/Malta for MGA, …)."""
    return datetime.fromtimestamp(at_ms / 1000, tz=UTC).astimezone(_ZONES[market]).hour


class Encoder:
    """Writes events into the `I`/`F` rows of one compiled pack."""

    def __init__(
        self,
        program: Program,
        strings: Interner,
        keys: dict[str, Interner],
        fx: RateTable,
    ) -> None:
        self.program = program
        self.layout = program.layout
        self.strings = strings
        self.keys = keys
        self.fx = fx
        layout = self.layout
        self._key_cols = [
            (layout.int_columns.index(f"key:{key}"), KEYS[key], keys[key])
            for key in layout.keys
            if key != "player"
        ]
        self._plans: dict[type[BaseEvent], list[tuple[str, int, int]]] = {}
        for name, cls in EVENT_TYPES.items():
            del name
            present = set(cls.__struct_fields__)
            plan: list[tuple[str, int, int]] = []  # (attr, 0 int / 1 float / 2 time, col)
            for col, column in enumerate(layout.int_columns):
                if column.startswith("s:") and column[2:] in present:
                    plan.append((column[2:], 0, col))
            for col, column in enumerate(layout.float_columns):
                if column.startswith("f:") and column[2:] in present and column != "f:amount":
                    kind = 2 if column[2:] in ("dob", "until") else 1
                    plan.append((column[2:], kind, col))
            self._plans[cls] = plan
        self._amount_col = (
            layout.float_columns.index("f:amount") if "f:amount" in layout.float_columns else -1
        )
        self._fx_cols = [
            (layout.float_columns.index(f"fx:{cur}"), cur) for cur in program.fx_currencies
        ]
        self._rated = fx.currencies

    def rate_problem(self, event: BaseEvent) -> tuple[str, str] | None:
        """Why `write` would fail on `event` — a conversion with no FX rate for its currency,
        or none yet in force at its time — as (field, message); None when it would not.

        The event contract takes any ISO 4217 currency and any time from 1970, the rate
        table fewer: the ingestor asks before deciding, so that such an event is refused
        (and a batch holding one refused whole) instead of failing half-way through."""
        at = ts_ms(event)
        base = _BASE[event.market]
        converted = [constant for _, constant in self._fx_cols]
        if self._amount_col >= 0 and getattr(event, "amount", None) is not None:
            currency: str = event.currency  # type: ignore[attr-defined]
            if currency not in self._rated:
                return "currency", f"no FX rate for {currency}: the rate table has none"
            converted.append(currency)
        try:
            for currency in converted:
                self.fx.rate(currency, base, at)
        except FxError as exc:
            return "ts", str(exc)
        return None

    def write(self, event: BaseEvent, I: np.ndarray, F: np.ndarray, r: int) -> None:
        """Encode `event` into row `r` of `I` and `F`."""
        at = ts_ms(event)
        market = event.market
        row_i = I[r]
        row_f = F[r]
        row_i[:] = MISSING_ID
        row_f[:] = np.nan
        row_i[0] = EVENT_CODES[event_type(event)]
        row_i[1] = MARKET_CODES[market]
        row_i[2] = at
        row_i[3] = self.keys["player"](event.player_id)
        row_f[0] = local_hour(at, market)
        for col, attr, interner in self._key_cols:
            value = getattr(event, attr, None)
            if value is not None:
                row_i[col] = interner(value)
        strings = self.strings
        for attr, kind, col in self._plans[type(event)]:
            value = getattr(event, attr)
            if value is None:
                continue
            if kind == 0:
                row_i[col] = strings(value)
            elif kind == 1:
                row_f[col] = float(value)
            else:
                row_f[col] = time_value(value)
        if self._amount_col >= 0:
            amount = getattr(event, "amount", None)
            if amount is not None:
                currency = event.currency  # type: ignore[attr-defined]
                base = _BASE[market]
                row_f[self._amount_col] = (
                    amount
                    if currency == base
                    else self.fx.convert_minor(amount, currency, base, at)
                )
        for col, currency in self._fx_cols:
            base = _BASE[market]
            row_f[col] = self.fx.rate(currency, base, at) * 10.0 ** (
                minor_units(base) - minor_units(currency)
            )

    def encode(self, events: Sequence[BaseEvent]) -> tuple[np.ndarray, np.ndarray]:
        """A whole history, in the order given, as fresh `I` and `F` matrices."""
        n = len(events)
        I = np.empty((n, self.layout.n_int), dtype=np.int64)
        F = np.empty((n, self.layout.n_float), dtype=np.float64)
        for r, event in enumerate(events):
            self.write(event, I, F, r)
        return I, F

    def encode_columns(self, columns: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """Bulk encoding of a history already held as arrays (the backtester's and the
        benchmarks' path): `type` and `market` as names or codes, `ts` epoch ms, `amount`
        in the market's base minor units, other fields as values (None/NaN missing);
        numpy arrays or Arrow arrays."""
        n = len(columns["ts"])
        layout = self.layout
        I = np.full((n, layout.n_int), MISSING_ID, dtype=np.int64)
        F = np.full((n, layout.n_float), np.nan, dtype=np.float64)
        I[:, 0] = column_codes(columns["type"], EVENT_CODES)
        I[:, 1] = column_codes(columns["market"], MARKET_CODES)
        I[:, 2] = np.asarray(columns["ts"], dtype=np.int64)
        # A field can be both a key (`key:device`) and a string (`s:device_id`): its
        # distinct values are found once and interned into each.
        distinct: dict[str, _Distinct] = {}
        for col, column in enumerate(layout.int_columns[3:], start=3):
            if column.startswith("key:"):
                source, interner = KEYS[column[4:]], self.keys[column[4:]]
            elif column.startswith("s:"):
                source, interner = column[2:], self.strings
            else:
                continue
            if source not in columns:
                continue
            if source not in distinct:
                values = columns[source]
                if not isinstance(values, pa.Array | pa.ChunkedArray):
                    values = np.asarray(values)
                if (
                    source in _NAMES
                    and isinstance(values, np.ndarray)
                    and values.dtype.kind in "iu"
                ):
                    # Given as codes: a rule compares the name (`market == "UKGC"`).
                    values = _NAMES[source][values]
                distinct[source] = _distinct(values)
            I[:, col] = distinct[source].ids(interner)
        for col, column in enumerate(layout.float_columns):
            if column.startswith("f:") and column[2:] in columns:
                F[:, col] = np.asarray(columns[column[2:]], dtype=np.float64)
        F[:, 0] = _local_hours(I[:, 2], I[:, 1])
        if self._fx_cols:
            for r in range(n):  # rare in packs; a per-row loop keeps it simple
                market = tuple(MARKETS)[int(I[r, 1])]
                for col, currency in self._fx_cols:
                    base = _BASE[market]
                    F[r, col] = self.fx.rate(currency, base, int(I[r, 2])) * 10.0 ** (
                        minor_units(base) - minor_units(currency)
                    )
        return I, F


# Names by code, for `type` and `market` given as codes (codes count up from 0).
_NAMES = {
    "type": np.array(sorted(EVENT_CODES, key=EVENT_CODES.__getitem__), dtype=object),
    "market": np.array(sorted(MARKET_CODES, key=MARKET_CODES.__getitem__), dtype=object),
}


def column_codes(values: Any, codes: dict[str, int]) -> np.ndarray:
    """Event types or markets as codes, given as codes already or as names (a numpy or
    Arrow column; names are looked up once per distinct value)."""
    if not isinstance(values, pa.Array | pa.ChunkedArray):
        arr = np.asarray(values)
        if arr.dtype.kind in "iu":
            return arr.astype(np.int64)
        values = pa.array(arr, from_pandas=True)
    encoded = values.dictionary_encode()
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    names = encoded.dictionary.to_pylist()
    unknown = [n for n in names if n not in codes]
    if unknown:
        raise ValueError(f"unknown value {unknown[0]!r} (known: {', '.join(codes)})")
    lut = np.array([codes[n] for n in names], dtype=np.int64)
    out: np.ndarray = lut[np.asarray(encoded.indices, dtype=np.int64)]
    return out


@dataclass
class _Distinct:
    """A column as codes into its distinct values (Arrow's hashing, no sort)."""

    uniques: list[object]
    codes: np.ndarray  # int64 index into `uniques`; len(uniques) where missing
    numeric: bool

    def ids(self, interner: Interner) -> np.ndarray:
        """The column as `interner`'s ids. Numbers are interned as ints; NaN, None and
        negative numbers are missing."""
        ids: list[int] | range
        if self.numeric:
            ids = [
                MISSING_ID if u != u or u < 0 else interner(int(u))  # type: ignore[call-overload, operator]
                for u in self.uniques
            ]
        else:
            ids = interner.many(self.uniques)
        lut = np.empty(len(ids) + 1, dtype=np.int64)
        lut[:-1] = np.arange(ids.start, ids.stop) if isinstance(ids, range) else ids
        lut[-1] = MISSING_ID
        out: np.ndarray = lut[self.codes]
        return out


def _distinct(values: Any) -> _Distinct:
    try:
        encoded = pa.array(values, from_pandas=True) if isinstance(values, np.ndarray) else values
        encoded = encoded.dictionary_encode()
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed kinds of values: one by one
        uniques = list(dict.fromkeys(v for v in values if v is not None))
        index = {v: k for k, v in enumerate(uniques)}
        codes = np.array([len(uniques) if v is None else index[v] for v in values], np.int64)
        return _Distinct(uniques, codes, numeric=False)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    uniques = encoded.dictionary.to_pylist()
    codes = np.asarray(encoded.indices.fill_null(len(uniques)), dtype=np.int64)
    numeric = pa.types.is_integer(encoded.dictionary.type) or pa.types.is_floating(
        encoded.dictionary.type
    )
    return _Distinct(uniques, codes, numeric)


def _local_hours(ts: np.ndarray, markets: np.ndarray) -> np.ndarray:
    """Local hours, computed once per (market, UTC hour) and broadcast."""
    out = np.empty(len(ts), dtype=np.float64)
    buckets = ts // 3_600_000
    names = tuple(MARKETS)
    for code in np.unique(markets):
        mask = markets == code
        uniq, inverse = np.unique(buckets[mask], return_inverse=True)
        hours = np.array(
            [local_hour(int(b) * 3_600_000, names[int(code)]) for b in uniq], dtype=np.float64
        )
        out[mask] = hours[inverse]
    return out
