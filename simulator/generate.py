"""From a scenario to a time-ordered stream of events, in bounded memory.

How the output comes out globally sorted by time while players are generated in chunks:

1. Players are split into fixed **blocks** (`scenario.block_players`). A block is the unit
   of randomness: it draws from its own PCG64 stream, seeded by
   `SeedSequence(seed, spawn_key=(block,))`, and holds whole farms, rings and households.
   So a block's events depend on the scenario and the block number only. Each block's
   events are sorted by time on their own (stably: ties keep generation order).
2. Blocks are generated a **chunk** at a time (`chunk_players`, a memory knob that does not
   change the data). Time is cut into **buckets** of whole hours (`bucket_ms`, from the
   scenario alone). A chunk's blocks are merged bucket by bucket — each block's slice of
   the bucket, in block order, stably sorted — which keeps the merge's random access
   inside the cache.
3. With one chunk, the merged buckets are the output. With more, each chunk's merged
   buckets are spilled to an Arrow IPC file (LZ4, one record batch per bucket): a sorted
   run, cut at the same edges as every other run. The runs are then merged the same way,
   bucket by bucket, reading only that bucket of each run: a k-way merge whose memory is
   one bucket of all players, not the whole history.

Ties on `ts` end up ordered by (block, row inside the block) however the work is chunked,
and each output batch is one bucket, so one chunk or many, one worker or several, give
the same rows in the same batches: the same bytes.
"""

from __future__ import annotations

import math
import multiprocessing
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from datetime import date
from pathlib import Path
from typing import Any, Final, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from engine.fx import RateTable
from simulator import groups, honest, identity, sessions, typologies
from simulator.clock import HOUR, Clock
from simulator.frame import COLUMNS, Block, Frame, concat, finish, sort_rows, take
from simulator.population import Population, make_population
from simulator.render import LABEL_COLUMNS, PLAYER_SCHEMA, SCHEMA, render_events, render_players
from simulator.scenario import Scenario
from simulator.vocab import KYC_UPDATE

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "DEFAULT_CHUNK_PLAYERS",
    "SCHEMA",
    "Progress",
    "generate_block",
    "simulate",
    "simulate_players",
]

Array: TypeAlias = npt.NDArray[np.generic]
I64: TypeAlias = npt.NDArray[np.int64]
Progress: TypeAlias = Callable[[str, int, int], None]
"""Called as `progress(phase, done, total)`; phases "generate" and "merge"."""

DEFAULT_CHUNK_PLAYERS: Final = 20_000
DEFAULT_BATCH_ROWS: Final = 131_072
# What the default behaviours produce on average; only sizes the batches.
EVENTS_PER_PLAYER_HOUR: Final = 0.3
NEVER: Final = np.iinfo(np.int64).max


def block_rng(scn: Scenario, block: int) -> np.random.Generator:
    """The block's own random stream: independent of every other block's."""
    seq = np.random.SeedSequence(scn.scenario.seed, spawn_key=(block,))
    return np.random.Generator(np.random.PCG64(seq))


def n_blocks(scn: Scenario) -> int:
    return math.ceil(scn.scenario.players / scn.scenario.block_players)


def _population(
    scn: Scenario, clock: Clock, fx: RateTable, block: int
) -> tuple[np.random.Generator, Population, list[tuple[str, I64]]]:
    rng = block_rng(scn, block)
    pop, grouped = make_population(rng, scn, clock, fx, block)
    identity.prepare(rng, scn, clock, pop)
    return rng, pop, grouped


