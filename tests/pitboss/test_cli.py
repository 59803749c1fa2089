"""`pitboss check` and `pitboss fmt` as an author runs them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pitboss.cli import main

REPO = Path(__file__).resolve().parents[2]
PACK = REPO / "policies"

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
    assert "checked 2 files: 1 error, 2 warnings" in capsys.readouterr().out


def test_missing_list_file_is_an_error(pack: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (pack / "lists" / "high_risk_countries.txt").unlink()
    assert main(["check", str(pack)]) == 1
    assert "PB601 cannot read list file lists/high_risk_countries.txt" in capsys.readouterr().out


def test_no_policy_files_is_a_usage_error(tmp_path: Path) -> None:
    assert main(["check", str(tmp_path)]) == 2


@pytest.mark.parametrize("command", ["check", "fmt"])
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
    assert "checked 1 file: 0 errors, 0 warnings" in done.stdout
