"""The backtester: a policy pack over a history through the batch driver, measured
against ground truth; a challenger pack and a threshold sweep on the same history.

The history is encoded once per pack (a pack's layout decides the columns it reads) and
run with the same kernels the live service uses, so what a backtest shows is what the
pack would have decided live, event for event.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

import dsl
from dsl import ast
from dsl.checks import CheckResult
from dsl.parser import parse_duration
from dsl.values import DurationValue, MoneyValue, Value
from engine.fx import RateTable
from engine.runtime import BatchEngine, BatchResult, CompiledPack, compile_results
from simulator.columns import engine_columns
from simulator.history import labels_of
from simulator.metrics import Truth, compare, measure, outcome


class BacktestError(Exception):
    """A backtest that cannot run as asked (an unknown param to sweep, a bad value)."""


@dataclass(frozen=True)
class Sweep:
    """`POLICY.PARAM=v1,v2,…` optionally for one market (else every market of the policy)."""

    policy: str
    param: str
    values: tuple[str, ...]
    market: str | None = None

    @classmethod
    def parse(cls, text: str, market: str | None = None) -> Sweep:
        name, sep, values = text.partition("=")
        policy, dot, param = name.strip().partition(".")
        items = tuple(v.strip() for v in values.split(",") if v.strip())
        if not sep or not dot or not policy or not param or not items:
            raise BacktestError(
                f"--sweep {text!r}: write POLICY.PARAM=VALUE,VALUE,… "
                "(e.g. aml_core.structuring_n=3,4,5,6)"
            )
        return cls(policy, param, items, market)


@dataclass
class PackRun:
    label: str
    pack: CompiledPack
    result: BatchResult
    encode_s: float
    engine_s: float


def load_results(paths: Sequence[Path]) -> list[CheckResult]:
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.rglob("*.pol")) if path.is_dir() else [path])
    return [dsl.load_policy(f) for f in files]


def run_pack(label: str, pack: CompiledPack, events: pa.Table, fx: RateTable) -> PackRun:
    engine = BatchEngine(pack, fx)
    started = time.perf_counter()
    ints, floats = engine.encoder.encode_columns(engine_columns(events, fx))
    encoded = time.perf_counter()
    result = engine.run_encoded(ints, floats)
    return PackRun(label, pack, result, encoded - started, time.perf_counter() - encoded)


def truth_of(events: pa.Table, players: pa.Table | None) -> Truth:
    """Players indexed densely (the population's order when there is one, so players with
    no events still count), with their labels and each event's."""
    ids = _plain(events.column("player_id").combine_chunks())
    labels = labels_of(events)
    if players is not None:
        universe = _plain(players.column("player_id").combine_chunks())
        typology = _plain(players.column("typology").combine_chunks()).fill_null("")
        index = pa.compute.index_in(ids, value_set=universe).to_numpy(zero_copy_only=False)
        if np.isnan(index.astype(np.float64)).any():
            raise BacktestError("the history has events of players the population lacks")
        return Truth(
            player=index.astype(np.int64),
            ts=np.asarray(events.column("ts").to_numpy(), dtype=np.int64),
            player_ids=np.asarray(universe.to_pylist(), dtype=object),
            player_typology=np.asarray(typology.to_pylist(), dtype=object),
            event_typology=np.asarray(
                labels.to_pylist() if labels is not None else [""] * len(ids), dtype=object
            ),
            labelled=True,
        )
    encoded = ids.dictionary_encode()
    player = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    n_players = len(encoded.dictionary)
    event_typology = np.asarray(
        labels.to_pylist() if labels is not None else [""] * len(ids), dtype=object
    )
    # A user's file labels events; a player carries the label of their labelled events.
    player_typology = np.full(n_players, "", dtype=object)
    marked = event_typology != ""
    player_typology[player[marked]] = event_typology[marked]
    return Truth(
        player=player,
        ts=np.asarray(events.column("ts").to_numpy(), dtype=np.int64),
        player_ids=np.asarray(encoded.dictionary.to_pylist(), dtype=object),
        player_typology=player_typology,
        event_typology=event_typology,
        labelled=labels is not None,
    )


