"""The report's figures: which chart shows which part of the metrics.

Each function takes the metrics (or one sweep) and returns a ``<figure>`` holding inline
SVG, or a one-line note when the data for it is absent.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from simulator.report_charts import (
    BLUE,
    GREEN,
    ORANGE,
    PURPLE,
    SKY,
    VERMILLION,
    LegendItem,
    Ref,
    Scale,
    Series,
    esc,
    fmt_tick,
    fmt_value,
    hbar_chart,
    histogram_chart,
    line_chart,
    wants_log,
)
from simulator.report_format import (
    as_dict,
    as_num,
    as_records,
    as_text,
    decision_counts,
    fmt_pct_g,
    fmt_share,
    rule_label,
    targets,
)

DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
DECISION_COLOURS = {
    "allow": SKY,
    "limit": ORANGE,
    "lower_limits": ORANGE,
    "review": BLUE,
    "hold_payment": PURPLE,
    "block": VERMILLION,
}


def note(text: str) -> str:
    """A one-line note standing in for a figure or a section whose data is absent."""
    return f'<p class="note">{esc(text)}</p>'


def figure(ident: str, svg: str, caption: str) -> str:
    return f'<figure id="{ident}">\n{svg}\n<figcaption>{esc(caption)}</figcaption>\n</figure>'


def rules_figure(m: Mapping[str, Any]) -> str:
    rules = as_records(m.get("rules"))
    precision = [as_num(r.get("precision")) for r in rules]
    recall = [as_num(r.get("recall")) for r in rules]
    if not m.get("labelled") or all(v is None for v in precision + recall):
        return note("Precision and recall per rule: not measured, the data has no labels.")
    svg = hbar_chart(
        title="Precision and recall per rule (player level)",
        categories=[rule_label(r) for r in rules],
        series=[Series("precision", precision, BLUE), Series("recall", recall, ORANGE)],
        scale=Scale.exact(0, 1),
        axis_label="precision, recall (player level)",
    )
    return figure("chart-rules", svg, "Precision and recall per rule, player level.")


def typologies_figure(m: Mapping[str, Any]) -> str:
    typologies = as_records(m.get("typologies"))
    if not m.get("labelled") or not typologies:
        return note("Recall per typology: not measured, the data has no labels.")
    recall_t, _ = targets(m)
    recall = [as_num(t.get("recall")) for t in typologies]
    colours = [VERMILLION if r is not None and r < recall_t else BLUE for r in recall]
    svg = hbar_chart(
        title="Recall per typology against the target",
        categories=[as_text(t.get("typology")) for t in typologies],
        series=[Series("recall", recall, BLUE, colours)],
        scale=Scale.exact(0, 1),
        axis_label="recall (labelled players alerted / labelled players)",
        refs=[Ref(recall_t, f"target {recall_t:g}")],
        legend=[LegendItem("meets target", BLUE), LegendItem("below target", VERMILLION)],
    )
    return figure("chart-typologies", svg, f"Recall per typology; the dashed line is {recall_t:g}.")


def alerts_per_day_figure(m: Mapping[str, Any]) -> str:
    """Alert events in one panel, players alerted (all and honest) in another: events run
    an order of magnitude above players and would flatten them on a shared axis."""
    days = as_records(m.get("alerts_per_day"))
    if not days:
        return note("Alerts over time: no days with data.")
    labels = [as_text(d.get("day")) for d in days]
    years = {label[:4] for label in labels}
    dated = len(years) == 1 and all(DAY.fullmatch(label) for label in labels)
    x_label = f"day ({years.pop()})" if dated else "day"
    n = len(days)

    def day(x: float) -> str:
        i = round(x)
        if not (0 <= i < n and abs(x - i) < 1e-9):
            return ""
        return labels[i][5:] if dated else labels[i]

    def panel(title: str, series: list[Series]) -> str:
        values = [v for s in series for v in s.values]
        return line_chart(
            title=title,
            xs=list(range(n)),
            series=series,
            x_scale=Scale(0, max(n - 1, 1), step=max(1, math.ceil((n - 1) / 6))),
            y_scale=Scale.fit_log(values) if wants_log(values) else Scale.fit(values),
            x_label=x_label,
            y_label="per day",
            x_fmt=day,
            width=470,
        )

    def column(key: str) -> list[float | None]:
        return [as_num(d.get(key)) for d in days]

    events = panel("Alert events per day", [Series("alert events", column("alerts"), BLUE)])
    players = panel(
        "Players alerted per day",
        [
            Series("players alerted", column("players"), ORANGE),
            Series("honest players alerted", column("honest_players"), VERMILLION),
        ],
    )
    return (
        '<figure id="chart-alerts-per-day" class="pair">\n'
        f"{events}\n{players}\n"
        "<figcaption>Alert events, and players alerted (all and honest), per day.</figcaption>"
        "\n</figure>"
    )


def scores_figure(m: Mapping[str, Any]) -> str:
    scores = as_dict(m.get("scores"))
    edges = [e for e in (as_num(x) for x in scores.get("edges") or []) if e is not None]
    honest = [as_num(x) for x in scores.get("honest") or []]
    bad = [as_num(x) for x in scores.get("bad") or []]
    if len(edges) < 2 or not honest:
        return note("Score histogram: no scores recorded.")
    series = [Series("honest", honest, BLUE)]
    if m.get("labelled") and any(b for b in bad):
        series.append(Series("labelled bad", bad, VERMILLION))
    values = [v for s in series for v in s.values]
    svg = histogram_chart(
        title="Highest score per player, honest vs labelled bad",
        edges=edges,
        series=series,
        x_label="the player's highest total score on one event",
        y_label="players",
        log_y=wants_log(values, 20),
    )
    if not svg:
        return note("Score histogram: edges and counts do not match.")
    caption = "Each player's highest total score over the history"
    return figure(
        "chart-scores",
        svg,
        caption + ("; honest and labelled-bad side by side." if len(series) > 1 else "."),
    )


def decisions_figure(m: Mapping[str, Any]) -> str:
    decisions = decision_counts(m)
    total = sum(n for _, n in decisions)
    if not total:
        return note("Decision distribution: no decisions recorded.")
    counts = [float(n) for _, n in decisions]

    def label(v: float) -> str:
        return f"{int(v):,} ({fmt_share(v, total)})"

    svg = hbar_chart(
        title="Decision distribution (events)",
        categories=[k for k, _ in decisions],
        series=[
            Series("events", counts, BLUE, [DECISION_COLOURS.get(k, GREEN) for k, _ in decisions])
        ],
        scale=Scale.fit_log(counts) if wants_log(counts) else Scale.fit(counts),
        axis_label="events" + (" (log scale)" if wants_log(counts) else ""),
        legend=[],
        value_fmt=label,
    )
    return figure("chart-decisions", svg, "Decisions over all events.")


def sweep_figure(
    xs: Sequence[float],
    rates: Sequence[float | None],
    recalls: Sequence[float | None],
    *,
    ident: str,
    what: str,
    unit: str,
    chosen: float | None,
    rate_target: float,
    recall_target: float,
) -> str:
    """Honest alert rate and minimum recall against a swept setting, side by side."""
    suffix = f" {unit}" if unit else ""
    x_refs = [] if chosen is None else [Ref(chosen, f"chosen {fmt_value(chosen)}{suffix}", GREEN)]
    x_scale = Scale.fit(xs, zero=False)
    x_label = what + (f" ({unit})" if unit else "")
    rate_values = [*rates, rate_target]
    charts = [
        line_chart(
            title=f"Honest players alerted vs {what}",
            xs=xs,
            series=[Series("honest alert rate", rates, BLUE)],
            x_scale=x_scale,
            y_scale=Scale.fit_log(rate_values) if wants_log(rate_values) else Scale.fit(rates),
            x_label=x_label,
            y_label="honest players alerted",
            x_refs=x_refs,
            y_refs=[Ref(rate_target, f"target {fmt_pct_g(rate_target)}")],
            y_fmt=lambda v: f"{fmt_tick(v * 100)} %",
            value_fmt=lambda v: f"{v * 100:.3g} %",
            width=470,
        )
    ]
    if any(r is not None for r in recalls):
        charts.append(
            line_chart(
                title=f"Minimum typology recall vs {what}",
                xs=xs,
                series=[Series("min recall", recalls, ORANGE)],
                x_scale=x_scale,
                y_scale=Scale.exact(0, 1),
                x_label=x_label,
                y_label="min recall over typologies",
                x_refs=x_refs,
                y_refs=[Ref(recall_target, f"target {recall_target:g}")],
                width=470,
            )
        )
    caption = (
        f"Sweep of {what}: honest players alerted and minimum typology recall; dashed lines"
        f" mark the targets{' and the chosen setting' if x_refs else ''}."
    )
    return (
        f'<figure id="{ident}" class="pair">\n'
        + "\n".join(charts)
        + f"\n<figcaption>{esc(caption)}</figcaption>\n</figure>"
    )
