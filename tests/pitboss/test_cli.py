"""`pitboss check`, `fmt`, `test` and `explain` as an author runs them."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pitboss.cli import main

REPO = Path(__file__).resolve().parents[2]
PACK = REPO / "policies"
PACK_FILES = len(list(PACK.rglob("*.pol")))

TYPO_POLICY = """\
policy demo version 1 for MGA
param large_deposit: money = 2000 EUR
rule big {
  on deposit
  when amout >= large_deposit
  score 40
}
"""


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    """A copy of the shipped pack that a test may change."""
    target = tmp_path / "policies"
    shutil.copytree(PACK, target)
    return target


def test_check_shipped_pack_is_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--strict", str(PACK)]) == 0
    assert capsys.readouterr().out.strip().endswith("0 errors, 0 warnings")


def test_typo_prints_location_caret_and_suggestion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "demo.pol"
    policy.write_text(TYPO_POLICY)
    assert main(["check", str(policy)]) == 1
    lines = capsys.readouterr().out.splitlines()
    at = next(i for i, line in enumerate(lines) if " error " in line)
    assert lines[at] == (
        f"{policy}:5:8: error PB202 unknown field or name `amout`; did you mean `amount`?"
    )
    assert lines[at + 1] == "      when amout >= large_deposit"
    assert lines[at + 2] == "           ^~~~~"
    assert lines[-1] == "checked 1 file: 1 error, 2 warnings"


def test_warnings_fail_only_with_strict(tmp_path: Path) -> None:
    policy = tmp_path / "demo.pol"
    policy.write_text(TYPO_POLICY.replace("amout", "amount"))
    assert main(["check", str(policy)]) == 0
    assert main(["check", "--strict", str(policy)]) == 1


def test_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "demo.pol"
    policy.write_text(TYPO_POLICY)
    assert main(["check", "--json", str(policy)]) == 1
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    errors = [r for r in records if r["severity"] == "error"]
    assert errors == [
        {
            "path": str(policy),
            "line": 5,
            "col": 8,
            "end_line": 5,
            "end_col": 13,
            "severity": "error",
            "code": "PB202",
            "message": "unknown field or name `amout`",
            "hint": "amount",
            "markets": [],
        }
    ]


def test_syntax_error_is_reported_not_raised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "bad.pol"
    policy.write_text("policy p version 1\nrule r { on deposit whn amount > 5 }\n")
    assert main(["check", str(policy)]) == 1
    out = capsys.readouterr().out
    assert f"{policy}:2:21: error PB100 unexpected `whn`" in out
    assert "did you mean `when`?" in out


def test_every_file_in_a_folder_is_checked(pack: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (pack / "extra.pol").write_text(TYPO_POLICY)
    assert main(["check", str(pack)]) == 1
    assert f"checked {PACK_FILES + 1} files: 1 error, 2 warnings" in capsys.readouterr().out


def test_missing_list_file_is_an_error(pack: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (pack / "lists" / "high_risk_countries.txt").unlink()
    assert main(["check", str(pack)]) == 1
    assert "PB601 cannot read list file lists/high_risk_countries.txt" in capsys.readouterr().out


def test_no_policy_files_is_a_usage_error(tmp_path: Path) -> None:
    assert main(["check", str(tmp_path)]) == 2


@pytest.mark.parametrize("command", ["check", "fmt", "test"])
def test_missing_path_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    assert main([command, str(tmp_path / "nope.pol")]) == 2
    assert f"pitboss {command}: no such file or folder" in capsys.readouterr().err


def test_undecodable_file_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "latin1.pol"
    policy.write_bytes("policy caf\xe9 version 1".encode("latin-1"))
    assert main(["check", str(policy)]) == 1
    assert "cannot read the file" in capsys.readouterr().err


def test_output_into_a_closed_pipe_is_quiet(tmp_path: Path) -> None:
    """`pitboss check … | head`: the reader leaves long before the output ends."""
    rules = "\n".join(
        f"rule r{i} {{ on deposit when amount > 5 EUR score 1 }}" for i in range(3000)
    )
    policy = tmp_path / "many.pol"
    policy.write_text(f"policy many version 1 for MGA\n{rules}\n")  # 6000 warnings, ~0.5 MB
    done = subprocess.run(
        f"{sys.executable} -m pitboss.cli check {policy} | head -c 1",
        shell=True,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.stdout == tmp_path.as_posix()[0]
    assert "Traceback" not in done.stderr, done.stderr


def test_fmt_prints_canonical_layout_and_check_flags_drift(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "demo.pol"
    policy.write_text(TYPO_POLICY.replace("  on deposit", "  on   deposit"))
    assert main(["fmt", str(policy)]) == 0
    canonical = capsys.readouterr().out
    assert "  on deposit\n" in canonical
    assert main(["fmt", "--check", str(policy)]) == 1
    policy.write_text(canonical)
    assert main(["fmt", "--check", str(policy)]) == 0


def test_console_script_runs_in_a_subprocess() -> None:
    """The installed entry point, as a user runs it."""
    script = Path(sys.executable).parent / "pitboss"
    done = subprocess.run(
        [str(script), "check", str(PACK)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"checked {PACK_FILES} files: 0 errors, 0 warnings" in done.stdout


# Every test below compiles this one policy (its tests are not part of the kernel), so the
# kernel cache makes all but the first compilation cheap.
DEMO_POLICY = """\
policy demo version 1 for MGA