def _plain(column: pa.Array) -> pa.Array:
    """A dictionary-encoded column as plain values (Arrow compares like with like)."""
    return column.dictionary_decode() if pa.types.is_dictionary(column.type) else column


def _value_like(current: Value, text: str, where: str) -> Value:
    """A sweep value typed like the param's current value."""
    try:
        if isinstance(current, MoneyValue):
            amount, *currency = text.split()
            if currency and currency != [current.currency]:
                raise BacktestError(
                    f"{where}: {text!r} is not in {current.currency}, the param's currency"
                )
            return MoneyValue(Decimal(amount), current.currency)
        if isinstance(current, DurationValue):
            millis = parse_duration(text)
            if millis <= 0:
                raise ValueError(text)
            return DurationValue(millis)
        if isinstance(current, bool):
            raise BacktestError(f"{where}: a bool param cannot be swept")
        if isinstance(current, int):
            return int(text)
        if isinstance(current, float):
            return float(text)
    except (ValueError, InvalidOperation, IndexError) as exc:
        raise BacktestError(f"{where}: {text!r} is not a value of this param") from exc
    raise BacktestError(f"{where}: only number, money and duration params can be swept")


def _literal(value: Value) -> ast.Expr:
    if isinstance(value, MoneyValue):
        return ast.Money(value.amount, value.currency)
    if isinstance(value, DurationValue):
        return ast.Duration(value.millis)
    assert isinstance(value, int | float)
    return ast.Number(value)


def _with_value(results: list[CheckResult], sweep: Sweep, text: str) -> list[CheckResult]:
    """The pack with one param set to `text` in the swept markets, checked again, so the
    params computed from it and the scores written with it follow."""
    out = []
    found = False
    where = f"--sweep {sweep.policy}.{sweep.param}"
    for result in results:
        if result.policy.name.name != sweep.policy:
            out.append(result)
            continue
        found = True
        markets = [sweep.market] if sweep.market else list(result.markets)
        overrides: dict[str, ast.Expr] = {}
        for m in markets:
            if m not in result.values or sweep.param not in result.values[m]:
                raise BacktestError(
                    f"--sweep: policy {sweep.policy} has no param {sweep.param}"
                    + (f" in market {m}" if m in result.values else f" (no market {m})")
                )
            current = result.values[m][sweep.param]
            overrides[m] = _literal(_value_like(current, text, where))
        policy = result.policy
        blocks = {b.market.name: b for b in policy.market_blocks}
        for m, expr in overrides.items():
            block = blocks.get(m, ast.MarketBlock(ast.Ident(m), ()))
            kept = tuple(o for o in block.overrides if o.name.name != sweep.param)
            blocks[m] = dataclasses.replace(
                block, overrides=(*kept, ast.Override(ast.Ident(sweep.param), expr))
            )
        changed = dsl.check(
            dataclasses.replace(policy, market_blocks=tuple(blocks.values())),
            result.path,
            Path(result.path).parent,
        )
        errors = [i for i in changed.issues if i.is_error]
        if errors:
            raise BacktestError(f"{where}: {text!r}: {errors[0].message}")
        out.append(changed)
    if not found:
        raise BacktestError(f"--sweep: no policy named {sweep.policy} in the pack")
    return out


def _number(value: Value) -> float:
    if isinstance(value, MoneyValue):
        return float(value.amount)
    if isinstance(value, DurationValue):
        return value.millis / 60_000  # minutes
    assert isinstance(value, int | float)
    return float(value)


