"""A report in one of its formats: CSV, XML (checked against its market's schema) or PDF."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from regapi.reports.model import ReportData
from regapi.reports.render_csv import render_csv
from regapi.reports.render_pdf import render_pdf
from regapi.reports.render_xml import XmlProblem, render_xml, validate_xml
from regapi.reports.templates import FORMATS

MEDIA_TYPES: Final = {"csv": "text/csv", "xml": "application/xml", "pdf": "application/pdf"}

_RENDERERS: Final[dict[str, Callable[[ReportData], bytes]]] = {
    "csv": render_csv,
    "xml": render_xml,
    "pdf": render_pdf,
}


class ReportRenderError(ValueError):
    """A report that cannot be rendered as asked: an unknown format, data a format cannot
    carry, or an XML file that fails its own schema (a bug; such a file is never
    delivered). `problems` holds the schema's findings, if any."""

    def __init__(self, message: str, *, problems: tuple[XmlProblem, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems


def render(data: ReportData, fmt: str) -> bytes:
    """The report as `fmt` (csv, xml or pdf); `ReportRenderError` if it cannot be."""
    renderer = _RENDERERS.get(fmt)
    if renderer is None:
        raise ReportRenderError(f"{fmt!r} is not a report format (one of: {', '.join(FORMATS)})")
    where = f"{data.market} {data.period} {fmt}"
    try:
        content = renderer(data)
    except (ValueError, KeyError) as exc:
        # A KeyError's str() quotes its message; the message is what is meant.
        detail = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        raise ReportRenderError(f"{where}: {detail}") from exc
    if fmt == "xml":
        problems = validate_xml(data.market, content)
        if problems:
            listed = "; ".join(f"line {p.line}: {p.message}" for p in problems)
            raise ReportRenderError(
                f"{where} fails its own schema: {listed}", problems=tuple(problems)
            )
    return content
