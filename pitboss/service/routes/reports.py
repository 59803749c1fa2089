"""Scheduled reports, operator side: runs and their deliveries, the schedule, a run by hand.
(Regulators list and fetch the files, and the signature keys, under /regulator.)"""

from __future__ import annotations

from typing import Annotated

import asyncpg
import msgspec
from aiohttp import web

from pitboss.service.http import (
    ProblemError,
    Routes,
    json_response,
    path_id,
    query_int,
    read_body,
)
from pitboss.service.reports import REPORTS
from pitboss.service.state import SERVICE
from regapi.auth import roles
from regapi.periods import PeriodError, parse
from regapi.reports.runs import ReportExistsError, generate
from regapi.store import report_deliveries, report_runs
from regapi.store.report_deliveries import Delivery
from regapi.store.report_runs import Run, RunBusyError

ROUTES = Routes()

_READ = (roles.OPS, roles.COMPLIANCE_OFFICER)
_MAX_LIMIT = 500


class RunDetail(Run, kw_only=True):
    deliveries: list[Delivery]


class RunList(msgspec.Struct, kw_only=True):
    runs: list[RunDetail]


class RunIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    market: Annotated[str, msgspec.Meta(min_length=1, max_length=16)]
    period: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]  # monthly/2026-01
    revise: bool = False


class ScheduledJob(msgspec.Struct, kw_only=True):
    id: str  # report:MARKET:KIND
    next_run: str | None  # ISO 8601, UTC


class Schedule(msgspec.Struct, kw_only=True):
    enabled: bool  # false: this process does not schedule (PITBOSS_REPORT_SCHEDULE=off)
    jobs: list[ScheduledJob]


@ROUTES.add(
    "GET", "/v1/reports/runs", summary="Report runs and their deliveries, newest first",
    tag="reports", response=RunList, errors=(422,), roles=_READ,
    query={"market": (str, "only this market"),
           "period": (str, "only this period, e.g. monthly/2026-01"),
           "limit": (int, f"1 to {_MAX_LIMIT} (default 50)")},
)  # fmt: skip
async def list_runs(request: web.Request) -> web.Response:
    limit = query_int(request, "limit", 1, _MAX_LIMIT) or 50
    market = request.query.get("market")
    if market is not None and market not in request.app[REPORTS].reporter.config.markets:
        raise ProblemError(422, "Invalid query", f"market: {market!r} is not configured",
                           field="market")  # fmt: skip
    period = None
    if "period" in request.query:
        try:
            period = parse(request.query["period"])
        except PeriodError as exc:
            raise ProblemError(422, "Invalid query", f"period: {exc}", field="period") from None
    async with request.app[SERVICE].pool.acquire() as conn:
        found = await report_runs.recent(conn, market=market, period=period, limit=limit)
        out = [await _detail(conn, r) for r in found]
    return json_response(RunList(runs=out))


@ROUTES.add(
    "GET", "/v1/reports/runs/{id}", summary="A report run and the state of each delivery",
    tag="reports", response=RunDetail, errors=(404, 422), roles=_READ,
)  # fmt: skip
async def get_run(request: web.Request) -> web.Response:
    run_id = path_id(request, "id", "report run")
    async with request.app[SERVICE].pool.acquire() as conn:
        run = await report_runs.get(conn, run_id)
        if run is None:
            raise ProblemError(404, "Not found", f"no report run {run_id}", field="id")
        return json_response(await _detail(conn, run))


@ROUTES.add(
    "POST", "/v1/reports/runs", summary="Generate a market's report for a period now",
    tag="reports", body=RunIn, response=RunDetail, status=201, errors=(400, 409, 415, 422),
    roles=(roles.COMPLIANCE_OFFICER,),
)  # fmt: skip
async def run_now(request: web.Request) -> web.Response:
    body = await read_body(request, RunIn)
    reports = request.app[REPORTS]
    if body.market not in reports.reporter.config.markets:
        known = ", ".join(sorted(reports.reporter.config.markets))
        raise ProblemError(422, "Invalid body", f"market: {body.market!r} is not configured "
                           f"(configured: {known})", field="market")  # fmt: skip
    try:
        period = parse(body.period)
    except PeriodError as exc:
        raise ProblemError(422, "Invalid body", f"period: {exc}", field="period") from None
    pool = request.app[SERVICE].pool
    try:
        run = await generate(pool, reports.reporter, body.market, period, trigger="manual",
                             revise=body.revise)  # fmt: skip
    except ReportExistsError as exc:
        raise ProblemError(409, "Conflict", str(exc), field="revise") from None
    except RunBusyError as exc:
        raise ProblemError(409, "Conflict", str(exc), field="period") from None
    async with pool.acquire() as conn:
        return json_response(await _detail(conn, run), status=201)


@ROUTES.add(
    "GET", "/v1/reports/schedule", summary="The report jobs and when each runs next",
    tag="reports", response=Schedule, roles=_READ,
)  # fmt: skip
async def schedule(request: web.Request) -> web.Response:
    scheduler = request.app[REPORTS].scheduler
    runs = {} if scheduler is None else scheduler.next_runs()
    return json_response(
        Schedule(
            enabled=scheduler is not None,
            jobs=[ScheduledJob(id=k, next_run=v) for k, v in sorted(runs.items())],
        )
    )


async def _detail(conn: asyncpg.Connection, run: Run) -> RunDetail:
    deliveries = await report_deliveries.for_run(conn, run.id)
    return RunDetail(**msgspec.structs.asdict(run), deliveries=deliveries)
