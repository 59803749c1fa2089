"""How long scheduled reports take over a million stored events (issue 7: "a report for
1 M events generates in seconds").

    .venv/bin/python load/bench_reports.py                  # ≈ 1 min (1 M events)
    .venv/bin/python load/bench_reports.py --events 200000  # quicker
    DATABASE_URL=postgresql://user@host/db .venv/bin/python load/bench_reports.py

What it does:

1. Simulates a casino (the default scenario, players scaled so that it makes `--events`)
   and stores its events in a fresh database exactly as the service's writer does
   (`events`, COPY), with no alerts or cases: the money and activity sections are what
   scale with events.
2. Times the largest market's monthly report for the scenario's busiest month, cold: the
   first report refreshes the roll-up from every stored event (`regapi.reports.rollup`),
   then collects, renders CSV, XML (validated against its XSD) and PDF, signs and stores.
   Then the other markets' reports of the month, warm.
3. Times the full refresh alone, then the collect step alone.
4. Baseline, in the same process and database: the money section computed straight from
   the month's events in one SQL query (no roll-up); printed with its ratio to `collect`.
5. Stores 1 % more events, late ones spread over the month, and times the incremental
   refresh and a revision of the largest market's report.

The bench database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_service import _admin, simulated_bodies, with_database  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
# Events per simulated player over the scenario's 30 days (measured: 445 k for 2,000).
_EVENTS_PER_PLAYER = 222

_BASELINE = """
SELECT e.type, j->>'method' AS method, j->>'game_kind' AS game_kind, j->>'currency',
       j->>'status', count(*), sum((j->>'amount')::bigint)
FROM events e CROSS JOIN LATERAL (SELECT convert_from(e.body, 'UTF8')::jsonb AS j) p
WHERE e.market = $1 AND e.ts >= $2 AND e.ts < $3
  AND e.type IN ('deposit', 'withdrawal', 'chargeback', 'bet', 'win')
