"""`pitboss backtest`: a policy pack over simulated or real history, with its report."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_PROBLEMS = 0, 1


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "backtest",
        help="run policies over simulated or real history and measure them",
        description="Run a policy pack over a simulated casino (--scenario) or a history in "
        "the event contract (--data, CSV or Parquet), measure it against ground truth and "
        "write report.html and metrics.json.",
    )
    p.add_argument(
        "--policy",
        nargs="+",
        type=Path,
        required=True,
        metavar="PATH",
        help="policy files or folders (the champion)",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--scenario", type=Path, help="a simulator scenario (TOML)")
    source.add_argument("--data", type=Path, help="a history: .parquet or .csv")
    p.add_argument("--out", type=Path, required=True, help="folder for the report")
    p.add_argument(
        "--challenger",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="a second version of the policies to compare on the same history",
    )
    p.add_argument(
        "--sweep",
        metavar="POLICY.PARAM=V1,V2,…",
        help="re-run with each value of one param and report the trade-off",
    )
    p.add_argument("--sweep-market", metavar="MARKET", help="sweep only this market's value")
    p.add_argument(
        "--target-rate",
        type=float,
        default=0.01,
        help="honest players alerted, at most (default 0.01)",
    )
    p.add_argument(
        "--target-recall",
        type=float,
        default=0.9,
        help="recall each typology should reach (default 0.9)",
    )
    p.add_argument("--seed", type=int, help="override the scenario's seed")
    p.add_argument("--players", type=int, help="override the scenario's number of players")
    p.add_argument("--days", type=int, help="override the scenario's number of days")
    p.set_defaults(run=cmd_backtest)


def cmd_backtest(args: argparse.Namespace) -> int:
    from dsl import PolicyError
    from simulator.backtest import BacktestError, Sweep, backtest
    from simulator.report import summary_table, write_report
    from simulator.scenario import ScenarioError

    started = time.perf_counter()
    for path in [*args.policy, *(args.challenger or [])]:
        if not path.exists():
            print(f"pitboss backtest: no such policy file or folder: {path}", file=sys.stderr)
            return EXIT_PROBLEMS
    try:
        sweep = Sweep.parse(args.sweep, args.sweep_market) if args.sweep else None
        if args.scenario is not None:
            events, players, source, window = _simulated(args)
            bad, samples = 0, list[dict[str, Any]]()
        else:
            events, players, source, bad, samples = _user_data(args.data)
            window = None
        loaded = time.perf_counter() - started
        metrics = backtest(
            args.policy,
            events,
            players,
            source=source,
            challenger_paths=args.challenger or (),
            sweep=sweep,
            target_rate=args.target_rate,
            target_recall=args.target_recall,
            load_s=loaded,
            bad_rows=bad,
            bad_samples=samples,
            window=window,
        )
    except PolicyError as exc:
        from pitboss.cli import _print_policy_errors

        _print_policy_errors(exc)
        return EXIT_PROBLEMS
    except (BacktestError, ScenarioError, OSError, ValueError) as exc:
        print(f"pitboss backtest: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    try:
        html, metrics_json = write_report(metrics, args.out)
    except OSError as exc:
        print(f"pitboss backtest: cannot write the report to {args.out}: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    print(summary_table(metrics))
    print(f"report: {html}\nmetrics: {metrics_json}")
    return EXIT_OK


def _simulated(args: argparse.Namespace) -> tuple[Any, Any, str, tuple[int, int]]:
    import pyarrow as pa

    from simulator.generate import simulate, simulate_players
    from simulator.scenario import load_scenario

    run = {
        k: v
        for k, v in (("seed", args.seed), ("players", args.players), ("days", args.days))
        if v is not None
    }
    scenario = load_scenario(args.scenario, overrides={"scenario": run} if run else None)
    events = pa.Table.from_batches(list(simulate(scenario)))
    period = scenario.scenario
    start = int(datetime.combine(period.start, datetime.min.time(), UTC).timestamp() * 1000)
    window = (start, start + period.days * 86_400_000)
    return events, simulate_players(scenario), f"scenario {args.scenario.name}", window


def _user_data(path: Path) -> tuple[Any, Any, str, int, list[dict[str, Any]]]:
    from simulator.history import load_history

    if not path.exists():
        raise ValueError(f"no such file: {path}")
    loaded = load_history(path)
    events = loaded.events
    if loaded.labels is not None:
        events = events.append_column("label_typology", loaded.labels)
    samples = [{"row": b.row, "field": b.field, "reason": b.reason} for b in loaded.samples]
    for b in loaded.samples[:10]:
        where = f"field `{b.field}`: " if b.field else ""
        print(f"{path}: row {b.row}: {where}{b.reason}", file=sys.stderr)
    if loaded.bad:
        print(f"{path}: {loaded.bad} bad rows skipped", file=sys.stderr)
    if events.num_rows == 0:
        raise ValueError(f"{path}: no valid event in the file")
    return events, None, f"data {path.name}", loaded.bad, samples
