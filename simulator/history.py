"""Histories for the backtester: an Arrow table of events in the contract, read from a
user's file (every row checked against the contract, bad rows reported and skipped), in
the simulator's layout so `simulator.columns.engine_columns` takes either.

A user's row is checked by the same decoder as the live API (`engine.events`), so a
history the backtester accepts is one the service would accept, and a bad row is reported
with the field and the reason the API would give.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pyarrow.parquet as pq

from engine.encode import time_value
from engine.events import EventError, decode_event, ts_ms
from simulator.render import LABEL_COLUMNS

_CHUNK = 65_536
_SAMPLES = 50


@dataclass(frozen=True)
class BadRow:
    row: int  # 1-based data row in the user's file (the CSV header is row 0)
    field: str | None
    reason: str


@dataclass
class Loaded:
    events: pa.Table  # the contract's fields, valid rows only, sorted by (ts, arrival)
    labels: pa.Array | None  # label_typology per kept row, when the file has one
    bad: int = 0
    samples: list[BadRow] = field(default_factory=list)


def read_table(path: Path) -> pa.Table:
    """A CSV or Parquet file as an Arrow table (strings kept as strings, empty is null)."""
    if path.suffix.lower() == ".parquet":
        return pq.read_table(path)
    if path.suffix.lower() == ".csv":
        # Every column as text: the contract's decoder does the typing, with its messages.
        with path.open(encoding="utf-8", newline="") as f:
            header = next(csv.reader(f), [])
        return pv.read_csv(
            path,
            # Only an empty cell is missing: `NA` is Namibia.
            convert_options=pv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()),
                null_values=[""],
                strings_can_be_null=True,
            ),
        )
    raise ValueError(f"{path}: a history is a .csv or .parquet file")


# The contract's number and bool fields; every other field is text, digits or not (an id
# such as `12345` stays a string). `ts` and `until` may be numbers (epoch ms) or text.
_NUMBER_FIELDS = frozenset({"ts", "amount", "asn", "kyc_level", "value", "until", "p_value"})
_BOOL_FIELDS = frozenset({"doc_match"})


def _typed(name: str, value: str) -> Any:
    """A CSV cell as JSON would carry it, by the field's kind in the contract."""
    if name in _BOOL_FIELDS and value in ("true", "false"):
        return value == "true"
    if name in _NUMBER_FIELDS:
        for kind in (int, float):
            try:
                return kind(value)
            except ValueError:
                pass
    return value


def load_history(path: Path) -> Loaded:
    """Read and check a user's history; the run goes on past bad rows."""
    table = read_table(path)
    labels = table.column(LABEL_COLUMNS[0]) if LABEL_COLUMNS[0] in table.column_names else None
    fields = [c for c in table.column_names if c not in LABEL_COLUMNS]
    from_csv = path.suffix.lower() == ".csv"
    keep: list[int] = []
    rows: list[dict[str, Any]] = []
    bad, samples = 0, list[BadRow]()
    for start in range(0, table.num_rows, _CHUNK):
        chunk = table.select(fields).slice(start, _CHUNK).to_pylist()
        for k, raw in enumerate(chunk):
            row = {
                name: (_typed(name, v) if from_csv and isinstance(v, str) else v)
                for name, v in raw.items()
                if v is not None
            }
            try:
                event = decode_event(msgspec.json.encode(row))
            except (EventError, TypeError) as exc:
                bad += 1
                if len(samples) < _SAMPLES:
                    message = exc.message if isinstance(exc, EventError) else str(exc)
                    name = exc.field if isinstance(exc, EventError) else None
                    samples.append(BadRow(start + k + 1, name, message))
                continue
            keep.append(start + k)
            row = msgspec.to_builtins(event)
            # As the simulator writes them (`simulator.render`): times as epoch ms, a date
            # of birth as a date.
            row["ts"] = ts_ms(event)
            until, dob = getattr(event, "until", None), getattr(event, "dob", None)
            if until is not None:
                row["until"] = int(time_value(until))
            if dob is not None:
                row["dob"] = dob
            rows.append(row)
    events = _contract_table(rows)
    kept_labels = labels.take(pa.array(keep, pa.int64())) if labels is not None else None
    order = _time_order(events)
    return Loaded(
        events.take(order),
        kept_labels.take(order) if kept_labels is not None else None,
        bad,
        samples,
    )


def _contract_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Valid events as a table with every field any of them has (a row without a field
    holds null there)."""
    names = list(dict.fromkeys(name for row in rows for name in row))
    return pa.table({name: [row.get(name) for row in rows] for name in names})


def _time_order(events: pa.Table) -> pa.Array:
    """Rows sorted by (ts, arrival): a stable sort on time."""
    if events.num_rows == 0:
        return pa.array([], pa.int64())
    ts = np.asarray(events.column("ts").to_numpy(), dtype=np.int64)
    return pa.array(np.argsort(ts, kind="stable"))


def labels_of(events: pa.Table) -> pa.Array | None:
    if LABEL_COLUMNS[0] not in events.column_names:
        return None
    labels = events.column(LABEL_COLUMNS[0]).combine_chunks()
    if pa.types.is_dictionary(labels.type):
        labels = labels.dictionary_decode()
    return pc.fill_null(labels, "")
