"""A report as a PDF for people: the header a regulator files it under, the period's
totals, a bar chart of GGR per day and a table for each section.

Only the PDF standard fonts (Helvetica), so no font file ships; they cover Western
European text (WinAnsi: "Curaçao", "€"), and a character beyond it prints as a box. The XML
and CSV files carry every figure and label exactly; this one is their readable view.

The same data gives the same bytes: reportlab's invariant mode leaves out the clock and
random ids, and the document's creation date is the report's `generated_at`.
"""

from __future__ import annotations

import functools
import io
from datetime import UTC, date, datetime
from hashlib import md5
from typing import Any, Final
from xml.sax.saxutils import escape

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from dsl.vocabulary import minor_units
from regapi.reports.model import ReportData
from regapi.reports.templates import Template, template

_MARGIN: Final = 18 * mm
_WIDTH: Final = A4[0] - 2 * _MARGIN
_FONT: Final = "Helvetica"
_BOLD: Final = "Helvetica-Bold"
_HEAD_FILL: Final = colors.HexColor("#1f3a5f")
_ROW_FILL: Final = colors.HexColor("#f2f4f7")
_GAIN: Final = colors.HexColor("#2e6da4")
_LOSS: Final = colors.HexColor("#c0392b")

_styles = getSampleStyleSheet()
_TITLE: Final = ParagraphStyle("ReportTitle", _styles["Title"], fontName=_BOLD, fontSize=17)
_HEADING: Final = ParagraphStyle(
    "ReportHeading", _styles["Heading2"], fontName=_BOLD, fontSize=12, spaceBefore=10
)
_BODY: Final = ParagraphStyle("ReportBody", _styles["Normal"], fontName=_FONT, fontSize=9)
# A word wider than its cell (a long game id) is split rather than overflowing it.
_CELL: Final = ParagraphStyle("ReportCell", _BODY, fontSize=8, leading=10, splitLongWords=1)
_NUMBER: Final = ParagraphStyle("ReportNumber", _CELL, alignment=TA_RIGHT)
_HEAD: Final = ParagraphStyle("ReportHead", _CELL, fontName=_BOLD, textColor=colors.white)
_HEAD_NUMBER: Final = ParagraphStyle("ReportHeadNumber", _HEAD, alignment=TA_RIGHT)


def format_money(amount: int, currency: str) -> str:
    """Minor units as the currency writes them: `-1,234.56 EUR`, `1,500 JPY`."""
    units = minor_units(currency)
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), 10**units)
    if units == 0:
        return f"{sign}{whole:,} {currency}"
    return f"{sign}{whole:,}.{fraction:0{units}d} {currency}"


def render_pdf(data: ReportData) -> bytes:
    """The report as a PDF (A4, page numbers in the footer)."""
    t = template(data.market)
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=_MARGIN,
        rightMargin=_MARGIN,
        topMargin=_MARGIN,
        bottomMargin=_MARGIN + 4 * mm,
        title=f"{t.title}, {data.period}",
        author=data.operator.name,
        subject=f"{data.market_name} report {data.period}, revision {data.revision}",
        creator="Pitboss",
        invariant=1,
    )
    footer = f"{data.market} {data.period} · {t.licence_label} {data.operator.licence}"
    if data.revision > 1:
        footer += f" · revision {data.revision}"
    canvasmaker = functools.partial(_NumberedCanvas, footer=footer, created=data.generated_at)
    doc.build(_story(data, t), canvasmaker=canvasmaker)
    return buffer.getvalue()


