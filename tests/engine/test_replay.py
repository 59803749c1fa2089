"""Replaying stored events (`StreamEngine.absorb`) leaves the state `process` leaves.

The service rebuilds its window state at start by absorbing every stored event; the next
decision must be the one an engine that never stopped would make.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.events import BaseEvent
from engine.runtime import CompiledPack, StreamEngine
from tests.engine.conftest import WHOLE_PACK
from tests.engine.strategies import streams


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=streams(max_size=60), cut=st.integers(0, 60))
def test_absorbed_events_leave_the_state_processed_events_leave(
    shipped_packs: dict[str, CompiledPack], events: list[BaseEvent], cut: int
) -> None:
    pack = shipped_packs[WHOLE_PACK]
    never_stopped, restarted = StreamEngine(pack), StreamEngine(pack)
    expected = [never_stopped.process(e) for e in events]
    for e in events[:cut]:
        restarted.absorb(e)
    assert [restarted.process(e) for e in events[cut:]] == expected[cut:]