GROUP BY 1, 2, 3, 4, 5
"""


def _ts(value: Any) -> datetime:
    if isinstance(value, int):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


async def _store(conn: Any, bodies: list[bytes], first_seq: int) -> None:
    from engine.store.events import Partitions

    rows = []
    for i, body in enumerate(bodies):
        e = json.loads(body)
        rows.append((first_seq + i, e["event_id"], e["player_id"], e["type"], e["market"],
                     _ts(e["ts"]), body))  # fmt: skip
    await Partitions().ensure(conn, {(r[5].year, r[5].month) for r in rows})
    await conn.copy_records_to_table(
        "events", records=rows,
        columns=("seq", "event_id", "player_id", "type", "market", "ts", "body"),
    )  # fmt: skip


def _late(bodies: list[bytes], n: int, month: date) -> list[bytes]:
    """`n` copies of payment and play events, new ids, spread over the month."""
    out = []
    picked = [b for b in bodies if b'"type":"bet"' in b or b'"type":"deposit"' in b]
    for i in range(n):
        e = json.loads(picked[i % len(picked)])
        e["event_id"] = f"late-{i}"
        day = 1 + i % 28
        e["ts"] = f"{month.year:04d}-{month.month:02d}-{day:02d}T12:00:00Z"
        out.append(json.dumps(e).encode())
    return out


async def run(url: str, events: int) -> dict[str, Any]:
    from engine.fx import RateTable
    from engine.incidents import RNG_P1
    from pitboss.service import database
    from regapi.periods import Period
    from regapi.reports import collect, config, rollup, signing
    from regapi.reports.model import Operator
    from regapi.reports.runs import Reporter, generate

    # A few more players than needed, so that the stream reaches `events` before it ends.
    players = max(50, events // _EVENTS_PER_PLAYER * 105 // 100)
    t0 = time.perf_counter()
    bodies = simulated_bodies(players, 30, None)[:events]
    simulate_s = time.perf_counter() - t0
    months = Counter(_ts(json.loads(b)["ts"]).strftime("%Y-%m") for b in bodies)
    year, month_no = map(int, months.most_common(1)[0][0].split("-"))
    month = Period("monthly", date(year, month_no, 1))
    key_dir = Path(tempfile.mkdtemp(prefix="bench-reports-"))
    reporter = Reporter(
        config=config.development(),
        signer=signing.load_or_create(key_dir / "report-signing.pem", create=True),
        fx=RateTable.default(),
    )
    out: dict[str, Any] = {"events": len(bodies), "players": players, "period": str(month),
                           "simulate_s": round(simulate_s, 1)}  # fmt: skip
    async with database.open_pool(url, size=4) as pool:
        async with pool.acquire() as conn:
            t0 = time.perf_counter()
            for i in range(0, len(bodies), 100_000):
                await _store(conn, bodies[i : i + 100_000], i + 1)
            await conn.execute("ANALYZE events")
            out["store_s"] = round(time.perf_counter() - t0, 2)
            lo, hi = collect.instants(month, "UTC")
            per_market = dict(
                await conn.fetch(
                    "SELECT market, count(*) FROM events WHERE ts >= $1 AND ts < $2 GROUP BY 1",
                    lo,
                    hi,
                )
            )
            out["events_in_month"] = per_market
        largest = max(per_market, key=lambda m: per_market[m])

        # Cold: the first report after the events were stored refreshes the whole roll-up.
        t0 = time.perf_counter()
        await generate(pool, reporter, largest, month, trigger="manual")
        out["first_report_cold_s"] = round(time.perf_counter() - t0, 2)
        async with pool.acquire() as conn:
            out["rollup_rows"] = await conn.fetchval("SELECT count(*) FROM report_rollup")
        # Warm: the other markets' reports of the same month.
        for market in sorted(set(per_market) - {largest}):
            t0 = time.perf_counter()
            await generate(pool, reporter, market, month, trigger="manual")
            out[f"report_warm_s_{market}"] = round(time.perf_counter() - t0, 3)

        # The refresh alone, from nothing, as the first one did.
        async with pool.acquire() as conn:
            await conn.execute("DELETE FROM report_rollup")
            await conn.execute("UPDATE report_rollup_state SET through = 0")
        t0 = time.perf_counter()
        refreshed = await rollup.refresh(pool, anomaly_p=RNG_P1)
        out["refresh_full_s"] = round(time.perf_counter() - t0, 2)
        out["rollup_days"] = refreshed.days

        async with pool.acquire() as conn:
            t0 = time.perf_counter()
            data = await collect.collect(
                conn, market=largest, period=month,
                operator=Operator(name="Bench casino", licence="MGA/B2C/123/2019"),
                revision=1, generated_at=datetime.now(UTC),
            )  # fmt: skip
            out["collect_s"] = round(time.perf_counter() - t0, 3)
            # Baseline: the money section straight from the month's events, no roll-up.
            lo, hi = collect.instants(month, data.timezone)
            t0 = time.perf_counter()
            await conn.fetch(_BASELINE, largest, lo, hi)
            out["baseline_direct_sql_s"] = round(time.perf_counter() - t0, 2)
            out["baseline_over_collect"] = round(out["baseline_direct_sql_s"] / out["collect_s"], 1)
            late = _late(bodies, len(bodies) // 100, month.start)
            await _store(conn, late, len(bodies) + 1)
        t0 = time.perf_counter()
        again = await rollup.refresh(pool, anomaly_p=RNG_P1)
        out["refresh_incremental_s"] = round(time.perf_counter() - t0, 2)
        out["late_events"] = len(late)
        out["days_recomputed"] = again.days
        t0 = time.perf_counter()
        await generate(pool, reporter, largest, month, trigger="manual", revise=True)
        out["revision_s"] = round(time.perf_counter() - t0, 3)
        async with pool.acquire() as conn:
            sizes = await conn.fetch(
                "SELECT format, max(size) AS size FROM report_files WHERE market = $1 GROUP BY 1",
                largest,
            )
            out["file_bytes"] = {r["format"]: r["size"] for r in sizes}
    return out


def main() -> None:
    import os

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    server = os.environ.get("DATABASE_URL", DEFAULT_URL)
    name = f"pitboss_bench_reports_{uuid.uuid4().hex[:8]}"
    _admin(server, f'CREATE DATABASE "{name}"', fetch=False)
    try:
        out = asyncio.run(run(with_database(server, name), args.events))
    finally:
        _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', fetch=False)
    for key, value in out.items():
        print(f"{key:>24}: {value}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
