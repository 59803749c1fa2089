"""`pitboss backtest` as a user runs it: a policy over a CSV or Parquet history, or over
the shipped simulated casino, with report.html and metrics.json written."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pitboss.cli import main

REPO = Path(__file__).resolve().parents[2]
PACK = REPO / "policies"
DEFAULT_SCENARIO = REPO / "simulator" / "data" / "default.toml"

POLICY = """\
policy big version 1 for MGA
param large: money = {large} EUR
rule big_deposit "a large deposit" {{ on deposit when amount >= large action review }}
"""
BROKEN_POLICY = """\
policy big version 1 for MGA
param large: money = 1000 EUR
rule big_deposit { on deposit when amout >= large action review }
"""

HEADER = "type,event_id,player_id,ts,market,amount,currency,label_typology"
# Rows 3 and 5 are bad. Alerted at 1000 EUR: p1 (structuring) and p3 (honest).
ROWS = [
    "deposit,e1,p1,2026-01-05T10:00:00Z,MGA,150000,EUR,structuring",
    "deposit,e2,p2,2026-01-05T11:00:00Z,MGA,50000,EUR,",
    "deposit,e3,,2026-01-05T12:00:00Z,MGA,50000,EUR,",
    "deposit,e4,p3,2026-01-05T13:00:00Z,MGA,120000,EUR,",
    "deposit,e5,p2,2026-01-05T14:00:00Z,MGA,-1,EUR,",
    "login,e6,p4,2026-01-06T09:00:00Z,MGA,,,mule",
]


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "big.pol"
    path.write_text(POLICY.format(large=1000))
    return path


@pytest.fixture
def history(tmp_path: Path) -> Path:
    path = tmp_path / "history.csv"
    path.write_text("\n".join([HEADER, *ROWS]) + "\n")
    return path


def read_metrics(out: Path) -> dict[str, Any]:
    metrics: dict[str, Any] = json.loads((out / "metrics.json").read_text())
    return metrics


def test_backtest_a_csv_history(
    policy: Path, history: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    assert (
        main(["backtest", "--policy", str(policy), "--data", str(history), "--out", str(out)]) == 0
    )
    captured = capsys.readouterr()

    assert (out / "report.html").is_file()
    assert (out / "report.html").read_text().lstrip().lower().startswith("<!doctype html")
    metrics = read_metrics(out)
    assert metrics["run"]["source"] == "data history.csv"
    assert metrics["run"]["events"] == 4
    assert metrics["run"]["bad_rows"] == 2
    assert metrics["run"]["bad_row_samples"] == [
        {"row": 3, "field": "player_id", "reason": "Object missing required field `player_id`"},
        {"row": 5, "field": "amount", "reason": "Expected `int` >= 0"},
    ]
    assert metrics["labelled"] is True
    assert metrics["players"] == {
        "honest": 2,
        "honest_alerted": 1,
        "honest_alert_rate": 0.5,
        "bad": 2,
        "bad_alerted": 1,
        "alerted": 2,
    }
    assert [(t["typology"], t["recall"]) for t in metrics["typologies"]] == [
        ("mule", 0.0),
        ("structuring", 1.0),
    ]
    assert metrics["decisions"]["review"] == 2
    assert metrics["decisions"]["allow"] == 2

    # Bad rows on stderr, each with its row and field, then their count.
    assert captured.err.splitlines() == [
        f"{history}: row 3: field `player_id`: Object missing required field `player_id`",
        f"{history}: row 5: field `amount`: Expected `int` >= 0",
        f"{history}: 2 bad rows skipped",
    ]
    # The summary, then where the files are.
    assert "Pitboss backtest: data history.csv" in captured.out
    assert "big.big_deposit" in captured.out
    assert captured.out.splitlines()[-2:] == [
        f"report: {out / 'report.html'}",
        f"metrics: {out / 'metrics.json'}",
    ]


def test_backtest_a_parquet_history(policy: Path, tmp_path: Path) -> None:
    data = tmp_path / "history.parquet"
    pq.write_table(
        pa.table(
            {
                "type": ["deposit", "deposit"],
                "event_id": ["e1", "e2"],
                "player_id": ["p1", "p2"],
                "ts": pa.array([1_767_607_200_000, 1_767_610_800_000], pa.int64()),
                "market": ["MGA", "MGA"],
                "amount": pa.array([150_000, 50_000], pa.int64()),
                "currency": ["EUR", "EUR"],
            }
        ),
        data,
    )
    out = tmp_path / "report"
    assert main(["backtest", "--policy", str(policy), "--data", str(data), "--out", str(out)]) == 0
    metrics = read_metrics(out)
    assert metrics["labelled"] is False
    assert metrics["run"]["bad_rows"] == 0
    assert metrics["players"]["alerted"] == 1
    assert metrics["typologies"] == []


def test_challenger_and_sweep(
    policy: Path, history: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    challenger = tmp_path / "challenger"
    challenger.mkdir()
    (challenger / "big.pol").write_text(POLICY.format(large=1300))
    out = tmp_path / "report"
    argv = ["backtest", "--policy", str(policy), "--data", str(history), "--out", str(out)]
    argv += ["--challenger", str(challenger), "--sweep", "big.large=500,1000,1300,2000"]
    argv += ["--target-rate", "0.5"]
    assert main(argv) == 0
    metrics = read_metrics(out)
    assert metrics["target"]["honest_alert_rate"] == 0.5
    # At 1300 EUR p3's 1200 EUR is no longer alerted.
    comparison = metrics["comparison"]
    assert comparison["players_removed"] == [{"player_id": "p3", "typology": None}]
    assert comparison["players_added"] == []
    sweep = metrics["calibration"]["param"]
    assert [p["value"] for p in sweep["points"]] == [500.0, 1000.0, 1300.0, 2000.0]
    # p2's 500 EUR alerts at 500: both honest players; p3 at 1000; nobody after.
    assert [p["honest_alert_rate"] for p in sweep["points"]] == [1.0, 0.5, 0.0, 0.0]
    assert [p["min_recall"] for p in sweep["points"]] == [0.0, 0.0, 0.0, 0.0]


def test_missing_policy_writes_nothing(
    history: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.pol"
    out = tmp_path / "report"
    assert (
        main(["backtest", "--policy", str(missing), "--data", str(history), "--out", str(out)]) == 1
    )
    captured = capsys.readouterr()
    assert captured.err == f"pitboss backtest: no such policy file or folder: {missing}\n"
    assert not out.exists()


def test_missing_challenger_writes_nothing(
    policy: Path, history: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "other"
    out = tmp_path / "report"
    argv = ["backtest", "--policy", str(policy), "--data", str(history), "--out", str(out)]
    assert main([*argv, "--challenger", str(missing)]) == 1
    assert f"no such policy file or folder: {missing}" in capsys.readouterr().err
    assert not out.exists()


def test_policy_with_errors(
    history: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.pol"
    broken.write_text(BROKEN_POLICY)
    out = tmp_path / "report"
    assert (
        main(["backtest", "--policy", str(broken), "--data", str(history), "--out", str(out)]) == 1
    )
    lines = capsys.readouterr().out.splitlines()
    assert (
        f"{broken}:3:36: error PB202 unknown field or name `amout`; did you mean `amount`?" in lines
    )
    assert not out.exists()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("absent.csv", None, "no such file: {path}"),
        ("history.json", "[]", "{path}: a history is a .csv or .parquet file"),
    ],
)
def test_unreadable_history(
    policy: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: str | None,
    message: str,
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    out = tmp_path / "report"
    assert main(["backtest", "--policy", str(policy), "--data", str(path), "--out", str(out)]) == 1
    assert capsys.readouterr().err == f"pitboss backtest: {message.format(path=path)}\n"
    assert not out.exists()


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        ("big", "--sweep 'big': write POLICY.PARAM=VALUE,VALUE,…"),
        ("big.nope=1,2", "--sweep: policy big has no param nope in market MGA"),
        ("other.large=1", "--sweep: no policy named other in the pack"),
    ],
)
def test_bad_sweep(
    policy: Path,
    history: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    sweep: str,
    message: str,
) -> None:
    out = tmp_path / "report"
    argv = ["backtest", "--policy", str(policy), "--data", str(history), "--out", str(out)]
    assert main([*argv, "--sweep", sweep]) == 1
    assert capsys.readouterr().err.splitlines()[-1].startswith(f"pitboss backtest: {message}")
    assert not out.exists()


def test_scenario_and_data_are_exclusive(policy: Path, history: Path, tmp_path: Path) -> None:
    argv = ["backtest", "--policy", str(policy), "--data", str(history), "--out", str(tmp_path)]
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--scenario", str(DEFAULT_SCENARIO)])
    assert exc.value.code == 2


def test_history_with_no_valid_row(
    policy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "history.csv"
    data.write_text(HEADER + "\ndeposit,e1,p1,yesterday,MGA,100,EUR,\n")
    out = tmp_path / "report"
    status = main(["backtest", "--policy", str(policy), "--data", str(data), "--out", str(out)])
    assert status == 1
    assert "1 bad rows skipped" in capsys.readouterr().err


def test_default_scenario_scaled_down(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    argv = ["backtest", "--policy", str(PACK), "--scenario", str(DEFAULT_SCENARIO)]
    argv += ["--players", "200", "--days", "3", "--out", str(out)]
    started = time.perf_counter()
    assert main(argv) == 0
    assert time.perf_counter() - started < 30
    metrics = read_metrics(out)
    run = metrics["run"]
    assert run["source"] == "scenario default.toml"
    assert run["players"] == 200
    assert run["days"] == 3.0
    assert run["start"] == "2026-01-05T00:00:00Z"
    assert run["end"] == "2026-01-08T00:00:00Z"
    assert run["events"] > 0
    assert run["bad_rows"] == 0
    assert {p["name"] for p in run["policies"]} == {p.stem for p in PACK.glob("*.pol")}
    assert metrics["labelled"] is True
    players = metrics["players"]
    assert players["honest"] + players["bad"] == 200
    assert sum(metrics["decisions"].values()) == run["events"]
    assert sum(metrics["scores"]["honest"]) == players["honest"]
    assert sum(metrics["scores"]["bad"]) == players["bad"]
    assert len(metrics["alerts_per_day"]) == 3
    assert (out / "report.html").stat().st_size > 0
    assert "report: " in capsys.readouterr().out


def test_a_bad_scenario_is_reported_with_its_key(
    policy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "bad.toml"
    scenario.write_text("[scenario]\nplayers = -3\n", encoding="utf-8")
    out = tmp_path / "out"
    argv = ["backtest", "--policy", str(policy), "--scenario", str(scenario), "--out", str(out)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "scenario.players" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_an_unwritable_report_folder_is_reported(
    policy: Path, history: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    argv = ["backtest", "--policy", str(policy), "--data", str(history), "--out", str(blocker)]
    assert main(argv) == 1
    assert "cannot write the report" in capsys.readouterr().err
