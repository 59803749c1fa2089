"""A simulation written to a folder: `events.parquet`, `players.parquet`, the resolved
`scenario.toml` and a `manifest.json` of what was made.

Events are written batch by batch as they come out of `simulate`, one Parquet row group
per batch, so memory stays what the generator needs. Given the same scenario and seed,
`events.parquet` and `players.parquet` are the same bytes (with the same pyarrow).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from engine.fx import RateTable
from simulator.generate import DEFAULT_CHUNK_PLAYERS, Progress, simulate, simulate_players
from simulator.render import SCHEMA
from simulator.scenario import Scenario, dump_scenario
from simulator.vocab import EVENT_TYPES, TYPOLOGIES

__all__ = ["Written", "write_simulation"]

EVENTS_FILE = "events.parquet"
PLAYERS_FILE = "players.parquet"
SCENARIO_FILE = "scenario.toml"
MANIFEST_FILE = "manifest.json"


@dataclass
class Written:
    """What `write_simulation` made, as recorded in `manifest.json`."""

    out: str
    seed: int
    players: int
    days: int
    start: str
    events: int
    seconds: float
    events_per_second: float
    events_by_type: dict[str, int] = field(default_factory=dict)
    labelled_events: dict[str, int] = field(default_factory=dict)
    typology_players: dict[str, int] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)


def write_simulation(
    scn: Scenario,
    out: str | Path,
    *,
    fx: RateTable | None = None,
    chunk_players: int = DEFAULT_CHUNK_PLAYERS,
    workers: int = 1,
    progress: Progress | None = None,
) -> Written:
    """Simulate `scn` into the folder `out` (created if needed; files are replaced)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    by_type = np.zeros(len(EVENT_TYPES), dtype=np.int64)
    by_label = np.zeros(len(TYPOLOGIES), dtype=np.int64)
    events = 0
    path = out / EVENTS_FILE
    with _Writer(path) as writer:
        for batch in simulate(
            scn,
            fx=fx,
            chunk_players=chunk_players,
            workers=workers,
            spill_dir=out,
            progress=progress,
        ):
            writer.put(batch)
            events += batch.num_rows
            by_type += _counts(batch.column("type"), len(EVENT_TYPES))
            by_label += _counts(batch.column("label_typology"), len(TYPOLOGIES))
    players = simulate_players(scn, fx=fx)
    pq.write_table(players, out / PLAYERS_FILE, compression="zstd", compression_level=1)
    (out / SCENARIO_FILE).write_text(dump_scenario(scn), encoding="utf-8")
    seconds = time.perf_counter() - started
    typology = players.column("typology").combine_chunks()
    per_typology = _counts(typology, len(TYPOLOGIES))
    written = Written(
        out=str(out),
        seed=scn.scenario.seed,
        players=players.num_rows,
        days=scn.scenario.days,
        start=scn.scenario.start.isoformat(),
        events=events,
        seconds=round(seconds, 3),
        events_per_second=round(events / seconds) if seconds > 0 else 0,
        events_by_type={t: int(c) for t, c in zip(EVENT_TYPES, by_type, strict=True) if c},
        labelled_events={t: int(c) for t, c in zip(TYPOLOGIES, by_label, strict=True)},
        typology_players={t: int(c) for t, c in zip(TYPOLOGIES, per_typology, strict=True)},
        files={
            "events": str(path),
            "players": str(out / PLAYERS_FILE),
            "scenario": str(out / SCENARIO_FILE),
            "manifest": str(out / MANIFEST_FILE),
        },
    )
    manifest = {"scenario": scn.scenario.name, "pyarrow": pa.__version__, **asdict(written)}
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return written


class _Writer:
    """events.parquet, written by a thread of its own while the next batches are made
    (Parquet encoding and compression release the GIL)."""

    def __init__(self, path: Path) -> None:
        self._writer = pq.ParquetWriter(
            path,
            SCHEMA,
            compression="zstd",
            compression_level=1,
            # Dictionaries where the columns are dictionary-encoded already; unique ids
            # (event_id) would only fill a dictionary page and fall back.
            use_dictionary=[f.name for f in SCHEMA if pa.types.is_dictionary(f.type)],
            # Min/max on every string column costs more than encoding it; keep those a
            # reader prunes row groups by.
            write_statistics=["ts", "type", "market", "label_typology"],
        )
        self._queue: queue.Queue[pa.RecordBatch | None] = queue.Queue(maxsize=4)
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="events.parquet", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self._failure is None:
                try:
                    self._writer.write_batch(batch, row_group_size=batch.num_rows)
                except BaseException as exc:  # handed to the producer in put/close
                    self._failure = exc

    def put(self, batch: pa.RecordBatch) -> None:
        if self._failure is not None:
            raise self._failure
        self._queue.put(batch)

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._queue.put(None)
        self._thread.join()
        self._writer.close()
        if self._failure is not None and exc[0] is None:
            raise self._failure


def _counts(column: pa.Array | pa.ChunkedArray, size: int) -> np.ndarray:
    """Occurrences of each dictionary code in a dictionary-encoded column (nulls left out)."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    total = np.zeros(size, dtype=np.int64)
    for chunk in chunks:
        codes = chunk.indices.to_numpy(zero_copy_only=False)
        valid = ~chunk.is_null().to_numpy(zero_copy_only=False)
        total += np.bincount(codes[valid].astype(np.int64), minlength=size)[:size]
    return total
