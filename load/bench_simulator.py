"""Throughput and memory of the synthetic-casino simulator, against the DESIGN number
(≥ 2 M events/s generated, deterministic by seed).

    .venv/bin/python load/bench_simulator.py                    # 200 k players, 30 days
    .venv/bin/python load/bench_simulator.py --players 1000000  # the 1 M-player scale
    .venv/bin/python load/bench_simulator.py --quick            # 40 k players

Each measurement runs in a fresh process, so its peak memory (`ru_maxrss` of the process
and of its worker processes) is its own:

1. default: the shipped default scenario (20 k players, 30 days) through `simulate()`:
   the event count and the time the backtester waits for its history.
2. generate: the scaled-up scenario through `simulate()`, every record batch made and
   dropped — generation, sorting and Arrow rendering, the backtester's in-memory path.
3. write: the same through `write_simulation()` into Parquet (zstd), as `pitboss
   simulate` does, with the files' size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TARGET_EPS = 2_000_000


def _peak_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, workers


def phase(args: argparse.Namespace) -> dict[str, Any]:
    """One measurement, in this process."""
    from simulator.generate import simulate
    from simulator.scenario import load_scenario
    from simulator.writer import write_simulation

    run = {"seed": args.seed}
    if args.phase != "default":
        run |= {"players": args.players, "days": args.days}
    scn = load_scenario(overrides={"scenario": run})
    started = time.perf_counter()
    out: dict[str, Any] = {"phase": args.phase, "players": scn.scenario.players}
    if args.phase in ("default", "generate"):
        events = batches = 0
        for batch in simulate(scn, chunk_players=args.chunk_players, workers=args.workers):
            events += batch.num_rows
            batches += 1
        out["batches"] = batches
    else:
        folder = Path(tempfile.mkdtemp(prefix="pitboss-bench-sim-"))
        try:
            written = write_simulation(
                scn, folder, chunk_players=args.chunk_players, workers=args.workers
            )
            events = written.events
            out["events_parquet_mb"] = (folder / "events.parquet").stat().st_size / 2**20
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    seconds = time.perf_counter() - started
    own, workers = _peak_mb()
    out |= {
        "events": events,
        "seconds": seconds,
        "eps": events / seconds,
        "peak_mb": own,
        "peak_worker_mb": workers,
    }
    return out


def _run(args: argparse.Namespace, name: str) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--phase",
        name,
        "--players",
        str(args.players),
        "--days",
        str(args.days),
        "--seed",
        str(args.seed),
        "--chunk-players",
        str(args.chunk_players),
        "--workers",
        str(args.workers),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _line(what: str, r: dict[str, Any]) -> str:
    extra = f", Parquet {r['events_parquet_mb']:.0f} MiB" if "events_parquet_mb" in r else ""
    return (
        f"  {what:<34} {r['events']:>12,} events in {r['seconds']:6.2f} s = "
        f"{r['eps'] / 1e6:5.2f} M events/s; peak {r['peak_mb']:,.0f} MiB "
        f"(+ workers {r['peak_worker_mb']:,.0f} MiB){extra}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--players", type=int, default=200_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=20260105)
    ap.add_argument("--chunk-players", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--quick", action="store_true", help="40 k players")
    ap.add_argument("--skip-write", action="store_true", help="no Parquet measurement")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--phase", choices=("default", "generate", "write"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.quick:
        args.players = 40_000
    if args.phase:
        print(json.dumps(phase(args)))
        return

    import numpy
    import pyarrow

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB; "
        f"Python {platform.python_version()}, numpy {numpy.__version__}, "
        f"pyarrow {pyarrow.__version__}; load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"scale: {args.players:,} players over {args.days} days, seed {args.seed}, "
        f"chunks of {args.chunk_players:,} players, {args.workers} worker(s)\n"
    )
    results = {"default": _run(args, "default"), "generate": _run(args, "generate")}
    print(_line("default scenario, simulate()", results["default"]))
    print(_line("scaled up, simulate()", results["generate"]))
    if not args.skip_write:
        results["write"] = _run(args, "write")
        print(_line("scaled up, simulate + Parquet", results["write"]))
    eps = results["generate"]["eps"]
    verdict = "MET" if eps >= TARGET_EPS else "MISSED"
    print(f"\n  generated: {eps / 1e6:.2f} M events/s, target ≥ 2 M events/s: {verdict}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
