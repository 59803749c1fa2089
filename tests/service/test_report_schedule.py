"""The report schedule: jobs persisted in PostgreSQL, and a run missed while the service was
down caught up when it starts again, with every period it missed."""

from __future__ import annotations

import pickle
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from pitboss.service.settings import Settings
from regapi.reports.due import due_periods
from regapi.reports.schedule import SWEEP, TABLE
from tests.service.conftest import event
from tests.service.receivers import eventually
from tests.service.serving import serve


def daily_ukgc(tmp_path: Path) -> Path:
    path = tmp_path / "reports.toml"
    path.write_text(
        '[operator]\nname = "Casino Ltd"\n\n'
        '[markets.UKGC]\nlicence = "000123"\nperiods = ["daily"]\nformats = ["csv", "xml"]\n'
    )
    return path


async def miss_the_next_run(database_url: str, job: str, at: datetime) -> None:
    """What downtime leaves behind: the stored job's next run time passed, never run.
    (The job store keeps it twice: in a column it queries, and in the pickled state.)"""
    conn = await asyncpg.connect(database_url)
    try:
        state = pickle.loads(
            await conn.fetchval(f"SELECT job_state FROM {TABLE} WHERE id = $1", job)
        )
        state["next_run_time"] = at
        await conn.execute(
            f"UPDATE {TABLE} SET job_state = $2, next_run_time = $3 WHERE id = $1",
            job,
            pickle.dumps(state),
            at.timestamp(),
        )
    finally:
        await conn.close()


async def runs(database_url: str) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT period_start FROM report_runs WHERE market = 'UKGC' AND state = 'generated' "
            "ORDER BY period_start"
        )
        return [f"daily/{r['period_start'].isoformat()}" for r in rows]
    finally:
        await conn.close()


async def test_a_run_missed_while_down_makes_up_every_missed_period(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    configured = replace(settings, report_schedule=True, reports_config=daily_ukgc(tmp_path))
    now = datetime.now(UTC)
    days = [now - timedelta(days=n) for n in (4, 3, 2, 1)]
    async with serve(configured) as client:
        resp = await client.post(
            "/v1/events/batch",
            json={"events": [event("deposit", market="UKGC", currency="GBP",
                                   ts=d.isoformat().replace("+00:00", "Z")) for d in days]},
        )  # fmt: skip
        assert resp.status == 200, await resp.text()
        schedule = await (await client.get("/v1/reports/schedule")).json()
        assert schedule["enabled"] is True
        jobs = {j["id"]: j["next_run"] for j in schedule["jobs"]}
        assert set(jobs) == {"report:UKGC:daily", SWEEP}
        # The next daily run is at 02:00 in London, in the future.
        assert datetime.fromisoformat(jobs["report:UKGC:daily"]) > now
    assert await runs(database_url) == []  # nothing was due while it ran

    conn = await asyncpg.connect(database_url)
    try:
        stored = {r["id"] for r in await conn.fetch(f"SELECT id FROM {TABLE}")}
    finally:
        await conn.close()
    assert stored == {"report:UKGC:daily", SWEEP}

    # Down over the daily run: at start, the missed run runs once and makes every report.
    await miss_the_next_run(database_url, "report:UKGC:daily", now - timedelta(hours=12))
    expected = [
        str(p) for p in due_periods("UKGC", "daily", now=datetime.now(UTC), since=days[0].date())
    ]
    assert len(expected) >= 3
    async with serve(configured) as client:

        async def made() -> list[str] | None:
            found = await runs(database_url)
            return found if found == expected else None

        await eventually(made, timeout=30)
        schedule = await (await client.get("/v1/reports/schedule")).json()
        next_run = {j["id"]: j["next_run"] for j in schedule["jobs"]}["report:UKGC:daily"]
        assert datetime.fromisoformat(next_run) > datetime.now(UTC)
        listed = await client.get(f"/v1/reports/runs?market=UKGC&period={expected[-1]}")
        [run] = (await listed.json())["runs"]
        assert run["trigger"] == "schedule"
        assert run["files"][0] == f"UKGC_{expected[-1].replace('/', '_')}.csv"


async def test_a_market_no_longer_configured_loses_its_jobs(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    async with serve(replace(settings, report_schedule=True)):
        pass  # development: every market, every period
    path = daily_ukgc(tmp_path)
    async with serve(replace(settings, report_schedule=True, reports_config=path)) as client:
        schedule = await (await client.get("/v1/reports/schedule")).json()
        assert {j["id"] for j in schedule["jobs"]} == {"report:UKGC:daily", SWEEP}
