"""HTTP plumbing shared by every route: the route table, body decoding, problem+json
errors, request ids, the in-flight limit and response-time metrics.

Errors map to HTTP in one place (`problem_middleware`): domain exceptions are looked up
along their MRO in `ERROR_MAP`; anything unexpected is logged and answered with a bare
500, never with its details.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import asyncpg
import msgspec
import structlog
from aiohttp import hdrs, web

from engine.events import EventError
from engine.ingest import ConflictError, OverloadedError, UnavailableError
from pitboss.service.metrics import Metrics

log = structlog.get_logger("pitboss.http")

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PROBLEM = "application/problem+json"
REQUEST_ID = web.RequestKey("request_id", str)
_JSON = msgspec.json.Encoder()


class FieldError(msgspec.Struct, frozen=True):
    field: str
    message: str


class ProblemBody(msgspec.Struct, kw_only=True, omit_defaults=True):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    field: str | None = None
    errors: list[FieldError] | None = None
    request_id: str | None = None


class ProblemError(Exception):
    """An error answered as problem+json; raise it from handlers and helpers."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        field: str | None = None,
        errors: list[FieldError] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail = status, title, detail
        self.field, self.errors, self.headers = field, errors, dict(headers or {})


def _from_event_error(exc: EventError) -> ProblemError:
    cause = exc.__cause__
    if isinstance(cause, msgspec.DecodeError) and not isinstance(cause, msgspec.ValidationError):
        return ProblemError(400, "Malformed JSON", exc.message)
    return ProblemError(422, "Invalid event", exc.message, field=exc.field)


def _from_conflict(exc: ConflictError) -> ProblemError:
    return ProblemError(409, "Conflict", str(exc), field=exc.field)


def _from_overloaded(exc: OverloadedError) -> ProblemError:
    return ProblemError(503, "Overloaded", str(exc), headers={"Retry-After": str(exc.retry_after)})


def _from_unavailable(exc: UnavailableError) -> ProblemError:
    return ProblemError(503, "Unavailable", str(exc), headers={"Retry-After": str(exc.retry_after)})


def _from_data_error(exc: asyncpg.DataError) -> ProblemError:
    # PostgreSQL refused a value the request carried (a NUL in a text, a number out of
    # range): the client's mistake, so a 4xx, though the field is no longer known here.
    return ProblemError(422, "Invalid value", f"a value cannot be stored: {exc}")


ERROR_MAP: dict[type[BaseException], Callable[[Any], ProblemError]] = {
    asyncpg.DataError: _from_data_error,
    EventError: _from_event_error,
    ConflictError: _from_conflict,
    OverloadedError: _from_overloaded,
    UnavailableError: _from_unavailable,
}


def register_error(kind: type[BaseException], to_problem: Callable[[Any], ProblemError]) -> None:
    ERROR_MAP[kind] = to_problem


def register_status(kind: type[BaseException], status: int, title: str) -> None:
    """Answer `kind` with `status`: its message as the detail, its `field` (if it has
    one) as the field. The common case of `register_error`."""

    def to_problem(exc: BaseException) -> ProblemError:
        return ProblemError(status, title, str(exc), field=getattr(exc, "field", None))

    ERROR_MAP[kind] = to_problem


def problem_response(problem: ProblemError, request_id: str | None) -> web.Response:
    body = ProblemBody(
        title=problem.title,
        status=problem.status,
        detail=problem.detail,
        field=problem.field,
        errors=problem.errors,
        request_id=request_id,
    )
    return web.Response(
        body=_JSON.encode(body),
        status=problem.status,
        content_type=PROBLEM,
        headers=problem.headers,
    )


def _to_problem(exc: BaseException) -> ProblemError | None:
    if isinstance(exc, ProblemError):
        return exc
    for kind in type(exc).__mro__:
        if kind in ERROR_MAP:
            return ERROR_MAP[kind](exc)
    return None


