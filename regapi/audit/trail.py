"""The audit trail: record a change in the caller's transaction, read an entity's
history, verify the whole chain, seal it into segments.

Appends are serialized by the chain head's row lock, taken before the row is hashed and
held to the end of the caller's transaction: two transactions recording at once never
fork the chain, and the committed rows are always 1..n with no gap. Record late in a
transaction, so that the lock is held briefly.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Final

import asyncpg
import msgspec

from regapi.audit.chain import (
    ACTIONS,
    GENESIS,
    AuditEntry,
    Break,
    CanonicalError,
    ChainWalk,
    Document,
    Segment,
    check_json,
    check_segment,
    decode_json,
    encode_json,
    entry_hash,
    line,
    make_patch,
    retained_until,
    segment_hash,
)
from regapi.store import audit as store

_ENTITY: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
MAX_ID_LENGTH: Final = 256
MAX_ACTOR_LENGTH: Final = 200
# Rows per sealed segment: an exported segment is uploaded whole, from memory.
SEGMENT_ROWS: Final = 10_000


class AuditError(ValueError):
    """A change that cannot be recorded as given (the caller's mistake)."""


class ChainBrokenError(Exception):
    """The chain is broken where an operation needs it whole (sealing)."""

    def __init__(self, broken: Break) -> None:
        super().__init__(str(broken))
        self.broken = broken


class Pending(msgspec.Struct, frozen=True, kw_only=True):
    """A row ready to append: the entry and the canonical text of its JSON columns."""

    entry: AuditEntry
    before: str | None
    after: str | None
    patch: str


def build(
    *,
    id: int,
    prev_hash: str,
    at: datetime,
    entity: str,
    entity_id: str,
    action: str,
    actor: str,
    before: Document | None,
    after: Document | None,
) -> Pending:
    """The row that follows `id - 1` (whose hash is `prev_hash`); checks the arguments."""
    if action not in ACTIONS:
        raise AuditError(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
    if not _ENTITY.fullmatch(entity):
        raise AuditError(f"entity {entity!r}: a letter, then letters, digits or _ (64 at most)")
    if not 0 < len(entity_id) <= MAX_ID_LENGTH or "\x00" in entity_id:
        raise AuditError(f"entity_id must be 1 to {MAX_ID_LENGTH} characters, without NUL")
    if not 0 < len(actor) <= MAX_ACTOR_LENGTH or "\x00" in actor:
        raise AuditError(f"actor must be 1 to {MAX_ACTOR_LENGTH} characters, without NUL")
    if (before is None) != (action == "create") or (after is None) != (action == "delete"):
        raise AuditError(
            "a create has no `before`, a delete no `after`, an update both "
            f"(got {action} with before={'set' if before is not None else None}, "
            f"after={'set' if after is not None else None})"
        )
    for name, doc in (("before", before), ("after", after)):
        if doc is not None and not isinstance(doc, dict):
            raise AuditError(f"{name} must be a JSON object")
        try:
            check_json(doc)
        except CanonicalError as exc:
            raise AuditError(f"{name}: {exc}") from None
    patch = make_patch(before, after)
    texts = encode_json(before), encode_json(after), encode_json(patch)
    assert texts[2] is not None
    # The entry carries what the database will hand back: the canonical texts decoded.
    entry = AuditEntry(
        id=id,
        at=at,
        actor=actor,
        entity=entity,
        entity_id=entity_id,
        action=action,
        before=decode_json(texts[0]),
        after=decode_json(texts[1]),
        patch=decode_json(texts[2]),
        prev_hash=prev_hash,
        hash="",
        retain_until=retained_until(at),
    )
    entry = msgspec.structs.replace(entry, hash=entry_hash(entry))
    return Pending(entry=entry, before=texts[0], after=texts[1], patch=texts[2])


async def record(
    conn: asyncpg.Connection,
    *,
    entity: str,
    entity_id: str,
    action: str,
    actor: str,
    before: Document | None,
    after: Document | None,
) -> AuditEntry:
    """Append a hash-chained row for one change, in the caller's transaction (one of its
    own if there is none), and return it. `before` is None for a create, `after` for a
    delete; the RFC 6902 patch between them is computed here."""
    if not conn.is_in_transaction():
        async with conn.transaction():
            return await record(conn, entity=entity, entity_id=entity_id, action=action,
                                actor=actor, before=before, after=after)  # fmt: skip
    # Checked before the head is locked, so that a bad call holds nobody up.
    build(id=1, prev_hash=GENESIS, at=datetime.now(UTC), entity=entity, entity_id=entity_id,
          action=action, actor=actor, before=before, after=after)  # fmt: skip
    last_id, last_hash = await store.lock_head(conn)
    pending = build(id=last_id + 1, prev_hash=last_hash, at=datetime.now(UTC), entity=entity,
                    entity_id=entity_id, action=action, actor=actor, before=before,
                    after=after)  # fmt: skip
    await append(conn, pending)
    return pending.entry


async def append(conn: asyncpg.Connection, pending: Pending) -> None:
    """Insert a built row; the database refuses it unless it continues the chain's head."""
    await store.insert(
        conn, pending.entry, before=pending.before, after=pending.after, patch=pending.patch
    )


async def history(conn: asyncpg.Connection, entity: str, entity_id: str) -> list[AuditEntry]:
    """Every recorded change to one entity, oldest first: operator (`actor`), timestamp
    (`at`) and the RFC 6902 `patch` of each, with the states before and after."""
    return await store.history(conn, entity, entity_id)


async def latest(conn: asyncpg.Connection, entity: str, entity_id: str) -> AuditEntry | None:
    """The last recorded change to one entity, if any."""
    return await store.latest(conn, entity, entity_id)


# --- verify -------------------------------------------------------------------------------


class Report(msgspec.Struct, kw_only=True):
    """What `verify` walked, and the first broken link (None: the chain is whole)."""

    rows: int
    first_id: int | None
    last_id: int | None
    segments: int
    purged_segments: int
    head_id: int
    head_hash: str
    broken: Break | None

    @property
    def ok(self) -> bool:
        return self.broken is None


class _SegmentCheck:
    """Follows the walk through the sealed segments whose rows are still there."""

    def __init__(self, segments: list[Segment], purged: set[int]) -> None:
        self.segments = segments
        self.purged = purged
        self.index = 0
        self.hasher = hashlib.sha256()
        self.checked = 0

    def purged_prefix(self) -> tuple[int, Break | None]:
        """How many leading segments were purged; purges must go oldest first."""
        n = 0
        while n < len(self.segments) and self.segments[n].id in self.purged:
            n += 1
        for s in self.segments[n:]:
            if s.id in self.purged:
                return n, Break(segment_id=s.id, what="purged before an older segment")
        for i in range(n):
            prev = self.segments[i - 1] if i else None
            broken = check_segment(self.segments[i], None, prev)
            if broken is not None:
                return n, broken
            self.checked += 1
        self.index = n
        return n, None

    def feed(self, entry: AuditEntry) -> Break | None:
        if self.index >= len(self.segments):
            return None
        s = self.segments[self.index]
        if entry.id < s.first_id:
            return None
        self.hasher.update(line(entry))
        if entry.id < s.last_id:
            return None
        if s.last_hash != entry.hash:
            return Break(segment_id=s.id, what=f"sealed with last hash {s.last_hash[:16]}…, "
                         f"but row {entry.id} has {entry.hash[:16]}…")  # fmt: skip
        prev = self.segments[self.index - 1] if self.index else None
        broken = check_segment(s, self.hasher.hexdigest(), prev)
        self.index += 1
        self.checked += 1
        self.hasher = hashlib.sha256()
        return broken

    def finish(self, last_id: int) -> Break | None:
        if self.index < len(self.segments):
            s = self.segments[self.index]
            return Break(segment_id=s.id, what=f"sealed rows {s.first_id} to {s.last_id}, "
                         f"but the log ends at row {last_id}")  # fmt: skip
        return None


async def verify(conn: asyncpg.Connection) -> Report:
    """Walk the whole chain: recompute each row's hash from its content and the previous
    hash, check every sealed segment and the head; the first broken link is reported."""
    if conn.is_in_transaction():
        return await _verify(conn)
    # One snapshot for the whole walk: rows appended meanwhile are left for the next one.
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        return await _verify(conn)


async def _verify(conn: asyncpg.Connection) -> Report:
    segments = await store.segments(conn)
    purged = await store.purged(conn)
    head_id, head_hash = await store.head(conn)
    check = _SegmentCheck(segments, purged)
    n_purged, broken = check.purged_prefix()
    anchor = segments[n_purged - 1] if n_purged else None
    walk = ChainWalk(anchor.last_id + 1 if anchor else 1, anchor.last_hash if anchor else GENESIS)
    first: int | None = None
    if broken is None:
        async for entry in store.rows(conn, 1):
            first = entry.id if first is None else first
            broken = walk.feed(entry) or check.feed(entry)
            if broken is not None:
                break
    last_id = walk.next_id - 1
    if broken is None:
        broken = check.finish(last_id)
    if broken is None and (head_id, head_hash) != (last_id, walk.last_hash):
        broken = Break(
            row_id=head_id,
            what=f"the chain head names row {head_id} ({head_hash[:16]}…) but the log "
            f"ends at row {last_id}" + (" with another hash" if head_id == last_id else ""),
        )
    return Report(
        rows=walk.rows,
        first_id=first,
        last_id=last_id if walk.rows else None,
        segments=check.checked,
        purged_segments=n_purged,
        head_id=head_id,
        head_hash=head_hash,
        broken=broken,
    )


# --- seal ---------------------------------------------------------------------------------


async def seal(conn: asyncpg.Connection, by: str, *, max_rows: int = SEGMENT_ROWS) -> list[Segment]:
    """Close every committed row not yet sealed into segments of at most `max_rows` rows;
    refused (`ChainBrokenError`) if those rows do not continue the chain."""
    if not 0 < len(by) <= MAX_ACTOR_LENGTH:
        raise AuditError(f"the sealer's name must be 1 to {MAX_ACTOR_LENGTH} characters")
    if max_rows < 1:
        raise AuditError("max_rows must be at least 1")
    out: list[Segment] = []
    async with conn.transaction():
        await store.lock_seals(conn)
        prev = await store.last_segment(conn)
        head_id, _ = await store.head(conn)
        start = prev.last_id + 1 if prev else 1
        while start <= head_id:
            end = min(head_id, start + max_rows - 1)
            walk = ChainWalk(start, prev.last_hash if prev else GENESIS)
            hasher = hashlib.sha256()
            first_hash = ""
            latest = None
            async for entry in store.rows(conn, start, end):
                broken = walk.feed(entry)
                if broken is not None:
                    raise ChainBrokenError(broken)
                first_hash = first_hash or entry.hash
                hasher.update(line(entry))
                latest = max(latest or entry.retain_until, entry.retain_until)
            if walk.next_id != end + 1 or latest is None:
                raise ChainBrokenError(
                    Break(row_id=walk.next_id, what=f"row {walk.next_id} is missing")
                )
            segment = Segment(
                id=prev.id + 1 if prev else 1,
                first_id=start,
                last_id=end,
                rows=end - start + 1,
                prev_hash=prev.last_hash if prev else GENESIS,
                first_hash=first_hash,
                last_hash=walk.last_hash,
                lines_sha256=hasher.hexdigest(),
                prev_segment_hash=prev.hash if prev else GENESIS,
                hash="",
                sealed_at=datetime.now(UTC),
                sealed_by=by,
                retain_until=latest,
            )
            segment = msgspec.structs.replace(segment, hash=segment_hash(segment))
            await store.insert_segment(conn, segment)
            out.append(segment)
            prev, start = segment, end + 1
    return out


async def purge(conn: asyncpg.Connection, segment_id: int) -> int:
    """Remove the rows of a sealed segment whose retention has passed (the database
    refuses a younger one, or one with older rows still there); returns how many."""
    return await store.purge(conn, segment_id)
