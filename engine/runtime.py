"""The two drivers over one compiled kernel: streaming (event by event) and batch.

Both call the same `run` function of the pack's kernel module. The streaming driver gives
it one encoded row at a time and keeps the window state between calls; the batch driver
gives it a whole history in chunks. Given the same events in the same order, they make the
same calls on the same state, so their hits, values and decisions are identical.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

import dsl
from dsl.checks import CheckResult
from dsl.checks.reasons import PLACEHOLDER
from dsl.compiler import Program, compile_pack, load_kernel
from dsl.compiler.codegen import EVENT_OWN_FIELDS
from dsl.vocabulary import ACTIONS, MARKETS
from engine import kernels
from engine.decisions import Decision, Hit, Scalar, display, render_reason, typed_value
from engine.encode import Encoder
from engine.events import BaseEvent, ts_ms
from engine.fx import RateTable
from engine.layout import EVENT_CODES, MARKET_CODES
from engine.state import Interner, State

_BATCH_CHUNK = 65_536


@dataclass
class CompiledPack:
    """Policies compiled into one kernel, ready to run (any number of times)."""

    results: list[CheckResult]
    program: Program
    kernel: ModuleType

    @property
    def max_hits_per_event(self) -> int:
        per_type: dict[str, int] = {}
        for rule in self.program.rules:
            for event in rule.events:
                per_type[event] = per_type.get(event, 0) + 1
        return max(per_type.values(), default=0)


def compile_results(results: Sequence[CheckResult]) -> CompiledPack:
    program = compile_pack(list(results))
    return CompiledPack(list(results), program, load_kernel(program.source))


def load_pack(paths: Iterable[Path]) -> CompiledPack:
    """Check and compile policy files (a folder means every `.pol` under it).

    Raises `dsl.PolicyError` if a policy has errors."""
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.rglob("*.pol")) if path.is_dir() else [path])
    return compile_results([dsl.load_policy(f) for f in files])


class _Tables:
    """A process's view of a program's constants: strings interned, lists sorted."""

    def __init__(self, program: Program, strings: Interner) -> None:
        self.KI = np.array([strings(s) for s in program.strings] or [0], dtype=np.int64)
        for lo, hi in program.id_lists:
            self.KI[lo:hi] = np.sort(self.KI[lo:hi])
        self.KF = np.array(program.floats or [0.0], dtype=np.float64)
        n_markets = len(MARKETS)
        self.P = np.full((n_markets, max(1, len(program.float_params))), np.nan)
        for j, per_market in enumerate(program.float_params):
            for market, value in per_market.items():
                self.P[MARKET_CODES[market], j] = value
        self.PS = np.full((n_markets, max(1, len(program.string_params))), -1, dtype=np.int64)
        for j, per_str in enumerate(program.string_params):
            for market, text in per_str.items():
                self.PS[MARKET_CODES[market], j] = strings(text)
        self.RS = np.zeros((n_markets, max(1, len(program.rules))), dtype=np.int64)
        for rule in program.rules:
            for market, score in rule.scores.items():
                self.RS[MARKET_CODES[market], rule.index] = score
        self.ST = _table(program.store_table, kernels.ST_WIDTH)
        self.AQ = _table(program.aggregate_table, kernels.AQ_WIDTH)
        slots = [slot for per_type in program.by_type for slot in per_type]
        self.TA = np.array(slots or [0], dtype=np.int64)
        sizes = [len(per_type) for per_type in program.by_type] or [0]
        self.TH = np.cumsum(sizes).astype(np.int64)
        self.TL = self.TH - np.array(sizes, dtype=np.int64)


def _table(rows: list[tuple[int, ...]], width: int) -> np.ndarray:
    table = np.zeros((max(1, len(rows)), width), dtype=np.int64)
    for j, row in enumerate(rows):
        table[j, : len(row)] = row
    return table


class _Run:
    """State plus output buffers for one sequence of kernel calls."""

    def __init__(self, pack: CompiledPack, fx: RateTable | None, rows: int) -> None:
        program = pack.program
        self.pack = pack
        self.program = program
        self.policy_of = {p.name: p for p in program.policies}
        self.strings = Interner()
        self.keys = {key: Interner() for key in program.layout.keys}
        self.tables = _Tables(program, self.strings)
        self.state = State(program, self.keys)
        self.encoder = Encoder(program, self.strings, self.keys, fx or RateTable.default())
        npol = max(1, len(program.policies))
        self.rows = rows
        self.SCORE = np.zeros((rows, npol), dtype=np.int64)
        self.ACTN = np.zeros((rows, npol), dtype=np.int8)
        self.hcap = max(1, rows * max(1, pack.max_hits_per_event))
        self.HR = np.zeros((self.hcap, 3), dtype=np.int64)
        self.HV = np.zeros((self.hcap, program.max_explain), dtype=np.float64)
        self.HN = np.zeros(1, dtype=np.int64)
        self.SB = np.full(program.n_sequence_slots, -1, dtype=np.int64)

    def call(self, I: np.ndarray, F: np.ndarray, lo: int, hi: int, rec: bool) -> int:
        st, tb = self.state, self.tables
        self.HN[0] = 0
        flag: int = self.pack.kernel.run(
            I, F, lo, hi, rec, st.SI, st.SF, st.O, st.PF, st.PSP,
            tb.P, tb.PS, tb.KI, tb.KF, tb.RS, tb.ST, tb.AQ, tb.TL, tb.TH, tb.TA,
            self.SCORE, self.ACTN, self.HR, self.HV, self.HN, self.SB,
        )  # fmt: skip
        return flag

    def hit(self, h: int, event: BaseEvent) -> Hit:
        program = self.program
        market = event.market
        rule = program.rules[int(self.HR[h, 1])]
        policy = self.policy_of[rule.policy]
        values: dict[str, Scalar] = {}
        for k, item in enumerate(rule.explain):
            value = typed_value(item, float(self.HV[h, k]), market, self.strings)
            values[item.name] = display(item, value, market)
        if rule.reason is not None:
            for match in PLACEHOLDER.finditer(rule.reason):
                name = (match.group(1) or "").strip()
                if name in EVENT_OWN_FIELDS:
                    values[name] = getattr(event, name)
        return Hit(
            policy=rule.policy,
            rule=rule.name,
            fired=bool(self.HR[h, 2]),
            shadow=rule.shadow,
            action=rule.action,
            score=rule.scores.get(market, 0),
            severity=rule.severity,
            family=rule.family,
            reason=render_reason(rule, policy, market, values),
            values=values,
        )

    def typed_values(self, h: int, market: str) -> dict[str, object]:
        rule = self.program.rules[int(self.HR[h, 1])]
        return {
            item.name: typed_value(item, float(self.HV[h, k]), market, self.strings)
            for k, item in enumerate(rule.explain)
        }


class StreamEngine:
    """Decides events one at a time, as the live service does."""

    def __init__(
        self, pack: CompiledPack, fx: RateTable | None = None, *, record_all: bool = False
    ) -> None:
        self.pack = pack
        self.record_all = record_all
        self._run = _Run(pack, fx, rows=1)
        layout = pack.program.layout
        self._I = np.empty((1, layout.n_int), dtype=np.int64)
        self._F = np.empty((1, layout.n_float), dtype=np.float64)
        self._policy_markets = [set(p.markets) for p in pack.program.policies]
        # The raw values behind the last decision's hits, for tests: rule → name → value.
        self.last_values: dict[str, dict[str, object]] = {}
        # What the kernel recorded for the last event: (rule index, fired, raw values).
        self.last_raw: list[tuple[int, bool, np.ndarray]] = []

    def rate_problem(self, event: BaseEvent) -> tuple[str, str] | None:
        """(field, message) when `event` needs an FX rate the table does not have; None
        when `process` can take it."""
        return self._run.encoder.rate_problem(event)

    def process(self, event: BaseEvent) -> Decision:
        """Update the window state with `event` and decide it."""
        self.absorb(event)
        return self._decision(event)

    def absorb(self, event: BaseEvent) -> None:
        """Update the window state with `event` without building its decision: how the
        service replays stored events, whose decisions are already on record."""
        run = self._run
        run.encoder.write(event, self._I, self._F, 0)
        state = run.state
        state.ensure_keys()
        at = ts_ms(event)
        if at > state.now:
            state.now = at
        if run.call(self._I, self._F, 0, 1, self.record_all):
            state.ensure_room(1)

    def _decision(self, event: BaseEvent) -> Decision:
        run = self._run
        market = event.market
        policies = {}
        action = 0
        score = 0
        for p, info in enumerate(run.program.policies):
            if market not in self._policy_markets[p]:
                continue
            act = int(run.ACTN[0, p])
            policies[info.name] = ACTIONS[act]
            action = max(action, act)
            score += int(run.SCORE[0, p])
        hits: list[Hit] = []
        shadow: list[Hit] = []
        evaluated: list[Hit] = []
        self.last_values = {}
        self.last_raw = [
            (int(run.HR[h, 1]), bool(run.HR[h, 2]), run.HV[h].copy()) for h in range(int(run.HN[0]))
        ]
        for h in range(int(run.HN[0])):
            hit = run.hit(h, event)
            if self.record_all:
                evaluated.append(hit)
                self.last_values[hit.rule] = run.typed_values(h, market)
            if hit.fired:
                (shadow if hit.shadow else hits).append(hit)
        return Decision(
            event_id=event.event_id,
            player_id=event.player_id,
            market=market,
            ts=ts_ms(event),
            action=ACTIONS[action],
            score=score,
            policies=policies,
            hits=tuple(hits),
            shadow=tuple(shadow),
            evaluated=tuple(evaluated),
        )


@dataclass
class BatchResult:
    """Decisions for a whole history, column by column, and every rule hit."""

    actions: np.ndarray  # int8 [n]: the pack's action per event (index into ACTIONS)
    scores: np.ndarray  # int64 [n]: total live score per event
    policy_actions: np.ndarray  # int8 [n, policies]
    policy_scores: np.ndarray  # int64 [n, policies]
    hit_rows: np.ndarray  # int64 [h]: event row of each hit
    hit_rules: np.ndarray  # int64 [h]: global rule index
    hit_values: np.ndarray  # float64 [h, max values]: raw explained values


def run_batch(
    pack: CompiledPack,
    I: np.ndarray,
    F: np.ndarray,
    *,
    run: _Run,
    chunk: int = _BATCH_CHUNK,
) -> BatchResult:
    """Evaluate a whole history (sorted by time, then arrival) encoded by `run.encoder`:
    its ids are that encoder's, so `run` is required."""
    if chunk > run.rows:
        raise ValueError(f"chunk {chunk} is larger than the run's buffers ({run.rows} rows)")
    n = I.shape[0]
    npol = max(1, len(pack.program.policies))
    policy_actions = np.zeros((n, npol), dtype=np.int8)
    policy_scores = np.zeros((n, npol), dtype=np.int64)
    rows, rules, values = [], [], []
    state = run.state
    state.ensure_keys()
    # Per-key arrays must hold every slot in `I`, whoever encoded it: the kernel does not
    # check bounds.
    for key in pack.program.layout.keys:
        col = pack.program.layout.key(key)
        if n:
            state.ensure_slots(key, int(I[:, col].max()) + 1)
    if n:
        state.reserve(_live_bound(pack, I, chunk))
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        state.ensure_room(hi - lo)
        run.call(I, F, lo, hi, False)
        state.now = max(state.now, int(I[hi - 1, 2]))
        policy_actions[lo:hi] = run.ACTN[: hi - lo]
        policy_scores[lo:hi] = run.SCORE[: hi - lo]
        h = int(run.HN[0])
        rows.append(run.HR[:h, 0].copy())
        rules.append(run.HR[:h, 1].copy())
        values.append(run.HV[:h].copy())
    covered = np.zeros((n, npol), dtype=bool)
    for p, info in enumerate(pack.program.policies):
        codes = [MARKET_CODES[m] for m in info.markets]
        covered[:, p] = np.isin(I[:, 1], codes)
    return BatchResult(
        actions=np.where(covered, policy_actions, 0).max(axis=1).astype(np.int8),
        scores=np.where(covered, policy_scores, 0).sum(axis=1),
        policy_actions=policy_actions,
        policy_scores=policy_scores,
        hit_rows=np.concatenate(rows) if rows else np.zeros(0, np.int64),
        hit_rules=np.concatenate(rules) if rules else np.zeros(0, np.int64),
        hit_values=np.concatenate(values) if values else np.zeros((0, 1)),
    )