_HTTP_TITLES = {404: "Not found", 405: "Method not allowed", 413: "Body too large"}


def _parse_content_type(request: web.Request) -> None:
    # The standard library's header parser recurses once per nested comment: a
    # `Content-Type: x/y((((…` would be a RecursionError (a 500) wherever a handler reads
    # it. Parsed here once (aiohttp keeps the result), such a header is the client's 415.
    if hdrs.CONTENT_TYPE in request.headers:
        try:
            request.content_type  # noqa: B018
        except RecursionError:
            raise ProblemError(
                415, "Unsupported media type", "Content-Type cannot be parsed",
                field="Content-Type",
            ) from None  # fmt: skip


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request.get(REQUEST_ID)
    try:
        _parse_content_type(request)
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        title = _HTTP_TITLES.get(exc.status, exc.reason)
        detail = exc.text if exc.text and not exc.text.startswith(str(exc.status)) else None
        resp = problem_response(ProblemError(exc.status, title, detail), request_id)
        for name in ("Allow", "Retry-After", "WWW-Authenticate"):
            if name in exc.headers:
                resp.headers[name] = exc.headers[name]
        return resp
    except Exception as exc:
        problem = _to_problem(exc)
        if problem is None:
            log.exception("unhandled_error", path=request.path)
            problem = ProblemError(500, "Internal error", "the error was logged")
        elif problem.status >= 500:
            log.warning("unavailable", path=request.path, detail=problem.detail)
        return problem_response(problem, request_id)


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    given = request.headers.get("X-Request-Id", "")
    request_id = given if 0 < len(given) <= 128 and given.isprintable() else uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    response = await handler(request)
    response.headers["X-Request-Id"] = request_id
    return response


# Probes and scrapes answer however busy the service is: a liveness probe refused with 429
# would have a loaded service restarted.
_UNLIMITED = frozenset({"/healthz", "/readyz", "/metrics"})


