"""Compliance incidents: the list, one incident with its notifications, closing one."""

from __future__ import annotations

from typing import Annotated

import msgspec
from aiohttp import web

from engine.incidents import KINDS
from engine.store import incidents as store
from engine.store.incidents import Incident, Notification
from pitboss.service.http import (
    BIGINT,
    ProblemError,
    Routes,
    json_response,
    path_id,
    query_choice,
    query_int,
    read_body,
)
from pitboss.service.state import SERVICE
from regapi.auth import roles

ROUTES = Routes()

_STATES = ("open", "closed")
_PRIORITIES = range(1, 5)
_MAX_LIMIT = 500


class IncidentPage(msgspec.Struct, kw_only=True):
    incidents: list[Incident]
    # Pass as `cursor` for the next (older) page; null on the last page.
    next_cursor: str | None


class IncidentDetail(Incident, kw_only=True):
    notifications: list[Notification]


class CloseIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    by: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    note: Annotated[str, msgspec.Meta(max_length=10_000)] = ""


def _not_found(incident_id: int) -> ProblemError:
    return ProblemError(404, "Not found", f"no incident {incident_id}", field="incident_id")


@ROUTES.add(
    "GET", "/v1/incidents", summary="Incidents, newest first", tag="incidents",
    response=IncidentPage, errors=(422,),
    query={
        "state": (str, "open or closed"),
        "kind": (str, "AML_suspect, RNG_anomaly or self_exclusion_event"),
        "priority": (int, "1 (most urgent) to 4"),
        "cursor": (str, "next_cursor of the previous page"),
        "limit": (int, f"incidents per page, 1 to {_MAX_LIMIT} (default 50)"),
    }, roles=roles.ANALYSIS,
)  # fmt: skip
async def list_incidents(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    limit = query_int(request, "limit", 1, _MAX_LIMIT) or 50
    state = query_choice(request, "state", _STATES)
    kind = query_choice(request, "kind", KINDS)
    priority = query_int(request, "priority", _PRIORITIES.start, _PRIORITIES.stop - 1)
    before = query_int(request, "cursor", 0, BIGINT)
    async with service.pool.acquire() as conn:
        # One more than the page tells whether there is a next page.
        rows = await store.listing(
            conn, state=state, kind=kind, priority=priority, before=before, limit=limit + 1
        )
    page = rows[:limit]
    more = len(rows) > limit
    return json_response(
        IncidentPage(incidents=page, next_cursor=str(page[-1].id) if more else None)
    )


@ROUTES.add(
    "GET", "/v1/incidents/{incident_id}", summary="An incident and its notifications",
    tag="incidents", response=IncidentDetail, errors=(404,), roles=roles.ANALYSIS,
)  # fmt: skip
async def get_incident(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    incident_id = path_id(request, "incident_id", "incident")
    async with service.pool.acquire() as conn:
        incident = await store.get(conn, incident_id)
        if incident is None:
            raise _not_found(incident_id)
        notes = await store.notifications_of(conn, incident_id)
    return json_response(_detail(incident, notes))


@ROUTES.add(
    "POST", "/v1/incidents/{incident_id}/close", summary="Close an open incident",
    tag="incidents", body=CloseIn, response=IncidentDetail,
    errors=(400, 404, 409, 415, 422), roles=roles.ANALYSIS,
)  # fmt: skip
async def close_incident(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    incident_id = path_id(request, "incident_id", "incident")
    body = await read_body(request, CloseIn)
    async with service.pool.acquire() as conn, conn.transaction():
        closed = await store.close(conn, incident_id, by=body.by, note=body.note)
        if closed is None:
            if await store.get(conn, incident_id) is None:
                raise _not_found(incident_id)
            raise ProblemError(
                409, "Conflict", f"incident {incident_id} is already closed", field="incident_id"
            )
        notes = await store.notifications_of(conn, incident_id)
    return json_response(_detail(closed, notes))


def _detail(incident: Incident, notes: list[Notification]) -> IncidentDetail:
    fields = msgspec.structs.asdict(incident)
    return IncidentDetail(**fields, notifications=notes)
