"""`pitboss simulate` and the folder it writes: same seed, same bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pitboss.cli import main
from simulator.scenario import load_scenario
from simulator.writer import write_simulation
from tests.simulator.simulated import TINY, scenario

TINY_TOML = """\
[scenario]
players = 300
days = 5
block_players = 100
seed = 11
"""


def test_same_seed_writes_the_same_bytes(tmp_path: Path) -> None:
    scn = scenario(TINY)
    first = write_simulation(scn, tmp_path / "a")
    second = write_simulation(scn, tmp_path / "b", chunk_players=200)
    for name in ("events.parquet", "players.parquet", "scenario.toml"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert first.events == second.events > 0
    assert pq.read_metadata(tmp_path / "a" / "events.parquet").num_rows == first.events


def test_cli_simulates_a_scenario_file_into_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_TOML)
    out = tmp_path / "out"
    assert main(["simulate", str(path), "--out", str(out), "--quiet", "--days", "4"]) == 0
    text = capsys.readouterr().out
    assert "simulated 300 players" in text
    assert "events/s" in text
    assert str(out / "events.parquet") in text
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 11
    assert manifest["days"] == 4
    assert manifest["events"] == pq.read_metadata(out / "events.parquet").num_rows
    assert sum(manifest["events_by_type"].values()) == manifest["events"]
    assert set(manifest["typology_players"]) >= {"structuring", "collusion"}
    # The copy of the scenario is the resolved one: it reproduces the run.
    resolved = load_scenario(out / "scenario.toml")
    assert resolved.scenario.days == 4
    assert resolved == load_scenario(path, overrides={"scenario": {"days": 4}})
    players = pq.read_table(out / "players.parquet")
    assert players.num_rows == 300


def test_cli_reports_a_bad_scenario_with_its_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[typologies.underage]\nrate = -1\n")
    assert main(["simulate", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 1
    assert "typologies.underage.rate" in capsys.readouterr().err


def test_cli_refuses_a_missing_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", str(tmp_path / "none.toml"), "--out", str(tmp_path)]) == 2
    assert "no such file" in capsys.readouterr().err
