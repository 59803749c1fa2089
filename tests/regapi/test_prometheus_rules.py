"""The Prometheus rules shipped for the regulator API's response-time SLA: well formed,
and firing when (and only when) the p99 of /regulator/* is over 1 s or over 30 s.

`promtool` (Debian package `prometheus`) checks and unit-tests them; without it only the
structural check runs."""

from __future__ import annotations

import shutil
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

RULES = resources.files("regapi").joinpath("prometheus/rules.yml")
# On PATH, or where `make test` unpacks it (Makefile: PROMTOOL).
PROMTOOL = shutil.which("promtool") or shutil.which(
    "promtool", path=str(Path(__file__).resolve().parents[2] / ".tools" / "bin")
)
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")
ROUTE = 'route="/regulator/logs/{type}",method="GET",status="200"'


def rules() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(RULES.read_text("utf-8"))
    return loaded


def test_rules_are_package_data_with_both_alerts() -> None:
    [group] = rules()["groups"]
    alerts = {r["alert"]: r for r in group["rules"] if "alert" in r}
    assert set(alerts) == {"RegulatorQueriesBreachSLA", "RegulatorQueriesSlow"}
    assert alerts["RegulatorQueriesBreachSLA"]["labels"]["severity"] == "critical"
    assert alerts["RegulatorQueriesSlow"]["labels"]["severity"] == "warning"
    for rule in group["rules"]:
        assert set(rule) <= {"alert", "record", "expr", "for", "labels", "annotations"}
        assert ("alert" in rule) != ("record" in rule)
        assert isinstance(rule["expr"], str)
        assert rule["expr"].strip()
    # The thresholds are bucket bounds of the histogram the service exports.
    from pitboss.service.metrics import _API_BUCKETS

    assert 1 in _API_BUCKETS
    assert 30 in _API_BUCKETS
    exprs = " ".join(r["expr"] for r in group["rules"])
    assert 'le="1.0"' in exprs
    assert 'le="30.0"' in exprs


@needs_promtool
def test_promtool_checks_the_rules(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_text(RULES.read_text("utf-8"))
    done = subprocess.run(
        [str(PROMTOOL), "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 5 rules found" in done.stdout


def series(per_minute_within_1s: int, per_minute_within_30s: int, per_minute: int) -> list[Any]:
    """Counters growing each minute: answered within 1 s, within 30 s, all."""
    return [
        {"series": f'api_response_time_seconds_bucket{{{ROUTE},le="1.0"}}',
         "values": f"0+{per_minute_within_1s}x30"},
        {"series": f'api_response_time_seconds_bucket{{{ROUTE},le="30.0"}}',
         "values": f"0+{per_minute_within_30s}x30"},
        {"series": f"api_response_time_seconds_count{{{ROUTE}}}",
         "values": f"0+{per_minute}x30"},
        # Other routes are not the regulator's: slow as they are, they change nothing.
        {"series": 'api_response_time_seconds_bucket{route="/v1/events",le="30.0"}',
         "values": "0+0x30"},
        {"series": 'api_response_time_seconds_count{route="/v1/events"}',
         "values": "0+100x30"},
    ]  # fmt: skip


def case(within_1s: int, within_30s: int, critical: bool, warning: bool) -> dict[str, Any]:
    def expected(fires: bool, severity: str) -> list[dict[str, Any]]:
        return [{"exp_labels": {"severity": severity}}] if fires else []

    return {
        "interval": "1m",
        "input_series": series(within_1s, within_30s, 100),
        "alert_rule_test": [
            {"eval_time": "15m", "alertname": "RegulatorQueriesBreachSLA",
             "exp_alerts": expected(critical, "critical")},
            {"eval_time": "15m", "alertname": "RegulatorQueriesSlow",
             "exp_alerts": expected(warning, "warning")},
        ],
    }  # fmt: skip


@needs_promtool
def test_the_alerts_fire_on_their_thresholds(tmp_path: Path) -> None:
    loaded = rules()
    for rule in loaded["groups"][0]["rules"]:
        rule.pop("annotations", None)  # the wording is not under test
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(loaded))
    tests = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            case(100, 100, critical=False, warning=False),  # all within 1 s
            case(99, 100, critical=False, warning=False),  # p99 exactly at 1 s
            case(95, 100, critical=False, warning=True),  # p99 between 1 s and 30 s
            case(90, 99, critical=False, warning=True),  # p99 exactly at 30 s
            case(50, 98, critical=True, warning=True),  # 2 % over 30 s
        ],
    }
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests))
    done = subprocess.run(
        [str(PROMTOOL), "test", "rules", "tests.yml"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
