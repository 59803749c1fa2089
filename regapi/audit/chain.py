"""The audit log's hash chain: canonical JSON, row and segment hashes, and the walk that
finds the first broken link. Pure: no I/O (`regapi.store.audit` holds the SQL).

A row's hash is the SHA-256 (hex) of the canonical JSON of its content:

    {"action":…,"actor":…,"after":…,"at":"2026-11-01T10:00:00.000000Z","before":…,
     "entity":…,"entity_id":…,"id":17,"patch":[…],"prev_hash":"<row 16's hash>",
     "retain_until":"2033-11-01T10:00:00.000000Z","v":1}

and its `prev_hash` is the previous row's hash (64 zeros before row 1), so changing any
row changes every hash after it. Canonical JSON: object keys sorted by code point, no
whitespace, UTF-8 (not \\u-escaped), numbers as Python writes them (shortest round-trip
form for floats), no NaN or Infinity; times in UTC with microseconds and a `Z`. A
sealed segment's lines are each row's canonical JSON with its `hash` added, one per line.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final

import jsonpatch
import jsonpointer
import msgspec

FORMAT: Final = 1
GENESIS: Final = "0" * 64
RETENTION_YEARS: Final = 7
ACTIONS: Final = ("create", "update", "delete")
MAX_DEPTH: Final = 64

Document = dict[str, Any]
Patch = list[dict[str, Any]]


class CanonicalError(ValueError):
    """A value that has no canonical JSON form; `path` is a JSON pointer to it."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path or '/'}: {message}")
        self.path, self.message = path, message


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One row of the audit log: who changed what, when, the states before and after, the
    RFC 6902 patch between them, and the row's place in the chain."""

    id: int
    at: datetime
    actor: str
    entity: str
    entity_id: str
    action: str  # create | update | delete
    before: Document | None
    after: Document | None
    patch: Patch
    prev_hash: str
    hash: str
    retain_until: datetime


# --- canonical JSON ----------------------------------------------------------------------