def param_sweep(
    results: list[CheckResult],
    sweep: Sweep,
    events: pa.Table,
    truth: Truth,
    fx: RateTable,
    target_rate: float,
) -> dict[str, Any]:
    """The pack re-run with each value of one param: honest alert rate and recall per
    typology at each; the chosen value is the one with the best lowest recall among those
    that keep honest players alerted at or under the target."""
    honest = truth.player_typology == ""
    typologies = sorted({str(t) for t in truth.player_typology if t}) if truth.labelled else []
    points: list[dict[str, Any]] = []
    unit = ""
    for text in sweep.values:
        changed = _with_value(results, sweep, text)
        pack = compile_results(changed)
        run = run_pack(text, pack, events, fx)
        alerted = outcome(pack.program, run.result, truth).alerted
        recall = {t: float(alerted[truth.player_typology == t].mean()) for t in typologies}
        policy = next(r for r in changed if r.policy.name.name == sweep.policy)
        value = policy.values[sweep.market or policy.markets[0]][sweep.param]
        unit = (
            value.currency
            if isinstance(value, MoneyValue)
            else "minutes"
            if isinstance(value, DurationValue)
            else ""
        )
        points.append(
            {
                "value": _number(value),
                "honest_alert_rate": float((alerted & honest).sum() / max(1, honest.sum())),
                "min_recall": min(recall.values()) if recall else None,
                "recall": recall,
            }
        )
    allowed = [p for p in points if p["honest_alert_rate"] <= target_rate]
    # Best lowest recall; among equals, the fewest honest players alerted.
    best = max(
        allowed, key=lambda p: (p["min_recall"] or 0.0, -p["honest_alert_rate"]), default=None
    )
    chosen = best["value"] if best else None
    return {
        "policy": sweep.policy,
        "param": sweep.param,
        "market": sweep.market or "all",
        "chosen": chosen,
        "unit": unit,
        "points": points,
    }


def _policies(pack: CompiledPack) -> list[dict[str, Any]]:
    return [
        {"name": p.name, "version": p.version, "path": str(p.path)} for p in pack.program.policies
    ]


def backtest(
    policy_paths: Sequence[Path],
    events: pa.Table,
    players: pa.Table | None,
    *,
    source: str,
    challenger_paths: Sequence[Path] = (),
    sweep: Sweep | None = None,
    fx: RateTable | None = None,
    target_rate: float = 0.01,
    target_recall: float = 0.9,
    load_s: float = 0.0,
    bad_rows: int = 0,
    bad_samples: Sequence[dict[str, Any]] = (),
    window: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Run the pack (and a challenger, and a sweep) over `events`; the metrics document.
    `window` (epoch ms, end exclusive) is the period the history covers, when it is not
    the span of its events (a simulated casino has KYC records from before it starts)."""
    fx = fx or RateTable.default()
    started = time.perf_counter()
    results = load_results(policy_paths)
    pack = compile_results(results)
    compiled = time.perf_counter()
    run = run_pack("champion", pack, events, fx)
    truth = truth_of(events, players)
    metrics_started = time.perf_counter()
    metrics = measure(
        pack.program,
        run.result,
        truth,
        target_rate=target_rate,
        target_recall=target_recall,
        window=window,
    )
    if sweep is not None:
        metrics["calibration"]["param"] = param_sweep(
            results, sweep, events, truth, fx, target_rate
        )
    if challenger_paths:
        other = compile_results(load_results(challenger_paths))
        other_run = run_pack("challenger", other, events, fx)
        other_metrics = measure(
            other.program, other_run.result, truth, target_rate=target_rate,
            target_recall=target_recall,
        )  # fmt: skip
        metrics["comparison"] = compare(
            (_name(policy_paths), pack.program, run.result, metrics),
            (_name(challenger_paths), other.program, other_run.result, other_metrics),
            truth,
        )
    done = time.perf_counter()
    n = events.num_rows
    first, end = window or ((int(truth.ts.min()), int(truth.ts.max()) + 1) if n else (0, 0))
    return {
        "run": {
            "source": source,
            "policies": _policies(pack),
            "events": n,
            "players": len(truth.player_ids),
            "days": (end - first) / 86_400_000,
            "start": _iso(first) if n else None,
            "end": _iso(end) if n else None,
            "seconds": {
                "load": load_s,
                "compile": compiled - started,
                "encode": run.encode_s,
                "engine": run.engine_s,
                "metrics": done - metrics_started,
                "total": load_s + done - started,
            },
            "events_per_s": n / (run.encode_s + run.engine_s) if n else 0.0,
            "bad_rows": bad_rows,
            "bad_row_samples": list(bad_samples),
        },
        **metrics,
    }


def _name(paths: Sequence[Path]) -> str:
    return ", ".join(str(p) for p in paths)


def _iso(ms: int) -> str:
    return str(np.datetime64(ms, "ms").astype("datetime64[s]")) + "Z"
