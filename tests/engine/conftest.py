"""Compiled packs shared by the engine tests.

Compiling a policy builds a numba kernel (seconds when cold, cached on disk under the
pitboss cache afterwards), so each distinct policy text is compiled once per session.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import dsl
from engine.runtime import CompiledPack, compile_results, load_pack

POLICY_DIR = Path(__file__).resolve().parents[2] / "policies"
POLICY_FILES = sorted(POLICY_DIR.glob("*.pol"))
WHOLE_PACK = "<pack>"


@dataclass(repr=False)
class Pack(CompiledPack):
    """A compiled pack that prints as its policies' names: hypothesis shows the arguments
    of a failing example, and a whole program's repr runs to tens of kilobytes."""

    def __repr__(self) -> str:
        return f"<pack {', '.join(p.name for p in self.program.policies)}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))  # hypothesis's printer would spell out the dataclass


def short(pack: CompiledPack) -> Pack:
    return Pack(pack.results, pack.program, pack.kernel)


@pytest.fixture(scope="session")
def compile_policy() -> Callable[[str], CompiledPack]:
    """Check and compile policy text (which must have no errors), once per text."""
    cache: dict[str, CompiledPack] = {}

    def compile_text(text: str) -> CompiledPack:
        if text not in cache:
            result = dsl.check_source(text, "<test>")
            assert result.ok, dsl.render_all(result.issues, text)
            cache[text] = short(compile_results([result]))
        return cache[text]

    return compile_text


@pytest.fixture(scope="session")
def shipped_packs() -> dict[str, CompiledPack]:
    """Each shipped policy compiled on its own, and all of them as one pack."""
    packs = {p.stem: short(compile_results([dsl.load_policy(p)])) for p in POLICY_FILES}
    packs[WHOLE_PACK] = short(load_pack([POLICY_DIR]))
    return packs


# Engine bugs these tests found and that are not fixed yet (listed in the issue's closing
# note); they stay visible as xfail until the compiler handles them.
_KNOWN_BUGS = {
    line.strip()
    for line in [
        "tests/engine/test_encode.py::test_encode_columns_takes_type_and_market_as_codes",
        "tests/engine/test_semantics.py::test_the_search_tries_an_earlier_step_when_the_last_step_rejects_the_latest",
        "tests/engine/test_semantics.py::test_the_search_tries_an_earlier_step_when_an_absence_step_rejects_the_latest",
        "tests/engine/test_semantics.py::test_the_search_backtracks_over_every_named_step",
        "tests/engine/test_semantics.py::test_sequences_match_a_brute_force_search",
        "tests/engine/test_semantics.py::test_an_absence_step_cannot_end_a_sequence",
        "tests/engine/test_semantics.py::test_an_absence_step_within_takes_the_markets_value[UKGC-True]",
        "tests/engine/test_semantics.py::test_a_list_of_params_takes_the_markets_values[UKGC-slot-expected2]",
        "tests/engine/test_semantics.py::test_a_list_of_params_takes_the_markets_values[UKGC-live-expected3]",
        "tests/engine/test_semantics.py::test_a_bound_step_in_a_reason_after_the_stores_are_compacted",
        "tests/engine/test_semantics.py::test_a_list_param_compiles",
        "tests/engine/test_semantics.py::test_an_aggregate_in_on_where_compiles_or_is_rejected",
    ]
    if line.strip()
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid in _KNOWN_BUGS:
            item.add_marker(pytest.mark.xfail(reason="known compiler bug, see docs", strict=True))