def _live_bound(pack: CompiledPack, I: np.ndarray, chunk: int) -> np.ndarray:
    """Per store, the most entries it can hold between two compactions over this history:
    the most events of its types inside one window (filters ignored) plus a chunk.
    Distinct stores hold one entry per live pair, far fewer: they grow as they need."""
    ts, types = I[:, 2], I[:, 0]
    out = np.zeros(len(pack.program.stores), dtype=np.int64)
    for spec in pack.program.stores:
        if spec.distinct:
            continue
        wanted = np.zeros(len(EVENT_CODES), dtype=bool)
        wanted[[EVENT_CODES[e] for e in spec.events]] = True
        at = ts[wanted[types]]
        if len(at) == 0:
            continue
        inside = np.arange(len(at)) - np.searchsorted(at, at - spec.window_ms, side="right")
        out[spec.index] = int(inside.max()) + 1 + min(chunk, len(at))
    return out


class BatchEngine:
    """Encodes and evaluates whole histories with the batch driver."""

    def __init__(self, pack: CompiledPack, fx: RateTable | None = None) -> None:
        self.pack = pack
        self._run = _Run(pack, fx, rows=_BATCH_CHUNK)

    @property
    def encoder(self) -> Encoder:
        return self._run.encoder

    def run_events(self, events: Sequence[BaseEvent]) -> BatchResult:
        I, F = self._run.encoder.encode(events)
        return self.run_encoded(I, F)

    def run_encoded(self, I: np.ndarray, F: np.ndarray) -> BatchResult:
        self._run.state.ensure_keys()
        return run_batch(self.pack, I, F, run=self._run)
