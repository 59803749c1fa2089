"""Simulated events → the columns `engine.encode.Encoder.encode_columns` takes.

`type` and `market` become the engine's codes; `ts` stays epoch ms; `amount` is converted
to minor units of the market's base currency with the FX rate in force at each event's
time (`engine.fx.RateTable`); dates and times (`dob`, `until`) become epoch ms; numbers
and flags are float64 with NaN for missing; string fields stay Arrow arrays (plain or
dictionary-encoded), which the encoder interns by distinct value.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dsl.vocabulary import MARKETS
from engine.encode import column_codes
from engine.fx import RateTable
from engine.layout import EVENT_CODES, MARKET_CODES
from simulator.clock import DAY
from simulator.render import LABEL_COLUMNS

__all__ = ["engine_columns"]

_NUMBERS: Final = ("asn", "kyc_level", "value", "until", "p_value")
_SKIP: Final = ("amount", "currency", "dob", "doc_match", *LABEL_COLUMNS)


def _floats(column: pa.Array) -> np.ndarray:
    out: np.ndarray = column.to_numpy(zero_copy_only=False).astype(np.float64)
    return out


def engine_columns(
    events: pa.RecordBatch | pa.Table, fx: RateTable | None = None
) -> dict[str, Any]:
    """Columns for `Encoder.encode_columns` from simulated events (`simulator.render.
    SCHEMA`, or any table with the contract's field names and types)."""
    fx = fx or RateTable.default()
    if isinstance(events, pa.Table):
        batches = events.combine_chunks().to_batches()
        events = batches[0] if batches else pa.RecordBatch.from_pylist([], schema=events.schema)
    names = events.schema.names
    ts = events.column("ts").to_numpy(zero_copy_only=False).astype(np.int64)
    cols: dict[str, Any] = {"ts": ts}
    cols["type"] = column_codes(events.column("type"), EVENT_CODES)
    market = column_codes(events.column("market"), MARKET_CODES)
    cols["market"] = market
    for name in names:
        if name in cols or name in _SKIP:
            continue
        column = events.column(name)
        cols[name] = _floats(column) if name in _NUMBERS else column
    if "dob" in names:
        days = events.column("dob").cast(pa.int32())
        cols["dob"] = _floats(days) * DAY
    if "doc_match" in names:
        cols["doc_match"] = _floats(events.column("doc_match").cast(pa.int8()))
    if "amount" in names:
        cols["amount"] = _base_amounts(events, ts, market, fx)
    return cols


def _base_amounts(
    events: pa.RecordBatch, ts: np.ndarray, market: np.ndarray, fx: RateTable
) -> np.ndarray:
    """Amounts in minor units of each event's market's base currency, NaN where none."""
    amount = events.column("amount")
    present = ~amount.is_null().to_numpy(zero_copy_only=False)
    values = amount.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    currency = events.column("currency")
    if not pa.types.is_dictionary(currency.type):
        currency = pc.dictionary_encode(currency)
    names = [str(c) for c in currency.dictionary.to_pylist()]
    codes = currency.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    out = np.full(len(ts), np.nan)
    for name, code in MARKET_CODES.items():
        rows = np.flatnonzero((market == code) & present)
        if len(rows):
            out[rows] = fx.convert_minor_many(
                values[rows], codes[rows], MARKETS[name].currency, ts[rows], categories=names
            )
    return out
