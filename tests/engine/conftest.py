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
