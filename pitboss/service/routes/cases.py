"""Analysts' API: the alert queue, cases, restrictions, rule quality, and the one
player-facing route, a player's status (which never reveals an investigation)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeAlias

import msgspec
from aiohttp import web
from msgspec import Meta

from engine import cases, restrictions
from engine.cases import (
    BusyError,
    CaseError,
    NotFoundError,
    StateConflictError,
    TransitionError,
)
from engine.restrictions import PlayerStatus
from engine.store import cases as store
from engine.store import restrictions as restriction_store
from engine.store.cases import AlertDetail, AlertRow, EntryRow, RuleQuality
from engine.store.restrictions import RestrictionRow
from pitboss.service.http import (
    BIGINT,
    ProblemError,
    Routes,
    json_response,
    path_id,
    query_choice,
    query_int,
    read_body,
    register_error,
    register_status,
)
from pitboss.service.notifier import notify_targets
from pitboss.service.state import SERVICE, Service
from regapi.auth import roles

ROUTES = Routes()

_PAGE = 50
_PAGE_MAX = 500

# --- errors -------------------------------------------------------------------------


def _forbidden_move(exc: TransitionError) -> ProblemError:
    return ProblemError(409, "Transition not allowed", str(exc), field="to")


def _busy(exc: BusyError) -> ProblemError:
    return ProblemError(503, "Busy", str(exc), headers={"Retry-After": str(exc.retry_after)})


# Along the MRO: the subclasses first, anything else a case refuses (a bad reference,
# restriction parameters that do not fit) is the client's to fix.
register_status(CaseError, 422, "Invalid request")
register_status(NotFoundError, 404, "Not found")
register_status(StateConflictError, 409, "Conflict")
register_error(TransitionError, _forbidden_move)
register_error(BusyError, _busy)

# --- bodies -------------------------------------------------------------------------

Actor: TypeAlias = Annotated[str, Meta(min_length=1, max_length=200)]
Text: TypeAlias = Annotated[str, Meta(max_length=20_000)]
Id: TypeAlias = Annotated[int, Meta(ge=1, le=BIGINT)]
AlertIds: TypeAlias = Annotated[list[Id], Meta(min_length=1, max_length=1_000)]
# `engine.cases.STATES`, spelled out for the type checker and the OpenAPI schema.
State: TypeAlias = Literal["open", "investigating", "cleared", "escalated", "restricted", "closed"]


class CaseIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    alert_ids: AlertIds
    by: Actor
    title: Annotated[str, Meta(min_length=1, max_length=500)] | None = None


class AlertsIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    alert_ids: AlertIds
    by: Actor


class AssignIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    assignee: Actor | None  # null: back to the pool
    by: Actor


class TransitionIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    to: State
    by: Actor
    note: Text = ""


class NoteIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    text: Annotated[str, Meta(min_length=1, max_length=20_000)]
    by: Actor


class EvidenceIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    description: Annotated[str, Meta(min_length=1, max_length=20_000)]
    by: Actor
    # Where it is: an event id, a document store reference, a URL.
    ref: Annotated[str, Meta(min_length=1, max_length=2_000)] | None = None


class RestrictionIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    kind: str
    reason: Annotated[str, Meta(min_length=1, max_length=20_000)]  # staff only, never shown
    by: Actor
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    case_id: Id | None = None


# --- responses ----------------------------------------------------------------------


class AlertList(msgspec.Struct, kw_only=True):
    alerts: list[AlertRow]
    next_cursor: int | None  # pass as `cursor` for the next page; null on the last


class CaseOut(msgspec.Struct, kw_only=True):
    id: int
    title: str
    subject_kind: str
    subject_id: str
    state: str
    allowed: list[str]  # the states it may move to next
    priority: int
    assignee: str | None
    opened_at: datetime
    closed_at: datetime | None
    resolution: str | None
    updated_at: datetime
    sla: cases.Sla


class CaseDetail(CaseOut, kw_only=True):
    alerts: list[AlertRow]


class TransitionOut(CaseDetail, kw_only=True):
    incident_id: int | None = None


class CaseList(msgspec.Struct, kw_only=True):
    cases: list[CaseOut]
    next_cursor: int | None


class Timeline(msgspec.Struct, kw_only=True):
    entries: list[EntryRow]


class RestrictionList(msgspec.Struct, kw_only=True):
    restrictions: list[RestrictionRow]


class QualityOut(msgspec.Struct, kw_only=True):
    rules: list[RuleQuality]


def _case_out(row: store.CaseRow, now: datetime) -> dict[str, Any]:
    return {
        "id": row.id,
        "title": row.title,
        "subject_kind": row.subject_kind,
        "subject_id": row.subject_id,
        "state": row.state,
        "allowed": list(cases.allowed(row.state)),
        "priority": row.priority,
        "assignee": row.assignee,
        "opened_at": row.opened_at,
        "closed_at": row.closed_at,
        "resolution": row.resolution,
        "updated_at": row.updated_at,
        "sla": cases.sla(row.due_at, row.decided_at, now),
    }


# --- request helpers ----------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _query_bool(request: web.Request, name: str) -> bool | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise ProblemError(422, "Invalid query", f"{name} must be true or false", field=name)
    return raw == "true"


def _query_text(request: web.Request, name: str) -> str | None:
    raw = request.query.get(name)
    if raw is not None and not 0 < len(raw) <= 200:
        raise ProblemError(422, "Invalid query", f"{name} must be 1..200 characters", field=name)
    return raw


def _page(request: web.Request) -> tuple[int, int]:
    after = query_int(request, "cursor", 0, BIGINT) or 0
    limit = query_int(request, "limit", 1, _PAGE_MAX) or _PAGE
    return after, limit


async def _detail(service: Service, case_id: int) -> CaseDetail:
    async with service.pool.acquire() as conn:
        row = await store.get_case(conn, case_id)
        alerts = await store.case_alerts(conn, case_id)
    return CaseDetail(**_case_out(row, _now()), alerts=alerts)


_PAGING = {
    "cursor": (int, "the `next_cursor` of the previous page"),
    "limit": (int, f"page size, 1..{_PAGE_MAX} (default {_PAGE})"),
}

# --- alerts -------------------------------------------------------------------------


@ROUTES.add("GET", "/v1/alerts", summary="The alert queue, oldest first", tag="cases",
            response=AlertList, errors=(422,),
            query={"state": (str, "open | closed"), "family": (str, "rule family"),
                   "priority": (int, "1 (most urgent) .. 4"),
                   "player": (str, "a player, alone or in a cluster alert"),
                   "in_case": (bool, "true: only alerts in a case; false: only those in none"),
                   **_PAGING}, roles=roles.ANALYSIS)  # fmt: skip
async def list_alerts(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    after, limit = _page(request)
    async with service.pool.acquire() as conn:
        rows = await store.list_alerts(
            conn,
            state=query_choice(request, "state", ("open", "closed")),
            family=_query_text(request, "family"),
            priority=query_int(request, "priority", 1, 4),
            player=_query_text(request, "player"),
            in_case=_query_bool(request, "in_case"),
            after=after,
            limit=limit + 1,
        )
    more = len(rows) > limit
    rows = rows[:limit]
    return json_response(AlertList(alerts=rows, next_cursor=rows[-1].id if more else None))


@ROUTES.add("GET", "/v1/alerts/{id}", summary="An alert and its latest evidence",
            tag="cases", response=AlertDetail, errors=(404,), roles=roles.ANALYSIS)  # fmt: skip
async def get_alert(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    alert_id = path_id(request, "id", "alert")
    async with service.pool.acquire() as conn:
        return json_response(await store.alert(conn, alert_id))


# --- cases --------------------------------------------------------------------------


@ROUTES.add("POST", "/v1/cases", summary="Open a case from open alerts", tag="cases",
            body=CaseIn, response=CaseDetail, status=201,
            errors=(400, 409, 415, 422, 503), roles=roles.ANALYSIS)  # fmt: skip
async def create_case(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    body = await read_body(request, CaseIn)
    async with service.pool.acquire() as conn, conn.transaction():
        row = await store.create_case(conn, body.alert_ids, by=body.by, title=body.title)
    return json_response(await _detail(service, row.id), 201)


@ROUTES.add("GET", "/v1/cases", summary="Cases, oldest first", tag="cases",
            response=CaseList, errors=(422,),
            query={"state": (str, " | ".join(cases.STATES)), "assignee": (str, "analyst"),
                   "priority": (int, "1 (most urgent) .. 4"),
                   "overdue": (bool, "true: undecided and past the deadline"),
                   **_PAGING}, roles=roles.ANALYSIS)  # fmt: skip
async def list_cases(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    after, limit = _page(request)
    now = _now()
    async with service.pool.acquire() as conn:
        rows = await store.list_cases(
            conn,
            now=now,
            state=query_choice(request, "state", cases.STATES),
            assignee=_query_text(request, "assignee"),
            priority=query_int(request, "priority", 1, 4),
            overdue=_query_bool(request, "overdue"),
            after=after,
            limit=limit + 1,
        )
    more = len(rows) > limit
    rows = rows[:limit]
    out = [CaseOut(**_case_out(r, now)) for r in rows]
    return json_response(CaseList(cases=out, next_cursor=rows[-1].id if more else None))


@ROUTES.add("GET", "/v1/cases/{id}", summary="A case, its alerts and its SLA", tag="cases",
            response=CaseDetail, errors=(404,), roles=roles.ANALYSIS)  # fmt: skip
async def get_case(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    return json_response(await _detail(service, path_id(request, "id", "case")))


@ROUTES.add("POST", "/v1/cases/{id}/alerts", summary="Add open alerts to a case",
            tag="cases", body=AlertsIn, response=CaseDetail,
            errors=(400, 404, 409, 415, 422, 503), roles=roles.ANALYSIS)  # fmt: skip
async def add_alerts(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    case_id = path_id(request, "id", "case")
    body = await read_body(request, AlertsIn)
    async with service.pool.acquire() as conn, conn.transaction():
        await store.add_alerts(conn, case_id, body.alert_ids, by=body.by)
    return json_response(await _detail(service, case_id))


@ROUTES.add("POST", "/v1/cases/{id}/assign", summary="Assign a case (null: unassign)",
            tag="cases", body=AssignIn, response=CaseDetail,
            errors=(400, 404, 409, 415, 422), roles=roles.ANALYSIS)  # fmt: skip
async def assign(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    case_id = path_id(request, "id", "case")
    body = await read_body(request, AssignIn)
    async with service.pool.acquire() as conn, conn.transaction():
        await store.assign(conn, case_id, body.assignee, by=body.by)
    return json_response(await _detail(service, case_id))


@ROUTES.add("POST", "/v1/cases/{id}/transition",
            summary="Move a case on (409 names the states allowed from here)", tag="cases",
            body=TransitionIn, response=TransitionOut,
            errors=(400, 404, 409, 415, 422, 503), roles=roles.ANALYSIS)  # fmt: skip
async def transition(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    case_id = path_id(request, "id", "case")
    body = await read_body(request, TransitionIn)
    targets = notify_targets(service.settings)
    async with service.pool.acquire() as conn, conn.transaction():
        moved = await store.transition(
            conn, case_id, body.to, by=body.by, note=body.note, targets=targets
        )
    if moved.notified:
        service.notifier.wake()  # after the commit, so the notifier finds the rows
    detail = await _detail(service, case_id)
    values = {k: getattr(detail, k) for k in CaseDetail.__struct_fields__}
    return json_response(TransitionOut(**values, incident_id=moved.incident_id))


@ROUTES.add("POST", "/v1/cases/{id}/notes", summary="Add a note to a case's timeline",
            tag="cases", body=NoteIn, response=EntryRow, status=201,
            errors=(400, 404, 415, 422), roles=roles.ANALYSIS)  # fmt: skip
async def add_note(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    case_id = path_id(request, "id", "case")
    body = await read_body(request, NoteIn)
    async with service.pool.acquire() as conn, conn.transaction():
        entry = await store.note(conn, case_id, "note", {"text": body.text}, by=body.by)
    return json_response(entry, 201)


@ROUTES.add("POST", "/v1/cases/{id}/evidence", summary="Add evidence to a case's timeline",
            tag="cases", body=EvidenceIn, response=EntryRow, status=201,
            errors=(400, 404, 415, 422), roles=roles.ANALYSIS)  # fmt: skip
async def add_evidence(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    case_id = path_id(request, "id", "case")
    body = await read_body(request, EvidenceIn)
    data = {"description": body.description, "ref": body.ref}
    async with service.pool.acquire() as conn, conn.transaction():
        entry = await store.note(conn, case_id, "evidence", data, by=body.by)
    return json_response(entry, 201)


@ROUTES.add("GET", "/v1/cases/{id}/timeline", summary="A case's timeline, oldest first",
            tag="cases", response=Timeline, errors=(404,), roles=roles.ANALYSIS)  # fmt: skip
async def get_timeline(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    case_id = path_id(request, "id", "case")
    async with service.pool.acquire() as conn:
        entries = await store.timeline(conn, case_id)
    return json_response(Timeline(entries=entries))


# --- players ------------------------------------------------------------------------


def _player(request: web.Request) -> str:
    player_id = request.match_info["id"]
    if not 0 < len(player_id) <= 200:
        raise ProblemError(404, "Not found", "no such player", field="id")
    return player_id


async def _known_player(service: Service, player_id: str) -> None:
    async with service.pool.acquire() as conn:
        known = await restriction_store.player_known(conn, player_id)
    if not known:
        raise ProblemError(404, "Not found", f"no player {player_id!r}", field="id")


@ROUTES.add("POST", "/v1/players/{id}/restrictions", summary="Restrict a player",
            tag="players", body=RestrictionIn, response=RestrictionRow, status=201,
            errors=(400, 404, 415, 422), roles=roles.ANALYSIS)  # fmt: skip
async def add_restriction(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    player_id = _player(request)
    body = await read_body(request, RestrictionIn)
    params = restrictions.parse(body.kind, body.params)
    await _known_player(service, player_id)
    async with service.pool.acquire() as conn, conn.transaction():
        row = await restriction_store.record(
            conn, player_id, params, kind=body.kind, reason=body.reason, by=body.by,
            case_id=body.case_id,
        )  # fmt: skip
    return json_response(row, 201)


@ROUTES.add("GET", "/v1/players/{id}/restrictions",
            summary="A player's restrictions, lifted ones included", tag="players",
            response=RestrictionList, errors=(404, 422),
            query={"active": (bool, "true: only those in force")},
            roles=roles.ANALYSIS)  # fmt: skip
async def list_restrictions(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    player_id = _player(request)
    active = _query_bool(request, "active") or False
    await _known_player(service, player_id)
    async with service.pool.acquire() as conn:
        rows = await restriction_store.listing(conn, player_id, active_only=active)
    return json_response(RestrictionList(restrictions=rows))


@ROUTES.add("DELETE", "/v1/players/{id}/restrictions/{rid}", summary="Lift a restriction",
            tag="players", response=RestrictionRow, errors=(404, 409, 422),
            query={"by": (str, "who lifts it (required)")}, roles=roles.ANALYSIS)  # fmt: skip
async def lift_restriction(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    player_id = _player(request)
    restriction_id = path_id(request, "rid", "restriction")
    by = _query_text(request, "by")
    if by is None:
        raise ProblemError(422, "Invalid query", "by: who lifts the restriction", field="by")
    async with service.pool.acquire() as conn, conn.transaction():
        row = await restriction_store.lift(conn, player_id, restriction_id, by=by)
    return json_response(row)


@ROUTES.add("GET", "/v1/players/{id}/status",
            summary="What the player may be told: account state and restrictions",
            tag="players", response=PlayerStatus, errors=(404,),
            roles=roles.PLAYER_STATUS)  # fmt: skip
async def player_status(request: web.Request) -> web.Response:
    # Tipping off a player about an investigation or a report is an offence: this answer
    # is built from the account state and the restrictions' kinds and parameters only,
    # never from alerts, cases, reasons or scores, so it reads the same either way.
    service = request.app[SERVICE]
    player_id = _player(request)
    await _known_player(service, player_id)
    async with service.pool.acquire() as conn:
        excluded = await restriction_store.self_excluded(conn, player_id, _now())
        rows = await restriction_store.listing(conn, player_id, active_only=True)
    active = [restrictions.from_stored(r.kind, msgspec.json.encode(r.params)) for r in rows]
    return json_response(restrictions.status(player_id, self_excluded=excluded, active=active))


# --- rule quality -------------------------------------------------------------------


@ROUTES.add("GET", "/v1/rules/quality",
            summary="Per rule: alerts, their outcomes and precision", tag="cases",
            response=QualityOut, errors=(422,),
            query={"family": (str, "only this rule family")}, roles=roles.ANALYSIS)  # fmt: skip
async def rule_quality(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    family = _query_text(request, "family")
    async with service.pool.acquire() as conn:
        rows = await store.rule_quality(conn, family)
    return json_response(QualityOut(rules=rows))
