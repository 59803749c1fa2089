"""Scheduled reports in the service: the configuration, the signing key, the scheduler and
the delivery worker, opened and closed with the app. `pitboss report` uses the same
functions, so a report made by hand is made exactly as a scheduled one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import asyncpg
import structlog
from aiohttp import web

from engine.fx import RateTable
from pitboss.service.auth import StartupRefusedError
from pitboss.service.metrics import Metrics
from pitboss.service.report_delivery import DeliveryWorker
from pitboss.service.settings import Settings
from regapi.reports import config as reports_config_module
from regapi.reports import signing
from regapi.reports.config import ReportsConfig, ReportsConfigError
from regapi.reports.runs import Reporter
from regapi.reports.schedule import ReportScheduler
from regapi.store import report_runs

log = structlog.get_logger("pitboss.reports")


def reports_config(settings: Settings) -> ReportsConfig:
    """The reports configuration file, or the development defaults without one."""
    if settings.reports_config is None:
        return reports_config_module.development()
    return reports_config_module.load(settings.reports_config)


def signing_key_path(settings: Settings) -> Path:
    if settings.report_signing_key_file is not None:
        return settings.report_signing_key_file
    return settings.data_dir / "keys" / "report-signing.pem"


def report_signer(settings: Settings) -> signing.ReportSigner:
    """The report signing key; made on first use in development (and said loudly)."""
    path = signing_key_path(settings)
    create = settings.report_signing_key_file is None
    if create and not path.exists():
        log.warning("report_signing_key_generated", path=str(path),
                    hint="set PITBOSS_REPORT_SIGNING_KEY_FILE outside development")  # fmt: skip
    return signing.load_or_create(path, create=create)


def reporter(settings: Settings, metrics: Metrics | None = None) -> Reporter:
    return Reporter(
        config=reports_config(settings),
        signer=report_signer(settings),
        fx=RateTable.default(),
        observe=(lambda *a: None) if metrics is None else metrics.observe_report,
    )


@dataclass
class Reports:
    """The reports side of a running service."""

    reporter: Reporter
    scheduler: ReportScheduler | None  # None when this process does not schedule
    delivery: DeliveryWorker


REPORTS = web.AppKey("reports", Reports)


@dataclass(frozen=True)
class Prepared:
    """What can be checked before anything starts: a bad configuration or key stops the
    service at once, naming what is wrong."""

    config: ReportsConfig
    signer: signing.ReportSigner


def prepare(settings: Settings) -> Prepared:
    """The configuration and the signing key, or `StartupRefusedError` saying what to fix."""
    try:
        prepared = Prepared(config=reports_config(settings), signer=report_signer(settings))
    except ReportsConfigError as exc:
        raise StartupRefusedError(f"PITBOSS_REPORTS_CONFIG: {exc}") from None
    except signing.ReportKeyError as exc:
        raise StartupRefusedError(f"PITBOSS_REPORT_SIGNING_KEY_FILE: {exc}") from None
    mailing = sorted(code for code, m in prepared.config.markets.items() if m.emails)
    if mailing and not settings.smtp_host:
        # Otherwise every notice would fail its attempts one by one, hours later.
        raise StartupRefusedError(
            f"PITBOSS_SMTP_HOST: needed to mail report notices (markets.{mailing[0]}.emails)"
        )
    return prepared


async def start(
    pool: asyncpg.Pool,
    settings: Settings,
    metrics: Metrics,
    database_url: str,
    prepared: Prepared,
) -> Reports:
    config = prepared.config
    delivery = DeliveryWorker(pool, settings, metrics, config)

    def observe(market: str, kind: str, outcome: str, seconds: float) -> None:
        metrics.observe_report(market, kind, outcome, seconds)
        if outcome == "generated":
            delivery.wake()  # its deliveries are queued

    made = Reporter(config=config, signer=prepared.signer, fx=RateTable.default(), observe=observe)
    async with pool.acquire() as conn:
        for market, kind, at in await report_runs.last_generated(conn):
            metrics.report_last_generated.labels(market, kind).set(at.timestamp())
    await delivery.start()
    scheduler = None
    if settings.report_schedule:
        scheduler = ReportScheduler(pool, made, database_url)
        try:
            await scheduler.start()
        except BaseException:
            await scheduler.stop()
            await delivery.stop()
            raise
    return Reports(reporter=made, scheduler=scheduler, delivery=delivery)


async def stop(reports: Reports) -> None:
    if reports.scheduler is not None:
        await reports.scheduler.stop()
    await reports.delivery.stop()