param many: int = 3

rule rapid_deposits "several deposits within an hour" {
  on deposit
  when count(deposit over 1h) >= many
  score 40
  severity high
  action review
  reason "{count} deposits in one hour"
}

rule big_hour {
  on deposit
  when sum(deposit.amount over 1h) as total >= 1000 EUR
  score 30
  mode shadow
  reason "{total} deposited in one hour"
}

decide { score >= 40 -> review; else allow }

test "three deposits in an hour are reviewed" {
  at 0m deposit amount=100 EUR
  expect rapid_deposits does not fire
  at 10m deposit amount=100 EUR
  at 20m deposit amount=900 EUR
  expect rapid_deposits fires
  expect rapid_deposits.count == 3
  expect big_hour fires
  expect decision review
}
"""

FAILING_TEST = """
test "wrong on purpose" {
  at 0m deposit amount=100 EUR
  at 1m deposit amount=100 EUR
  at 2m deposit amount=100 EUR
  expect rapid_deposits.count == 4
  expect decision block
}
"""


def _deposit(event_id: str, ts: str, cents: int) -> str:
    return json.dumps(
        {
            "type": "deposit",
            "event_id": event_id,
            "player_id": "p1",
            "ts": ts,
            "market": "MGA",
            "amount": cents,
            "currency": "EUR",
        }
    )


EVENTS = [
    _deposit("e1", "2026-01-01T12:00:00Z", 10_000),
    json.dumps(
        {
            "type": "login",
            "event_id": "e2",
            "player_id": "p1",
            "ts": "2026-01-01T12:05:00Z",
            "market": "MGA",
        }
    ),
    _deposit("e3", "2026-01-01T12:10:00.250Z", 10_000),
    _deposit("e4", "2026-01-01T12:20:00Z", 90_000),
]


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    policy = tmp_path / "demo.pol"
    policy.write_text(DEMO_POLICY)
    return policy


@pytest.fixture
def events(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(EVENTS) + "\n")
    return path


def test_test_runs_policies_under_the_current_folder_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "demo.pol").write_text(DEMO_POLICY)
    monkeypatch.chdir(tmp_path)
    assert main(["test"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "PASS policies/demo.pol:24  three deposits in an hour are reviewed",
        "1 passed, 0 failed",
    ]


def test_failing_test_shows_each_reason_and_fails(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo.write_text(DEMO_POLICY + FAILING_TEST)
    assert main(["test", str(demo)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"PASS {demo}:24  three deposits in an hour are reviewed",
        f"FAIL {demo}:35  wrong on purpose",
        "    line 39, after the event at 2m: expected rapid_deposits.count == 4, got 3"
        ' (count=3; reason "3 deposits in one hour")',
        "    line 40, after the event at 2m: expected decision block, got review"
        " (score 40; fired: rapid_deposits (+40, review))",
        "1 passed, 1 failed",
    ]


def test_k_selects_tests_by_name(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    demo.write_text(DEMO_POLICY + FAILING_TEST)
    assert main(["test", "-k", "THREE", str(demo)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"PASS {demo}:24  three deposits in an hour are reviewed",
        "1 passed, 0 failed",
    ]


def test_k_matching_nothing_is_a_usage_error(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["test", "-k", "nothing like it", str(demo)]) == 2
    assert "pitboss test: no test name contains 'nothing like it'" in capsys.readouterr().err


def test_test_json_output(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    demo.write_text(DEMO_POLICY + FAILING_TEST)
    assert main(["test", "--json", str(demo)]) == 1
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert records[0] == {
        "path": str(demo),
        "line": 24,
        "policy": "demo",
        "name": "three deposits in an hour are reviewed",
        "passed": True,
        "failures": [],
    }
    assert records[1]["passed"] is False
    assert len(records[1]["failures"]) == 2
    assert records[2] == {"summary": {"passed": 1, "failed": 1, "files_with_errors": 0}}


def test_policy_with_errors_is_reported_and_fails(
    tmp_path: Path, demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "typo.pol").write_text(TYPO_POLICY)
    assert main(["test", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"{tmp_path / 'typo.pol'}:5:8: error PB202 unknown field or name `amout`" in out
    assert "warning" not in out  # the tests are not run, so what they miss is beside the point
    assert out.splitlines()[-1] == "1 passed, 0 failed, 1 file not run"


def test_test_without_policy_files_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["test", str(tmp_path)]) == 2
    assert f"pitboss test: no .pol files in {tmp_path}" in capsys.readouterr().err


def test_shipped_pack_passes_its_own_tests(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["test", str(PACK)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert out.splitlines()[-1].endswith(" passed, 0 failed")


def test_explain_shows_decisions_hits_and_reasons(
    demo: Path, events: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", str(demo), str(events)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "2026-01-01T12:00:00Z  deposit  e1  player p1  MGA  → allow  (score 0)",
        "2026-01-01T12:05:00Z  login  e2  player p1  MGA  → allow  (score 0)",
        "2026-01-01T12:10:00.250Z  deposit  e3  player p1  MGA  → allow  (score 0)",
        "2026-01-01T12:20:00Z  deposit  e4  player p1  MGA  → review  (score 40)",
        "  +40 rapid_deposits [demo, high] review: 3 deposits in one hour",
        "      count=3",
        "  +30 big_hour [demo] (shadow): 1100.00 EUR deposited in one hour",
        "      total=1100.00 EUR",
    ]


def test_explain_json_only_hits_from_stdin(
    tmp_path: Path,
    demo: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stdin = io.TextIOWrapper(io.BytesIO("\n".join(EVENTS).encode()))
    monkeypatch.setattr(sys, "stdin", stdin)
    assert main(["explain", "--json", "--only-hits", str(tmp_path), "-"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    decision = json.loads(line)
    assert decision["event_id"] == "e4"
    assert decision["action"] == "review"
    assert decision["policies"] == {"demo": "review"}
    assert [h["rule"] for h in decision["hits"]] == ["rapid_deposits"]
    assert decision["hits"][0]["values"] == {"count": 3}
    assert [h["rule"] for h in decision["shadow"]] == ["big_hour"]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            _deposit("e9", "2026-01-01T12:30:00Z", -5),
            "events.jsonl:3: field `amount`: Expected `int` >= 0",
        ),
        (
            _deposit("e9", "2026-01-01T12:30:00Z", 5).replace('"MGA"', '"XX"'),
            "events.jsonl:3: field `market`: 'XX' is not a known market",
        ),
        (
            _deposit("e9", "2026-01-01T12:30:00Z", 5).replace(', "amount": 5', ""),
            "events.jsonl:3: Object missing required field `amount`",
        ),
        ("{not json", "events.jsonl:3: not valid JSON"),
    ],
)
def test_explain_reports_a_bad_event_by_line_and_field(
    demo: Path, events: Path, capsys: pytest.CaptureFixture[str], bad: str, message: str
) -> None:
    events.write_text(f"{EVENTS[0]}\n\n{bad}\n{EVENTS[1]}\n")
    assert main(["explain", str(demo), str(events)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"{events.parent / message}"), err


def test_explain_reports_policy_errors(
    tmp_path: Path, demo: Path, events: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "typo.pol").write_text(TYPO_POLICY)
    assert main(["explain", str(tmp_path), str(events)]) == 1
    out = capsys.readouterr().out
    assert f"{tmp_path / 'typo.pol'}:5:8: error PB202 unknown field or name `amout`" in out
    assert "           ^~~~~" in out


@pytest.mark.parametrize(
    ("policy", "events_file", "message"),
    [
        ("nope.pol", "events.jsonl", "no such file or folder: "),
        ("demo.pol", "nope.jsonl", "no such file: "),
        (".", "events.jsonl", "no .pol files in "),
    ],
)
def test_explain_usage_errors(
    tmp_path: Path,
    events: Path,
    capsys: pytest.CaptureFixture[str],
    policy: str,
    events_file: str,
    message: str,
) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "demo.pol").write_text(DEMO_POLICY)
    policy_path = tmp_path / ("empty" if policy == "." else policy)
    argv = ["explain", str(policy_path), str(tmp_path / events_file)]
    assert main(argv) == 2
    assert f"pitboss explain: {message}" in capsys.readouterr().err
