"""Regulators' asynchronous requests, mounted as a sub-app at `/webhook/regulator`: ask for
a file (`POST /request`), follow it (`GET /request/{id}`), fetch it (`…/file`).

The file is prepared and delivered by `pitboss.service.regulator_requests`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
from aiohttp import web

from pitboss.service.http import (
    ProblemError,
    Routes,
    json_response,
    read_body,
    register_status,
)
from pitboss.service.regulator_data import regulator_data
from pitboss.service.regulator_requests import callback_secret
from pitboss.service.routes.regulator import ROLES, principal_of
from pitboss.service.state import SERVICE
from regapi import players, requests
from regapi.auth import roles
from regapi.requests import PlayerReportParameters, RequestError, RequestIn
from regapi.store import player_view
from regapi.store import requests as store
from regapi.store.requests import RequestRow

ROUTES = Routes()


register_status(RequestError, 422, "Invalid request")


class Accepted(msgspec.Struct, kw_only=True):
    id: str
    state: str
    status_url: str  # follow the request here
    created_at: datetime


def _status_url(request: web.Request, request_id: str) -> str:
    return f"{regulator_data(request).webhook_prefix}/request/{request_id}"


async def _known_player(request: web.Request, player_id: str) -> bool:
    async with regulator_data(request).pool.acquire() as conn:
        return await players.summary_of(conn, player_id) is not None or await player_view.known(
            conn, player_id
        )


@ROUTES.add("POST", "/request",
            summary="Ask for a file (player_report, transactions, decisions, alerts, "
                    "incidents), delivered signed to the callback URL",
            tag="regulator", body=RequestIn, response=Accepted, status=202,
            errors=(400, 401, 403, 404, 415, 422), roles=ROLES)  # fmt: skip
async def create_request(request: web.Request) -> web.Response:
    body = await read_body(request, RequestIn)
    checked = requests.parameters(body.type, body.parameters)
    requests.check_callback(
        body.callback_url, request.config_dict[SERVICE].settings.regulator_callback_hosts
    )
    who = principal_of(request)
    client_id = who.client_id if who else "anonymous"
    service = request.config_dict[SERVICE]
    if callback_secret(service.settings, client_id) is None:
        raise ProblemError(
            403,
            "No callback secret",
            f"no secret to sign callbacks is configured for client {client_id!r}; "
            "ask the operator to add one",
            field="callback_url",
        )
    if isinstance(checked, PlayerReportParameters) and not await _known_player(
        request, checked.player_id
    ):
        raise ProblemError(
            404, "Not found", f"no player {checked.player_id!r}", field="parameters.player_id"
        )
    async with regulator_data(request).pool.acquire() as conn:
        row = await store.create(
            conn,
            client_id=client_id,
            principal=who.name if who else "anonymous",
            kind=body.type,
            parameters=body.parameters,
            fmt=body.format,
            callback_url=body.callback_url,
        )
    regulator_data(request).requests.wake()
    resp = json_response(
        Accepted(
            id=row.id,
            state=row.state,
            status_url=_status_url(request, row.id),
            created_at=row.created_at,
        ),
        202,
    )
    resp.headers["Location"] = _status_url(request, row.id)
    return resp


async def _own_request(request: web.Request) -> RequestRow:
    """The request named in the path, if the caller may see it: the client that made it,
    or a compliance officer. Anyone else is told it does not exist."""
    raw = request.match_info["id"]
    try:
        request_id = str(uuid.UUID(raw))
    except ValueError:
        raise ProblemError(404, "Not found", f"no request {raw!r}", field="id") from None
    async with regulator_data(request).pool.acquire() as conn:
        row = await store.get(conn, request_id)
    who = principal_of(request)
    if (
        row is not None
        and who is not None
        and row.client_id != who.client_id
        and roles.COMPLIANCE_OFFICER not in who.roles
    ):
        row = None
    if row is None:
        raise ProblemError(404, "Not found", f"no request {raw!r}", field="id")
    return row


@ROUTES.add("GET", "/request/{id}", summary="A request's state and its delivery attempts",
            tag="regulator", response=RequestRow, errors=(401, 403, 404),
            roles=ROLES)  # fmt: skip
async def get_request(request: web.Request) -> web.Response:
    return json_response(await _own_request(request))


@ROUTES.add("GET", "/request/{id}/file", summary="A prepared request's file",
            tag="regulator", errors=(401, 403, 404, 409), roles=ROLES,
            content_type="application/octet-stream")  # fmt: skip
async def get_request_file(request: web.Request) -> web.Response:
    row = await _own_request(request)
    async with regulator_data(request).pool.acquire() as conn:
        found = await store.file_of(conn, row.id)
    if found is None:
        raise ProblemError(409, "Not ready", f"request {row.id} is {row.state}; no file yet")
    name, fmt, content = found
    headers: dict[str, Any] = {
        "Content-Disposition": f'attachment; filename="{name}"',
        "Content-Type": requests.media_type(fmt),
    }
    return web.Response(body=content, headers=headers)
