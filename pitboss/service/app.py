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
from pitboss.service import auth, database, openapi, reports
from pitboss.service.http import (
    Routes,
    limits_middleware,
    metrics_middleware,
    problem_middleware,
    request_id_middleware,
)
from pitboss.service.metrics import Metrics
from pitboss.service.notifier import Notifier, notify_targets
from pitboss.service.pii import pii_keys
from pitboss.service.regulator_requests import WORKER, RequestWorker
from pitboss.service.routes import (
    cases,
    config,
    events,
    incidents,
    oauth,
    ops,
    players,
    policies,
    regulator,
    regulator_webhook,
    sars,
)
from pitboss.service.routes import reports as report_routes
from pitboss.service.settings import Settings
from pitboss.service.state import SERVICE, Service

log = structlog.get_logger("pitboss.service")

ROUTE_MODULES: tuple[Routes, ...] = (
    events.ROUTES,
    policies.ROUTES,
    incidents.ROUTES,
    cases.ROUTES,
    players.ROUTES,
    sars.ROUTES,
    config.ROUTES,
    ops.ROUTES,
    oauth.ROUTES,
    report_routes.ROUTES,
)
# Mounted as sub-apps (prefix, routes), each with the regulator access log.
SUB_APPS: tuple[tuple[str, Routes], ...] = (
    ("/regulator", regulator.ROUTES),
    ("/webhook/regulator", regulator_webhook.ROUTES),
)


def all_routes() -> list[object]:
    return [r for table in ROUTE_MODULES for r in table.routes]


def make_app(settings: Settings) -> web.Application:
    metrics = Metrics()
    access = auth.Access(
        settings, [r for table in (*ROUTE_MODULES, *(t for _, t in SUB_APPS)) for r in table.routes]
    )
    auth.announce(settings)
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[
            request_id_middleware,
            metrics_middleware(metrics),
            problem_middleware,
            access.middleware(),
            limits_middleware(settings.max_inflight_requests),
        ],
    )
    for table in ROUTE_MODULES:
        table.install(app)
    for prefix, table in SUB_APPS:
        app.add_subapp(prefix, regulator.sub_app(table))
    doc = openapi.document(
        [r for table in ROUTE_MODULES for r in table.routes],
        title="Pitboss",
        version=pitboss.__version__,
        mounted=SUB_APPS,
    )
    app[ops.OPENAPI] = msgspec.json.encode(doc)
    app[auth.ACCESS] = access

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        keys = pii_keys(settings)  # first: no key, no start (and nothing touched)
        prepared = reports.prepare(settings)
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
            app[WORKER] = requests = RequestWorker(pool, settings, keys)
            await requests.start()
            app[reports.REPORTS] = reporting = await reports.start(
                pool, settings, metrics, url, prepared
            )
            app[SERVICE] = Service(
                settings=settings,
                metrics=metrics,
                pool=pool,
                ingestor=ingestor,
                policies=policies_,
                notifier=notifier,
                keys=keys,
            )
            log.info("ready", policy_version=version, replayed=ingestor.replayed)
            try:
                yield
            finally:
                # The ingestor first: its last commits may queue notifications.
                await ingestor.stop()
                await notifier.stop()
                await requests.stop()
                await reports.stop(reporting)

    app.cleanup_ctx.append(lifetime)
    app.cleanup_ctx.append(access.lifetime)  # after the pool is open
    return app
