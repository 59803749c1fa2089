"""The backtest report: a self-contained HTML page, ``metrics.json`` and a terminal summary.

The input is the metrics dict the backtest produces (the ``metrics.json`` schema). Any
part of it may be missing or null — user data without labels has no typologies, a run of
one policy version has no comparison — and the report then says so in a line instead of
failing. Names in it come from user files, so every string is escaped on the way out.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from simulator.report_charts import esc, fmt_value
from simulator.report_figures import (
    alerts_per_day_figure,
    decisions_figure,
    note,
    rules_figure,
    scores_figure,
    sweep_figure,
    typologies_figure,
)
from simulator.report_format import (
    NA,
    Verdict,
    as_dict,
    as_int,
    as_num,
    as_records,
    as_text,
    assess,
    fmt_count,
    fmt_figure,
    fmt_pct,
    fmt_pct_g,
    fmt_ratio,
    fmt_secs,
    fmt_signed,
    targets,
)
from simulator.report_text import summary_table

__all__ = ["json_safe", "render_html", "summary_table", "write_report"]

LIST_CAP = 50  # players added / removed shown in the comparison
SAMPLE_CAP = 20  # bad-row samples shown
SWEEP_ROWS = 30  # calibration points shown in a table


# --- HTML building blocks ----------------------------------------------------------------


class _Html(str):
    """Markup that is already safe; any other cell is escaped."""

    __slots__ = ()


def _cell(value: object) -> str:
    return value if isinstance(value, _Html) else esc(value)


def _table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], *, num: Iterable[int] = ()
) -> str:
    right = set(num)

    def cls(i: int) -> str:
        return ' class="num"' if i in right else ""

    head = "".join(f"<th{cls(i)}>{esc(h)}</th>" for i, h in enumerate(headers))
    body = "\n".join(
        "<tr>" + "".join(f"<td{cls(i)}>{_cell(c)}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return (
        f'<div class="wide"><table>\n<thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{body}\n</tbody>\n</table></div>"
    )


def _section(ident: str, title: str, *body: str) -> str:
    return "\n".join([f'<section id="{ident}">', f"<h2>{esc(title)}</h2>", *body, "</section>"])


def _top(counts: Mapping[str, Any], n: int = 3) -> str:
    pairs = sorted(
        ((k, c) for k, v in counts.items() if (c := as_int(v))), key=lambda p: (-p[1], p[0])
    )
    more = f" +{len(pairs) - n}" if len(pairs) > n else ""
    return ", ".join(f"{k} {c:,}" for k, c in pairs[:n]) + more or NA


# --- HTML sections -------------------------------------------------------------------------


def _h_run(m: Mapping[str, Any]) -> str:
    run = as_dict(m.get("run"))
    policies = as_records(run.get("policies"))
    pol = (
        "<ul>"
        + "".join(
            f"<li><b>{esc(as_text(p.get('name')))}</b> v{esc(fmt_count(p.get('version')))}"
            f" <code>{esc(as_text(p.get('path')))}</code></li>"
            for p in policies
        )
        + "</ul>"
        if policies
        else NA
    )
    secs = as_dict(run.get("seconds"))
    parts = ", ".join(
        f"{k} {fmt_secs(secs.get(k))}" for k in ("load", "encode", "engine", "metrics") if k in secs
    )
    taken = fmt_secs(secs.get("total")) + (f" ({parts})" if parts else "")
    days = as_num(run.get("days"))
    facts = [
        ("Source", esc(as_text(run.get("source")) or NA)),
        ("Policies", pol),
        ("Events", esc(fmt_count(run.get("events")))),
        ("Players", esc(fmt_count(run.get("players")))),
        ("Period", esc(f"{days:g} days" if days is not None else NA)),
        ("From – to", esc(f"{as_text(run.get('start')) or NA} – {as_text(run.get('end')) or NA}")),
        ("Time taken", esc(taken)),
        ("Throughput", esc(f"{fmt_count(run.get('events_per_s'))} events/s")),
        ("Bad rows", esc(fmt_count(run.get("bad_rows")))),
        ("Ground truth", esc("labelled" if m.get("labelled") else "none: no precision or recall")),
    ]
    out = ['<dl class="facts">', *(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts), "</dl>"]
    samples = as_records(run.get("bad_row_samples"))
    if samples:
        rows = [
            (fmt_count(s.get("row")), as_text(s.get("field")), as_text(s.get("reason")))
            for s in samples[:SAMPLE_CAP]
        ]
        out += ["<h3>Bad rows (samples)</h3>", _table(("row", "field", "reason"), rows, num=[0])]
        if len(samples) > SAMPLE_CAP:
            out.append(note(f"and {len(samples) - SAMPLE_CAP:,} more samples"))
    return _section("run", "Run", *out)


def _h_verdict(v: Verdict) -> str:
    marks = {True: "✔ met", False: "✘ missed", None: "? not measured"}
    items = "".join(
        f'<li class="{"met" if ok else "missed" if ok is False else "unknown"}">'
        f"<b>{esc(marks[ok])}</b> — {esc(line)}</li>"
        for ok, line in v.lines
    )
    return (
        f'<section id="verdict" class="verdict {v.status}">\n'
        f"<h2>{esc(v.headline)}</h2>\n<ul>{items}</ul>\n</section>"
    )


def _h_typologies(m: Mapping[str, Any]) -> str:
    typologies = as_records(m.get("typologies"))
    if not m.get("labelled") or not typologies:
        return _section("typologies", "Typologies", note("No typologies: the data has no labels."))
    recall_t, _ = targets(m)
    rows = []
    for t in typologies:
        r = as_num(t.get("recall"))
        mark = "n/a" if r is None else ("pass" if r >= recall_t else "miss")
        rows.append(
            (
                as_text(t.get("typology")),
                fmt_count(t.get("players")),
                fmt_count(t.get("alerted")),
                fmt_ratio(r),
                _Html(f'<span class="{mark.replace("/", "")}">{esc(mark)}</span>'),
                fmt_count(t.get("events")),
                fmt_count(t.get("events_hit")),
                fmt_ratio(t.get("event_recall")),
                _top(as_dict(t.get("rules"))),
            )
        )
    headers = (
        "typology", "players", "alerted", "recall", f"≥ {recall_t:g}",
        "events", "events hit", "event recall", "rules catching most players",
    )  # fmt: skip
    return _section("typologies", "Typologies", _table(headers, rows, num=[1, 2, 3, 5, 6, 7]))


def _h_rules(m: Mapping[str, Any]) -> str:
    rules = as_records(m.get("rules"))
    if not rules:
        return _section("rules", "Rules", note("No rules in the run."))
    rows = [
        (
            as_text(r.get("policy")),
            as_text(r.get("rule")) + (" (shadow)" if r.get("shadow") else ""),
            as_text(r.get("action")),
            fmt_count(r.get("alerts")),
            fmt_count(r.get("players")),
            fmt_count(r.get("tp")),
            fmt_count(r.get("fp")),
            fmt_count(r.get("fn")),
            fmt_ratio(r.get("precision")),
            fmt_ratio(r.get("recall")),
            fmt_ratio(r.get("f1")),
            fmt_ratio(r.get("alert_precision")),
            _top(as_dict(r.get("by_typology"))),
        )
        for r in rules
    ]
    headers = (
        "policy", "rule", "action", "alerts", "players", "TP", "FP", "FN",
        "precision", "recall", "F1", "alert precision", "players by typology",
    )  # fmt: skip
    return _section("rules", "Rules", _table(headers, rows, num=range(3, 12)))


def _h_charts(m: Mapping[str, Any]) -> str:
    return _section(
        "charts",
        "Charts",
        rules_figure(m),
        typologies_figure(m),
        alerts_per_day_figure(m),
        scores_figure(m),
        decisions_figure(m),
    )


def _sweep(
    m: Mapping[str, Any], sweep: Mapping[str, Any], *, ident: str, what: str, unit: str = ""
) -> str:
    """Text, two charts and a table for one sweep (the cut-off or a rule parameter)."""
    recall_t, rate_t = targets(m)
    cal_t = as_num(as_dict(m.get("calibration")).get("target"))
    rate_t = rate_t if cal_t is None else cal_t
    points = sorted(
        (p for p in as_records(sweep.get("points")) if as_num(p.get("value")) is not None),
        key=lambda p: as_num(p.get("value")) or 0.0,
    )
    if not points:
        return note(f"{what}: no points in the sweep.")
    xs = [as_num(p.get("value")) or 0.0 for p in points]
    rates = [as_num(p.get("honest_alert_rate")) for p in points]
    recalls = [as_num(p.get("min_recall")) for p in points]
    chosen = as_num(sweep.get("chosen"))
    # The chosen setting is one of the points; nearest guards against float round-trips.
    at = min(range(len(xs)), key=lambda i: abs(xs[i] - chosen)) if chosen is not None else None
    suffix = f" {unit}" if unit else ""
    if at is None:
        text = (
            f"No {what} chosen: no setting in the sweep keeps honest players alerted "
            f"at or below {fmt_pct_g(rate_t)}."
        )
    else:
        text = (
            f"Chosen {what}: {fmt_value(chosen)}{suffix}, with {fmt_pct(rates[at])} of honest "
            f"players alerted (target ≤ {fmt_pct_g(rate_t)}) and minimum typology recall "
            f"{fmt_ratio(recalls[at])} (target ≥ {recall_t:g})."
        )
    fig = sweep_figure(
        xs, rates, recalls, ident=ident, what=what, unit=unit, chosen=chosen,
        rate_target=rate_t, recall_target=recall_t,
    )  # fmt: skip
    x_label = what + (f" ({unit})" if unit else "")
    typologies = list(dict.fromkeys(k for p in points for k in as_dict(p.get("recall"))))
    keep = sorted(
        {round(i * (len(points) - 1) / max(SWEEP_ROWS - 1, 1)) for i in range(SWEEP_ROWS)}
        | ({at} if at is not None else set())
    )
    rows = [
        (
            _Html(f"<b>{esc(fmt_value(xs[i]))} ◀ chosen</b>" if i == at else esc(fmt_value(xs[i]))),
            fmt_pct(rates[i]),
            fmt_ratio(recalls[i]),
            *(fmt_ratio(as_dict(points[i].get("recall")).get(t)) for t in typologies),
        )
        for i in keep
    ]
    headers = (x_label, "honest alerted", "min recall", *typologies)
    table = _table(headers, rows, num=range(len(headers)))
    shown = note(f"{len(keep)} of {len(points)} points shown.") if len(keep) < len(points) else ""
    return "\n".join([f"<p>{esc(text)}</p>", fig, table, shown])


def _h_calibration(m: Mapping[str, Any]) -> str:
    cal = m.get("calibration")
    if not isinstance(cal, dict):
        return _section("calibration", "Calibration", note("No calibration in this run."))
    kind = as_text(cal.get("kind")) or "cutoff"
    what = "decision cut-off" if kind == "cutoff" else kind
    body = [_sweep(m, cal, ident="chart-sweep", what=what)]
    param = cal.get("param")
    if isinstance(param, dict):
        name = f"{as_text(param.get('policy'))}.{as_text(param.get('param'))}"
        market = as_text(param.get("market"))
        body += [
            f"<h3>Parameter {esc(name)}{esc(f' in {market}' if market else '')}</h3>",
            _sweep(m, param, ident="chart-sweep-param", what=name, unit=as_text(param.get("unit"))),
        ]
    return _section("calibration", "Calibration", *body)


def _players_list(title: str, value: object, *, labelled: bool) -> str:
    players = as_records(value)
    if not players:
        return f"<h3>{esc(title)}</h3>\n" + note("None.")
    plain = "honest" if labelled else NA  # without labels no player is known to be honest
    rows = [(as_text(p.get("player_id")), as_text(p.get("typology")) or plain) for p in players]
    rest = len(players) - LIST_CAP
    more = note(f"and {rest:,} more") if rest > 0 else ""
    head = f"<h3>{esc(f'{title} ({len(players):,})')}</h3>"
    return "\n".join([head, _table(("player", "typology"), rows[:LIST_CAP]), more])


def _h_comparison(m: Mapping[str, Any]) -> str:
    comp = m.get("comparison")
    if not isinstance(comp, dict):
        return _section(
            "comparison", "Champion vs challenger", note("No comparison: one policy set was run.")
        )
    champion, challenger = as_text(comp.get("champion")), as_text(comp.get("challenger"))
    labelled = bool(m.get("labelled"))
    deltas = [
        (
            as_text(d.get("metric")),
            fmt_figure(d.get("champion")),
            fmt_figure(d.get("challenger")),
            fmt_signed(d.get("delta")),
        )
        for d in as_records(comp.get("deltas"))
    ]
    changed = sorted(
        (
            (as_text(r.get("rule")), a, b)
            for r in as_records(comp.get("rules"))
            if (a := as_int(r.get("champion_alerts")) or 0)
            != (b := as_int(r.get("challenger_alerts")) or 0)
        ),
        key=lambda t: (-abs(t[2] - t[1]), t[0]),
    )
    body = [
        f"<p>Champion <b>{esc(champion)}</b> against challenger <b>{esc(challenger)}</b> "
        "on the same events.</p>",
        "<h3>Metric deltas (challenger minus champion)</h3>",
        _table(("metric", champion, challenger, "delta"), deltas, num=[1, 2, 3])
        if deltas
        else note("No metric deltas."),
        _players_list(
            "Players alerted only by the challenger", comp.get("players_added"), labelled=labelled
        ),
        _players_list(
            "Players alerted only by the champion", comp.get("players_removed"), labelled=labelled
        ),
        "<h3>Rules whose alert counts changed</h3>",
        _table(
            ("rule", champion, challenger, "change"),
            [(r, f"{a:,}", f"{b:,}", f"{b - a:+,}") for r, a, b in changed],
            num=[1, 2, 3],
        )
        if changed
        else note("No rule's alert count changed."),
    ]
    return _section("comparison", "Champion vs challenger", *body)


DEFINITIONS = (
    ("Alert", "an event whose decision is not allow."),
    ("Alerted player", "a player any of whose events is an alert."),
    (
        "Recall of a typology",
        "labelled players of that typology alerted / labelled players of that typology.",
    ),
    ("Honest alert rate", "honest players alerted / honest players (friction)."),
    (
        "Per rule, player level",
        "TP = labelled-bad players on whom the rule fired; FP = honest players on whom it "
        "fired; FN = labelled-bad players it never fired on; precision = TP / (TP + FP), "
        "recall = TP / (TP + FN), F1 their harmonic mean.",
    ),
    (
        "Alert-level precision",
        "the rule's hits on events labelled with a typology / all its hits.",
    ),
    ("—", "undefined, e.g. the precision of a rule that never fired, or no labels."),
)


def _h_definitions() -> str:
    items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in DEFINITIONS)
    return f'<footer id="definitions">\n<h2>Definitions</h2>\n<dl>{items}</dl>\n</footer>'


CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: #222; margin: 0 auto; padding: 1.5rem; max-width: 1000px; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; } h2 { font-size: 1.2rem; margin: 2rem 0 .5rem;
  border-bottom: 1px solid #ccc; } h3 { font-size: 1rem; margin: 1.25rem 0 .4rem; }
nav { font-size: .9rem; } nav a { margin-right: .8rem; color: #0072B2; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dl.facts dt { font-weight: 600; } dl.facts dd { margin: 0; } dl.facts ul { margin: 0;
  padding-left: 1.1rem; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .85rem; }
th, td { border-bottom: 1px solid #e3e3e3; padding: .25rem .5rem; text-align: left;
  vertical-align: top; }
th { background: #f4f4f4; } td.num, th.num { text-align: right;
  font-variant-numeric: tabular-nums; }
.wide { overflow-x: auto; }
.verdict { border: 1px solid #ccc; border-left: 8px solid #999; padding: .5rem 1rem;
  margin-top: 1.5rem; } .verdict h2 { border: 0; margin: .3rem 0; }
.verdict.met { border-left-color: #009E73; } .verdict.missed { border-left-color: #D55E00; }
.verdict ul { margin: .3rem 0; padding-left: 1.1rem; }
li.missed b, span.miss { color: #D55E00; } li.met b, span.pass { color: #007a5a; }
.note { color: #666; font-style: italic; }
figure { margin: 1rem 0; } figure svg { max-width: 100%; height: auto; }
figure.pair { display: flex; flex-wrap: wrap; gap: .5rem; }
figure.pair figcaption { flex-basis: 100%; }
figcaption { color: #555; font-size: .85rem; }
footer { margin-top: 2rem; font-size: .85rem; color: #444; }
footer dt { font-weight: 600; } footer dd { margin: 0 0 .3rem 1rem; }
code { font-size: .85em; }
@media print {
  body { max-width: none; padding: 0; } nav { display: none; } .wide { overflow: visible; }
  figure, table, .verdict, dl { break-inside: avoid; } h2, h3 { break-after: avoid; }
}
"""


