"""Versioned configuration: games, payment methods, bonus rules, limits and flags.

`PUT` creates or replaces a document, `PATCH` applies an RFC 6902 JSON Patch, `DELETE`
removes it; each change is a version (operator, time, RFC 6902 diff) and an audit record.
Responses carry `ETag: "<version>"`; `If-Match` on a write makes it conditional (412).

Only a compliance officer changes configuration, flags included: these are the operator's
regulated settings (what a bonus pays, the limits a player gets, the switches that turn
controls on and off), and a policy admin's remit is the detection policies. Analysts,
compliance officers and regulators read the current documents; the history is a
sensitive route, for compliance officers and regulators only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from aiohttp import web
from msgspec import Meta

from pitboss.service.auth import actor_of
from pitboss.service.http import (
    ProblemError,
    Routes,
    decode_body,
    is_whole,
    json_response,
    register_error,
    register_status,
)
from pitboss.service.state import SERVICE
from regapi import config
from regapi.audit import AuditError
from regapi.auth import roles
from regapi.config import (
    ConfigError,
    ConfigNotFoundError,
    InvalidConfigError,
    PatchConflictError,
    Rebuilt,
    VersionMismatchError,
)
from regapi.store.config import Current, Version

ROUTES = Routes()

WRITE = (roles.COMPLIANCE_OFFICER,)
READ = (roles.ANALYST, roles.COMPLIANCE_OFFICER, roles.REGULATOR_READ)
HISTORY = roles.SENSITIVE_READ

_PAGE, _PAGE_MAX = 100, 1_000
# A document is at most 64 KiB as canonical JSON; a request body may be laid out more
# loosely, so it gets twice that.
MAX_BODY_BYTES = 2 * config.MAX_DOCUMENT_BYTES
_IF_MATCH = {"If-Match": 'the ETag of the version this change is based on ("3"), or *'}


def _precondition(exc: VersionMismatchError) -> ProblemError:
    return ProblemError(412, "Precondition failed", str(exc), field="If-Match")


def _unrecordable(exc: AuditError) -> ProblemError:
    # A change the audit trail cannot record as given: the request's values are wrong.
    return ProblemError(422, "Invalid request", str(exc))


register_error(AuditError, _unrecordable)
register_status(ConfigError, 422, "Invalid request")
register_status(InvalidConfigError, 422, "Invalid request")
register_status(ConfigNotFoundError, 404, "Not found")
register_status(PatchConflictError, 409, "Conflict")
register_error(VersionMismatchError, _precondition)


# --- bodies -------------------------------------------------------------------------------

Pointer = Annotated[str, Meta(max_length=2_000)]


# RFC 6902 operations; members an operation does not define are ignored, as the RFC says.
class _Op(msgspec.Struct, tag_field="op", kw_only=True):
    path: Pointer


class AddOp(_Op, tag="add"):
    value: Any


class RemoveOp(_Op, tag="remove"):
    pass


class ReplaceOp(_Op, tag="replace"):
    value: Any


class MoveOp(_Op, tag="move"):
    from_: Pointer = msgspec.field(name="from")


class CopyOp(_Op, tag="copy"):
    from_: Pointer = msgspec.field(name="from")


class TestOp(_Op, tag="test"):
    value: Any


JsonPatch = Annotated[
    list[AddOp | RemoveOp | ReplaceOp | MoveOp | CopyOp | TestOp],
    Meta(max_length=config.MAX_PATCH_OPS),
]
Document = dict[str, Any]


class ConfigOut(msgspec.Struct, kw_only=True):
    kind: str
    id: str
    version: int
    deleted: bool
    document: Document | None
    created_at: datetime
    updated_at: datetime
    updated_by: str


class VersionList(msgspec.Struct, kw_only=True):
    kind: str
    id: str
    versions: list[Version]
    next_cursor: int | None  # pass as `cursor` for the next page; null on the last


def _out(row: Current) -> ConfigOut:
    return ConfigOut(
        kind=row.kind,
        id=row.id,
        version=row.version,
        deleted=row.document is None,
        document=row.document,
        created_at=row.created_at,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def _respond(row: Current, status: int = 200) -> web.Response:
    response = json_response(_out(row), status)
    if row.document is not None:
        response.headers["ETag"] = f'"{row.version}"'
    return response


def _actor(request: web.Request) -> str:
    return actor_of(request)


def _target(request: web.Request) -> tuple[str, str]:
    return request.match_info["kind"], request.match_info["id"]


async def _read(request: web.Request, types: tuple[str, ...]) -> bytes:
    if request.content_type not in types:
        raise ProblemError(415, "Unsupported media type", f"send {types[0]}")
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise ProblemError(413, "Body too large", f"at most {MAX_BODY_BYTES} bytes")
    raw = await request.read()
    if len(raw) > MAX_BODY_BYTES:
        raise ProblemError(413, "Body too large", f"at most {MAX_BODY_BYTES} bytes")
    return raw


def _if_match(request: web.Request) -> int | str | None:
    return config.parse_if_match(request.headers.get("If-Match"))


# --- routes -------------------------------------------------------------------------------

_PATH = "/v1/config/{kind}/{id}"
_KINDS = " | ".join(config.KINDS)


@ROUTES.add("GET", _PATH, summary=f"A config entity as it is now ({_KINDS})", tag="config",
            response=ConfigOut, errors=(404, 422), roles=READ)  # fmt: skip
async def config_get(request: web.Request) -> web.Response:
    async with request.app[SERVICE].pool.acquire() as conn:
        row = await config.get(conn, *_target(request))
    return _respond(row)


@ROUTES.add("PUT", _PATH, summary="Create or replace a config entity (a JSON object)",
            tag="config", body=Document, response=ConfigOut, status=201, headers=_IF_MATCH,
            errors=(400, 404, 412, 413, 415, 422), roles=WRITE)  # fmt: skip
async def config_put(request: web.Request) -> web.Response:
    raw = await _read(request, ("application/json", ""))
    document = decode_body(raw, Document)
    async with request.app[SERVICE].pool.acquire() as conn:
        row, created = await config.put(
            conn, *_target(request), document, actor=_actor(request), if_match=_if_match(request)
        )
    return _respond(row, 201 if created else 200)


@ROUTES.add("PATCH", _PATH, summary="Change a config entity with an RFC 6902 JSON Patch",
            tag="config", body=JsonPatch, response=ConfigOut, headers=_IF_MATCH,
            errors=(400, 404, 409, 412, 413, 415, 422), roles=WRITE)  # fmt: skip
async def config_patch(request: web.Request) -> web.Response:
    raw = await _read(request, ("application/json-patch+json", "application/json", ""))
    ops = msgspec.to_builtins(decode_body(raw, JsonPatch))
    async with request.app[SERVICE].pool.acquire() as conn:
        row = await config.patch(conn, *_target(request), ops, actor=_actor(request),
                                 if_match=_if_match(request))  # fmt: skip
    return _respond(row)


@ROUTES.add("DELETE", _PATH, summary="Delete a config entity (its versions stay)",
            tag="config", response=ConfigOut, headers=_IF_MATCH, errors=(404, 412, 422),
            roles=WRITE)  # fmt: skip
async def config_delete(request: web.Request) -> web.Response:
    async with request.app[SERVICE].pool.acquire() as conn:
        row = await config.delete(conn, *_target(request), actor=_actor(request),
                                  if_match=_if_match(request))  # fmt: skip
    return _respond(row)


@ROUTES.add("GET", _PATH + "/versions",
            summary="Every change to a config entity: operator, time, RFC 6902 patch",
            tag="config", response=VersionList, errors=(404, 422), roles=HISTORY,
            query={"cursor": (int, "the last version of the previous page"),
                   "limit": (int, f"page size, 1..{_PAGE_MAX} (default {_PAGE})")})  # fmt: skip
async def config_versions(request: web.Request) -> web.Response:
    kind, entity_id = _target(request)
    after = _query_int(request, "cursor", 0, 2**31 - 1) or 0
    limit = _query_int(request, "limit", 1, _PAGE_MAX) or _PAGE
    async with request.app[SERVICE].pool.acquire() as conn:
        rows = await config.versions(conn, kind, entity_id, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return json_response(VersionList(kind=kind, id=entity_id, versions=rows,
                                      next_cursor=rows[-1].version if more else None))  # fmt: skip


@ROUTES.add("GET", _PATH + "/versions/{version}",
            summary="A config entity as it was at a version, rebuilt from the patches",
            tag="config", response=Rebuilt, errors=(404, 422), roles=HISTORY)  # fmt: skip
async def config_version(request: web.Request) -> web.Response:
    kind, entity_id = _target(request)
    raw = request.match_info["version"]
    if not is_whole(raw, 9) or int(raw) < 1:
        raise ProblemError(404, "Not found", f"no version {raw!r}", field="version")
    async with request.app[SERVICE].pool.acquire() as conn:
        rebuilt = await config.version(conn, kind, entity_id, int(raw))
    return json_response(rebuilt)


def _query_int(request: web.Request, name: str, lo: int, hi: int) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    if not is_whole(raw) or not lo <= int(raw) <= hi:
        raise ProblemError(
            422, "Invalid query", f"{name} must be a whole number from {lo} to {hi}", field=name
        )
    return int(raw)