def generate_block(
    scn: Scenario, block: int, *, fx: RateTable | None = None, clock: Clock | None = None
) -> tuple[Block, Population]:
    """Every event of one block's players, sorted by time."""
    fx = fx or RateTable.default()
    clock = clock or Clock(scn.scenario.start, scn.scenario.days)
    rng, pop, grouped = _population(scn, clock, fx, block)
    ids = sessions.Ids(block)
    frame = Frame()

    planned = sessions.plan(rng, scn, clock, pop, ids)
    played = sessions.play(rng, scn, clock, pop, frame, planned)
    first_withdrawal = np.full(pop.n, NEVER, dtype=np.int64)
    cashed = played.withdrawal_ts >= 0
    np.minimum.at(first_withdrawal, planned.player[cashed], played.withdrawal_ts[cashed])
    first_withdrawal[first_withdrawal == NEVER] = -1
    honest.kyc(rng, scn, clock, pop, frame, first_withdrawal)
    honest.bonuses(rng, scn, pop, frame, ids, planned, played)
    honest.limits(rng, scn, clock, pop, frame)
    excluded, excluded_at = honest.self_exclusions(rng, pop, frame, planned, played)
    honest.reversals(rng, scn, pop, frame, planned, played)
    honest.big_wins(rng, scn, clock, pop, frame, ids)

    # Typologies, in a fixed order (each draws from the block's stream in turn).
    label_from = np.full(pop.n, NEVER, dtype=np.int64)
    label_from[pop.of("underage")] = np.iinfo(np.int64).min  # all a minor does
    typologies.structuring(rng, scn, clock, pop, frame, ids)
    typologies.pass_through(rng, scn, clock, pop, frame, ids)
    typologies.chargeback_abuse(rng, scn, clock, pop, frame, ids)
    typologies.cancellation_abuse(rng, scn, clock, pop, frame, ids)
    typologies.stolen_card(rng, scn, clock, pop, frame, ids)
    groups.multi_accounting(rng, scn, clock, pop, frame, ids, grouped)
    groups.collusion(rng, scn, clock, pop, frame, ids, grouped)
    identity.kyc_mismatch(rng, scn, clock, pop, frame)
    identity.underage(rng, scn, clock, pop, frame)
    identity.self_exclusion_breach(rng, scn, clock, pop, frame, ids, label_from)
    typologies.chasing_losses(rng, scn, clock, pop, frame, ids)

    ts = np.asarray(frame.column("ts"), dtype=np.int64)
    player = np.asarray(frame.column("player"), dtype=np.int64)
    # The window, plus identity checks from before it (so the engine knows each player's
    # verified level), less what honest self-excluded players would have done after.
    keep = (ts < clock.end) & ((ts >= clock.start) | (frame.column("type") == KYC_UPDATE))
    stop = np.full(pop.n, NEVER, dtype=np.int64)
    stop[excluded] = excluded_at
    keep &= ts <= stop[player]
    return (
        finish(
            frame,
            block=block,
            player_offset=pop.first,
            markets=pop.market,
            currencies=pop.currency,
            keep=keep,
            typology=pop.typology,
            label_from=label_from,
        ),
        pop,
    )


def simulate_players(scn: Scenario, *, fx: RateTable | None = None) -> pa.Table:
    """The players (`players.parquet`): who each is, and their ground-truth label.
    Cheap: populations come first in each block's stream, no event is generated."""
    fx = fx or RateTable.default()
    clock = Clock(scn.scenario.start, scn.scenario.days)
    batches = []
    for block in range(n_blocks(scn)):
        _, pop, _ = _population(scn, clock, fx, block)
        batches.append(render_players(pop))
    return pa.Table.from_batches(batches, schema=PLAYER_SCHEMA)


def bucket_ms(scn: Scenario, batch_rows: int = DEFAULT_BATCH_ROWS) -> int:
    """The time span of one output batch: whole hours, about `batch_rows` events at the
    usual rate of a few events per player per ten hours. It depends on the scenario only,
    so batches (and Parquet row groups) are the same however the run is chunked."""
    per_hour = max(1.0, scn.scenario.players * EVENTS_PER_PLAYER_HOUR)
    return int(min(24, max(1, math.ceil(batch_rows / per_hour)))) * HOUR


