"""One compiled pack, two drivers: streaming (event by event) and batch (columnar, in
chunks) give identical rule hits, explained values and decisions on the same stream."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsl.vocabulary import ACTIONS
from engine import kernels
from engine.events import BaseEvent, ts_ms
from engine.runtime import BatchEngine, BatchResult, CompiledPack, StreamEngine, _Run, run_batch
from tests.engine.conftest import POLICY_FILES, WHOLE_PACK
from tests.engine.strategies import (
    DENSE_GAPS,
    GAPS,
    NARROW,
    WIDE,
    seeded_stream,
    streams,
)

POLICY_NAMES = [p.stem for p in POLICY_FILES] + [WHOLE_PACK]

Hit = tuple[int, int, tuple[str, ...]]  # (event row, global rule index, exact values)


def _exact(value: float) -> str:
    """A float as an exact, hashable token; every NaN (a missing value) is the same."""
    return "nan" if value != value else float(value).hex()


def _hit(pack: CompiledPack, row: int, rule: int, values: np.ndarray) -> Hit:
    # Only the rule's own explained values are meaningful: the rest of the row is scratch.
    width = len(pack.program.rules[rule].explain)
    return row, rule, tuple(_exact(v) for v in values[:width])


@dataclass
class Outcome:
    """What a driver decided for every event of a stream."""

    actions: list[str] = field(default_factory=list)
    scores: list[int] = field(default_factory=list)
    policies: list[dict[str, str]] = field(default_factory=list)
    hits: Counter[Hit] = field(default_factory=Counter)


def streamed(
    pack: CompiledPack, events: Sequence[BaseEvent], *, record_all: bool = False
) -> Outcome:
    engine = StreamEngine(pack, record_all=record_all)
    out = Outcome()
    for row, event in enumerate(events):
        decision = engine.process(event)
        out.actions.append(decision.action)
        out.scores.append(decision.score)
        out.policies.append(dict(decision.policies))
        fired = [(rule, values) for rule, was_fired, values in engine.last_raw if was_fired]
        if not record_all:
            assert len(fired) == len(engine.last_raw)
        assert len(fired) == len(decision.hits) + len(decision.shadow)
        out.hits.update(_hit(pack, row, rule, values) for rule, values in fired)
    return out


def batched(pack: CompiledPack, events: Sequence[BaseEvent], result: BatchResult) -> Outcome:
    out = Outcome()
    infos = pack.program.policies
    for row, event in enumerate(events):
        out.actions.append(ACTIONS[int(result.actions[row])])
        out.scores.append(int(result.scores[row]))
        out.policies.append(
            {
                info.name: ACTIONS[int(result.policy_actions[row, p])]
                for p, info in enumerate(infos)
                if event.market in info.markets
            }
        )
    out.hits.update(
        _hit(pack, int(row), int(rule), values)
        for row, rule, values in zip(
            result.hit_rows, result.hit_rules, result.hit_values, strict=True
        )
    )
    return out


def chunked(pack: CompiledPack, events: Sequence[BaseEvent], chunk: int) -> BatchResult:
    """The batch driver over `chunk` rows at a time, on a fresh run with buffers that size.

    The run must be the one whose encoder interned the events: ids are the encoder's."""
    run = _Run(pack, None, rows=chunk)
    I, F = run.encoder.encode(events)
    return run_batch(pack, I, F, run=run, chunk=chunk)


def assert_same(expected: Outcome, actual: Outcome) -> None:
    assert actual.actions == expected.actions
    assert actual.scores == expected.scores
    assert actual.policies == expected.policies
    missing, extra = expected.hits - actual.hits, actual.hits - expected.hits
    assert not missing, f"only streamed: {missing}"
    assert not extra, f"only batched: {extra}"


def check_drivers_agree(pack: CompiledPack, events: Sequence[BaseEvent], chunk: int) -> Outcome:
    stream = streamed(pack, events)
    assert_same(stream, batched(pack, events, BatchEngine(pack).run_events(events)))
    assert_same(stream, batched(pack, events, chunked(pack, events, chunk)))
    return stream


