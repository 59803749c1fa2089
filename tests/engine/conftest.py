"""Compiled packs shared by the engine tests.

Compiling a policy builds a numba kernel (seconds when cold, cached on disk under the
pitboss cache afterwards), so each distinct policy text is compiled once per session.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import dsl
from engine.runtime import CompiledPack, compile_results, load_pack

POLICY_DIR = Path(__file__).resolve().parents[2] / "policies"
POLICY_FILES = sorted(POLICY_DIR.glob("*.pol"))
WHOLE_PACK = "<pack>"


@pytest.fixture(scope="session")
def compile_policy() -> Callable[[str], CompiledPack]:
    """Check and compile policy text (which must have no errors), once per text."""
    cache: dict[str, CompiledPack] = {}

    def compile_text(text: str) -> CompiledPack:
        if text not in cache:
            result = dsl.check_source(text, "<test>")
            assert result.ok, dsl.render_all(result.issues, text)
            cache[text] = compile_results([result])
        return cache[text]

    return compile_text


@pytest.fixture(scope="session")
def shipped_packs() -> dict[str, CompiledPack]:
    """Each shipped policy compiled on its own, and all of them as one pack."""
    packs = {p.stem: compile_results([dsl.load_policy(p)]) for p in POLICY_FILES}
    packs[WHOLE_PACK] = load_pack([POLICY_DIR])
    return packs