def _edges(clock: Clock, ts: Array, span: int) -> I64:
    """Row offsets of the bucket edges in a time-sorted run: bucket 0 also holds anything
    before the window, the last anything after it."""
    inner = clock.start + span * np.arange(1, _n_buckets(clock, span), dtype=np.int64)
    cuts = np.searchsorted(ts, inner, side="left")
    out: I64 = np.concatenate([[0], cuts, [len(ts)]]).astype(np.int64)
    return out


def _n_buckets(clock: Clock, span: int) -> int:
    return max(1, math.ceil((clock.end - clock.start) / span))


_SPILL_SCHEMA: Final = pa.schema(
    [(name, pa.from_numpy_dtype(dt)) for name, (dt, _) in COLUMNS.items()]
)


def _blocks(
    scn: Scenario, chunk: range, fx: RateTable, clock: Clock, report: Progress
) -> list[dict[str, Array]]:
    """A chunk's blocks, each sorted by time on its own."""
    blocks = []
    for block in chunk:
        blocks.append(generate_block(scn, block, fx=fx, clock=clock)[0].columns)
        report("generate", chunk.start + len(blocks), chunk.stop)
    return blocks


class _Merge:
    """Bucket `k` of several sorted runs, merged: each run's slice of the bucket, in run
    order, stably sorted by time. Working a bucket at a time keeps the merge's random
    access within the cache."""

    def __init__(self, runs: list[dict[str, Array]], clock: Clock, span: int) -> None:
        self.runs = runs
        self.edges = [_edges(clock, run["ts"], span).tolist() for run in runs]

    def __call__(self, k: int) -> dict[str, Array]:
        parts = [
            take(run, slice(e[k], e[k + 1])) for run, e in zip(self.runs, self.edges, strict=True)
        ]
        return sort_rows(concat(parts))


def _spill(scn: Scenario, chunk: range, fx: RateTable, path: Path, span: int) -> int:
    """Generate a chunk and write it as a sorted run, one record batch per bucket.
    Runs in a worker process when the simulation has workers."""
    clock = Clock(scn.scenario.start, scn.scenario.days)
    merge = _Merge(_blocks(scn, chunk, fx, clock, lambda *_: None), clock, span)
    # LZ4 makes a run about a quarter of its raw size (some 40 bytes an event) for a
    # few percent of the time.
    options = pa.ipc.IpcWriteOptions(compression="lz4")
    with (
        pa.OSFile(str(path), "wb") as sink,
        pa.ipc.new_file(sink, _SPILL_SCHEMA, options=options) as w,
    ):
        for k in range(_n_buckets(clock, span)):
            columns = merge(k)
            w.write_batch(pa.record_batch([pa.array(columns[n]) for n in COLUMNS], _SPILL_SCHEMA))
    return len(chunk)


def _in_order(
    make: Callable[[int], pa.RecordBatch | None], count: int, threads: int
) -> Iterator[tuple[int, pa.RecordBatch | None]]:
    """`make(0)`, `make(1)`, … in order, computed by `threads` threads at most a few
    ahead of the consumer (numpy and Arrow release the GIL for the heavy parts)."""
    if threads <= 1:
        for k in range(count):
            yield k, make(k)
        return
    with ThreadPoolExecutor(threads) as pool:
        ahead: deque[tuple[int, Future[pa.RecordBatch | None]]] = deque()
        for k in range(count):
            ahead.append((k, pool.submit(make, k)))
            if len(ahead) > 2 * threads:
                done, job = ahead.popleft()
                yield done, job.result()
        while ahead:
            done, job = ahead.popleft()
            yield done, job.result()


def contract_events(scn: Scenario) -> Iterator[dict[str, Any]]:
    """The scenario's events as the service receives them: one JSON-ready object per event
    in the event contract (no nulls, no ground-truth labels), in time order. For feeding a
    live service (benchmarks, the sandbox, tests)."""
    for batch in simulate(scn):
        for row in batch.to_pylist():
            event = {k: v for k, v in row.items() if v is not None and k not in LABEL_COLUMNS}
            if isinstance(event.get("dob"), date):
                event["dob"] = event["dob"].isoformat()
            yield event


