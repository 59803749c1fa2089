"""The backtest summary for the terminal: fixed-width, ASCII for our own symbols."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from simulator.report_format import (
    NA,
    as_dict,
    as_int,
    as_num,
    as_records,
    as_text,
    assess,
    decision_counts,
    fmt_count,
    fmt_figure,
    fmt_pct,
    fmt_pct_g,
    fmt_ratio,
    fmt_secs,
    fmt_share,
    fmt_signed,
    rule_label,
    targets,
)

_ASCII = str.maketrans({"—": "-", "–": "-", "≥": ">=", "≤": "<=", "…": "..."})
TEXT_NAME_MAX = 40


def _plain(text: str) -> str:
    """Terminal-safe: ASCII for our own symbols, control characters from names dropped."""
    text = text.translate(_ASCII)
    return "".join(c for c in text if c == "\n" or unicodedata.category(c) != "Cc")


def _clip(text: str) -> str:
    return text if len(text) <= TEXT_NAME_MAX else text[: TEXT_NAME_MAX - 3] + "..."


def _text_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, left: int = 1
) -> list[str]:
    """Fixed-width columns; the first ``left`` columns align left, the rest right."""
    cells = [[_plain(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < left else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()

    return [line(cells[0]), line(["-" * w for w in widths]), *(line(r) for r in cells[1:])]


def summary_table(metrics: Mapping[str, Any]) -> str:
    """A plain-text summary for the terminal: targets, typologies, rules, decisions, deltas."""
    m = metrics
    run = as_dict(m.get("run"))
    recall_t, rate_t = targets(m)
    policies = ", ".join(
        f"{as_text(p.get('name'))} v{fmt_count(p.get('version'))}"
        for p in as_records(run.get("policies"))
    )
    secs = as_dict(run.get("seconds"))
    out = [
        f"Pitboss backtest: {as_text(run.get('source')) or NA}",
        f"Policies: {policies or NA}",
        f"Events {fmt_count(run.get('events'))} | players {fmt_count(run.get('players'))}"
        f" | {fmt_ratio(run.get('days'), 1)} days | {fmt_secs(secs.get('total'))}"
        f" | {fmt_count(run.get('events_per_s'))} events/s"
        f" | bad rows {fmt_count(run.get('bad_rows'))}",
        "",
    ]
    verdict = assess(m)
    marks = {True: "[pass]", False: "[MISS]", None: "[ -- ]"}
    out += [f"{verdict.headline}:", *(f"  {marks[ok]} {line}" for ok, line in verdict.lines), ""]

    typologies = as_records(m.get("typologies"))
    if m.get("labelled") and typologies:
        rows = []
        for t in typologies:
            r = as_num(t.get("recall"))
            mark = NA if r is None else ("pass" if r >= recall_t else "MISS")
            rows.append(
                [
                    _clip(as_text(t.get("typology"))),
                    fmt_count(t.get("players")),
                    fmt_count(t.get("alerted")),
                    fmt_ratio(r),
                    f">= {recall_t:g}",
                    mark,
                ]
            )
        out += _text_table(("typology", "players", "alerted", "recall", "target", ""), rows)
    else:
        out.append("Typologies: none, the data has no labels.")
    players = as_dict(m.get("players"))
    rate = as_num(players.get("honest_alert_rate"))
    mark = NA if rate is None else ("pass" if rate <= rate_t else "MISS")
    out += [
        "",
        f"Honest players alerted: {fmt_count(players.get('honest_alerted'))} of "
        f"{fmt_count(players.get('honest'))} = {fmt_pct(rate)}"
        f"  (target <= {fmt_pct_g(rate_t)})  {mark}",
        "",
    ]

    rules = as_records(m.get("rules"))
    if rules:
        rows = [
            [
                _clip(rule_label(r)),
                fmt_count(r.get("alerts")),
                fmt_count(r.get("players")),
                fmt_ratio(r.get("precision")),
                fmt_ratio(r.get("recall")),
                fmt_ratio(r.get("f1")),
            ]
            for r in rules
        ]
        out += _text_table(("rule", "alerts", "players", "precision", "recall", "F1"), rows)
    else:
        out.append("Rules: none.")

    decisions = decision_counts(m)
    total = sum(n for _, n in decisions)
    if decisions:
        rows = [[k, f"{n:,}", fmt_share(n, total)] for k, n in decisions]
        out += ["", *_text_table(("decision", "events", "share"), rows)]

    comp = m.get("comparison")
    if isinstance(comp, dict):
        champion, challenger = as_text(comp.get("champion")), as_text(comp.get("challenger"))
        rows = [
            [
                _clip(as_text(d.get("metric"))),
                fmt_figure(d.get("champion")),
                fmt_figure(d.get("challenger")),
                fmt_signed(d.get("delta")),
            ]
            for d in as_records(comp.get("deltas"))
        ]
        changed = sum(
            (as_int(r.get("champion_alerts")) or 0) != (as_int(r.get("challenger_alerts")) or 0)
            for r in as_records(comp.get("rules"))
        )
        out += ["", f"Champion {champion} vs challenger {challenger}:"]
        if rows:
            out += _text_table(("metric", "champion", "challenger", "delta"), rows)
        out.append(
            f"Players added {len(as_records(comp.get('players_added'))):,}, removed "
            f"{len(as_records(comp.get('players_removed'))):,}; rules with changed alert counts "
            f"{changed:,}"
        )
    return _plain("\n".join(out)) + "\n"
