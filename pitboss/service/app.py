"""The service's composition root: settings in, an aiohttp application out.

Lifetimes are owned by `cleanup_ctx`: the database pool, then the policy versions and the
ingestor (which replays stored events to rebuild window state before the app answers),
then the background tasks.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable

import msgspec
import structlog
from aiohttp import web

import pitboss
from engine.ingest import IngestLimits, Ingestor
from engine.policy_manager import PolicyManager
from pitboss.service import auth, database, openapi, reports, sandbox
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
from pitboss.service.regulator_data import SLOT, DataSlot, RegulatorData
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
    sandbox_validate,
    sars,
)
from pitboss.service.routes import reports as report_routes
from pitboss.service.settings import Settings
from pitboss.service.state import SERVICE, Service
from regapi.auth import roles

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
# The sandbox mirrors them for sandbox clients only (`PITBOSS_SANDBOX=on`), and adds the
# validators.
SANDBOX_APPS: tuple[tuple[str, Routes], ...] = (
    (sandbox.REGULATOR_PREFIX,
     regulator.ROUTES.mirrored(roles=roles.SANDBOX_ONLY, name="sandbox") + sandbox_validate.ROUTES),
    (sandbox.WEBHOOK_PREFIX,
     regulator_webhook.ROUTES.mirrored(roles=roles.SANDBOX_ONLY, name="sandbox")),
)  # fmt: skip


def mounted(settings: Settings) -> tuple[tuple[str, Routes], ...]:
    """The sub-apps this configuration serves."""
    return SUB_APPS + (SANDBOX_APPS if settings.sandbox else ())


def all_routes() -> list[object]:
    return [r for table in ROUTE_MODULES for r in table.routes]


def _empty(slots: Iterable[DataSlot]) -> None:
    for slot in slots:
        slot.data = None


def make_app(settings: Settings) -> web.Application:
    metrics = Metrics()
    subs = mounted(settings)
    access = auth.Access(
        settings, [r for table in (*ROUTE_MODULES, *(t for _, t in subs)) for r in table.routes]
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
    slots: dict[str, DataSlot] = {}
    for prefix, table in subs:
        sub = regulator.sub_app(table)
        slots[prefix] = sub[SLOT]
        app.add_subapp(prefix, sub)
    doc = openapi.document(
        [r for table in ROUTE_MODULES for r in table.routes],
        title="Pitboss",
        version=pitboss.__version__,
        mounted=subs,
    )
    app[ops.OPENAPI] = msgspec.json.encode(doc)
    app[auth.ACCESS] = access

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        keys = pii_keys(settings)  # first: no key, no start (and nothing touched)
        prepared = reports.prepare(settings)
        url = settings.database_url or database.embedded_url(settings.data_dir)
        async with contextlib.AsyncExitStack() as stack:
            pool = await stack.enter_async_context(database.open_pool(url, size=settings.pool_size))
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
            # Stopped in the reverse order: the sandbox, the report workers, the request
            # worker, the ingestor, and the notifier after it (the ingestor's last commits
            # may queue notifications).
            await notifier.start()
            stack.push_async_callback(notifier.stop)
            await ingestor.start()
            stack.push_async_callback(ingestor.stop)
            app[WORKER] = requests = RequestWorker(pool, settings, keys)
            await requests.start()
            stack.push_async_callback(requests.stop)
            app[reports.REPORTS] = reporting = await reports.start(
                pool, settings, metrics, url, prepared
            )
            stack.push_async_callback(reports.stop, reporting)
            live = RegulatorData(pool=pool, keys=keys, signer=prepared.signer,
                                 requests=requests, prefix="/regulator",
                                 webhook_prefix="/webhook/regulator")  # fmt: skip
            slots["/regulator"].data = slots["/webhook/regulator"].data = live
            if settings.sandbox:
                play = await stack.enter_async_context(sandbox.running(settings, url))
                slots[sandbox.REGULATOR_PREFIX].data = slots[sandbox.WEBHOOK_PREFIX].data = play
            # First thing on the way out: regulator requests get 503, not a closing pool.
            stack.callback(_empty, slots.values())
            app[SERVICE] = Service(
                settings=settings,
                metrics=metrics,
                pool=pool,
                ingestor=ingestor,
                policies=policies_,
                notifier=notifier,
                keys=keys,
            )
            log.info("ready", policy_version=version, replayed=ingestor.replayed,
                     sandbox=settings.sandbox)  # fmt: skip
            yield

    app.cleanup_ctx.append(lifetime)
    app.cleanup_ctx.append(access.lifetime)  # after the pool is open
    return app
