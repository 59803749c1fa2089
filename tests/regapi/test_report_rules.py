"""The Prometheus rules shipped for scheduled reports: a late report, a failed run and a
failed delivery each fire, and nothing fires while reports are on time. Checked and
unit-tested with `promtool`; the metric names are the ones the service exports."""

from __future__ import annotations

import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from tests.regapi.test_prometheus_rules import PROMTOOL, needs_promtool

RULES = resources.files("regapi").joinpath("prometheus/report_rules.yml")
HOUR = 3600


def rules() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(RULES.read_text("utf-8"))
    return loaded


def test_the_rules_use_metrics_the_service_exports() -> None:
    from pitboss.service.metrics import Metrics

    m = Metrics()
    m.observe_report("MGA", "daily", "generated", 1.0)
    m.observe_report("MGA", "daily", "failed", 1.0)
    exported = m.render().decode()
    [group] = rules()["groups"]
    alerts = {r["alert"]: r for r in group["rules"]}
    assert set(alerts) == {"ReportLate", "ReportGenerationFailed", "ReportDeliveryFailed"}
    for name in ("report_last_generated_timestamp_seconds", "report_runs_total",
                 "report_generation_duration_seconds_bucket"):  # fmt: skip
        assert f"{name}{{" in exported
    assert "report_deliveries_total" in alerts["ReportDeliveryFailed"]["expr"]


def run_promtool(
    tmp_path: Path, tests: list[dict[str, Any]], *, every: str = "1m"
) -> subprocess.CompletedProcess[str]:
    loaded = rules()
    for rule in loaded["groups"][0]["rules"]:
        rule.pop("annotations", None)  # the wording is not under test
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(loaded))
    doc = {"rule_files": ["rules.yml"], "evaluation_interval": every, "tests": tests}
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(doc))
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, "test", "rules", "tests.yml"], capture_output=True,
                          text=True, check=False, cwd=tmp_path)  # fmt: skip


@needs_promtool
def test_promtool_checks_the_rules(tmp_path: Path) -> None:
    path = tmp_path / "report_rules.yml"
    path.write_text(RULES.read_text("utf-8"))
    assert PROMTOOL is not None
    done = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True,
                          text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 3 rules found" in done.stdout


def late(period: str, generated_h_ago: float, fires: bool) -> dict[str, Any]:
    """A report generated at time 0, evaluated `generated_h_ago` hours later."""
    labels = {"market": "MGA", "period": period}
    minutes = int(generated_h_ago * 60)
    return {
        "interval": "1h",
        "input_series": [{
            "series": f'report_last_generated_timestamp_seconds{{market="MGA",period="{period}"}}',
            "values": f"0x{int(generated_h_ago) + 1}",
        }],
        "alert_rule_test": [{
            "eval_time": f"{minutes}m",
            "alertname": "ReportLate",
            "exp_alerts": [{"exp_labels": {"severity": "critical", **labels}}] if fires else [],
        }],
    }  # fmt: skip


@needs_promtool
def test_a_report_is_late_after_its_gap(tmp_path: Path) -> None:
    cases = [
        late("daily", 29, fires=False),
        late("daily", 31, fires=True),
        late("weekly", 7 * 24, fires=False),
        late("weekly", 7 * 24 + 7, fires=True),
        late("monthly", 31 * 24, fires=False),
        late("monthly", 31 * 24 + 7, fires=True),
    ]
    # Evaluated hourly: a month of minutes would take promtool seconds per case.
    done = run_promtool(tmp_path, cases, every="1h")
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_failures_fire_and_successes_do_not(tmp_path: Path) -> None:
    def counter(name: str, labels: str, values: str, alert: str, fires: bool,
                exp: dict[str, str]) -> dict[str, Any]:  # fmt: skip
        return {
            "interval": "1m",
            "input_series": [{"series": f"{name}{{{labels}}}", "values": values}],
            "alert_rule_test": [{
                "eval_time": "30m", "alertname": alert,
                "exp_alerts": [{"exp_labels": exp}] if fires else [],
            }],
        }  # fmt: skip

    runs = 'market="UKGC",period="monthly",outcome="failed"'
    sent = 'market="CW",channel="sftp",outcome="sent"'
    failed = 'market="CW",channel="sftp",outcome="failed"'
    done = run_promtool(tmp_path, [
        counter("report_runs_total", runs, "0x10 1x30", "ReportGenerationFailed", True,
                {"severity": "warning", "market": "UKGC", "period": "monthly",
                 "outcome": "failed"}),
        counter("report_runs_total", runs, "0x40", "ReportGenerationFailed", False, {}),
        counter("report_deliveries_total", sent, "0+1x40", "ReportDeliveryFailed", False, {}),
        counter("report_deliveries_total", failed, "0x20 1x20", "ReportDeliveryFailed", True,
                {"severity": "critical", "market": "CW", "channel": "sftp", "outcome": "failed"}),
    ])  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
