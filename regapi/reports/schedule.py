"""When reports are generated: an APScheduler job per market and period kind, persisted in
PostgreSQL, so that a run missed while the service was down is caught up when it starts.

Each job fires on the market's own clock, after the period has ended and its grace passed:
daily at 02:00, weekly on Monday at 03:00, monthly on the 1st at 04:00. The job store
keeps each job's next run time; a job whose time passed while no process was running is
run once at start (`coalesce`, no misfire limit), and a run generates *every* due period
that has no report yet (`runs.catch_up`), so three missed daily runs make three reports.

Two processes may both schedule: a run takes the period's row in `report_runs` first, and
the one that finds it taken moves on, so a report is generated once.

APScheduler 3 persists through SQLAlchemy with a synchronous driver (psycopg): its few
queries (one per job change and per wake-up) run on the event loop and take milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import asyncpg
import structlog
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from regapi.periods import PeriodKind
from regapi.reports import runs
from regapi.reports.runs import Reporter
from regapi.reports.templates import template

log = structlog.get_logger("regapi.reports.schedule")

TABLE = "report_schedule_jobs"  # made by migration 0009
_CRON: dict[str, dict[str, object]] = {
    "daily": {"hour": 2, "minute": 0},
    "weekly": {"day_of_week": "mon", "hour": 3, "minute": 0},
    "monthly": {"day": 1, "hour": 4, "minute": 0},
}
_JOB = "regapi.reports.schedule:scheduled_run"
# Every hour, every market and kind: a run that failed is tried again within the hour
# rather than at its kind's next date (a month later, for a monthly report).
SWEEP = "report:sweep"
_SWEEP_JOB = "regapi.reports.schedule:sweep"
# The scheduler of this process: jobs are stored by reference (module:function and plain
# arguments), so the running job finds its pool and reporter here.
_ACTIVE: ReportScheduler | None = None


def job_id(market: str, kind: str) -> str:
    return f"report:{market}:{kind}"


def trigger(market: str, kind: str) -> CronTrigger:
    zone = ZoneInfo(template(market).market.timezone)
    return CronTrigger(timezone=zone, **_CRON[kind])


def sync_url(database_url: str) -> str:
    """The asyncpg URL as SQLAlchemy's psycopg URL (same server, user and options)."""
    parts = urlsplit(database_url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError(f"{parts.scheme!r}: not a PostgreSQL URL")
    return urlunsplit(parts._replace(scheme="postgresql+psycopg"))


class ReportScheduler:
    """The scheduler of one service process."""

    def __init__(self, pool: asyncpg.Pool, reporter: Reporter, database_url: str) -> None:
        self.pool = pool
        self.reporter = reporter
        self._url = sync_url(database_url)
        self._scheduler: AsyncIOScheduler | None = None
        self._running: set[asyncio.Task[object]] = set()

    async def start(self) -> None:
        """Start, bring the stored jobs in line with the configuration, then run what is due
        (including runs missed while stopped)."""
        global _ACTIVE
        store = SQLAlchemyJobStore(
            url=self._url, tablename=TABLE, engine_options={"pool_pre_ping": True}
        )
        scheduler = AsyncIOScheduler(
            jobstores={"default": store},
            job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
            timezone=UTC,
        )
        _ACTIVE = self
        self._scheduler = scheduler
        # Paused: jobs are checked before any is run, and a missed run waits for `resume`.
        scheduler.start(paused=True)
        wanted = {
            job_id(code, kind): (code, kind)
            for code, m in self.reporter.config.markets.items()
            for kind in m.periods
        }
        for job in scheduler.get_jobs():
            if job.id not in wanted and job.id != SWEEP:
                log.info("report_job_removed", job=job.id)
                job.remove()
        for jid, (market, kind) in wanted.items():
            cron = trigger(market, kind)
            job = scheduler.get_job(jid)
            if job is None:
                scheduler.add_job(_JOB, cron, args=[market, kind], id=jid, name=jid)
                log.info("report_job_added", job=jid, trigger=str(cron))
            elif str(job.trigger) != str(cron) or list(job.args) != [market, kind]:
                job.modify(args=[market, kind])
                job.reschedule(cron)
                log.info("report_job_changed", job=jid, trigger=str(cron))
        if scheduler.get_job(SWEEP) is None:
            scheduler.add_job(_SWEEP_JOB, CronTrigger(minute=30, timezone=UTC), id=SWEEP,
                              name=SWEEP)  # fmt: skip
        scheduler.resume()

    def next_runs(self) -> dict[str, str | None]:
        """Each job's next run time (ISO 8601), for `/v1/reports/schedule`."""
        if self._scheduler is None:
            return {}
        return {
            job.id: None if job.next_run_time is None else job.next_run_time.isoformat()
            for job in self._scheduler.get_jobs()
        }

    async def stop(self) -> None:
        global _ACTIVE
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        # A run under way is cancelled and marks itself failed while the pool is still open;
        # the next start catches its period up.
        for task in list(self._running):
            task.cancel()
        for task in list(self._running):
            with contextlib.suppress(BaseException):
                await task
        if _ACTIVE is self:
            _ACTIVE = None


async def scheduled_run(market: str, kind: PeriodKind) -> None:
    """The job: generate every due report of `market` and `kind` that is missing."""
    await _run_jobs([(market, kind)])


async def sweep() -> None:
    """The hourly job: what every market's jobs would do, retrying failed runs."""
    active = _ACTIVE
    if active is not None:
        markets = active.reporter.config.markets
        await _run_jobs([(code, kind) for code, m in markets.items() for kind in m.periods])


async def _run_jobs(jobs: list[tuple[str, PeriodKind]]) -> None:
    active = _ACTIVE
    if active is None:
        log.warning("report_job_without_scheduler", jobs=jobs)
        return
    task = asyncio.current_task()
    assert task is not None
    active._running.add(task)
    try:
        for market, kind in jobs:
            configured = active.reporter.config.markets.get(market)
            if configured is None or kind not in configured.periods:
                continue
            made = await runs.catch_up(active.pool, active.reporter, market, kind)
            if made:
                log.info("reports_caught_up", market=market, kind=kind,
                         generated=[r.period for r in made])  # fmt: skip
    finally:
        active._running.discard(task)
