"""The regulator API, mounted as a sub-app at `/regulator`: generated reports, the logs
(transactions, decisions, alerts, incidents, access), a player's file, and the change
history of configuration entities.

Every request to it is logged before it is answered (`access_middleware`), with who
asked, what, when and from where; `GET /regulator/logs/access` reads that log.
"""

from __future__ import annotations

import base64
import contextlib
import time
from datetime import UTC, datetime
from typing import Any, Final

import msgspec
import structlog
from aiohttp import web

from dsl.vocabulary import MARKETS
from pitboss.service.auth import PRINCIPAL
from pitboss.service.http import (
    ERROR_MAP,
    REQUEST_ID,
    Handler,
    ProblemError,
    Routes,
    json_response,
    register_error,
    register_status,
)
from pitboss.service.regulator_data import SLOT, DataSlot, regulator_data
from regapi import audit, config, logs, periods
from regapi import player as player_view
from regapi.auth import roles
from regapi.auth.principal import Principal
from regapi.logs import LogQuery, LogQueryError
from regapi.periods import PeriodError
from regapi.store import access
from regapi.store import logs as log_store
from regapi.store import reports as report_store
from regapi.store.reports import ReportFile

ROUTES = Routes()
log = structlog.get_logger("pitboss.regulator")

# Who reads here: regulators (read-only) and the operator's compliance officers.
ROLES = roles.SENSITIVE_READ
NDJSON = "application/x-ndjson"
_ENCODER = msgspec.json.Encoder()
# A stream is written in pieces of about this size (the first row at once, so the reader
# sees data as soon as there is some).
_FLUSH_BYTES = 64 * 1024
_MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "xml": "application/xml",
    "pdf": "application/pdf",
    "txt": "text/plain; charset=utf-8",
    "manifest": "application/json",
    "sig": "application/octet-stream",
}

# --- errors -------------------------------------------------------------------------


def _bad_period(exc: PeriodError) -> ProblemError:
    return ProblemError(422, "Invalid period", str(exc), field="period")


register_status(LogQueryError, 422, "Invalid query")
register_error(PeriodError, _bad_period)

# --- who is asking ------------------------------------------------------------------


def principal_of(request: web.Request) -> Principal | None:
    """The authenticated caller, as the auth middleware left it on the request."""
    return request.get(PRINCIPAL)


def cert_subject(request: web.Request) -> str | None:
    """The verified client certificate's subject, e.g. `CN=inspector,O=MGA`, if any."""
    transport = request.transport
    peer = transport.get_extra_info("peercert") if transport is not None else None
    if not peer:
        return None
    parts = [f"{_RDN.get(k, k)}={v}" for rdn in peer.get("subject", ()) for k, v in rdn]
    return ",".join(parts) or None


_RDN = {
    "commonName": "CN",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "emailAddress": "emailAddress",
}


def _clean(text: str, limit: int = 2_000) -> str:
    # PostgreSQL's text holds no NUL; a path or query may (%00).
    return text.replace("\x00", "\ufffd")[:limit]


def _status_of(exc: BaseException) -> int:
    """The status the problem middleware will answer `exc` with."""
    if isinstance(exc, ProblemError | web.HTTPException):
        return exc.status
    for kind in type(exc).__mro__:
        if kind in ERROR_MAP:
            return ERROR_MAP[kind](exc).status
    return 500


