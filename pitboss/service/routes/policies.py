"""Policy versions: upload, check, test, activate, roll back, run in shadow."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from aiohttp import web

from engine import policy_versions as pv
from engine.policy_manager import PolicyNotFoundError, PolicyStateError
from engine.store import policies as store
from pitboss.service.auth import actor_of
from pitboss.service.http import (
    ProblemError,
    Routes,
    is_whole,
    json_response,
    read_body,
    register_error,
    register_status,
)
from pitboss.service.state import SERVICE
from regapi.auth import roles

ROUTES = Routes()


def _not_found(exc: PolicyNotFoundError) -> ProblemError:
    return ProblemError(404, "Not found", f"no {exc.args[0]}")


def _not_allowed(exc: PolicyStateError) -> ProblemError:
    return ProblemError(409, "Not allowed now", str(exc))


register_error(PolicyNotFoundError, _not_found)
register_error(PolicyStateError, _not_allowed)
register_status(pv.VersionError, 422, "Invalid policy files")


class VersionIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    files: dict[str, str]  # relative path → text: `.pol` files and the lists they read
    author: str = msgspec.field(default="api")
    note: str = ""


class VersionOut(msgspec.Struct, kw_only=True):
    id: int
    created_at: datetime
    created_by: str
    note: str
    digest: str
    ok: bool
    shadow: bool
    live: bool
    issues: list[pv.IssueOut]
    files: list[str]


class VersionSummary(msgspec.Struct, kw_only=True):
    id: int
    created_at: datetime
    created_by: str
    note: str
    ok: bool
    shadow: bool
    live: bool
    last_activated: datetime | None


class VersionList(msgspec.Struct):
    live: int
    versions: list[VersionSummary]


class TestsOut(msgspec.Struct, kw_only=True):
    version: int
    passed: int
    failed: int
    tests: list[pv.TestResult]


class ActorIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    by: str = "api"


class ActivationOut(msgspec.Struct, kw_only=True):
    live: int


class ShadowOut(msgspec.Struct, kw_only=True):
    version: int
    running: bool
    events: int
    different: int
    added: int  # events the shadow would act on that live allowed
    removed: int  # events live acted on that the shadow would allow
    examples: list[dict[str, Any]]


def _version_id(request: web.Request) -> int:
    raw = request.match_info["version"]
    if not is_whole(raw, 9):
        raise ProblemError(404, "Not found", f"no policy version {raw!r}", field="version")
    return int(raw)


def _out(row: store.VersionRow, live: int) -> VersionOut:
    return VersionOut(
        id=row.id,
        created_at=row.created_at,
        created_by=row.created_by,
        note=row.note,
        digest=row.digest,
        ok=row.ok,
        shadow=row.shadow,
        live=row.id == live,
        issues=msgspec.convert(row.issues, list[pv.IssueOut]),
        files=sorted(row.files),
    )


@ROUTES.add("GET", "/v1/policies/versions", summary="Policy versions", tag="policies",
            response=VersionList, roles=roles.POLICY)  # fmt: skip
async def list_versions(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    async with service.pool.acquire() as conn:
        rows = await store.listing(conn)
    live = service.ingestor.version_id
    return json_response(
        VersionList(
            live,
            [
                VersionSummary(
                    id=r["id"],
                    created_at=r["created_at"],
                    created_by=r["created_by"],
                    note=r["note"],
                    ok=r["ok"],
                    shadow=r["shadow"],
                    live=r["id"] == live,
                    last_activated=r["last_activated"],
                )
                for r in rows
            ],
        )
    )


@ROUTES.add("POST", "/v1/policies/versions", summary="Upload and check a policy version",
            tag="policies", body=VersionIn, response=VersionOut, status=201,
            errors=(400, 415, 422), roles=roles.POLICY)  # fmt: skip
async def upload_version(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    body = await read_body(request, VersionIn)
    row = await service.policies.upload(body.files, actor_of(request, body.author), body.note)
    return json_response(_out(row, service.ingestor.version_id), 201)


@ROUTES.add("GET", "/v1/policies/versions/{version}", summary="A policy version and its check",
            tag="policies", response=VersionOut, errors=(404,), roles=roles.POLICY)  # fmt: skip
async def get_version(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    row = await service.policies.version(_version_id(request))
    return json_response(_out(row, service.ingestor.version_id))


@ROUTES.add("GET", "/v1/policies/versions/{version}/files/{path:.+}",
            summary="One file of a policy version", tag="policies", errors=(404,),
            content_type="text/plain", roles=roles.POLICY)  # fmt: skip
async def get_version_file(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    row = await service.policies.version(_version_id(request))
    path = request.match_info["path"]
    if path not in row.files:
        raise ProblemError(404, "Not found", f"version {row.id} has no file {path!r}", field="path")
    return web.Response(text=row.files[path], content_type="text/plain")


@ROUTES.add("POST", "/v1/policies/versions/{version}/tests",
            summary="Run the inline tests of a version", tag="policies", response=TestsOut,
            errors=(404, 409), roles=roles.POLICY)  # fmt: skip
async def test_version(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    version = _version_id(request)
    results = await service.policies.run_tests(version)
    passed = sum(t.passed for t in results)
    return json_response(TestsOut(version=version, passed=passed,
                                  failed=len(results) - passed, tests=results))  # fmt: skip


@ROUTES.add("POST", "/v1/policies/versions/{version}/activate",
            summary="Make a version live (state is rebuilt from stored events)",
            tag="policies", body=ActorIn, response=ActivationOut,
            errors=(400, 404, 409, 415, 422), roles=roles.POLICY)  # fmt: skip
async def activate_version(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    body = await _actor(request)
    await service.policies.activate(_version_id(request), actor_of(request, body.by))
    return json_response(ActivationOut(live=service.ingestor.version_id))


@ROUTES.add("POST", "/v1/policies/rollback", summary="Make the previous live version live",
            tag="policies", body=ActorIn, response=ActivationOut,
            errors=(400, 409, 415, 422), roles=roles.POLICY)  # fmt: skip
async def rollback(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    body = await _actor(request)
    live = await service.policies.rollback(actor_of(request, body.by))
    return json_response(ActivationOut(live=live))


@ROUTES.add("PUT", "/v1/policies/versions/{version}/shadow",
            summary="Run a version in shadow beside the live one", tag="policies",
            response=ShadowOut, errors=(404, 409), roles=roles.POLICY)  # fmt: skip
async def start_shadow(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    version = _version_id(request)
    await service.policies.set_shadow(version, True, actor_of(request))
    return json_response(await _shadow(request, version))


@ROUTES.add("DELETE", "/v1/policies/versions/{version}/shadow",
            summary="Stop running a version in shadow", tag="policies", response=ShadowOut,
            errors=(404, 409), roles=roles.POLICY)  # fmt: skip
async def stop_shadow(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    version = _version_id(request)
    await service.policies.set_shadow(version, False, actor_of(request))
    return json_response(await _shadow(request, version))


@ROUTES.add("GET", "/v1/policies/versions/{version}/shadow",
            summary="What a shadow version decided differently", tag="policies",
            response=ShadowOut, errors=(404,), roles=roles.POLICY)  # fmt: skip
async def shadow_report(request: web.Request) -> web.Response:
    return json_response(await _shadow(request, _version_id(request)))


async def _shadow(request: web.Request, version: int) -> ShadowOut:
    service = request.app[SERVICE]
    row = await service.policies.version(version)
    async with service.pool.acquire() as conn:
        s = await store.shadow_summary(conn, version)
        diffs = await store.shadow_differences(conn, version, 20)
    return ShadowOut(
        version=version,
        running=row.shadow,
        events=s["events"],
        different=s["different"],
        added=s["added"],
        removed=s["removed"],
        examples=[
            {
                "event_id": d["event_id"],
                "ts": d["ts"].isoformat(),
                "action": d["action"],
                "live_action": d["live_action"],
                "score": d["score"],
                "live_score": d["live_score"],
                "hits": msgspec.json.decode(d["hits"]),
            }
            for d in diffs
        ],
    )


async def _actor(request: web.Request) -> ActorIn:
    if not request.can_read_body:
        return ActorIn()
    return await read_body(request, ActorIn)