def _story(data: ReportData, t: Template) -> list[Flowable]:
    base, ggr = data.base_currency, t.ggr_label
    last_day = date.fromordinal(data.end.toordinal() - 1)
    story: list[Flowable] = [
        Paragraph(_text(t.title), _TITLE),
        _key_values(
            [
                ("Operator", data.operator.name),
                (t.licence_label, data.operator.licence),
                ("Regulator", data.market_name),
                ("Period", f"{data.period} ({data.start.isoformat()} to {last_day.isoformat()})"),
                ("Time zone", data.timezone),
                ("Base currency", base),
                ("Generated at", _utc(data.generated_at)),
                ("Revision", str(data.revision)),
                ("Events", f"{data.events:,}"),
            ]
        ),
        _heading("Summary"),
        _note(f"Totals of the period in {base}; payments count when approved."),
    ]
    totals = data.financial.totals
    story.append(
        _table(
            ["Figure", f"Amount ({base})"],
            [
                ["Deposits", format_money(totals.deposits, base)],
                ["Withdrawals", format_money(totals.withdrawals, base)],
                ["Chargebacks", format_money(totals.chargebacks, base)],
                ["Stakes", format_money(totals.stakes, base)],
                ["Wins", format_money(totals.wins, base)],
                [_ggr_name(ggr), format_money(totals.ggr, base)],
            ],
            widths=[0.6, 0.4],
            numeric=1,
        )
    )

    daily = data.financial.daily
    story.append(_heading(f"Daily {ggr}"))
    if daily:
        story.append(_chart(data, ggr))
    story.append(
        _table(
            ["Day", f"{ggr} ({base})"],
            [[d.day.isoformat(), format_money(d.ggr_base, base)] for d in daily],
            widths=[0.6, 0.4],
            numeric=1,
        )
    )

    story.append(_heading("Payments"))
    story.append(
        _table(
            ["Direction", "Method", "Status", "Count", "Amount", f"Amount ({base})"],
            [
                [
                    p.direction,
                    p.method or "–",
                    p.status or "–",
                    f"{p.count:,}",
                    format_money(p.amount, p.currency),
                    format_money(p.amount_base, base),
                ]
                for p in data.financial.payments
            ],
            widths=[0.14, 0.16, 0.14, 0.12, 0.22, 0.22],
            numeric=3,
        )
    )

    story.append(_heading("Gaming"))
    story.append(
        _table(
            ["Game kind", "Bets", "Stakes", "Wins", ggr, f"{ggr} ({base})"],
            [
                [
                    g.game_kind or "–",
                    f"{g.bets:,}",
                    format_money(g.stakes, g.currency),
                    format_money(g.wins, g.currency),
                    format_money(g.ggr, g.currency),
                    format_money(g.ggr_base, base),
                ]
                for g in data.financial.gaming
            ],
            widths=[0.12, 0.12, 0.19, 0.19, 0.19, 0.19],
            numeric=1,
        )
    )

    fairness = data.fairness
    story.append(_heading("Game fairness (RNG)"))
    story.append(
        _note(
            f"A check with a p-value under {fairness.threshold:g} counts as an anomaly. "
            f"RNG anomaly incidents opened in the period: {fairness.incidents:,}."
        )
    )
    story.append(
        _table(
            ["Game", "Checks", "Anomalies"],
            [[r.game_id, f"{r.checks:,}", f"{r.anomalies:,}"] for r in fairness.games],
            widths=[0.6, 0.2, 0.2],
            numeric=1,
        )
    )

    kyc = data.kyc_aml
    story.append(_heading("KYC and AML"))
    story.append(
        _note(
            f"Active players: {kyc.active_players:,}. "
            f"Suspicious activity reports filed: {kyc.sars_filed:,}."
        )
    )
    story.append(
        _table(
            ["KYC level", "Status", "Updates"],
            [[str(v.level), v.status or "–", f"{v.count:,}"] for v in kyc.verifications],
            widths=[0.3, 0.4, 0.3],
            numeric=2,
        )
    )
    story.append(Spacer(1, 3 * mm))
    story.append(
        _table(
            ["Alert family", "Severity", "Alerts"],
            [[a.family, a.severity, f"{a.count:,}"] for a in kyc.alerts],
            widths=[0.4, 0.3, 0.3],
            numeric=2,
        )
    )
    story.append(Spacer(1, 3 * mm))
    story.append(
        _table(
            ["Case outcome", "Cases"],
            [[c.outcome, f"{c.count:,}"] for c in kyc.cases],
            widths=[0.7, 0.3],
            numeric=1,
        )
    )

    story.append(_heading("Incidents"))
    story.append(
        _table(
            ["Kind", "Priority", "Opened", "Closed by period end"],
            [[i.kind, str(i.priority), f"{i.opened:,}", f"{i.closed:,}"] for i in data.incidents],
            widths=[0.4, 0.15, 0.15, 0.3],
            numeric=1,
        )
    )

    responsible = data.responsible
    story.append(_heading("Responsible gambling"))
    story.append(_note(f"Self-exclusions: {responsible.self_exclusions:,}."))
    story.append(
        _table(
            ["Limit kind", "Changes"],
            [[limit.limit_kind or "–", f"{limit.count:,}"] for limit in responsible.limits],
            widths=[0.7, 0.3],
            numeric=1,
        )
    )
    return story


# Building blocks


def _text(value: str) -> str:
    # Paragraphs read a small markup language; data is never markup.
    return escape(value)


def _heading(text: str) -> Paragraph:
    return Paragraph(_text(text), _HEADING)


def _note(text: str) -> Paragraph:
    return Paragraph(_text(text), _BODY)


def _ggr_name(label: str) -> str:
    return "Gross gambling yield (GGY)" if label == "GGY" else "Gross gaming revenue (GGR)"