def _access(request: web.Request) -> access.Access:
    who = principal_of(request)
    resource = request.match_info.route.resource
    params = {k: _clean(v) for k, v in request.match_info.items()}
    params.update({k: _clean(v) for k, v in request.query.items()})
    subject = params.get("player") or (params.get("id") if "/player/" in request.path else None)
    return access.Access(
        client_id=who.client_id if who else "anonymous",
        principal=who.name if who else "anonymous",
        roles=sorted(who.roles) if who else [],
        method=request.method,
        route=resource.canonical if resource is not None else "unmatched",
        path=_clean(request.path),
        params=params,
        player_id=subject,
        remote=request.remote,
        cert_subject=cert_subject(request),
        request_id=request.get(REQUEST_ID),
    )


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Log the request before it is answered (a read that cannot be logged is not served),
    then its outcome."""
    pool = regulator_data(request).pool
    async with pool.acquire() as conn:
        entry_id = await access.record(conn, _access(request))
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except BaseException as exc:
        status = _status_of(exc)
        raise
    finally:
        try:
            async with pool.acquire() as conn:
                await access.complete(
                    conn,
                    entry_id,
                    status=status,
                    duration_ms=(time.perf_counter() - started) * 1000,
                )
        except Exception:
            # The request itself is logged; only its outcome is missing.
            log.exception("access_log_outcome_failed", entry_id=entry_id)


def sub_app(table: Routes, *, middlewares: tuple[Any, ...] = ()) -> web.Application:
    """A sub-app serving `table`, every request to it logged; `middlewares` (access
    checks) run before the access log, so a refused request is not taken for a read."""
    app = web.Application(middlewares=[*middlewares, access_middleware])
    app[SLOT] = DataSlot()
    table.install(app)
    return app


# --- reports ------------------------------------------------------------------------

# What a period looks like (regapi.periods), for the document.
_PERIOD: Final = {
    "pattern": "^(daily/[0-9]{4}-[0-9]{2}-[0-9]{2}|weekly/[0-9]{4}-W[0-9]{2}"
    "|monthly/[0-9]{4}-[0-9]{2})$"
}


class ReportFileOut(ReportFile, kw_only=True):
    url: str  # where to download it


class ReportList(msgspec.Struct, kw_only=True):
    period: str
    start: str  # first day (ISO 8601)
    end: str  # first day after
    files: list[ReportFileOut]


def _period(request: web.Request) -> periods.Period:
    return periods.parse(request.match_info["period"])


def _market(request: web.Request) -> str | None:
    market = request.query.get("market")
    if market is not None and not (0 < len(market) <= 16 and market.isalnum()):
        raise ProblemError(422, "Invalid query", "market: a market code, e.g. MGA", field="market")
    return market


@ROUTES.add("GET", "/reports/{period:[^/]+(?:/[^/]+)?}",
            summary="The report files generated for a period "
                    "(daily/2026-11-20, weekly/2026-W47, monthly/2026-11)",
            tag="regulator", response=ReportList, errors=(401, 403, 422), roles=ROLES,
            query={"market": (str, "only this market's files")},
            params={"period": _PERIOD, "market": {"enum": sorted(MARKETS)}})  # fmt: skip
async def regulator_reports(request: web.Request) -> web.Response:
    period = _period(request)
    market = _market(request)
    data = regulator_data(request)
    async with data.pool.acquire() as conn:
        files = await report_store.listing(conn, period, market=market)
    out = [
        ReportFileOut(**msgspec.structs.asdict(f), url=f"{data.prefix}/reports/{period}/{f.name}")
        for f in files
    ]
    return json_response(
        ReportList(
            period=str(period),
            start=period.start.isoformat(),
            end=period.end.isoformat(),
            files=out,
        )
    )


class SigningKeys(msgspec.Struct, kw_only=True):
    keys: list[dict[str, str]]  # JWK: OKP, Ed25519, with kid, use and alg
    # The current key as PEM (SubjectPublicKeyInfo), for `openssl pkeyutl -verify`.
    pem: str


@ROUTES.add("GET", "/signing-keys",
            summary="The public keys that verify report signatures (a JWKS of Ed25519 keys)",
            tag="regulator", response=SigningKeys, errors=(401, 403), roles=ROLES)  # fmt: skip
async def regulator_signing_keys(request: web.Request) -> web.Response:
    signer = regulator_data(request).signer
    return json_response(SigningKeys(keys=[signer.public_jwk()], pem=signer.public_pem().decode()))


@ROUTES.add("GET", "/reports/{period:[^/]+/[^/]+}/{file}", summary="Download a report file",
            tag="regulator", errors=(401, 403, 404, 422), roles=ROLES,
            content_type="application/octet-stream",
            params={"file": {"pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$"}})  # fmt: skip
async def regulator_report_file(request: web.Request) -> web.StreamResponse:
    period = _period(request)
    name = request.match_info["file"]
    pool = regulator_data(request).pool
    async with pool.acquire() as conn:
        found = await report_store.find(conn, period, name)
        if found is None:
            raise ProblemError(404, "Not found", f"no file {name!r} for {period}", field="file")
        digest = base64.b64encode(bytes.fromhex(found.sha256)).decode()
        resp = web.StreamResponse(
            headers={
                "Content-Type": _MEDIA_TYPES.get(found.format, "application/octet-stream"),
                "Content-Disposition": f'attachment; filename="{found.name}"',
                "ETag": f'"{found.sha256}"',
                "Content-Digest": f"sha-256=:{digest}:",
            }
        )
        resp.content_length = found.size
        await resp.prepare(request)
        async for part in report_store.content(conn, found.id):
            await resp.write(part)
    await resp.write_eof()
    return resp


# --- logs ---------------------------------------------------------------------------


class LogPage(msgspec.Struct, kw_only=True):
    type: str
    # The log's rows, oldest first (`regapi.store.logs`: TransactionRow, DecisionRow,
    # AlertRow, IncidentRow, AccessRow; docs/regulator.md lists their fields).
    items: list[dict[str, Any]]
    # Pass as `cursor` (with the same filters) for the next page; null on the last page.
    next_cursor: str | None


class _Page(msgspec.Struct, kw_only=True):
    """What `LogPage` documents, holding the rows as they are."""

    type: str
    items: list[log_store.LogRow]
    next_cursor: str | None


def _wants_ndjson(request: web.Request) -> bool:
    fmt = request.query.get("format")
    if fmt is not None:
        if fmt not in ("json", "ndjson"):
            raise ProblemError(422, "Invalid query", "format: json or ndjson", field="format")
        return fmt == "ndjson"
    return NDJSON in request.headers.get("Accept", "")


def _player_param(request: web.Request) -> str | None:
    player = request.query.get("player")
    if player is not None and not 0 < len(player) <= 256:
        raise ProblemError(422, "Invalid query", "player: 1..256 characters", field="player")
    return player


@ROUTES.add("GET", "/logs/{type}",
            summary="A log (transactions, decisions, alerts, incidents, access), by time; "
                    "paged JSON, or every row of the range as NDJSON",
            tag="regulator", response=LogPage, errors=(401, 403, 422), roles=ROLES,
            query={"from": (str, "RFC 3339, included"), "to": (str, "RFC 3339, excluded"),
                   "player": (str, "only rows about this player"),
                   "cursor": (str, "the `next_cursor` of the previous page"),
                   "limit": (int, f"page size 1..{logs.MAX_LIMIT} (default {logs.DEFAULT_LIMIT}); "
                                  "with ndjson, at most this many rows (default all)"),
                   "format": (str, "json (default) or ndjson; or send Accept: "
                                   "application/x-ndjson")},
            params={"type": {"enum": list(logs.LOG_TYPES)}, "format": {"enum": ["json", "ndjson"]}},
            also=(NDJSON,))  # fmt: skip
async def regulator_log(request: web.Request) -> web.StreamResponse:
    kind = logs.log_type(request.match_info["type"])
    start, end = logs.time_range(request.query.get("from"), request.query.get("to"))
    cursor = request.query.get("cursor")
    after = None if cursor is None else logs.decode_cursor(kind, cursor)
    stream = _wants_ndjson(request)
    limit = request.query.get("limit")
    q = LogQuery(
        log=kind,
        start=start,
        end=end,
        player=_player_param(request),
        after=after,
        limit=None if stream and limit is None else logs.page_size(limit),
    )
    if stream:
        return await _stream(request, q)
    async with regulator_data(request).pool.acquire() as conn:
        rows, last = await log_store.page(conn, q)
    next_cursor = None if last is None else logs.encode_cursor(kind, last)
    return json_response(_Page(type=kind, items=rows, next_cursor=next_cursor))


async def _stream(request: web.Request, q: LogQuery) -> web.StreamResponse:
    """Write every row `q` selects as it comes from the database cursor.

    The status line goes with the first row (or the end of an empty range), so a query
    that fails at once is still answered as a problem."""
    resp = web.StreamResponse(headers={"Content-Type": NDJSON})
    resp.enable_chunked_encoding()
    rows = 0

    async def send(data: bytearray) -> None:
        if not resp.prepared:
            await resp.prepare(request)
        if data:
            await resp.write(bytes(data))
            data.clear()

    async with regulator_data(request).pool.acquire() as conn:
        try:
            async with contextlib.aclosing(log_store.stream(conn, q)) as found:
                buffer = bytearray()
                async for row in found:
                    _ENCODER.encode_into(row, buffer, len(buffer))
                    buffer += b"\n"
                    rows += 1
                    if len(buffer) >= _FLUSH_BYTES or rows == 1:
                        await send(buffer)
                await send(buffer)
        except (ConnectionResetError, OSError):
            log.info("log_stream_abandoned", log=q.log, rows=rows)
            raise
        except Exception:
            if not resp.prepared:
                raise
            # The status line has gone: the only way left to say "incomplete" is to end
            # the connection without the final chunk.
            log.exception("log_stream_failed", log=q.log, rows=rows)
            if request.transport is not None:
                request.transport.close()
            return resp
    await resp.write_eof()
    return resp


# --- a player -----------------------------------------------------------------------


@ROUTES.add("GET", "/player/{id}",
            summary="A player: profile, KYC state, limits, restrictions, transactions, "
                    "alerts and cases",
            tag="regulator", response=player_view.PlayerView, errors=(401, 403, 404),
            roles=ROLES)  # fmt: skip
async def regulator_player(request: web.Request) -> web.Response:
    player_id = request.match_info["id"]
    if not 0 < len(player_id) <= 256:
        raise ProblemError(404, "Not found", "no such player", field="id")
    data = regulator_data(request)
    async with data.pool.acquire() as conn:
        found = await player_view.view(
            conn, data.keys, player_id, now=datetime.now(UTC), prefix=data.prefix
        )
    if found is None:
        raise ProblemError(404, "Not found", f"no player {player_id!r}", field="id")
    return json_response(found)


# --- the change history of an entity ----------------------------------------------------

# What the audit trail records (`regapi.audit`): configuration entities, KYC states,
# policies.
AUDITED: Final = (*config.KINDS, "kyc_state", "policy")


class Change(msgspec.Struct, kw_only=True):
    version: int  # 1 for the first recorded change
    at: datetime
    operator: str
    action: str  # create | update | delete
    diff: list[dict[str, Any]]  # RFC 6902 JSON Patch from the state before
    hash: str  # the change's link in the audit chain (`pitboss audit verify`)


class History(msgspec.Struct, kw_only=True):
    entity: str
    id: str
    changes: list[Change]  # oldest first


@ROUTES.add("GET", "/audit", summary="The change history of an entity: operator, time and "
                                     "RFC 6902 diff of each change",
            tag="regulator", response=History, errors=(401, 403, 404, 422), roles=ROLES,
            query={"entity": (str, " | ".join(AUDITED)),
                   "id": (str, "the entity's id")},
            params={"entity": {"enum": list(AUDITED)}})  # fmt: skip
async def regulator_audit(request: web.Request) -> web.Response:
    entity = request.query.get("entity")
    if entity not in AUDITED:
        raise ProblemError(
            422, "Invalid query", f"entity: one of {', '.join(AUDITED)}", field="entity"
        )
    entity_id = request.query.get("id")
    if entity_id is None or not 0 < len(entity_id) <= 256:
        raise ProblemError(422, "Invalid query", "id: the entity's id (1..256 characters)",
                           field="id")  # fmt: skip
    async with regulator_data(request).pool.acquire() as conn:
        entries = await audit.history(conn, entity, entity_id)
    if not entries:
        raise ProblemError(404, "Not found", f"no recorded change to {entity} {entity_id!r}",
                           field="id")  # fmt: skip
    changes = [
        Change(version=n, at=e.at, operator=e.actor, action=e.action, diff=e.patch, hash=e.hash)
        for n, e in enumerate(entries, 1)
    ]
    return json_response(History(entity=entity, id=entity_id, changes=changes))