def render_html(metrics: Mapping[str, Any]) -> str:
    """The report as one self-contained HTML page: inline CSS and SVG, no script, no network."""
    m = metrics
    run = as_dict(m.get("run"))
    title = f"Pitboss backtest — {as_text(run.get('source')) or 'report'}"
    nav = " ".join(
        f'<a href="#{k}">{v}</a>'
        for k, v in (
            ("verdict", "Verdict"), ("typologies", "Typologies"), ("rules", "Rules"),
            ("charts", "Charts"), ("calibration", "Calibration"),
            ("comparison", "Champion vs challenger"), ("definitions", "Definitions"),
        )
    )  # fmt: skip
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>{esc(title)}</h1>",
        f"<nav>{nav}</nav>",
        "</header>",
        "<main>",
        _h_verdict(assess(m)),
        _h_run(m),
        _h_typologies(m),
        _h_rules(m),
        _h_charts(m),
        _h_calibration(m),
        _h_comparison(m),
        "</main>",
        _h_definitions(),
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


# --- files -----------------------------------------------------------------------------------


def json_safe(value: Any) -> Any:
    """The value with NaN and infinities as None and NumPy scalars/arrays as plain Python."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k if isinstance(k, str) else str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    tolist = getattr(value, "tolist", None)  # NumPy scalars and arrays
    if callable(tolist):
        return json_safe(tolist())
    if isinstance(value, numbers.Real):
        return json_safe(float(value))
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"metrics hold a {type(value).__name__}, which has no JSON form")


def write_report(metrics: Mapping[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write ``report.html`` and ``metrics.json`` into out_dir; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path, json_path = out_dir / "report.html", out_dir / "metrics.json"
    text = json.dumps(json_safe(metrics), indent=2, sort_keys=False, allow_nan=False)
    json_path.write_text(text + "\n", encoding="utf-8")
    html_path.write_text(render_html(metrics), encoding="utf-8")
    return html_path, json_path