def _utc(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"generated_at: {value.isoformat()} has no time zone (expected UTC)")
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _key_values(rows: list[tuple[str, str]]) -> Table:
    table = Table(
        [[Paragraph(_text(k), _CELL), Paragraph(_text(v), _CELL)] for k, v in rows],
        colWidths=[0.25 * _WIDTH, 0.75 * _WIDTH],
    )
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (0, -1), _BOLD),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.lightgrey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def _table(
    head: list[str], rows: list[list[str]], *, widths: list[float], numeric: int
) -> Flowable:
    """A table with a header row that repeats on each page; columns from `numeric` on
    are right-aligned. An empty section says so instead of showing an empty table."""
    if not rows:
        return _note("None in the period.")

    def cells(values: list[str], text: ParagraphStyle, number: ParagraphStyle) -> list[Any]:
        return [Paragraph(_text(v), number if i >= numeric else text) for i, v in enumerate(values)]

    table = Table(
        [cells(head, _HEAD, _HEAD_NUMBER), *(cells(r, _CELL, _NUMBER) for r in rows)],
        colWidths=[w * _WIDTH for w in widths],
        repeatRows=1,
    )
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), _HEAD_FILL),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, _ROW_FILL]),
                ("LINEBELOW", (0, -1), (-1, -1), 0.5, _HEAD_FILL),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    return table


def _chart(data: ReportData, ggr: str) -> Flowable:
    """GGR per day in the base currency, losing days in red."""
    base = data.base_currency
    scale = 10 ** minor_units(base)
    daily = data.financial.daily
    values = [d.ggr_base / scale for d in daily]
    drawing = Drawing(_WIDTH, 62 * mm)
    chart = VerticalBarChart()
    chart.x, chart.y = 18 * mm, 10 * mm
    chart.width, chart.height = _WIDTH - 22 * mm, 44 * mm
    chart.data = [values]
    chart.barSpacing = 1
    chart.bars[0].fillColor = _GAIN
    chart.bars[0].strokeColor = None
    for i, value in enumerate(values):
        if value < 0:
            chart.bars[(0, i)].fillColor = _LOSS
    # Whole dates for a week or less; past that, the day of the month is enough.
    chart.categoryAxis.categoryNames = [
        d.day.isoformat() if len(daily) <= 7 else f"{d.day.day:02d}" for d in daily
    ]
    chart.categoryAxis.labels.fontName = _FONT
    chart.categoryAxis.labels.fontSize = 6
    chart.categoryAxis.labels.boxAnchor = "n"
    chart.categoryAxis.visibleTicks = False
    # Day labels under the plot, not on the zero line a losing day's bar crosses.
    chart.categoryAxis.joinAxisMode = "bottom"
    chart.valueAxis.labels.fontName = _FONT
    chart.valueAxis.labels.fontSize = 6
    chart.valueAxis.labelTextFormat = lambda v: f"{v:,.0f}"
    chart.valueAxis.gridStrokeColor = colors.lightgrey
    chart.valueAxis.visibleGrid = True
    chart.valueAxis.rangeRound = "both"
    if all(v == 0 for v in values):
        # Without a range the axis cannot be scaled; show an empty 0..1 chart.
        chart.valueAxis.valueMin, chart.valueAxis.valueMax = 0, 1
        chart.valueAxis.valueStep = 1
    elif max(values) - min(values) < 10:
        # Small amounts: ticks fall between whole units.
        chart.valueAxis.labelTextFormat = lambda v: f"{v:,.2f}"
    drawing.add(chart)
    drawing.add(String(0, 58 * mm, f"{ggr} per day ({base})", fontName=_BOLD, fontSize=9))
    return KeepTogether([drawing])


class _NumberedCanvas(Canvas):  # type: ignore[misc]
    """Holds the pages back until the end, so each footer can say "page 2 of 5"; dates
    the document by the report rather than by the clock."""

    def __init__(self, *args: Any, footer: str, created: datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._footer = footer
        self._pages: list[dict[str, Any]] = []
        _date_document(self, created)

    def showPage(self) -> None:  # noqa: N802 (reportlab's name)
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for number, page in enumerate(self._pages, start=1):
            self.__dict__.update(page)
            self.setFont(_FONT, 7)
            self.setFillColor(colors.grey)
            self.drawString(_MARGIN, 10 * mm, self._footer)
            self.drawRightString(A4[0] - _MARGIN, 10 * mm, f"Page {number} of {total}")
            super().showPage()
        super().save()


def _date_document(canvas: Canvas, created: datetime) -> None:
    """Invariant mode dates every document 2000-01-01 (or `SOURCE_DATE_EPOCH`, if the
    environment sets it); the report's own time is both truer and as reproducible."""
    if created.tzinfo is None or created.utcoffset() is None:
        raise ValueError(f"generated_at: {created.isoformat()} has no time zone (expected UTC)")
    at = created.astimezone(UTC)
    doc = canvas._doc
    stamp = doc._timeStamp
    stamp.t = at.timestamp()
    stamp.lt = at.timetuple()
    stamp.YMDhms = (at.year, at.month, at.day, at.hour, at.minute, at.second)
    stamp.dhh = stamp.dmm = 0
    # The file's /ID derives from the time stamp alone; keep it in step with the date.
    signature = md5(b"a reportlab document", usedforsecurity=False)
    signature.update(ascii(stamp.t).encode())
    doc.signature = signature
