"""Ingestion: idempotency, the decision, and the durable write before the answer.

The engine is single-threaded and its state is in memory, so events are decided one at a
time on the event loop, in the order they arrive, each given the next sequence number.
Decided events queue into the open *group*; one writer task commits groups in order, one
transaction each (a group commit: while one commit is in flight, the next group fills).
A caller gets its answer only once its group is committed, so an acknowledged event is
always in PostgreSQL.

If a commit fails, the engine's state holds events the database does not, and so does
every decision made since. Those groups fail (the callers get 503 and retry), and the
state is rebuilt from the database before anything else is decided. The same rebuild
runs at start: every stored event is replayed in `seq` order, so the next decision is the
one the service would have made had it never stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import msgspec
import structlog
from rbloom import Bloom

from engine import alerts, incidents
from engine.events import (
    BaseEvent,
    Event,
    EventError,
    decode_event,
    encode_event,
    event_type,
    ts_ms,
)
from engine.links import Links
from engine.runtime import CompiledPack, StreamEngine
from engine.store import alerts as alert_store
from engine.store import events as event_store
from engine.store import incidents as incident_store
from engine.store.incidents import Target

log = structlog.get_logger("pitboss.ingest")

_REPLY = msgspec.json.Encoder()
# Keys committed lately, remembered for requests whose look-up of the key ran before that
# commit; such a look-up takes milliseconds, so this many outlive any of them.
_SETTLED_KEYS = 50_000


class IngestError(Exception):
    """Base of what `Ingestor.decide` raises for a request it will not take now."""


class ConflictError(IngestError):
    """An event id or idempotency key reused with a different body."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class OverloadedError(IngestError):
    """Too many events wait for their commit; the caller should retry shortly."""

    retry_after = 1


class UnavailableError(IngestError):
    """The service is rebuilding its state (after a failed write or a policy switch)."""

    retry_after = 2


@dataclass(kw_only=True)
class IngestLimits:
    max_pending_events: int = 50_000
    alert_window_s: int = 7 * 86_400
    # Recent event ids kept in memory; older ones are looked up behind a Bloom filter.
    recent_ids: int = 500_000


def fingerprint(event: BaseEvent) -> bytes:
    """A digest of what the event says, whatever form its time was sent in."""
    canonical = msgspec.structs.replace(event, ts=ts_ms(event))
    return hashlib.blake2b(encode_event(canonical), digest_size=16).digest()


def reply_of(stored: str) -> bytes:
    """A stored reply, as the bytes first sent (the column is `json`, which keeps text)."""
    return stored.encode()


@dataclass
class _Group:
    """Decided events waiting for one commit."""

    future: asyncio.Future[None]
    events: list[tuple[object, ...]] = field(default_factory=list)
    decisions: list[tuple[object, ...]] = field(default_factory=list)
    shadow: list[tuple[object, ...]] = field(default_factory=list)
    keys: list[tuple[str, bytes, list[str]]] = field(default_factory=list)
    alerts: dict[tuple[str, str, str], alerts.AlertCandidate] = field(default_factory=dict)
    incidents: list[incidents.IncidentCandidate] = field(default_factory=list)
    times: list[datetime] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    replies: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)  # id → (fp, reply)


class _IdFilter:
    """Every event id ever decided, as Bloom filters that grow by adding a larger one."""

    def __init__(self, capacity: int = 1_000_000) -> None:
        self._filters = [Bloom(capacity, 0.001)]
        self._capacity = capacity
        self._count = 0

    def add(self, event_id: str) -> None:
        if self._count >= self._capacity:
            self._capacity *= 2
            self._filters.append(Bloom(self._capacity, 0.001))
            self._count = 0
        self._filters[-1].add(event_id)
        self._count += 1

    def __contains__(self, event_id: str) -> bool:
        return any(event_id in f for f in self._filters)


