"""Events in, decisions out: `/v1/events`, `/v1/events/batch`, `/v1/decisions/{id}`, and
signed provider webhooks."""

from __future__ import annotations

import time
from datetime import timedelta

import asyncpg
import msgspec
import structlog
from aiohttp import web

from engine import webhooks
from engine.decisions import Decision
from engine.events import Event, EventError, decode_event, event_type
from engine.ingest import reply_of
from engine.store import events as event_store
from engine.store import webhooks as webhook_store
from pitboss.service.http import FieldError, ProblemError, Routes, decode_body, raw_json
from pitboss.service.state import SERVICE
from regapi.auth import roles

ROUTES = Routes()
log = structlog.get_logger("pitboss.webhooks")

_KEY_MAX = 255
_KEY_DOC = (
    "Makes the request safe to retry: the same key with the same events gets the first "
    "reply; with other events, 409."
)


class BatchIn(msgspec.Struct, forbid_unknown_fields=True):
    events: list[msgspec.Raw]


class BatchOut(msgspec.Struct):
    decisions: list[Decision]


def _key(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not 0 < len(key) <= _KEY_MAX or not key.isprintable():
        raise ProblemError(
            400, "Invalid header", f"Idempotency-Key must be 1..{_KEY_MAX} printable characters",
            field="Idempotency-Key",
        )  # fmt: skip
    return key


def _json_body(request: web.Request) -> None:
    # aiohttp reports a request without Content-Type as application/octet-stream.
    if request.content_type not in ("application/json", "application/octet-stream", ""):
        raise ProblemError(415, "Unsupported media type", "send the event as application/json")


def _decode_batch(raw: bytes, limit: int) -> list[Event]:
    batch = decode_body(raw, BatchIn)
    if not batch.events:
        raise ProblemError(
            422, "Invalid request", "a batch needs at least one event", field="events"
        )
    if len(batch.events) > limit:
        raise ProblemError(
            413, "Batch too large", f"at most {limit} events per batch", field="events"
        )
    events: list[Event] = []
    errors: list[FieldError] = []
    for i, item in enumerate(batch.events):
        try:
            events.append(decode_event(bytes(item)))
        except EventError as exc:
            where = f"events[{i}]" + (f".{exc.field}" if exc.field else "")
            errors.append(FieldError(where, exc.message))
    if errors:
        # Nothing of a batch is taken unless all of it is: the client fixes and resends.
        raise ProblemError(
            422,
            "Invalid events",
            f"{len(errors)} of {len(batch.events)} events are invalid; none was taken",
            field=errors[0].field,
            errors=errors[:100],
        )
    return events


@ROUTES.add(
    "POST", "/v1/events", summary="Decide one event", tag="events",
    body=Event, response=Decision, errors=(400, 409, 413, 415, 422, 429, 503),
    headers={"Idempotency-Key": _KEY_DOC}, roles=roles.EVENTS_WRITE,
)  # fmt: skip
async def post_event(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    _json_body(request)
    key = _key(request)
    event = decode_event(await request.read())
    [reply] = await service.ingestor.decide([event], key=key)
    return raw_json(reply)


@ROUTES.add(
    "POST", "/v1/events/batch", summary="Decide many events, in order", tag="events",
    body=BatchIn, response=BatchOut, errors=(400, 409, 413, 415, 422, 429, 503),
    headers={"Idempotency-Key": _KEY_DOC}, roles=roles.EVENTS_WRITE,
)  # fmt: skip
async def post_batch(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    _json_body(request)
    key = _key(request)
    events = _decode_batch(await request.read(), service.settings.max_batch_events)
    replies = await service.ingestor.decide(events, key=key, batch=True)
    return raw_json(b'{"decisions":[' + b",".join(replies) + b"]}")


@ROUTES.add(
    "GET", "/v1/decisions/{event_id}", summary="The decision made for an event",
    tag="events", response=Decision, errors=(404,), roles=roles.DECISIONS_READ,
)  # fmt: skip
async def get_decision(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    event_id = request.match_info["event_id"]
    async with service.pool.acquire() as conn:
        stored = await event_store.decision(conn, event_id)
    if stored is None:
        raise ProblemError(
            404, "Not found", f"no decision for event {event_id!r}", field="event_id"
        )
    return raw_json(reply_of(stored))


@ROUTES.add(
    "POST", "/v1/webhooks/{provider}", summary="A signed PSP or KYC provider event",
    tag="events", body=Event, response=Decision, errors=(400, 401, 404, 409, 422, 503),
    roles=roles.PUBLIC,  # signed with the provider's HMAC secret instead
)  # fmt: skip
async def post_webhook(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    settings = service.settings
    name = request.match_info["provider"]
    provider = next((p for p in settings.webhook_providers if p.name == name), None)
    if provider is None:
        raise ProblemError(404, "Not found", f"no webhook provider {name!r}", field="provider")
    body = await request.read()
    try:
        webhooks.verify(
            provider.secret,
            timestamp=request.headers.get(webhooks.TIMESTAMP),
            nonce=request.headers.get(webhooks.NONCE),
            signature=request.headers.get(webhooks.SIGNATURE),
            body=body,
            now=time.time(),
            tolerance_s=settings.webhook_tolerance_s,
        )
        async with service.pool.acquire() as conn:
            keep = timedelta(seconds=2 * settings.webhook_tolerance_s)
            nonce = request.headers[webhooks.NONCE]
            if not await webhook_store.claim_nonce(conn, name, nonce, keep):
                raise webhooks.SignatureError("replay", "this nonce was used before")
    except webhooks.SignatureError as exc:
        await _refuse(request, name, exc)
    try:
        event = decode_event(body)
        if event_type(event) not in webhooks.ALLOWED_TYPES[provider.kind]:
            allowed = ", ".join(sorted(webhooks.ALLOWED_TYPES[provider.kind]))
            raise ProblemError(
                422, "Invalid event", f"a {provider.kind} provider may send {allowed}",
                field="type",
            )  # fmt: skip
        [reply] = await service.ingestor.decide([event])
    except BaseException:
        # Not taken (503 while rebuilding, say): the provider's retry of this very request
        # must not be refused as a replay.
        async with service.pool.acquire() as conn:
            await webhook_store.release_nonce(conn, name, nonce)
        raise
    return raw_json(reply)


async def _refuse(request: web.Request, provider: str, exc: webhooks.SignatureError) -> None:
    service = request.app[SERVICE]
    service.metrics.webhook_rejected.labels(provider, exc.reason).inc()
    try:
        async with service.pool.acquire() as conn:
            await webhook_store.log_rejection(conn, provider, exc.reason, request.remote)
    except (OSError, asyncpg.PostgresError) as err:
        # The refusal stands whether or not it could be recorded; the log line keeps it.
        log.error("webhook_rejection_not_recorded", error=repr(err))
    log.warning("webhook_refused", provider=provider, reason=exc.reason, remote=request.remote)
    raise ProblemError(401, "Unauthorized", str(exc), headers={"WWW-Authenticate": "HMAC-SHA256"})