def one_after_another(*parts: list[BaseEvent]) -> list[BaseEvent]:
    """Streams joined end to end, each shifted to start where the one before ended."""
    out: list[BaseEvent] = []
    for part in parts:
        shift = (ts_ms(out[-1]) - ts_ms(part[0])) if out else 0
        out += [msgspec.structs.replace(e, ts=ts_ms(e) + shift) for e in part]
    return out


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(name=st.sampled_from(POLICY_NAMES), events=streams(max_size=60), chunk=st.integers(1, 9))
def test_stream_and_batch_agree_on_random_streams(
    shipped_packs: dict[str, CompiledPack], name: str, events: list[BaseEvent], chunk: int
) -> None:
    check_drivers_agree(shipped_packs[name], events, chunk)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(POLICY_NAMES),
    seed=st.integers(0, 2**32 - 1),
    size=st.integers(300, 700),
    chunk=st.sampled_from([1, 3, 64, 255, 256, 257, 10_000]),
    gaps=st.sampled_from([GAPS, DENSE_GAPS]),
    pools=st.sampled_from(["narrow", "wide"]),
)
def test_stream_and_batch_agree_on_long_streams(
    shipped_packs: dict[str, CompiledPack],
    name: str,
    seed: int,
    size: int,
    chunk: int,
    gaps: tuple[int, ...],
    pools: str,
) -> None:
    events = seeded_stream(seed, size, gaps, WIDE if pools == "wide" else NARROW)
    check_drivers_agree(shipped_packs[name], events, chunk)


def test_long_stream_compacts_and_grows_the_stores_and_still_agrees(
    shipped_packs: dict[str, CompiledPack], monkeypatch: pytest.MonkeyPatch
) -> None:
    compactions = Counter[str]()
    compact = kernels.compact

    def counting_compact(*args: object) -> int:
        compactions["calls"] += 1
        return int(compact(*args))

    monkeypatch.setattr(kernels, "compact", counting_compact)
    pack = shipped_packs[WHOLE_PACK]
    # Sparse (windows empty out: compaction), dense (windows fill up: growth), then dense
    # with hundreds of players, devices, cards… (the per-key arrays grow too).
    events = one_after_another(
        seeded_stream(20260101, 1000),
        seeded_stream(20260102, 1000, DENSE_GAPS),
        seeded_stream(20260103, 1000, DENSE_GAPS, WIDE),
    )
    outcome = check_drivers_agree(pack, events, 97)
    # The property is only worth something if the stream exercised what it is about.
    assert compactions["calls"] > 0
    engine = StreamEngine(pack)
    for event in events:
        engine.process(event)
    state = engine._run.state
    assert int(state.caps.max()) > 256  # a store outgrew its first capacity
    assert max(state.kcaps.values()) > 256  # and so did a key domain
    assert sum(outcome.hits.values()) > 100
    assert set(outcome.actions) >= {"allow", "review", "block"}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(POLICY_NAMES), events=streams(max_size=40))
def test_recording_every_evaluation_changes_no_decision(
    shipped_packs: dict[str, CompiledPack], name: str, events: list[BaseEvent]
) -> None:
    pack = shipped_packs[name]
    assert_same(streamed(pack, events), streamed(pack, events, record_all=True))


def test_batch_driver_keeps_state_across_calls(shipped_packs: dict[str, CompiledPack]) -> None:
    """A history fed to one batch engine in two parts decides like one stream."""
    pack = shipped_packs[WHOLE_PACK]
    events = seeded_stream(7, 400)
    stream = streamed(pack, events)
    engine = BatchEngine(pack)
    first, second = events[:150], events[150:]
    a, b = engine.run_events(first), engine.run_events(second)
    assert [ACTIONS[int(x)] for x in np.concatenate([a.actions, b.actions])] == stream.actions
    assert np.concatenate([a.scores, b.scores]).tolist() == stream.scores
    hits = batched(pack, first, a).hits
    hits.update(
        _hit(pack, int(row) + len(first), int(rule), values)
        for row, rule, values in zip(b.hit_rows, b.hit_rules, b.hit_values, strict=True)
    )
    assert hits == stream.hits


def test_run_batch_stays_inside_its_key_arrays() -> None:
    """The kernel does not check bounds, so `run_batch` must size the per-key arrays for
    every slot in `I`, even when `I` holds more keys than the run's own encoder has seen
    (here 600 players, against 256 slots to start with). Run in a child process so that an
    out-of-bounds write fails this test rather than the whole session."""
    script = textwrap.dedent(
        """
        import dsl
        from engine import events as E
        from engine.runtime import BatchEngine, _Run, compile_results, run_batch

        result = dsl.check_source(
            "policy many_players version 1 for MGA\\n"
            "rule again { on deposit when count(deposit over 1h) >= 2 score 10 }\\n",
            "<test>",
        )
        pack = compile_results([result])
        events = [
            E.Deposit(event_id=str(k), player_id=f"p{k % 600}", ts=1_767_268_800_000 + k,
                      market="MGA", amount=100, currency="EUR")
            for k in range(1200)
        ]
        engine = BatchEngine(pack)
        I, F = engine.encoder.encode(events)
        expected = engine.run_encoded(I, F)
        got = run_batch(pack, I, F, run=_Run(pack, None, rows=100), chunk=100)
        assert (got.scores == expected.scores).all()
        print("ok")
        """
    )
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "ok"
