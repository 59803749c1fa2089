"""Versioned configuration entities: games, payment methods, bonus rules, limits, flags.

Each entity is a JSON object addressed by kind and id. Every change (create, replace,
patch, delete) is a new version holding the operator, the time and the RFC 6902 JSON
Patch from the previous document ({} before a create or after a delete); any version is
rebuilt by applying the patches from the first one. A change writes the entity, its
version and an audit record (`regapi.audit.record`, entity = kind) in one transaction.
A change that changes nothing (the same document again) makes no version.

Patches sent by clients are RFC 6902 too (not JSON Merge Patch, RFC 7396): they can say
everything a merge patch can and more (array elements, `test` preconditions), and they
are the form the history is kept in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

import asyncpg
import jsonpointer
import msgspec

from regapi import audit
from regapi.audit.chain import (
    PATCH_ERRORS,
    CanonicalError,
    Document,
    Patch,
    apply_patch,
    canonical,
    check_json,
)
from regapi.store import config as store
from regapi.store.config import Current, Version

KINDS: Final = ("game", "payment_method", "bonusRule", "limit", "flag")
MAX_DOCUMENT_BYTES: Final = 64 * 1024
MAX_DEPTH: Final = 32
MAX_PATCH_OPS: Final = 1_000
_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")
_OPS: Final = {"add", "remove", "replace", "move", "copy", "test"}


class ConfigError(Exception):
    """A config request that cannot be done; `field` names what is wrong."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidConfigError(ConfigError):
    """The request is not valid as sent (422)."""


class ConfigNotFoundError(ConfigError):
    """No such kind, entity or version (404)."""


class PatchConflictError(ConfigError):
    """A patch that does not apply to the current document: a failed `test`, a path that
    is not there (409)."""


class VersionMismatchError(ConfigError):
    """`If-Match` names another version than the current one (412)."""


class Rebuilt(msgspec.Struct, kw_only=True):
    kind: str
    id: str
    version: int
    at: datetime
    actor: str
    action: str
    deleted: bool
    document: Document | None


# --- checks -------------------------------------------------------------------------------


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ConfigNotFoundError(f"no config kind {kind!r}; kinds: {', '.join(KINDS)}", "kind")


def check_id(entity_id: str) -> None:
    if not _ID.fullmatch(entity_id):
        raise InvalidConfigError(
            "an id is 1 to 128 characters: letters, digits and . _ : @ -, "
            "starting with a letter or digit",
            "id",
        )


def check_document(document: object, field: str = "body") -> Document:
    """`document` if it can be a config document: a JSON object, at most 64 KiB as
    canonical JSON, nested at most 32 deep, with no NUL character."""
    if not isinstance(document, dict):
        raise InvalidConfigError("a config document is a JSON object", field)
    try:
        check_json(document, max_depth=MAX_DEPTH, nul=False)
    except CanonicalError as exc:
        raise InvalidConfigError(f"{exc.path or '/'}: {exc.message}", field) from None
    size = len(canonical(document))
    if size > MAX_DOCUMENT_BYTES:
        raise InvalidConfigError(
            f"the document is {size} bytes as JSON, more than {MAX_DOCUMENT_BYTES}", field
        )
    return document


def check_patch(ops: object) -> Patch:
    """`ops` if it is an RFC 6902 patch: operations with a known `op`, valid JSON pointers
    in `path` (and `from`), and a `value` where the operation needs one."""
    if not isinstance(ops, list):
        raise InvalidConfigError("a JSON Patch is an array of operations", "body")
    if len(ops) > MAX_PATCH_OPS:
        raise InvalidConfigError(f"more than {MAX_PATCH_OPS} operations", "body")
    for i, op in enumerate(ops):
        where = f"body[{i}]"
        if not isinstance(op, dict):
            raise InvalidConfigError("an operation is an object", where)
        if op.get("op") not in _OPS:
            raise InvalidConfigError(
                f"op must be one of {', '.join(sorted(_OPS))}, not {op.get('op')!r}",
                f"{where}.op",
            )
        members = ["path"] + (["from"] if op["op"] in ("move", "copy") else [])
        for member in members:
            pointer = op.get(member)
            if not isinstance(pointer, str):
                raise InvalidConfigError(f"{member} must be a JSON pointer", f"{where}.{member}")
            try:
                jsonpointer.JsonPointer(pointer)
            except jsonpointer.JsonPointerException as exc:
                raise InvalidConfigError(f"{member}: {exc}", f"{where}.{member}") from None
        if op["op"] in ("add", "replace", "test") and "value" not in op:
            raise InvalidConfigError(f"a {op['op']} needs a value", f"{where}.value")
    return ops


def rebuild(steps: Iterable[tuple[str, Patch]]) -> Document | None:
    """The document after the given versions (action, patch), in order; None if the last
    one deleted it."""
    document: Document | None = None
    for action, patch in steps:
        document = None if action == "delete" else apply_patch(document or {}, patch)
    return document


