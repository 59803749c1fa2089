"""Operations: Prometheus metrics, liveness, readiness and the OpenAPI document."""

from __future__ import annotations

import msgspec
from aiohttp import web

from engine.store import gauges
from pitboss.service.http import Routes, json_response
from pitboss.service.metrics import CONTENT_TYPE
from pitboss.service.state import SERVICE
from regapi.auth import roles

ROUTES = Routes()
OPENAPI = web.AppKey("openapi", bytes)


class Health(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct, kw_only=True):
    status: str
    database: bool
    engine: bool
    policy_version: int
    pending_events: int


@ROUTES.add("GET", "/metrics", summary="Prometheus metrics", tag="operations",
            content_type=CONTENT_TYPE, roles=roles.METRICS)  # fmt: skip
async def metrics(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    m = service.metrics
    m.pending.set(service.ingestor.pending)
    # Counted at scrape time: a handful of index-only counts, and always true, whoever
    # (this process, another, an analyst's SQL) changed the rows.
    async with service.pool.acquire() as conn:
        row = await gauges.open_counts(conn)
    m.open_alerts.set(row["alerts"])
    m.open_cases.set(row["cases"])
    m.open_incidents.set(row["incidents"])
    return web.Response(body=service.metrics.render(), headers={"Content-Type": CONTENT_TYPE})


@ROUTES.add("GET", "/healthz", summary="The process is alive", tag="operations",
            response=Health, roles=roles.PUBLIC)  # fmt: skip
async def healthz(request: web.Request) -> web.Response:
    return json_response(Health("ok"))


@ROUTES.add("GET", "/readyz", summary="Ready to take events", tag="operations",
            response=Readiness, errors=(503,), roles=roles.PUBLIC)  # fmt: skip
async def readyz(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    try:
        async with service.pool.acquire(timeout=2) as conn:
            database = await conn.fetchval("SELECT true", timeout=2) is True
    except (OSError, TimeoutError, Exception):
        database = False
    engine = service.ingestor.ready
    body = Readiness(
        status="ready" if database and engine else "not ready",
        database=database,
        engine=engine,
        policy_version=service.ingestor.version_id,
        pending_events=service.ingestor.pending,
    )
    return json_response(body, 200 if database and engine else 503)


@ROUTES.add("GET", "/openapi.json", summary="This API as OpenAPI 3.1", tag="operations",
            roles=roles.PUBLIC)  # fmt: skip
async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI], content_type="application/json")
