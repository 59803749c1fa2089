"""Throughput and latency of the live service (`pitboss serve`) with durable writes,
against the DESIGN numbers (2 cores: ≥ 5,000 events/s single-event POSTs; ≥ 50,000
events/s batched; p99 ≤ 25 ms at 1,000 rps).

    .venv/bin/python load/bench_service.py                 # ≈ 2 min
    .venv/bin/python load/bench_service.py --quick         # ≈ 40 s
    DATABASE_URL=postgresql://user@host/db .venv/bin/python load/bench_service.py --json out.json

What it does:

1. Simulates a casino (`simulator`, the default scenario scaled to `--players`) and turns
   its events into contract JSON, one request body each, in time order.
2. Creates a fresh database on the PostgreSQL that `DATABASE_URL` names (default: the
   local server at 127.0.0.1:5432) and starts `pitboss serve` on it as a subprocess, with
   its default settings: every event is committed (group commits) before it is answered.
3. Drives it from a separate process, each phase taking the next events of the stream:
   a. single-event POSTs at the highest rate `--connections` keep-alive connections get
      (closed loop): requests/s, p50 / p99 / p99.9. With `wrk` installed (Debian package
      `wrk`) it sends them, being the lightest client; otherwise an aiohttp client does.
   b. single-event POSTs at a fixed `--rate` (open loop, latency measured from when each
      request was due, so a stall is not hidden): p50 / p99 / p99.9.
   c. batches of `--batch-size` events on `--batch-connections` connections: events/s.
4. Stops the service, starts it again on the same database and times until `/readyz`
   answers: the replay of every stored event that rebuilds the window state.

The load generator shares the 2 cores with the service and PostgreSQL, as on the
reference machine; the service's own CPU use is shown per phase. The bench database is
dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# ---- DESIGN targets ("Numbers we hold ourselves to": service ingest, 2 cores, durable) ----

TARGET_SINGLE_EPS = 5_000
TARGET_BATCH_EPS = 50_000
TARGET_P99_MS = 25.0
TARGET_RATE = 1_000

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# What the default scenario generates per player over 30 days (4.29 M for 20,000).
EVENTS_PER_PLAYER_MONTH = 214
WRK_SCRIPT = r"""
local counter = 1
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
function init(args)
  local n = tonumber(args[2])
  bodies = {}
  local i = 0
  for line in io.lines(args[1]) do
    if i % n == id - 1 then bodies[#bodies + 1] = line end
    i = i + 1
  end
  k = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end
function request()
  k = k + 1
  if k > #bodies then k = 1 end  -- wrapping sends retries; the file is sized not to
  return wrk.format(nil, "/v1/events", nil, bodies[k])
end
function done(summary, latency, requests)
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"p999_us": %d, "status_errors": %d, "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "timeouts": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout))
end
"""


# ---- events -----------------------------------------------------------------------------


def simulated_bodies(players: int, days: int, seed: int | None) -> list[bytes]:
    """The scenario's events as request bodies in the contract, in time order."""
    import msgspec

    from simulator.generate import contract_events
    from simulator.scenario import load_scenario

    run: dict[str, Any] = {"players": players, "days": days}
    if seed is not None:
        run["seed"] = seed
    encode = msgspec.json.Encoder().encode
    return [encode(e) for e in contract_events(load_scenario(overrides={"scenario": run}))]


# ---- database and service ---------------------------------------------------------------


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def _admin(url: str, sql: str, *, fetch: bool = True) -> list[str]:
    """Run one statement on `url`; the first row's values as text."""
    import asyncpg

    async def run() -> list[str]:
        conn = await asyncpg.connect(url)
        try:
            if not fetch:  # DDL such as CREATE DATABASE: the simple query protocol
                await conn.execute(sql)
                return []
            return [str(v) for v in (await conn.fetchrow(sql) or ())]
        finally:
            await conn.close()

    return asyncio.run(run())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _token() -> str:
    """The bearer token the load generators send (set in the environment before the
    worker process is spawned)."""
    return os.environ["PITBOSS_BENCH_TOKEN"]


def _ingest_token(service_url: str, database_url: str, data_dir: Path) -> str:
    """Register an `ingest` client as an operator would, and get a token for it."""
    env = {**os.environ, "DATABASE_URL": database_url, "PITBOSS_DATA_DIR": str(data_dir)}
    made = subprocess.run(
        [sys.executable, "-m", "pitboss.cli", "clients", "create", "--name", "bench",
         "--role", "ingest", "--json"],
        cwd=REPO, env=env, capture_output=True, check=True,
    )  # fmt: skip
    client = json.loads(made.stdout)
    form = urllib.parse.urlencode(
        {"grant_type": "client_credentials", "client_id": client["client_id"],
         "client_secret": client["client_secret"]}
    ).encode()  # fmt: skip
    with urllib.request.urlopen(f"{service_url}/oauth2/token", data=form, timeout=10) as resp:
        return f"Bearer {json.loads(resp.read())['access_token']}"


class Service:
    """`pitboss serve` as a child process, its JSON log in a file."""

    def __init__(self, database_url: str, data_dir: Path, log_path: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = {**os.environ, "DATABASE_URL": database_url, "PITBOSS_DATA_DIR": str(data_dir)}
        self._log = log_path.open("ab")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pitboss.cli", "serve", "--port", str(self.port),
             "--policy-dir", str(REPO / "policies")],
            cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def wait_ready(self, timeout: float = 600.0) -> float:
        """Seconds from the process start until `/readyz` answers 200."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"pitboss serve exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as resp:
                    if resp.status == 200:
                        return time.perf_counter() - self.started
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise SystemExit(f"pitboss serve not ready after {timeout} s")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the service process so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def rebuilt(self) -> tuple[int, float] | None:
        """(events, seconds) from the last `state_rebuilt` log line."""
        found = None
        for line in self.log_path.read_text(errors="replace").splitlines():
            if '"state_rebuilt"' in line:
                rec = json.loads(line)
                found = (int(rec["events"]), float(rec["seconds"]))
        return found


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    cpu = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = cpu[3] + cpu[4]
    return sum(cpu) - idle, sum(cpu)


# ---- load generators (run in a separate process) ----------------------------------------


@dataclass
class PhaseResult:
    name: str
    client: str
    requests: int = 0
    events: int = 0
    seconds: float = 0.0
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    p999_ms: float = float("nan")
    statuses: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    service_cpu: float = float("nan")  # service CPU seconds / wall seconds
    service_us: float = float("nan")  # service CPU µs per event
    machine_cpu: float = float("nan")  # busy share of all cores

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def _quantiles(latencies: list[float]) -> tuple[float, float, float]:
    if len(latencies) < 2:
        return (float("nan"),) * 3
    q = statistics.quantiles(latencies, n=1000, method="inclusive")
    return q[499] * 1e3, q[989] * 1e3, q[998] * 1e3


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:
        return asyncio.new_event_loop()


def _run(coro: Any) -> Any:
    loop = _new_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def closed_loop(url: str, bodies: list[bytes], connections: int, seconds: float) -> PhaseResult:
    """As many single-event POSTs as `connections` clients get answered in `seconds`."""
    import aiohttp

    async def run() -> PhaseResult:
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        errors = 0
        it = iter(bodies)
        headers = {"Content-Type": "application/json", "Authorization": _token()}
        connector = aiohttp.TCPConnector(limit=connections)
        async with aiohttp.ClientSession(connector=connector) as session:
            started = time.perf_counter()
            stop_at = started + seconds

            async def worker() -> None:
                nonlocal errors
                for body in it:
                    t0 = time.perf_counter()
                    if t0 >= stop_at:
                        return
                    try:
                        async with session.post(f"{url}/v1/events", data=body,
                                                headers=headers) as resp:  # fmt: skip
                            await resp.read()
                            statuses[resp.status] += 1
                    except aiohttp.ClientError:
                        errors += 1
                        continue
                    latencies.append(time.perf_counter() - t0)

            await asyncio.gather(*(worker() for _ in range(connections)))
            elapsed = time.perf_counter() - started
        p50, p99, p999 = _quantiles(latencies)
        ok = statuses[200]
        return PhaseResult("single, max", "aiohttp", len(latencies), ok, elapsed, p50, p99,
                           p999, {str(k): v for k, v in statuses.items()}, errors)  # fmt: skip

    result: PhaseResult = _run(run())
    return result


def open_loop(url: str, bodies: list[bytes], rate: float, seconds: float) -> PhaseResult:
    """Single-event POSTs due at a fixed rate; each latency counts from when it was due."""
    import aiohttp

    async def run() -> PhaseResult:
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        errors = 0
        headers = {"Content-Type": "application/json", "Authorization": _token()}
        n = min(len(bodies), int(rate * seconds))
        connector = aiohttp.TCPConnector(limit=1024)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one(body: bytes, due: float) -> None:
                nonlocal errors
                try:
                    async with session.post(f"{url}/v1/events", data=body,
                                            headers=headers) as resp:  # fmt: skip
                        await resp.read()
                        statuses[resp.status] += 1
                except aiohttp.ClientError:
                    errors += 1
                    return
                latencies.append(time.perf_counter() - due)

            tasks = []
            started = time.perf_counter()
            for i in range(n):
                due = started + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(bodies[i], due)))
            await asyncio.gather(*tasks)
            elapsed = time.perf_counter() - started
        p50, p99, p999 = _quantiles(latencies)
        return PhaseResult(f"single, {rate:,.0f} rps", "aiohttp", len(latencies), statuses[200],
                           elapsed, p50, p99, p999, {str(k): v for k, v in statuses.items()},
                           errors)  # fmt: skip

    result: PhaseResult = _run(run())
    return result


def batches(url: str, bodies: list[bytes], size: int, connections: int) -> PhaseResult:
    """Every body, in batches of `size`, from `connections` clients; events/s overall."""
    import aiohttp

    async def run() -> PhaseResult:
        payloads = [
            (len(bodies[i : i + size]), b'{"events":[' + b",".join(bodies[i : i + size]) + b"]}")
            for i in range(0, len(bodies), size)
        ]
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        events = errors = 0
        it = iter(payloads)
        headers = {"Content-Type": "application/json", "Authorization": _token()}
        timeout = aiohttp.ClientTimeout(total=300)
        connector = aiohttp.TCPConnector(limit=connections)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            started = time.perf_counter()

            async def worker() -> None:
                nonlocal events, errors
                for count, payload in it:
                    t0 = time.perf_counter()
                    try:
                        async with session.post(f"{url}/v1/events/batch", data=payload,
                                                headers=headers) as resp:  # fmt: skip
                            await resp.read()
                            statuses[resp.status] += 1
                    except aiohttp.ClientError:
                        errors += 1
                        continue
                    latencies.append(time.perf_counter() - t0)
                    if resp.status == 200:
                        events += count

            await asyncio.gather(*(worker() for _ in range(connections)))
            elapsed = time.perf_counter() - started
        p50, p99, p999 = _quantiles(latencies)
        return PhaseResult(f"batches of {size:,}", "aiohttp", len(latencies), events, elapsed,
                           p50, p99, p999, {str(k): v for k, v in statuses.items()},
                           errors)  # fmt: skip

    result: PhaseResult = _run(run())
    return result


def wrk_closed_loop(
    url: str, bodies: list[bytes], connections: int, seconds: float, workdir: Path
) -> PhaseResult:
    threads = 2
    events_file = workdir / "wrk-events.jsonl"
    events_file.write_bytes(b"\n".join(bodies) + b"\n")
    script = workdir / "events.lua"
    script.write_text(WRK_SCRIPT)
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:.0f}s", "--timeout", "10s",
           "-H", f"Authorization: {_token()}",
           "-s", str(script), url, "--", str(events_file), str(threads)]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    match = re.search(r"^RESULT (.*)$", out, re.M)
    if match is None:
        raise SystemExit(f"wrk printed no result:\n{out}")
    r = json.loads(match[1])
    failed = r["status_errors"]
    errors = r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"]
    return PhaseResult(
        "single, max", "wrk", r["requests"], r["requests"] - failed, r["duration_us"] / 1e6,
        r["p50_us"] / 1e3, r["p99_us"] / 1e3, r["p999_us"] / 1e3,
        {"200": r["requests"] - failed, "other": failed}, errors,
    )  # fmt: skip


# ---- the run ----------------------------------------------------------------------------


def _measure(service: Service, pool: ProcessPoolExecutor, fn: Any, *args: Any) -> PhaseResult:
    cpu0, (busy0, all0) = service.cpu_seconds(), machine_busy()
    wall0 = time.perf_counter()
    result: PhaseResult = pool.submit(fn, *args).result()
    wall = time.perf_counter() - wall0
    busy1, all1 = machine_busy()
    cpu = service.cpu_seconds() - cpu0
    result.service_cpu = cpu / wall
    result.service_us = cpu / max(1, result.events) * 1e6
    result.machine_cpu = (busy1 - busy0) / max(1, all1 - all0)
    return result


def _stored(url: str) -> int:
    return int(_admin(url, "SELECT count(*) FROM decisions")[0])


def _verdict(ok: bool) -> str:
    return "met" if ok else "missed"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--players", type=int, help="simulated players (default: as the run needs)")
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--connections", type=int, default=64, help="phase a: concurrent clients")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of phases a and b")
    ap.add_argument("--rate", type=float, default=TARGET_RATE, help="phase b: requests/s")
    ap.add_argument("--batch-size", type=int, default=1_000)
    ap.add_argument("--batch-events", type=int, default=400_000, help="phase c: events")
    ap.add_argument("--batch-connections", type=int, default=4)
    ap.add_argument("--client", choices=("auto", "wrk", "aiohttp"), default="auto",
                    help="phase a's load generator (auto: wrk when installed)")  # fmt: skip
    ap.add_argument("--quick", action="store_true", help="a short run (fewer events)")
    ap.add_argument("--keep", action="store_true", help="keep the bench database")
    ap.add_argument("--json", type=Path, help="write the figures here too")
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.batch_events = 8.0, 100_000
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "aiohttp"

    server_url = os.environ.get("DATABASE_URL", DEFAULT_URL)
    name = "pitboss_bench_" + uuid.uuid4().hex[:8]
    database_url = with_database(server_url, name)
    pg_version, sync_commit, fsync = _admin(
        server_url,
        "SELECT current_setting('server_version'), current_setting('synchronous_commit'), "
        "current_setting('fsync')",
    )

    # Phase a is sized so that even twice the target does not run out of fresh events.
    warm = 2_000
    a_count = int(TARGET_SINGLE_EPS * 2 * args.seconds)
    b_count = int(args.rate * args.seconds)
    need = warm + a_count + b_count + args.batch_events
    players = args.players or int(need / EVENTS_PER_PLAYER_MONTH * 30 / args.days * 1.1) + 1
    t0 = time.perf_counter()
    bodies = simulated_bodies(players, args.days, args.seed)
    print(f"simulated {len(bodies):,} events ({players:,} players, {args.days} days) "
          f"in {time.perf_counter() - t0:.1f} s", flush=True)  # fmt: skip
    if len(bodies) < need:
        raise SystemExit(f"{len(bodies):,} events simulated, {need:,} needed: add --players")
    cut = [0, warm, warm + a_count, warm + a_count + b_count, need]
    warm_up, phase_a, phase_b, phase_c = (bodies[cut[i] : cut[i + 1]] for i in range(4))
    del bodies

    _admin(server_url, f'CREATE DATABASE "{name}"', fetch=False)
    results: list[PhaseResult] = []
    replay: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="pitboss-bench-") as tmp:
            work = Path(tmp)
            service = Service(database_url, work / "data", work / "serve.log")
            spawn = get_context("spawn")
            with ProcessPoolExecutor(1, mp_context=spawn) as pool:
                try:
                    start_s = service.wait_ready()
                    # Before the first task: the pool's worker inherits the environment.
                    os.environ["PITBOSS_BENCH_TOKEN"] = _ingest_token(
                        service.url, database_url, work / "data"
                    )
                    print(f"service ready in {start_s:.1f} s (empty database); "
                          f"phase a with {client}", flush=True)  # fmt: skip
                    pool.submit(closed_loop, service.url, warm_up, 16, 60.0).result()
                    if client == "wrk":
                        ra = _measure(service, pool, wrk_closed_loop, service.url, phase_a,
                                      args.connections, args.seconds, work)  # fmt: skip
                    else:
                        ra = _measure(service, pool, closed_loop, service.url, phase_a,
                                      args.connections, args.seconds)  # fmt: skip
                    results.append(ra)
                    print(f"  a: {ra.rate:,.0f} events/s", flush=True)
                    rb = _measure(service, pool, open_loop, service.url, phase_b, args.rate,
                                  args.seconds)  # fmt: skip
                    results.append(rb)
                    print(f"  b: p99 {rb.p99_ms:.1f} ms", flush=True)
                    rc = _measure(service, pool, batches, service.url, phase_c,
                                  args.batch_size, args.batch_connections)  # fmt: skip
                    results.append(rc)
                    print(f"  c: {rc.rate:,.0f} events/s", flush=True)
                finally:
                    service.stop()
            stored = _stored(database_url)
            again = Service(database_url, work / "data", work / "serve.log")
            try:
                replay["ready_s"] = again.wait_ready()
                rebuilt = again.rebuilt()
                if rebuilt is not None:
                    replay["events"], replay["rebuild_s"] = rebuilt
            finally:
                again.stop()
    finally:
        if not args.keep:
            _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', fetch=False)

    acked = sum(r.events for r in results) + warm
    setting = f"synchronous_commit={sync_commit}, fsync={fsync}"
    print(
        f"\npitboss serve, Python {platform.python_version()}, {os.cpu_count()} cores, "
        f"PostgreSQL {pg_version} ({setting}), load average {os.getloadavg()[0]:.1f}"
    )
    print_table(results)
    in_flight = " (wrk stops with requests in flight: stored, not counted)" * (client == "wrk")
    print(f"stored after the run: {stored:,} decisions for {acked:,} acknowledged{in_flight}")
    if replay:
        print(
            f"restart: ready in {replay['ready_s']:.1f} s, of which the replay of "
            f"{replay.get('events', 0):,.0f} events {replay.get('rebuild_s', 0):.1f} s"
        )
    ra, rb, rc = results
    rate_ok = rb.p99_ms <= TARGET_P99_MS and rb.rate >= 0.95 * args.rate
    print()
    print(f"single-event POSTs ≥ {TARGET_SINGLE_EPS:,} events/s: {ra.rate:,.0f}, "
          f"{_verdict(ra.rate >= TARGET_SINGLE_EPS)}")  # fmt: skip
    print(f"batched ≥ {TARGET_BATCH_EPS:,} events/s: {rc.rate:,.0f}, "
          f"{_verdict(rc.rate >= TARGET_BATCH_EPS)}")  # fmt: skip
    print(f"p99 ≤ {TARGET_P99_MS:.0f} ms at {args.rate:,.0f} rps: {rb.p99_ms:.1f} ms, "
          f"{_verdict(rate_ok)}")  # fmt: skip
    if args.json:
        out = {
            "phases": [asdict(r) | {"rate": r.rate} for r in results],
            "stored": stored,
            "acknowledged": acked,
            "replay": replay,
            "postgres": {"version": pg_version, "synchronous_commit": sync_commit,
                         "fsync": fsync},
            "load_average": os.getloadavg()[0],
        }  # fmt: skip
        args.json.write_text(json.dumps(out, indent=2))


def print_table(results: list[PhaseResult]) -> None:
    columns = ("phase", "client", "events", "events/s", "p50 ms", "p99 ms", "p99.9 ms",
               "svc CPU", "µs/event", "all CPU")  # fmt: skip
    widths = (20, 8, 9, 10, 9, 9, 10, 9, 9, 9)
    head = "".join(
        f"{c:<{w}}" if i < 2 else f"{c:>{w}}"
        for i, (c, w) in enumerate(zip(columns, widths, strict=True))
    )
    print(head + "  statuses")
    print("-" * (len(head) + 10))
    for r in results:
        cells = (r.name, r.client, f"{r.events:,}", f"{r.rate:,.0f}", f"{r.p50_ms:.1f}",
                 f"{r.p99_ms:.1f}", f"{r.p999_ms:.1f}", f"{r.service_cpu:.0%}",
                 f"{r.service_us:.0f}", f"{r.machine_cpu:.0%}")  # fmt: skip
        line = "".join(
            f"{c:<{w}}" if i < 2 else f"{c:>{w}}"
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )
        errors = f" errors={r.errors}" if r.errors else ""
        print(f"{line}  {dict(r.statuses)}{errors}")


if __name__ == "__main__":
    main()