class _Memory:
    """What the ingestor knows without asking the database, rebuilt by replay."""

    def __init__(self, pack: CompiledPack, shadows: dict[int, CompiledPack], recent: int) -> None:
        self.engine = StreamEngine(pack)
        self.shadows = {v: StreamEngine(p) for v, p in shadows.items()}
        self.links = Links()
        self.seen = _IdFilter()
        self.recent: OrderedDict[str, bytes] = OrderedDict()  # committed id → fingerprint
        self.recent_cap = recent

    def remember(self, event_id: str, fp: bytes) -> None:
        self.recent[event_id] = fp
        if len(self.recent) > self.recent_cap:
            self.recent.popitem(last=False)


class Ingestor:
    """Decides events and commits them before anyone hears the decision."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        pack: CompiledPack,
        version_id: int,
        *,
        limits: IngestLimits | None = None,
        shadows: dict[int, CompiledPack] | None = None,
        notify_targets: Sequence[Target] = (),
        observe: Callable[[str, float], None] | None = None,
        on_commit: Callable[[list[int]], None] | None = None,
        on_written: Callable[[dict[str, int]], None] | None = None,
        on_duplicates: Callable[[int], None] | None = None,
    ) -> None:
        self.pool = pool
        self.pack = pack
        self.version_id = version_id
        self.limits = limits or IngestLimits()
        self._shadow_packs = dict(shadows or {})
        self._targets = list(notify_targets)
        self._observe = observe  # (event type, seconds to decide) for the latency histogram
        self._on_commit = on_commit  # ids of incidents that queued notifications
        self._on_written = on_written  # after each commit: new events per type
        self._on_duplicates = on_duplicates  # retries answered from the record
        self._mem = _Memory(pack, self._shadow_packs, self.limits.recent_ids)
        self._seq = 0
        self._open = self._new_group()
        self._pending: dict[str, tuple[bytes, _Group]] = {}  # decided, not yet committed
        self._pending_keys: dict[str, tuple[bytes, _Group]] = {}
        self._settled_keys: OrderedDict[str, bytes] = OrderedDict()  # key → fingerprint
        self._wake = asyncio.Event()
        self._ready = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._conn: asyncpg.Connection | None = None  # the writer's own
        self._partitions = event_store.Partitions()
        self.replayed = 0
        # One rebuild at a time; while a policy switch holds the service (`_holds`), a
        # rebuild does not make it ready: the switch does, when its own rebuild is done.
        self._rebuilding = asyncio.Lock()
        self._holds = 0

    # --- lifecycle -------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    @property
    def shadow_packs(self) -> dict[int, CompiledPack]:
        return dict(self._shadow_packs)

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def start(self) -> None:
        async with self._rebuilding:
            await self._rebuild()
        self._writer = asyncio.create_task(self._write_loop(), name="ingest-writer")

    async def stop(self) -> None:
        """Commit what is decided, then stop the writer."""
        self._ready.clear()
        await self.flush()
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        await self._release_connection()

    async def flush(self) -> None:
        while self._pending and self._writer is not None and not self._writer.done():
            self._wake.set()
            await asyncio.sleep(0.001)

    async def switch(
        self, pack: CompiledPack, version_id: int, shadows: dict[int, CompiledPack]
    ) -> None:
        """Make `pack` the live policy: its state is rebuilt from every stored event.

        If that fails, the previous pack is rebuilt and stays live, and the error is
        raised: the caller's switch did not happen."""
        self._holds += 1
        self._ready.clear()
        try:
            await self.flush()
            before = (self.pack, self.version_id, self._shadow_packs)
            self.pack, self.version_id, self._shadow_packs = pack, version_id, dict(shadows)
            try:
                async with self._rebuilding:
                    await self._rebuild()
            except Exception:
                self.pack, self.version_id, self._shadow_packs = before
                await self._rebuild_until_done()
                raise
        finally:
            self._holds -= 1
            if self._holds == 0 and not self._rebuilding.locked():
                self._ready.set()

    async def _rebuild_until_done(self) -> None:
        delay = 0.5
        async with self._rebuilding:
            while True:
                try:
                    await self._rebuild()
                    return
                except Exception as err:  # whatever it was, try again later
                    log.error("rebuild_failed", error=repr(err), retry_in=delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30)

    async def _rebuild(self) -> None:
        """Replace the state with one built from every stored event. Callers hold
        `_rebuilding`, so two rebuilds never interleave; the service is ready again
        only when no switch holds it back."""
        self._ready.clear()
        started = time.perf_counter()
        mem = _Memory(self.pack, self._shadow_packs, self.limits.recent_ids)
        count = 0
        async with self.pool.acquire() as conn:
            seq = await event_store.last_seq(conn)
            async for body in event_store.event_bodies(conn):
                event = decode_event(body)
                mem.engine.absorb(event)
                for engine in mem.shadows.values():
                    engine.absorb(event)
                mem.links.observe(event)
                mem.seen.add(event.event_id)
                mem.remember(event.event_id, fingerprint(event))
                count += 1
                if count % 4096 == 0:
                    await asyncio.sleep(0)  # let health checks answer during a long replay
        self._mem, self._seq, self.replayed = mem, seq, count
        if self._holds == 0:
            self._ready.set()
        log.info("state_rebuilt", events=count, seconds=round(time.perf_counter() - started, 3))

    # --- deciding --------------------------------------------------------------------

    def _new_group(self) -> _Group:
        return _Group(asyncio.get_event_loop().create_future())

    async def decide(
        self, events: Sequence[Event], *, key: str | None = None, batch: bool = False
    ) -> list[bytes]:
        """The replies (decision JSON) for `events`, in order, once they are committed.

        A retried event (same id, same content) gets its first reply and is not decided
        again; the same id with other content is a `ConflictError`, as is an idempotency key
        sent again with other events.
        """
        if not self._ready.is_set():
            raise UnavailableError("the service is rebuilding its state; retry shortly")
        if len(self._pending) + len(events) > self.limits.max_pending_events:
            raise OverloadedError("too many events are waiting to be written; retry shortly")
        fps = [fingerprint(e) for e in events]
        if key is not None:
            key_fp = hashlib.blake2b(b"".join(fps), digest_size=16).digest()
            earlier = await self._key_seen(key)
            if earlier is not None:
                if earlier[0] != key_fp:
                    raise ConflictError(
                        "this Idempotency-Key was used before with a different body",
                        field="Idempotency-Key",
                    )
                return await self._replies(earlier[1])
        stored = await self._stored(events)
        # Nothing awaited from here until every event is decided: the engine sees this
        # request's events in one run, and no other request slips between look-up and use.
        if not self._ready.is_set():
            raise UnavailableError("the service is rebuilding its state; retry shortly")
        held = self._held_key(key) if key is not None else None
        if held is not None:
            # The same request sent again while the first was being written: same answer
            # (writing the key a second time would fail the whole group commit).
            if held != key_fp:
                raise ConflictError(
                    "a request with this Idempotency-Key and another body is in progress",
                    field="Idempotency-Key",
                )
            return await self._replies([e.event_id for e in events])
        self._check_conflicts(events, fps, stored, batch)
        self._check_rates(events, stored, batch)
        group = self._open
        before = len(group.events)
        ids = []
        for event, fp in zip(events, fps, strict=True):
            ids.append(event.event_id)
            if event.event_id in stored or event.event_id in self._pending:
                continue
            if event.event_id in self._mem.recent:
                continue
            self._decide_one(event, fp, group)
        repeated = len(ids) - (len(group.events) - before)
        if repeated and self._on_duplicates is not None:
            self._on_duplicates(repeated)
        if key is not None:
            key_fp = hashlib.blake2b(b"".join(fps), digest_size=16).digest()
            group.keys.append((key, key_fp, ids))
            self._pending_keys[key] = (key_fp, group)
        if group.events or group.keys:
            self._wake.set()  # a new key for known events is written too
        return await self._replies(ids, stored)

    def _held_key(self, key: str) -> bytes | None:
        if key in self._pending_keys:
            return self._pending_keys[key][0]
        return self._settled_keys.get(key)

    def _check_conflicts(
        self,
        events: Sequence[Event],
        fps: list[bytes],
        stored: dict[str, tuple[bytes, str]],
        batch: bool,
    ) -> None:
        within: dict[str, bytes] = {}
        for i, (event, fp) in enumerate(zip(events, fps, strict=True)):
            eid = event.event_id
            known: bytes | None = within.get(eid)
            if known is None and eid in self._pending:
                known = self._pending[eid][0]
            if known is None and eid in self._mem.recent:
                known = self._mem.recent[eid]
            if known is None and eid in stored:
                known = stored[eid][0]
            if known is not None and known != fp:
                where = f"events[{i}].event_id" if batch else "event_id"
                raise ConflictError(
                    f"event_id {eid!r} was already used for a different event", field=where
                )
            within.setdefault(eid, fp)

    def _check_rates(
        self, events: Sequence[Event], stored: dict[str, tuple[bytes, str]], batch: bool
    ) -> None:
        # Before any event is decided: one that the engine cannot convert must not leave
        # the events before it in the open group, committed under a refused request.
        mem = self._mem
        engines = (mem.engine, *mem.shadows.values())
        for i, event in enumerate(events):
            eid = event.event_id
            if eid in stored or eid in self._pending or eid in mem.recent:
                continue
            for engine in engines:
                problem = engine.rate_problem(event)
                if problem is not None:
                    field, message = problem
                    raise EventError(message, field=f"events[{i}].{field}" if batch else field)

    def _decide_one(self, event: Event, fp: bytes, group: _Group) -> None:
        mem = self._mem
        started = time.perf_counter()
        decision = mem.engine.process(event)
        if self._observe is not None:
            self._observe(event_type(event), time.perf_counter() - started)
        self._seq += 1
        seq = self._seq
        reply = _REPLY.encode(decision)
        ts = decision_time(event)
        group.times.append(ts)
        group.types.append(event_type(event))
        group.events.append(
            (seq, event.event_id, event.player_id, event_type(event), event.market, ts,
             encode_event(event))
        )  # fmt: skip
        group.decisions.append(
            (event.event_id, seq, event.player_id, event.market, ts, decision.action,
             decision.score, self.version_id, fp, reply.decode())
        )  # fmt: skip
        for version, engine in mem.shadows.items():
            other = engine.process(event)
            group.shadow.append(
                (version, event.event_id, ts, other.action, other.score, decision.action,
                 decision.score, _REPLY.encode(other.hits + other.shadow).decode())
            )  # fmt: skip
        mem.links.observe(event)
        mem.seen.add(event.event_id)
        if decision.hits:
            cluster = mem.links.cluster(event.player_id)
            for c in alerts.candidates(decision, cluster):
                k = (c.subject_kind, c.subject_id, c.family)
                if k in group.alerts:
                    group.alerts[k].merge(c)
                else:
                    group.alerts[k] = c
        group.incidents.extend(incidents.from_event(event, decision))
        group.replies[event.event_id] = (fp, reply)
        self._pending[event.event_id] = (fp, group)

    async def _stored(self, events: Sequence[Event]) -> dict[str, tuple[bytes, str]]:
        """Decisions in the database for those events the memory cannot rule out."""
        mem = self._mem
        ask = [
            e.event_id
            for e in events
            if e.event_id not in self._pending
            and e.event_id not in mem.recent
            and e.event_id in mem.seen
        ]
        if not ask:
            return {}
        async with self.pool.acquire() as conn:
            return await event_store.decisions_of(conn, ask)

    async def _key_seen(self, key: str) -> tuple[bytes, list[str]] | None:
        if key in self._pending_keys:
            _, group = self._pending_keys[key]
            await asyncio.shield(group.future)
        async with self.pool.acquire() as conn:
            return await event_store.idempotency_key(conn, key)

    async def _replies(
        self, ids: list[str], stored: dict[str, tuple[bytes, str]] | None = None
    ) -> list[bytes]:
        stored = dict(stored or {})
        # Wait for every group that holds one of these events.
        groups = {id(g): g for eid in ids if eid in self._pending for g in [self._pending[eid][1]]}
        taken = {eid: self._pending[eid][1] for eid in ids if eid in self._pending}
        for group in groups.values():
            await asyncio.shield(group.future)
        missing = [eid for eid in ids if eid not in stored and eid not in taken]
        if missing:
            async with self.pool.acquire() as conn:
                stored.update(await event_store.decisions_of(conn, missing))
        out = []
        for eid in ids:
            if eid in taken:
                out.append(taken[eid].replies[eid][1])
            else:
                out.append(reply_of(stored[eid][1]))
        return out

    # --- writing ---------------------------------------------------------------------

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._open.events or self._open.keys:
                group, self._open = self._open, self._new_group()
                try:
                    notified = await self._commit(group)
                except Exception as exc:
                    log.error("commit_failed", error=repr(exc), events=len(group.events))
                    await self._fail_and_rebuild(group, exc)
                    continue
                self._settle(group)
                group.future.set_result(None)
                if self._on_written is not None:
                    self._on_written(dict(Counter(group.types)))
                if notified and self._on_commit is not None:
                    self._on_commit(notified)

    async def _commit(self, group: _Group) -> list[int]:
        # The writer keeps one connection: taking one from the pool and giving it back
        # (with its reset query) for every group cost as much as a small group's COPYs.
        if self._conn is None:
            self._conn = await self.pool.acquire()
        conn = self._conn
        try:
            async with conn.transaction():
                months = {(ts.year, ts.month) for ts in group.times}
                await self._partitions.ensure(conn, months)
                await event_store.write(
                    conn, group.events, group.decisions, group.keys, group.shadow
                )
                await alert_store.raise_alerts(
                    conn, list(group.alerts.values()), self.limits.alert_window_s
                )
                return await incident_store.open_incidents(conn, group.incidents, self._targets)
        except BaseException:
            await self._release_connection()  # it may be broken; the next commit takes anew
            raise

    async def _release_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await self.pool.release(conn, timeout=5)

    def _settle(self, group: _Group) -> None:
        for eid, (fp, _) in group.replies.items():
            self._pending.pop(eid, None)
            self._mem.remember(eid, fp)
        for key, key_fp, _ in group.keys:
            self._pending_keys.pop(key, None)
            self._settled_keys[key] = key_fp
            if len(self._settled_keys) > _SETTLED_KEYS:
                self._settled_keys.popitem(last=False)

    async def _fail_and_rebuild(self, group: _Group, exc: Exception) -> None:
        # Every decision since this group's first was made on state that included events
        # that are not stored: fail them all, then rebuild from what is stored.
        self._ready.clear()
        failed = [group, self._open]
        self._open = self._new_group()
        # A partition created in the failed transaction was rolled back with it.
        self._partitions = event_store.Partitions()
        for g in failed:
            for eid in g.replies:
                self._pending.pop(eid, None)
            for key, *_ in g.keys:
                self._pending_keys.pop(key, None)
            if not g.future.done():
                g.future.set_exception(UnavailableError("the write failed; retry shortly"))
                g.future.exception()  # a group nobody awaits must not warn
        await self._rebuild_until_done()


def decision_time(event: BaseEvent) -> datetime:
    """The event's time as a timezone-aware datetime, for the timestamptz columns."""
    return datetime.fromtimestamp(ts_ms(event) / 1000, tz=UTC)