def simulate(
    scn: Scenario,
    *,
    fx: RateTable | None = None,
    chunk_players: int = DEFAULT_CHUNK_PLAYERS,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    workers: int = 1,
    spill_dir: str | Path | None = None,
    progress: Progress | None = None,
) -> Iterator[pa.RecordBatch]:
    """The scenario's events as Arrow record batches (`SCHEMA`), sorted by (ts, arrival)
    across all batches; each batch covers a fixed span of time (`bucket_ms`).

    Memory is bounded by one chunk of `chunk_players` players' events (per worker) plus
    a few batches of everyone's. With more than one chunk, sorted runs are spilled under
    `spill_dir` (a temporary folder by default; about 40 bytes per event) and removed
    when the iterator ends or is closed. `workers` > 1 generates chunks in that many
    processes and merges batches in that many threads; the data is the same."""
    fx = fx or RateTable.default()
    clock = Clock(scn.scenario.start, scn.scenario.days)
    blocks = n_blocks(scn)
    per_chunk = max(1, chunk_players // scn.scenario.block_players)
    chunks = [range(b, min(b + per_chunk, blocks)) for b in range(0, blocks, per_chunk)]
    span = bucket_ms(scn, batch_rows)
    buckets = _n_buckets(clock, span)
    report = progress or (lambda phase, done, total: None)
    psp = scn.psp_names

    def emit(merge: Callable[[int], dict[str, Array]]) -> Iterator[pa.RecordBatch]:
        def make(k: int) -> pa.RecordBatch | None:
            columns = merge(k)
            return render_events(columns, psp) if len(columns["ts"]) else None

        for k, batch in _in_order(make, buckets, workers):
            if batch is not None:
                yield batch
            report("merge", k + 1, buckets)

    if len(chunks) == 1:
        yield from emit(_Merge(_blocks(scn, chunks[0], fx, clock, report), clock, span))
        return

    with tempfile.TemporaryDirectory(prefix="pitboss-sim-", dir=spill_dir) as tmp:
        paths = [Path(tmp, f"run-{i:05d}.arrow") for i in range(len(chunks))]
        done = 0
        if workers > 1:
            # fork where there is one: spawn would re-import the caller's main module.
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                jobs = [
                    pool.submit(_spill, scn, chunk, fx, path, span)
                    for chunk, path in zip(chunks, paths, strict=True)
                ]
                for job in as_completed(jobs):
                    done += job.result()
                    report("generate", done, blocks)
        else:
            for chunk, path in zip(chunks, paths, strict=True):
                done += _spill(scn, chunk, fx, path, span)
                report("generate", done, blocks)
        # Read, not memory-mapped: a bucket's slices are copied in and let go, so the
        # runs never count against the process's memory.
        sources = [pa.OSFile(str(p), "rb") for p in paths]
        try:
            readers = [pa.ipc.open_file(src) for src in sources]
            yield from emit(_RunMerge(readers))
        finally:
            for src in sources:
                src.close()


class _RunMerge:
    """The same merge over spilled runs: bucket `k` is record batch `k` of every run."""

    def __init__(self, readers: list[pa.ipc.RecordBatchFileReader]) -> None:
        self.readers = readers
        # A file reader is not documented as safe to share between threads.
        self.locks = [threading.Lock() for _ in readers]

    def __call__(self, k: int) -> dict[str, Array]:
        parts = []
        for reader, lock in zip(self.readers, self.locks, strict=True):
            with lock:
                batch = reader.get_batch(k)
            parts.append(_columns(batch))
        return sort_rows(concat(parts))


def _columns(batch: pa.RecordBatch) -> dict[str, Array]:
    return {
        name: batch.column(i).to_numpy(zero_copy_only=False)
        for i, name in enumerate(batch.schema.names)
    }
