"""Reading and formatting the backtest metrics, shared by the HTML page and the terminal.

Any part of the metrics may be missing, null or NaN; the readers here turn all of those into
None and the formatters into a dash, so that the report never fails on absent data.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

NA = "—"
DECISION_ORDER = ("allow", "limit", "lower_limits", "review", "hold_payment", "block")

# --- reading the metrics: everything may be absent, null or NaN -------------------------


def as_num(value: object) -> float | None:
    """A finite number, or None for null, NaN, infinities, booleans and anything else."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def as_int(value: object) -> int | None:
    f = as_num(value)
    return None if f is None else int(f)


def as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_records(value: object) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def as_text(value: object) -> str:
    return "" if value is None else str(value)


def targets(m: Mapping[str, Any]) -> tuple[float, float]:
    """(recall target, honest alert rate target), with the issue's figures as defaults."""
    target = as_dict(m.get("target"))
    recall, rate = as_num(target.get("recall")), as_num(target.get("honest_alert_rate"))
    return (0.9 if recall is None else recall), (0.01 if rate is None else rate)


def rule_label(rule: Mapping[str, Any]) -> str:
    name = f"{as_text(rule.get('policy'))}.{as_text(rule.get('rule'))}".strip(".")
    return name + (" (shadow)" if rule.get("shadow") else "")


# --- formatting: plain text, escaped where it enters HTML -------------------------------


def fmt_count(value: object) -> str:
    n = as_int(value)
    return NA if n is None else f"{n:,}"


def fmt_ratio(value: object, digits: int = 3) -> str:
    x = as_num(value)
    return NA if x is None else f"{x:.{digits}f}"


def fmt_pct(value: object, digits: int = 2) -> str:
    x = as_num(value)
    return NA if x is None else f"{x * 100:.{digits}f} %"


def fmt_pct_g(value: float) -> str:
    return f"{value * 100:g} %"


def fmt_share(part: float, whole: float) -> str:
    """A share in per cent that never shows a non-zero part as 0.00 %."""
    if not whole:
        return NA
    share = part / whole * 100
    return "< 0.01 %" if 0 < share < 0.01 else f"{share:.2f} %"


def fmt_secs(value: object) -> str:
    x = as_num(value)
    return NA if x is None else (f"{x:.2f} s" if x < 10 else f"{x:,.1f} s")


def fmt_signed(value: object) -> str:
    x = as_num(value)
    if x is None:
        return NA
    if x == int(x):
        return f"{int(x):+,}"
    return f"{x:+.4g}"


def fmt_figure(value: object) -> str:
    """A metric of unknown kind (a count or a ratio) for the deltas table."""
    x = as_num(value)
    if x is None:
        return NA
    return f"{int(x):,}" if x == int(x) else f"{x:.4g}"


def fmt_against(value: float, target: float) -> str:
    """Two decimals, or more when two would round a miss up onto the target (0.899)."""
    for digits in (2, 3, 4):
        text = f"{value:.{digits}f}"
        if (float(text) >= target) == (value >= target):
            return text
    return f"{value:.6g}"


# --- the verdict, shared by the page and the terminal ---------------------------------


@dataclass(frozen=True)
class Verdict:
    status: Literal["met", "missed", "unknown"]
    lines: list[tuple[bool | None, str]]  # (target met, sentence); None when not measured

    @property
    def headline(self) -> str:
        return {
            "met": "Targets met",
            "missed": "Targets missed",
            "unknown": "Targets not fully measured",
        }[self.status]


def assess(m: Mapping[str, Any]) -> Verdict:
    recall_t, rate_t = targets(m)
    lines: list[tuple[bool | None, str]] = []
    head = f"recall ≥ {recall_t:g} on every typology"
    typologies = as_records(m.get("typologies"))
    if m.get("labelled") and typologies:
        measured = [
            (as_text(t.get("typology")), r)
            for t in typologies
            if (r := as_num(t.get("recall"))) is not None
        ]
        missed = [(name, r) for name, r in measured if r < recall_t]
        if missed:
            named = ", ".join(f"{name} ({fmt_against(r, recall_t)})" for name, r in missed)
            lines.append((False, f"{head}: missed on {named}"))
        elif measured:
            name, r = min(measured, key=lambda p: p[1])
            lines.append((True, f"{head}: met (lowest {name} {fmt_against(r, recall_t)})"))
        else:
            lines.append((None, f"{head}: not measured, no labelled players"))
    else:
        lines.append((None, f"{head}: not measured, the data has no labels"))
    players = as_dict(m.get("players"))
    rate = as_num(players.get("honest_alert_rate"))
    who = "honest players alerted" if m.get("labelled") else "players alerted (no labels)"
    head = f"{who} ≤ {fmt_pct_g(rate_t)}"
    if rate is None:
        lines.append((None, f"{head}: not measured"))
    else:
        ok = rate <= rate_t
        of = f"{fmt_count(players.get('honest_alerted'))} of {fmt_count(players.get('honest'))}"
        lines.append((ok, f"{head}: {'met' if ok else 'missed'} ({fmt_pct(rate)}, {of})"))
    flags = [ok for ok, _ in lines]
    status: Literal["met", "missed", "unknown"] = (
        "missed" if False in flags else "met" if all(flags) else "unknown"
    )
    return Verdict(status, lines)


def decision_counts(m: Mapping[str, Any]) -> list[tuple[str, int]]:
    raw = as_dict(m.get("decisions"))
    names = [k for k in DECISION_ORDER if k in raw] + [k for k in raw if k not in DECISION_ORDER]
    return [(k, as_int(raw[k]) or 0) for k in names]
