"""The shipped policy packs are clean: no errors, no warnings, canonical round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

import dsl

PACKS = sorted((Path(__file__).resolve().parents[2] / "policies").rglob("*.pol"))


def test_there_is_a_pack() -> None:
    assert PACKS


@pytest.mark.parametrize("path", PACKS, ids=[p.name for p in PACKS])
def test_pack_checks_without_any_issue(path: Path) -> None:
    result = dsl.check_file(path)
    assert result.issues == (), dsl.render_all(result.issues, path.read_text())


@pytest.mark.parametrize("path", PACKS, ids=[p.name for p in PACKS])
def test_pack_covers_every_market_it_names(path: Path) -> None:
    result = dsl.check_file(path)
    assert result.markets == ("MGA", "UKGC", "CW")
    for market in result.markets:
        assert set(result.values[market]) == {p.name.name for p in result.policy.params}


@pytest.mark.parametrize("path", PACKS, ids=[p.name for p in PACKS])
def test_every_rule_explains_itself(path: Path) -> None:
    policy = dsl.check_file(path).policy
    for rule in policy.rules:
        assert rule.reason is not None, rule.name.name
        assert rule.description is not None, rule.name.name


@pytest.mark.parametrize("path", PACKS, ids=[p.name for p in PACKS])
def test_pack_round_trips_through_the_formatter(path: Path) -> None:
    tree = dsl.parse(path.read_text(), str(path))
    assert dsl.parse(dsl.format_policy(tree)) == tree