def parse_if_match(value: str | None) -> int | str | None:
    """An `If-Match` header: None (absent), "*" or a version number (`"3"`, `W/"3"`, 3)."""
    if value is None:
        return None
    value = value.strip()
    if value == "*":
        return "*"
    tag = value.removeprefix("W/").strip('"')
    if not (tag.isascii() and tag.isdigit() and 0 < len(tag) <= 9):
        raise InvalidConfigError("If-Match must be * or an ETag this service gave", "If-Match")
    return int(tag)


# --- operations ---------------------------------------------------------------------------


async def get(conn: asyncpg.Connection, kind: str, entity_id: str) -> Current:
    """The current document; 404 if there is none or it was deleted."""
    check_kind(kind)
    check_id(entity_id)
    row = await store.current(conn, kind, entity_id)
    if row is None:
        raise ConfigNotFoundError(f"no {kind} {entity_id!r}", "id")
    if row.document is None:
        raise ConfigNotFoundError(f"{kind} {entity_id!r} was deleted (version {row.version})", "id")
    return row


async def put(conn: asyncpg.Connection, kind: str, entity_id: str, document: object, *,
              actor: str, if_match: int | str | None = None) -> tuple[Current, bool]:  # fmt: skip
    """Create or replace; returns the entity and whether it was created."""
    check_kind(kind)
    check_id(entity_id)
    new = check_document(document)
    return await _change(conn, kind, entity_id, lambda _: new, actor=actor, if_match=if_match)


async def patch(conn: asyncpg.Connection, kind: str, entity_id: str, ops: object, *,
                actor: str, if_match: int | str | None = None) -> Current:  # fmt: skip
    """Apply an RFC 6902 patch to the current document."""
    check_kind(kind)
    check_id(entity_id)
    patch_ops = check_patch(ops)

    def patched(current: Document | None) -> Document:
        if current is None:
            raise ConfigNotFoundError(f"no {kind} {entity_id!r} to patch", "id")
        try:
            result = apply_patch(current, patch_ops)
        except PATCH_ERRORS as exc:
            raise PatchConflictError(f"the patch does not apply: {exc}", "body") from None
        return check_document(result, "body")

    row, _ = await _change(conn, kind, entity_id, patched, actor=actor, if_match=if_match)
    return row


async def delete(conn: asyncpg.Connection, kind: str, entity_id: str, *, actor: str,
                 if_match: int | str | None = None) -> Current:  # fmt: skip
    check_kind(kind)
    check_id(entity_id)

    def deleted(current: Document | None) -> None:
        if current is None:
            raise ConfigNotFoundError(f"no {kind} {entity_id!r} to delete", "id")

    row, _ = await _change(conn, kind, entity_id, deleted, actor=actor, if_match=if_match)
    return row


async def _change(
    conn: asyncpg.Connection,
    kind: str,
    entity_id: str,
    new_document: Any,  # (current document or None) -> new document, None to delete
    *,
    actor: str,
    if_match: int | str | None,
) -> tuple[Current, bool]:
    async with conn.transaction():
        await store.lock(conn, kind, entity_id)
        row = await store.current(conn, kind, entity_id)
        before = row.document if row is not None else None
        if if_match is not None and (
            before is None or (if_match != "*" and row is not None and row.version != if_match)
        ):
            now = f"version {row.version}" if row is not None and before is not None else "none"
            raise VersionMismatchError(f"If-Match {if_match}: the current version is {now}")
        after: Document | None = new_document(before)
        if before is not None and after is not None and canonical(before) == canonical(after):
            assert row is not None
            return row, False  # nothing changed: no version
        action = "create" if before is None else "delete" if after is None else "update"
        entry = await audit.record(conn, entity=kind, entity_id=entity_id, action=action,
                                   actor=actor, before=before, after=after)  # fmt: skip
        version = (row.version if row is not None else 0) + 1
        await store.insert_version(conn, kind, entity_id, version, entry)
        current = await store.save(conn, kind, entity_id, version, after, entry)
        return current, action == "create"


async def versions(conn: asyncpg.Connection, kind: str, entity_id: str, *, after: int = 0,
                   limit: int = 100) -> list[Version]:  # fmt: skip
    """The versions after version `after`, oldest first; 404 if the entity never was."""
    check_kind(kind)
    check_id(entity_id)
    if await store.current(conn, kind, entity_id) is None:
        raise ConfigNotFoundError(f"no {kind} {entity_id!r}", "id")
    return await store.versions(conn, kind, entity_id, after=after, limit=limit)


async def version(conn: asyncpg.Connection, kind: str, entity_id: str, n: int) -> Rebuilt:
    """Version `n` as it was, rebuilt by applying the patches of versions 1 to `n`."""
    check_kind(kind)
    check_id(entity_id)
    steps = await store.versions(conn, kind, entity_id, after=0, limit=n)
    if not steps or steps[-1].version != n:
        raise ConfigNotFoundError(f"{kind} {entity_id!r} has no version {n}", "version")
    last = steps[-1]
    document = rebuild((v.action, v.patch) for v in steps)
    return Rebuilt(kind=kind, id=entity_id, version=n, at=last.at, actor=last.actor,
                   action=last.action, deleted=document is None,
                   document=document)  # fmt: skip