def check_json(value: object, *, max_depth: int = MAX_DEPTH, nul: bool = True) -> None:
    """Raise `CanonicalError` unless `value` is plain JSON (dict with str keys, list, str,
    int, finite float, bool, None) nested at most `max_depth` deep; `nul=False` also
    refuses NUL characters, which PostgreSQL text cannot hold."""
    stack: list[tuple[object, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > max_depth:
            raise CanonicalError(path, f"nested more than {max_depth} deep")
        if item is None or isinstance(item, bool | int):
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                raise CanonicalError(path, "not a finite number")
        elif isinstance(item, str):
            _check_text(item, path, nul)
        elif isinstance(item, list | tuple):
            stack.extend((v, f"{path}/{i}", depth + 1) for i, v in enumerate(item))
        elif isinstance(item, dict):
            for k, v in item.items():
                if not isinstance(k, str):
                    raise CanonicalError(path, f"key {k!r} is not a string")
                _check_text(k, path, nul)
                stack.append((v, f"{path}/{_escape(k)}", depth + 1))
        else:
            raise CanonicalError(path, f"{type(item).__name__} is not a JSON value")


def _check_text(text: str, path: str, nul: bool) -> None:
    try:
        text.encode()
    except UnicodeEncodeError:
        raise CanonicalError(path, "text holds a lone surrogate") from None
    if not nul and "\x00" in text:
        raise CanonicalError(path, "text holds a NUL character")


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def canonical(value: object) -> bytes:
    """The canonical JSON of `value` (checked with `check_json`)."""
    check_json(value)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def canonical_text(value: object) -> str:
    return canonical(value).decode()


def timestamp(at: datetime) -> str:
    """A time in its canonical form: UTC, microseconds, `Z`."""
    if at.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def retained_until(at: datetime) -> datetime:
    """`at` plus the retention (7 calendar years, counted in UTC); 29 February goes on to
    1 March, never back to the 28th, so retention is never short by a day."""
    at = at.astimezone(UTC)
    try:
        return at.replace(year=at.year + RETENTION_YEARS)
    except ValueError:  # 29 February into a common year
        return at.replace(year=at.year + RETENTION_YEARS, month=3, day=1)


# --- rows --------------------------------------------------------------------------------


def content(
    *,
    id: int,
    at: datetime,
    actor: str,
    entity: str,
    entity_id: str,
    action: str,
    before: object,
    after: object,
    patch: object,
    prev_hash: str,
    retain_until: datetime,
) -> dict[str, object]:
    """What a row's hash covers."""
    return {
        "v": FORMAT,
        "id": id,
        "at": timestamp(at),
        "actor": actor,
        "entity": entity,
        "entity_id": entity_id,
        "action": action,
        "before": before,
        "after": after,
        "patch": patch,
        "prev_hash": prev_hash,
        "retain_until": timestamp(retain_until),
    }


def entry_content(entry: AuditEntry) -> dict[str, object]:
    return content(
        id=entry.id,
        at=entry.at,
        actor=entry.actor,
        entity=entry.entity,
        entity_id=entry.entity_id,
        action=entry.action,
        before=entry.before,
        after=entry.after,
        patch=entry.patch,
        prev_hash=entry.prev_hash,
        retain_until=entry.retain_until,
    )


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entry_hash(entry: AuditEntry) -> str:
    """The hash `entry` should carry, recomputed from its content."""
    return sha256(canonical(entry_content(entry)))


def line(entry: AuditEntry) -> bytes:
    """The entry as one canonical JSON line of a sealed segment (with its stored hash)."""
    return canonical({**entry_content(entry), "hash": entry.hash}) + b"\n"


# --- patches ----------------------------------------------------------------------------


def make_patch(before: Document | None, after: Document | None) -> Patch:
    """The RFC 6902 patch turning `before` (or {} for a create) into `after` (or {} for a
    delete). Checked by applying it: should the diff ever come out wrong, the patch
    replaces the whole document instead, so a version always rebuilds exactly."""
    source, target = before or {}, after or {}
    ops: Patch = jsonpatch.make_patch(source, target).patch
    if canonical(apply_patch(source, ops)) != canonical(target):
        ops = [{"op": "replace", "path": "", "value": target}]
    return ops


def apply_patch(document: Document, patch: Patch) -> Document:
    """`patch` applied to a copy of `document`; raises jsonpatch/jsonpointer errors."""
    result: Document = jsonpatch.apply_patch(document, patch, in_place=False)
    return result


PATCH_ERRORS: Final = (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException)


# --- walking the chain -------------------------------------------------------------------


class Break(msgspec.Struct, frozen=True, kw_only=True):
    """The first broken link: the row (or segment) where it is, and what differs."""

    row_id: int | None = None
    segment_id: int | None = None
    what: str

    def __str__(self) -> str:
        where = f"row {self.row_id}" if self.row_id is not None else f"segment {self.segment_id}"
        return f"{where}: {self.what}"


class Segment(msgspec.Struct, frozen=True, kw_only=True):
    """A sealed, closed range of the log."""

    id: int
    first_id: int
    last_id: int
    rows: int
    prev_hash: str
    first_hash: str
    last_hash: str
    lines_sha256: str
    prev_segment_hash: str
    hash: str
    sealed_at: datetime
    sealed_by: str
    retain_until: datetime


def segment_content(s: Segment) -> dict[str, object]:
    """What a segment's hash covers."""
    return {
        "v": FORMAT,
        "id": s.id,
        "first_id": s.first_id,
        "last_id": s.last_id,
        "rows": s.rows,
        "prev_hash": s.prev_hash,
        "first_hash": s.first_hash,
        "last_hash": s.last_hash,
        "lines_sha256": s.lines_sha256,
        "prev_segment_hash": s.prev_segment_hash,
        "sealed_at": timestamp(s.sealed_at),
        "sealed_by": s.sealed_by,
        "retain_until": timestamp(s.retain_until),
    }


def segment_hash(s: Segment) -> str:
    return sha256(canonical(segment_content(s)))


def _short(h: str) -> str:
    return h[:16] + "…"


class ChainWalk:
    """Feed rows in id order; `feed` returns the first `Break` it meets (then stops
    looking). `start_id`/`start_hash` anchor the walk: row 1 and the genesis hash, or the
    row after the last purged segment and that segment's last hash."""

    def __init__(self, start_id: int = 1, start_hash: str = GENESIS) -> None:
        self.next_id = start_id
        self.last_hash = start_hash
        self.rows = 0

    def feed(self, entry: AuditEntry) -> Break | None:
        if entry.id != self.next_id:
            if entry.id > self.next_id:
                gone = (
                    f"row {self.next_id} is missing"
                    if entry.id == self.next_id + 1
                    else f"rows {self.next_id} to {entry.id - 1} are missing"
                )
                return Break(row_id=entry.id, what=f"{gone} (the log jumps to row {entry.id})")
            return Break(row_id=entry.id, what=f"out of order: expected row {self.next_id}")
        if entry.prev_hash != self.last_hash:
            return Break(
                row_id=entry.id,
                what=f"prev_hash {_short(entry.prev_hash)} is not the hash of the row "
                f"before it ({_short(self.last_hash)})",
            )
        try:
            recomputed = entry_hash(entry)
        except (CanonicalError, ValueError) as exc:
            return Break(row_id=entry.id, what=f"content cannot be hashed: {exc}")
        if recomputed != entry.hash:
            return Break(
                row_id=entry.id,
                what=f"content does not match its hash: stored {_short(entry.hash)}, "
                f"recomputed from the row {_short(recomputed)}",
            )
        self.next_id += 1
        self.last_hash = entry.hash
        self.rows += 1
        return None


def check_segment(s: Segment, lines_sha256: str | None, prev: Segment | None) -> Break | None:
    """A segment against its predecessor and, when its rows are still there, against the
    SHA-256 of their lines as they are now (None: the rows were purged)."""
    expected_prev = prev.hash if prev is not None else GENESIS
    expected_first = prev.last_id + 1 if prev is not None else 1
    if s.prev_segment_hash != expected_prev or s.first_id != expected_first:
        return Break(segment_id=s.id, what="does not follow the segment before it")
    if segment_hash(s) != s.hash:
        return Break(segment_id=s.id, what="its record does not match its hash")
    if lines_sha256 is not None and lines_sha256 != s.lines_sha256:
        return Break(
            segment_id=s.id,
            what=f"rows {s.first_id} to {s.last_id} no longer match the sealed lines "
            f"(sealed {_short(s.lines_sha256)}, now {_short(lines_sha256)})",
        )
    return None


def lines_sha256(entries: Iterable[AuditEntry]) -> str:
    h = hashlib.sha256()
    for e in entries:
        h.update(line(e))
    return h.hexdigest()


def decode_json(text: str | None) -> Any:
    """A JSON column as stored (its exact text), decoded."""
    return None if text is None else json.loads(text)


def encode_json(value: object) -> str | None:
    return None if value is None else canonical_text(value)
