"""The service's composition root: settings in, an aiohttp application out.

Lifetimes are owned by `cleanup_ctx`: the database pool, then the policy versions and the
ingestor (which replays stored events to rebuild window state before the app answers),
then the background tasks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
import structlog
from aiohttp import web

import pitboss
from engine.ingest import IngestLimits, Ingestor
from engine.policy_manager import PolicyManager
from pitboss.service import database, openapi
from pitboss.service.http import (
    Routes,
    limits_middleware,
    metrics_middleware,
    problem_middleware,
    request_id_middleware,
)
from pitboss.service.metrics import Metrics
from pitboss.service.notifier import Notifier, notify_targets
from pitboss.service.routes import cases, events, incidents, ops, policies
from pitboss.service.settings import Settings
from pitboss.service.state import SERVICE, Service

log = structlog.get_logger("pitboss.service")

ROUTE_MODULES: tuple[Routes, ...] = (
    events.ROUTES,
    policies.ROUTES,
    incidents.ROUTES,
    cases.ROUTES,
    ops.ROUTES,
)


def all_routes() -> list[object]:
    return [r for table in ROUTE_MODULES for r in table.routes]


def make_app(settings: Settings) -> web.Application:
    metrics = Metrics()
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[
            request_id_middleware,
            metrics_middleware(metrics),
            problem_middleware,
            limits_middleware(settings.max_inflight_requests),
        ],
    )
    for table in ROUTE_MODULES:
        table.install(app)
    doc = openapi.document(
        [r for table in ROUTE_MODULES for r in table.routes],
        title="Pitboss",
        version=pitboss.__version__,
    )
    app[ops.OPENAPI] = msgspec.json.encode(doc)

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        url = settings.database_url or database.embedded_url(settings.data_dir)
        async with database.open_pool(url, size=settings.pool_size) as pool:
            policies_ = PolicyManager(pool, settings.data_dir)
            pack, version, shadows = await policies_.bootstrap(settings.policy_dir)
            notifier = Notifier(pool, settings, metrics)
            ingestor = Ingestor(
                pool,
                pack,
                version,
                limits=IngestLimits(
                    max_pending_events=settings.max_pending_events,
                    alert_window_s=settings.alert_window_s,
                ),
                shadows=shadows,
                observe=metrics.observe_decision,
                on_written=metrics.count_written,
                on_duplicates=metrics.count_duplicates,
                notify_targets=notify_targets(settings),
                on_commit=lambda ids: notifier.wake(),
            )
            policies_.ingestor = ingestor
            await ingestor.start()
            await notifier.start()
            app[SERVICE] = Service(
                settings=settings,
                metrics=metrics,
                pool=pool,
                ingestor=ingestor,
                policies=policies_,
                notifier=notifier,
            )
            log.info("ready", policy_version=version, replayed=ingestor.replayed)
            try:
                yield
            finally:
                # The ingestor first: its last commits may queue notifications.
                await ingestor.stop()
                await notifier.stop()

    app.cleanup_ctx.append(lifetime)
    return app
