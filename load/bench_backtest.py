"""End-to-end backtest benchmark: simulate a casino, run the standard pack over it with the
batch driver, measure it, write the report; events/s per stage and peak memory.

    .venv/bin/python load/bench_backtest.py                 # 50,000 players, ~10.7 M events
    .venv/bin/python load/bench_backtest.py --players 5000  # a quick run

The kernel is compiled (or loaded from the cache) before the clock starts, as on any
run after the first; `--cold` times a first run with empty caches instead.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--players", type=int, default=50_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--policies", type=Path, default=REPO / "policies")
    ap.add_argument("--cold", action="store_true", help="time `pitboss backtest` with empty caches")
    args = ap.parse_args()

    if args.cold:
        with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as out:
            env = dict(os.environ, PITBOSS_CACHE_DIR=cache, NUMBA_CACHE_DIR=cache)
            scenario = str(REPO / "simulator/data/default.toml")
            cmd = [sys.executable, "-m", "pitboss.cli", "backtest", "--policy",
                   str(args.policies), "--scenario", scenario, "--players",
                   str(args.players), "--days", str(args.days), "--out", out]  # fmt: skip
            started = time.perf_counter()
            subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
            print(f"cold `pitboss backtest`, {args.players:,} players: "
                  f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        return

    import pyarrow as pa

    from engine.fx import RateTable
    from engine.runtime import compile_results
    from simulator.backtest import load_results, run_pack, truth_of
    from simulator.generate import simulate, simulate_players
    from simulator.metrics import measure
    from simulator.report import write_report

    run = {"players": args.players, "days": args.days}
    if args.seed is not None:
        run["seed"] = args.seed
    from simulator.scenario import load_scenario

    scenario = load_scenario(None, overrides={"scenario": run})
    pack = compile_results(load_results([args.policies]))
    fx = RateTable.default()
    # Warm the kernel on a slice so its load is not timed.
    warm = pa.Table.from_batches(
        list(simulate(load_scenario(None, overrides={"scenario": {"players": 200, "days": 2}})))
    )
    run_pack("warm", pack, warm, fx)

    t0 = time.perf_counter()
    events = pa.Table.from_batches(list(simulate(scenario)))
    players = simulate_players(scenario)
    t1 = time.perf_counter()
    result = run_pack("champion", pack, events, fx)
    t2 = time.perf_counter()
    truth = truth_of(events, players)
    metrics = measure(pack.program, result.result, truth)
    t3 = time.perf_counter()
    metrics["run"] = {"source": "bench", "policies": [], "events": events.num_rows,
                      "players": len(truth.player_ids), "days": float(args.days),
                      "start": None, "end": None, "seconds": {}, "events_per_s": 0.0,
                      "bad_rows": 0, "bad_row_samples": []}  # fmt: skip
    with tempfile.TemporaryDirectory() as out:
        write_report(metrics, Path(out))
    t4 = time.perf_counter()

    n = events.num_rows
    rate = lambda s: f"{n / s / 1e6:.2f} M events/s"  # noqa: E731
    print(f"backtest of {args.policies.name}/ ({len(pack.program.rules)} rules) over "
          f"{args.players:,} players, {args.days} days: {n:,} events")  # fmt: skip
    print(f"  simulate      {t1 - t0:7.1f} s  {rate(t1 - t0)}")
    print(f"  encode        {result.encode_s:7.1f} s  {rate(result.encode_s)}")
    print(f"  engine        {result.engine_s:7.1f} s  {rate(result.engine_s)}")
    print(f"  metrics       {t3 - t2:7.1f} s")
    print(f"  report        {t4 - t3:7.1f} s")
    print(f"  backtest      {t4 - t1:7.1f} s  {rate(t4 - t1)} (encode, engine, metrics, report)")
    print(f"  end to end    {t4 - t0:7.1f} s  {rate(t4 - t0)}")
    print(f"  peak memory   {_peak_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