def limits_middleware(max_inflight: int) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Answer 429 when more than `max_inflight` requests are being handled."""
    inflight = 0

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonlocal inflight
        if request.path in _UNLIMITED:
            return await handler(request)
        if inflight >= max_inflight:
            raise ProblemError(
                429,
                "Too many requests",
                f"more than {max_inflight} requests in progress",
                headers={"Retry-After": "1"},
            )
        inflight += 1
        try:
            return await handler(request)
        finally:
            inflight -= 1

    return middleware


def metrics_middleware(metrics: Metrics) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        finally:
            info = request.match_info.route.resource
            route = info.canonical if info is not None else "unmatched"
            metrics.observe_request(request.method, route, status, time.perf_counter() - started)

    return middleware


def is_whole(raw: str, digits: int = 18) -> bool:
    """A whole number in ASCII digits that fits a bigint (`str.isdigit` also takes '²')."""
    return 0 < len(raw) <= digits and raw.isascii() and raw.isdigit()


BIGINT = 2**63 - 1


def path_id(request: web.Request, name: str, what: str) -> int:
    """A numeric id from the path; anything else is a 404 (no such thing), never a 500."""
    raw = request.match_info[name]
    if not is_whole(raw) or not 0 < int(raw) <= BIGINT:
        raise ProblemError(404, "Not found", f"no {what} {raw!r}", field=name)
    return int(raw)


def query_int(request: web.Request, name: str, lo: int, hi: int) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    if not is_whole(raw) or not lo <= int(raw) <= hi:
        raise ProblemError(
            422, "Invalid query", f"{name} must be a whole number from {lo} to {hi}", field=name
        )
    return int(raw)


def query_choice(request: web.Request, name: str, choices: tuple[str, ...]) -> str | None:
    raw = request.query.get(name)
    if raw is not None and raw not in choices:
        raise ProblemError(
            422, "Invalid query", f"{name} must be one of: {', '.join(choices)}", field=name
        )
    return raw


# --- bodies --------------------------------------------------------------------------

_PATH_AT = "- at `$"


def _validation_problem(exc: msgspec.MsgspecError, what: str) -> ProblemError:
    text = str(exc)
    if not isinstance(exc, msgspec.ValidationError):
        return ProblemError(400, "Malformed JSON", f"{what}: {text}")
    field_name = None
    message = text
    if _PATH_AT in text:
        message, _, path = text.rpartition(" - at `$")
        field_name = path.rstrip("`").lstrip(".") or None
    elif "field `" in text:
        field_name = text.split("field `", 1)[1].split("`", 1)[0]
    return ProblemError(422, "Invalid request", f"{what}: {message}", field=field_name)


def decode_body(raw: bytes, kind: type[T], what: str = "body") -> T:
    """Decode a JSON body into `kind`, or raise a 4xx `ProblemError` naming the field."""
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.MsgspecError as exc:
        raise _validation_problem(exc, what) from exc


async def read_body(request: web.Request, kind: type[T]) -> T:
    if request.content_type not in ("application/json", "application/octet-stream", ""):
        raise ProblemError(415, "Unsupported media type", "send application/json")
    return decode_body(await request.read(), kind)


def json_response(value: object, status: int = 200) -> web.Response:
    return web.Response(body=_JSON.encode(value), status=status, content_type="application/json")


def raw_json(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json")


# --- the route table (also the source of /openapi.json) ------------------------------


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    body: object = None  # request body type (a msgspec type), if any
    response: object = None  # 2xx response body type, if JSON
    status: int = 200
    errors: tuple[int, ...] = ()
    query: Mapping[str, tuple[type, str]] = field(default_factory=dict)  # name → (type, doc)
    headers: Mapping[str, str] = field(default_factory=dict)  # request header → doc
    content_type: str = "application/json"
    # The roles that may call it (regapi.auth.roles); empty: public, no token.
    roles: tuple[str, ...] = ()
    # JSON Schema keywords for a path or query parameter beyond its type (`enum`,
    # `pattern`), so that the document says which values the route takes.
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Other media types the 2xx answer may come as (a string body), e.g. NDJSON.
    also: tuple[str, ...] = ()
    # The media type `body` comes in (a form for OAuth2's token endpoint), and the type of
    # error bodies where they are not problem+json (OAuth2's RFC 6749 JSON bodies).
    body_media: str = "application/json"
    error_body: object = None


def _renamed(handler: Handler, name: str) -> Handler:
    async def mirror(request: web.Request) -> web.StreamResponse:
        return await handler(request)

    mirror.__name__ = mirror.__qualname__ = f"{name}_{handler.__name__}"
    mirror.__doc__ = handler.__doc__
    return mirror


class Routes:
    """The routes of one app, with what OpenAPI needs to describe them."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(
        self, method: str, path: str, *, roles: tuple[str, ...], **meta: Any
    ) -> Callable[[Handler], Handler]:
        """Register a handler. `roles` is required, so that no route is public by
        omission: `roles=PUBLIC` (empty) says so on purpose."""

        def register(handler: Handler) -> Handler:
            self.routes.append(Route(method, path, handler, roles=tuple(roles), **meta))
            return handler

        return register

    def install(self, app: web.Application) -> None:
        for r in self.routes:
            app.router.add_route(r.method, r.path, r.handler)

    def __add__(self, other: Routes) -> Routes:
        joined = Routes()
        joined.routes = [*self.routes, *other.routes]
        return joined

    def mirrored(self, *, roles: tuple[str, ...], name: str) -> Routes:
        """The same routes for other callers: each handler wrapped in one of its own (the
        access check knows a route by its handler), named `<name>_<handler>` (OpenAPI
        operation ids are unique), open to `roles` only."""
        mirror = Routes()
        for r in self.routes:
            mirror.routes.append(replace(r, handler=_renamed(r.handler, name), roles=roles))
        return mirror
