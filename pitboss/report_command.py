"""`pitboss report …`: generate a regulatory report by hand, and see runs and deliveries.

`pitboss report run MARKET PERIOD` does what the schedule does for one period: refresh the
roll-up, render every format, sign, store, and queue the deliveries, which the running
service sends (or `--deliver` sends now, from this process). It reads the same settings as
`pitboss serve` (`DATABASE_URL`, `PITBOSS_DATA_DIR`, `PITBOSS_REPORTS_CONFIG`,
`PITBOSS_REPORT_SIGNING_KEY_FILE`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def add_parser(sub: Any) -> None:
    where = (
        "Uses the database in DATABASE_URL, or the embedded one in PITBOSS_DATA_DIR "
        "(default .pitboss), migrating it first; markets and delivery from "
        "PITBOSS_REPORTS_CONFIG."
    )
    report = sub.add_parser("report", help="regulatory reports: run, runs", description=where)
    rsub = report.add_subparsers(dest="action", required=True)
    run = rsub.add_parser(
        "run",
        help="generate one market's report for one period now",
        description="Generate, sign and store the report (every configured format) and "
        "queue its delivery. " + where,
    )
    run.add_argument("market", help="MGA, UKGC or CW")
    run.add_argument("period", help="daily/2026-11-20, weekly/2026-W47 or monthly/2026-11")
    run.add_argument(
        "--revise", action="store_true",
        help="the period has a report: generate a new revision (files of new names)",
    )  # fmt: skip
    run.add_argument(
        "--deliver", action="store_true",
        help="send the deliveries from this process and wait until each is sent or failed",
    )  # fmt: skip
    run.add_argument("--json", action="store_true", help="print the run as JSON")
    run.set_defaults(run=cmd_run)
    runs = rsub.add_parser("runs", help="recent runs and their deliveries", description=where)
    runs.add_argument("--market", help="only this market")
    runs.add_argument("--limit", type=int, default=20, help="how many runs (default 20)")
    runs.add_argument("--json", action="store_true", help="one JSON object per run")
    runs.set_defaults(run=cmd_runs)


def cmd_run(args: argparse.Namespace) -> int:
    from pitboss.clients_command import _with_database
    from pitboss.service import reports
    from pitboss.service.settings import Settings, SettingsError
    from regapi.periods import PeriodError, parse
    from regapi.reports.config import ReportsConfigError
    from regapi.reports.runs import ReportExistsError, generate
    from regapi.reports.signing import ReportKeyError
    from regapi.store.report_runs import RunBusyError

    try:
        period = parse(args.period)
        settings = Settings.from_env()
        reporter = reports.reporter(settings)
        reporter.market(args.market)
    except (PeriodError, SettingsError, ReportsConfigError, ReportKeyError) as exc:
        print(f"pitboss report run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyError as exc:
        print(f"pitboss report run: {exc.args[0]}", file=sys.stderr)
        return EXIT_USAGE

    async def work(pool: Any) -> Any:
        run = await generate(
            pool, reporter, args.market, period, trigger="manual", revise=args.revise
        )
        if args.deliver:
            await _deliver(pool, settings, reporter.config, run.id)
        return run

    try:
        run = _with_database(work)
    except (ReportExistsError, RunBusyError) as exc:
        print(f"pitboss report run: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    _print_run(run, [], as_json=args.json)
    return EXIT_OK


async def _deliver(pool: Any, settings: Any, config: Any, run_id: int) -> None:
    """Work the run's deliveries from this process until none is waiting or pending."""
    from pitboss.service.metrics import Metrics
    from pitboss.service.report_delivery import DeliveryWorker
    from regapi.store import report_deliveries

    worker = DeliveryWorker(pool, settings, Metrics(), config)
    await worker.start()
    try:
        while True:
            async with pool.acquire() as conn:
                rows = await report_deliveries.for_run(conn, run_id)
            if all(d.state in ("sent", "failed", "cancelled") for d in rows):
                return
            worker.wake()
            await asyncio.sleep(0.2)
    finally:
        await worker.stop()


def cmd_runs(args: argparse.Namespace) -> int:
    from pitboss.clients_command import _with_database
    from regapi.store import report_deliveries, report_runs

    async def work(pool: Any) -> list[tuple[Any, list[Any]]]:
        async with pool.acquire() as conn:
            found = await report_runs.recent(conn, market=args.market, limit=args.limit)
            return [(r, await report_deliveries.for_run(conn, r.id)) for r in found]

    for run, deliveries in _with_database(work):
        _print_run(run, deliveries, as_json=args.json)
    return EXIT_OK


def _print_run(run: Any, deliveries: list[Any], *, as_json: bool) -> None:
    import msgspec

    if as_json:
        doc = msgspec.to_builtins(run)
        doc["deliveries"] = msgspec.to_builtins(deliveries)
        print(json.dumps(doc))
        return
    took = "" if run.duration_s is None else f"  {run.duration_s:.2f}s"
    print(f"run {run.id}  {run.market} {run.period} r{run.revision}  {run.state}{took}  "
          f"{run.events or 0} events  ({run.trigger})")  # fmt: skip
    for name in run.files:
        print(f"  {name}")
    if run.error:
        print(f"  error: {run.error}")
    for d in deliveries:
        error = f"  ({d.last_error})" if d.last_error else ""
        print(f"  {d.channel:<7} {d.state:<9} {d.target}  attempts {d.attempts}{error}")
