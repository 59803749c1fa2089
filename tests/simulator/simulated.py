"""Small simulations shared by the simulator tests, each made once per session."""

from __future__ import annotations

from functools import cache
from typing import Any

import pyarrow as pa

from simulator.generate import simulate, simulate_players
from simulator.scenario import Scenario, load_scenario

# Three blocks of 200 players over a week: every code path, well under a second.
TINY: dict[str, Any] = {"scenario": {"players": 600, "days": 7, "block_players": 200}}
# The default scenario at a small scale: enough players for every typology.
SMALL: dict[str, Any] = {"scenario": {"players": 4000, "days": 12}}


def scenario(overrides: dict[str, Any], **run: Any) -> Scenario:
    merged = {**overrides, "scenario": {**overrides["scenario"], **run}}
    return load_scenario(overrides=merged)


@cache
def events(name: str = "tiny", **run: Any) -> pa.Table:
    scn = scenario(SMALL if name == "small" else TINY, **run)
    return pa.Table.from_batches(list(simulate(scn)), schema=None)


@cache
def players(name: str = "tiny") -> pa.Table:
    return simulate_players(scenario(SMALL if name == "small" else TINY))
