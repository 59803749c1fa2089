"""Scenario files: the shipped default, laying a file over it, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.scenario import ScenarioError, dump_scenario, load_scenario, parse_scenario
from simulator.vocab import TYPOLOGIES


def test_default_scenario_is_about_twenty_thousand_players_over_thirty_days() -> None:
    scn = load_scenario()
    assert scn.scenario.players == 20_000
    assert scn.scenario.days == 30
    for name in TYPOLOGIES:
        assert getattr(scn.typologies, name).rate > 0, name


def test_a_file_names_only_what_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text("[scenario]\nplayers = 123\n[typologies.structuring]\nrate = 0.05\n")
    scn = load_scenario(path)
    default = load_scenario()
    assert scn.scenario.players == 123
    assert scn.typologies.structuring.rate == 0.05
    assert scn.typologies.structuring.lines == default.typologies.structuring.lines
    assert scn.segments == default.segments


def test_overrides_are_laid_over_the_file() -> None:
    scn = load_scenario(overrides={"scenario": {"seed": 7, "days": 3}})
    assert (scn.scenario.seed, scn.scenario.days) == (7, 3)


def test_dump_reads_back_equal() -> None:
    scn = load_scenario(overrides={"scenario": {"seed": 99, "players": 5}})
    assert parse_scenario(dump_scenario(scn)) == scn


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("[typologies.structuring]\nrate = 2", "typologies.structuring.rate", "<= 1.0"),
        ("[typologies.structuring]\nratee = 0.1", "typologies.structuring.ratee", "unknown key"),
        ("[scenario]\nplayers = 'many'", "scenario.players", "expected `int`"),
        ("[scenario]\ndays = 0", "scenario.days", ">= 1"),
        ("[markets.MGA]\nshare = 0.9", "markets.*.share", "add up to 1.4"),
        ("[markets.MGA]\ncountries = { XX = 1 }", "markets.MGA.countries.XX", "unknown code"),
        ("[markets.CW]\ncurrencies = { XYZ = 1 }", "markets.CW.currencies.XYZ", "unknown code"),
        ("[segments.night_owl]\nhours = 'dawn'", "segments.night_owl.hours", "no hour profile"),
        ("[segments.high_roller]\nstake = [50, 5]", "segments.high_roller.stake", "low end"),
        ("[hours]\nevening = [1, 2]", "hours.evening", "24 hourly weights"),
        ("[honest]\nkyc_levels = [1, 2]", "honest.kyc_levels", "length 3"),
        ("[typologies.collusion]\nring_size = [1, 3]", "typologies.collusion.ring_size", "2"),
        (
            "[typologies.structuring]\nline_weights = [1]",
            "typologies.structuring.line_weights",
            "one weight",
        ),
        ("[payments.psps]\ncheque = { bank = 1 }", "payments.psps.cheque", "unknown payment"),
    ],
)
def test_errors_name_the_key(text: str, key: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message) as info:
        parse_scenario(text, source="mine.toml")
    assert info.value.key == key
    assert str(info.value).startswith(f"mine.toml: {key}: ")


def test_bad_toml_and_missing_files_are_scenario_errors(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="not valid TOML"):
        parse_scenario("players =", source="x.toml")
    with pytest.raises(ScenarioError, match="cannot read the file"):
        load_scenario(tmp_path / "none.toml")
