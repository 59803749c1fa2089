"""The backtest report: HTML page, metrics.json and terminal summary from a metrics dict."""

from __future__ import annotations

import copy
import json
import math
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from simulator.report import json_safe, render_html, summary_table, write_report
from simulator.report_charts import Scale

XSS = "<script>alert(1)</script>"
TYPOLOGIES = ("structuring", "stolen_card", "collusion", "chasing_losses")
RECALL = {"structuring": 0.975, "stolen_card": 0.92, "collusion": 0.83, "chasing_losses": None}


def _points(values: list[float]) -> list[dict[str, Any]]:
    return [
        {
            "value": v,
            "honest_alert_rate": 0.2 / (1 + v),
            "min_recall": max(0.0, 1 - v / 100),
            "recall": {t: max(0.0, 1 - v / (100 + i)) for i, t in enumerate(TYPOLOGIES)},
        }
        for v in values
    ]


def _rule(policy: str, name: str, alerts: int, tp: int, fp: int) -> dict[str, Any]:
    fired = tp + fp
    precision = tp / fired if fired else None
    recall = tp / 200
    return {
        "policy": policy,
        "rule": name,
        "action": "review",
        "shadow": name == "night_owl",
        "alerts": alerts,
        "players": fired,
        "tp": tp,
        "fp": fp,
        "fn": 200 - tp,
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision else None,
        "alert_tp": tp * 2,
        "alert_fp": fp,
        "alert_precision": (tp * 2 / (tp * 2 + fp)) if fired else None,
        "by_typology": {"structuring": tp // 2, "collusion": tp - tp // 2} if tp else {},
    }


@pytest.fixture
def metrics() -> dict[str, Any]:
    """A labelled run with every section present, one typology missing its target."""
    return {
        "run": {
            "source": "scenario default.toml",
            "policies": [
                {"name": "aml_core", "version": 3, "path": "policies/aml_core.pol"},
                {"name": "fraud_core", "version": 2, "path": "policies/fraud_core.pol"},
            ],
            "events": 1_234_567,
            "players": 20_000,
            "days": 30.0,
            "start": "2025-01-01T00:00:00Z",
            "end": "2025-01-31T00:00:00Z",
            "seconds": {"load": 1.5, "encode": 0.4, "engine": 6.1, "metrics": 0.7, "total": 8.7},
            "events_per_s": 141_904.3,
            "bad_rows": 2,
            "bad_row_samples": [
                {"row": 17, "field": "amount", "reason": "not an integer"},
                {"row": 99, "field": "ts", "reason": "not RFC 3339"},
            ],
        },
        "target": {"honest_alert_rate": 0.01, "recall": 0.9},
        "labelled": True,
        "players": {
            "honest": 19_800,
            "honest_alerted": 160,
            "honest_alert_rate": 160 / 19_800,
            "bad": 200,
            "bad_alerted": 181,
            "alerted": 341,
        },
        "typologies": [
            {
                "typology": t,
                "players": 0 if RECALL[t] is None else 50,
                "alerted": 0 if RECALL[t] is None else round(50 * (RECALL[t] or 0)),
                "recall": RECALL[t],
                "events": 400,
                "events_hit": 300,
                "event_recall": 0.75,
                "rules": {"structuring": 30, "pass_through": 9},
            }
            for t in TYPOLOGIES
        ],
        "rules": [
            _rule("aml_core", "structuring", 420, 90, 20),
            _rule("aml_core", "pass_through", 0, 0, 0),
            _rule("fraud_core", "night_owl", 3000, 5, 900),
        ],
        "decisions": {
            "allow": 1_230_000,
            "limit": 2000,
            "review": 2400,
            "hold_payment": 150,
            "block": 17,
        },
        "scores": {
            "edges": [0.0, 10.0, 20.0, 30.0, 40.0],
            "honest": [19_000, 600, 190, 10],
            "bad": [10, 20, 70, 100],
        },
        "alerts_per_day": [
            {
                "day": f"2025-01-{d:02d}",
                "alerts": 150 + d,
                "players": 12 + d % 3,
                "honest_players": d % 4,
            }
            for d in range(1, 31)
        ],
        "calibration": {
            "target": 0.01,
            "kind": "cutoff",
            "chosen": 20.0,
            "points": _points([float(v) for v in range(5, 100, 5)]),
            "param": {
                "policy": "aml_core",
                "param": "large_deposit",
                "market": "UKGC",
                "chosen": 1500.0,
                "unit": "EUR",
                "points": _points([500.0, 1000.0, 1500.0, 2000.0]),
            },
        },
        "comparison": {
            "champion": "aml_core v3",
            "challenger": "aml_core v4",
            "deltas": [
                {
                    "metric": "honest_alert_rate",
                    "champion": 0.0081,
                    "challenger": 0.0093,
                    "delta": 0.0012,
                },
                {"metric": "alerts", "champion": 5567, "challenger": 5480, "delta": -87},
                {"metric": "min_recall", "champion": None, "challenger": 0.8, "delta": None},
            ],
            "players_added": [
                {"player_id": f"p{i:05d}", "typology": "collusion" if i % 7 == 0 else None}
                for i in range(73)
            ],
            "players_removed": [{"player_id": "p99999", "typology": None}],
            "rules": [
                {"rule": "structuring", "champion_alerts": 420, "challenger_alerts": 380},
                {"rule": "night_owl", "champion_alerts": 3000, "challenger_alerts": 3000},
            ],
        },
    }


@pytest.fixture
def unlabelled(metrics: dict[str, Any]) -> dict[str, Any]:
    """A user's own history: no ground truth, no comparison, nothing per day."""
    m = copy.deepcopy(metrics)
    m["run"]["source"] = "data events.csv"
    m["labelled"] = False
    m["typologies"] = []
    for r in m["rules"]:
        r |= dict.fromkeys(("tp", "fp", "fn", "precision", "recall", "f1"), None)
        r |= {"alert_tp": None, "alert_fp": None, "alert_precision": None, "by_typology": {}}
    m["players"] |= {"bad": 0, "bad_alerted": 0}
    m["scores"]["bad"] = [0, 0, 0, 0]
    m["alerts_per_day"] = []
    for p in m["calibration"]["points"]:
        p |= {"min_recall": None, "recall": {}}
    m["calibration"]["param"] = None
    m["comparison"] = None
    return m


class _Balance(HTMLParser):
    """Fails on an end tag that does not close the innermost open element."""

    VOID = frozenset({"meta", "br", "hr", "img", "input", "link", "col", "wbr", "source"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.ids += [v for k, v in attrs if k == "id" and v]
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.ids += [v for k, v in attrs if k == "id" and v]

    def handle_endtag(self, tag: str) -> None:
        assert self.stack, f"</{tag}> with nothing open"
        assert self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1]}>"
        self.stack.pop()


def _parse(page: str) -> _Balance:
    parser = _Balance()
    parser.feed(page)
    parser.close()
    assert parser.stack == []
    return parser


def _svgs(page: str) -> list[ET.Element]:
    return [ET.fromstring(s) for s in re.findall(r"<svg\b.*?</svg>", page, flags=re.S)]


def test_full_report_is_well_formed_with_every_section_and_chart(metrics: dict[str, Any]) -> None:
    page = render_html(metrics)
    assert page.startswith("<!DOCTYPE html>")
    ids = set(_parse(page).ids)
    sections = {"verdict", "run", "typologies", "rules", "charts", "calibration", "comparison"}
    charts = {
        "chart-rules",
        "chart-typologies",
        "chart-sweep",
        "chart-sweep-param",
        "chart-alerts-per-day",
        "chart-scores",
        "chart-decisions",
    }
    assert sections | charts | {"definitions"} <= ids
    svgs = _svgs(page)
    assert len(svgs) == 10  # alerts per day and both sweeps draw two panels
    for svg in svgs:
        assert svg.find("title") is not None
        tips = [
            el for el in svg.iter() if el.tag in {"rect", "circle"} and el.find("title") is not None
        ]
        assert tips, ET.tostring(svg)[:200]
        assert any(el.tag == "text" for el in svg.iter())


def test_report_is_self_contained(metrics: dict[str, Any]) -> None:
    page = render_html(metrics)
    assert "http://" not in page
    assert "https://" not in page
    assert "<script" not in page
    assert "url(" not in page
    assert "@import" not in page


def test_names_from_policy_files_are_escaped(metrics: dict[str, Any]) -> None:
    metrics["rules"][0]["rule"] = XSS
    metrics["rules"][1]["policy"] = '"><img src=x onerror=alert(1)>'
    metrics["typologies"][0]["typology"] = XSS
    metrics["typologies"][1]["rules"] = {XSS: 3}
    metrics["run"]["policies"][0]["name"] = XSS
    metrics["comparison"]["rules"][0]["rule"] = XSS
    metrics["comparison"]["players_added"][0]["player_id"] = XSS
    page = render_html(metrics)
    assert "<script" not in page
    assert "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    _parse(page)
    for svg in _svgs(page):  # still parseable XML with the names in tooltips
        assert svg.tag == "svg"


def test_verdict_names_the_typology_that_missed(metrics: dict[str, Any]) -> None:
    page = render_html(metrics)
    assert "recall ≥ 0.9 on every typology: missed on collusion (0.83)" in page
    assert "Targets missed" in page
    assert "honest players alerted ≤ 1 %: met (0.81 %, 160 of 19,800)" in page


def test_verdict_met_and_a_near_miss_is_not_rounded_onto_the_target(
    metrics: dict[str, Any],
) -> None:
    metrics["typologies"][2]["recall"] = 0.95
    assert "Targets met" in render_html(metrics)
    metrics["typologies"][2]["recall"] = 0.8996
    assert "missed on collusion (0.8996)" in render_html(metrics)


def test_unlabelled_metrics_render_with_notes(unlabelled: dict[str, Any]) -> None:
    page = render_html(unlabelled)
    ids = set(_parse(page).ids)
    assert {"chart-rules", "chart-typologies", "chart-alerts-per-day"}.isdisjoint(ids)
    assert {"chart-scores", "chart-decisions", "chart-sweep"} <= ids
    assert "No typologies: the data has no labels." in page
    assert "No comparison" in page
    assert "Alerts over time: no days with data." in page
    assert "Targets not fully measured" in page
    for svg in _svgs(page):
        assert svg.tag == "svg"
    text = summary_table(unlabelled)
    assert "Typologies: none, the data has no labels." in text


@pytest.mark.parametrize(
    "metrics_in",
    [
        {},
        {"run": None, "typologies": None, "rules": None, "calibration": None, "scores": None},
        {"labelled": True, "typologies": [{"typology": "x", "recall": float("nan")}]},
        {"scores": {"edges": [0.0], "honest": [], "bad": []}, "alerts_per_day": [{}]},
        {"calibration": {"chosen": None, "points": [{"value": 1.0}], "param": {"points": []}}},
        {"decisions": {"allow": 0, "review": 0}, "rules": [{"rule": None, "alerts": None}]},
    ],
)
def test_sparse_or_broken_metrics_never_crash(metrics_in: dict[str, Any]) -> None:
    page = render_html(metrics_in)
    _parse(page)
    for svg in _svgs(page):
        assert svg.tag == "svg"
    assert summary_table(metrics_in)


def _refuse(token: str) -> float:
    raise AssertionError(f"{token} reached metrics.json")


def test_write_report_writes_both_files_without_nan(
    metrics: dict[str, Any], tmp_path: Path
) -> None:
    metrics["rules"][1]["precision"] = float("nan")
    metrics["players"]["honest_alert_rate"] = float("inf")
    metrics["calibration"]["points"][0]["recall"]["structuring"] = float("-inf")
    html_path, json_path = write_report(metrics, tmp_path / "out")
    assert html_path == tmp_path / "out" / "report.html"
    assert json_path == tmp_path / "out" / "metrics.json"
    data = json.loads(json_path.read_text(encoding="utf-8"), parse_constant=_refuse)
    assert data["rules"][1]["precision"] is None
    assert data["players"]["honest_alert_rate"] is None
    assert data["calibration"]["points"][0]["recall"]["structuring"] is None
    assert list(data) == list(metrics)  # key order kept
    assert data["run"]["events_per_s"] == 141_904.3
    _parse(html_path.read_text(encoding="utf-8"))


def test_json_safe_converts_numpy_like_values() -> None:
    class Scalar:
        def __init__(self, v: float) -> None:
            self.v = v

        def tolist(self) -> float:
            return self.v

    assert json_safe({"a": Scalar(math.nan), 1: (Scalar(2.5), True)}) == {
        "a": None,
        "1": [2.5, True],
    }
    with pytest.raises(TypeError, match="object"):
        json_safe({"a": object()})


def test_summary_table_marks_each_typology_against_the_target(metrics: dict[str, Any]) -> None:
    text = summary_table(metrics)
    lines = text.splitlines()

    def row(name: str) -> str:
        return next(line for line in lines if line.startswith(name + " "))

    assert row("structuring").endswith("pass")
    assert row("stolen_card").endswith("pass")
    assert row("collusion").endswith("MISS")
    assert "0.830" in row("collusion")
    assert ">= 0.9" in row("collusion")
    assert row("chasing_losses").rstrip().endswith("-")  # no players: not measured
    assert "Honest players alerted: 160 of 19,800 = 0.81 %  (target <= 1 %)  pass" in text
    assert "[MISS] recall >= 0.9 on every typology: missed on collusion (0.83)" in text
    for name in ("aml_core.structuring", "fraud_core.night_owl (shadow)", "aml_core.pass_through"):
        assert name in text
    assert re.search(r"^review\s+2,400\s+0\.19 %$", text, flags=re.M)
    assert "Champion aml_core v3 vs challenger aml_core v4:" in text
    assert re.search(r"^alerts\s+5,567\s+5,480\s+-87$", text, flags=re.M)
    assert "Players added 73, removed 1; rules with changed alert counts 1" in text
    assert text.isascii()


def test_summary_table_drops_control_characters_from_names(metrics: dict[str, Any]) -> None:
    metrics["rules"][0]["rule"] = "evil\x1b[2Jrule"
    text = summary_table(metrics)
    assert "\x1b" not in text
    assert "evil[2Jrule" in text


def test_comparison_caps_player_lists_and_lists_changed_rules(metrics: dict[str, Any]) -> None:
    page = render_html(metrics)
    comparison = page[page.index('<section id="comparison">') :]
    comparison = comparison[: comparison.index("</section>")]
    assert "and 23 more" in comparison
    assert comparison.count("<td>p000") == 50
    assert "p99999" in comparison
    assert "structuring" in comparison
    assert "night_owl" not in comparison  # unchanged counts are left out
    assert '<td class="num">-40</td>' in comparison


def test_calibration_reports_the_chosen_cutoff(metrics: dict[str, Any]) -> None:
    page = render_html(metrics)
    assert "Chosen decision cut-off: 20, with 0.95 % of honest players alerted" in page
    assert "Chosen aml_core.large_deposit: 1,500 EUR" in page
    assert "◀ chosen" in page
    metrics["calibration"]["chosen"] = None
    assert "No decision cut-off chosen" in render_html(metrics)


@pytest.mark.parametrize(
    ("values", "ticks"),
    [
        ([0.0, 0.93], [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        ([3.0, 17.0], [0, 5, 10, 15, 20]),
        ([], [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
    ],
)
def test_linear_scale_ticks_are_round(values: list[float], ticks: list[float]) -> None:
    assert Scale.fit(values).ticks() == pytest.approx(ticks)


def test_log_scale_keeps_a_count_of_one_above_the_baseline() -> None:
    scale = Scale.fit_log([1.0, 19_000.0])
    assert scale.log
    assert scale.ticks() == [1.0, 10.0, 100.0, 1000.0, 10_000.0, 100_000.0]
    assert 0 < scale.frac(1.0) < 0.1
    assert scale.frac(0.0) == 0.0
