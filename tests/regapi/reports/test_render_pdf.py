"""PDF reports: a real document whose text says what the report says, with a chart of GGR
per day, page numbers, and the same bytes for the same data."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import msgspec
import pytest
from pypdf import PageObject, PdfReader
from reportlab.lib.colors import HexColor
from reportlab.lib.rl_accel import fp_str

from regapi.reports.model import DailyGgr, Operator, ReportData
from regapi.reports.render_pdf import format_money, render_pdf
from regapi.reports.templates import TEMPLATES
from tests.regapi.reports.samples import MARKET_CODES, empty_report, sample_report

SECTIONS = (
    "Summary",
    "Payments",
    "Gaming",
    "Game fairness (RNG)",
    "KYC and AML",
    "Incidents",
    "Responsible gambling",
)
# The fill of a losing day's bar: drawn by the chart and nothing else.
LOSS_FILL = (fp_str(*HexColor("#c0392b").rgb()) + " rg").encode()


def pdf(data: ReportData) -> PdfReader:
    return PdfReader(io.BytesIO(render_pdf(data)))


def drawing_of(page: PageObject) -> bytes:
    contents = page.get_contents()
    assert contents is not None
    return contents.get_data()


def text_of(reader: PdfReader) -> str:
    return "\n".join(page.extract_text() for page in reader.pages)


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (123_456, "EUR", "1,234.56 EUR"),
        (-250_000, "GBP", "-2,500.00 GBP"),
        (5, "USD", "0.05 USD"),
        (-9, "EUR", "-0.09 EUR"),
        (0, "EUR", "0.00 EUR"),
        (1_500, "JPY", "1,500 JPY"),
        (1_234_567, "KWD", "1,234.567 KWD"),
    ],
)
def test_money_is_written_with_the_currencys_minor_units(
    amount: int, currency: str, text: str
) -> None:
    assert format_money(amount, currency) == text


@pytest.mark.parametrize("market", MARKET_CODES)
def test_the_document_says_what_the_report_says(market: str) -> None:
    data = sample_report(market)
    t = TEMPLATES[market]
    reader = pdf(data)
    text = text_of(reader)
    assert reader.pages[0].extract_text().startswith(t.title)
    assert f"{t.licence_label}\n{data.operator.licence}" in text
    assert "Example Casino Ltd" in text
    assert "monthly/2026-01 (2026-01-01 to 2026-01-31)" in text
    assert data.timezone in text
    assert "2026-02-01 03:15:07 UTC" in text
    base, totals = data.base_currency, data.financial.totals
    for amount in (totals.deposits, totals.withdrawals, totals.chargebacks, totals.ggr):
        assert format_money(amount, base) in text
    for heading in (*SECTIONS, f"Daily {t.ggr_label}"):
        assert f"\n{heading}\n" in text
    # A payment in the other currency shows in its own and in the base currency.
    foreign = data.financial.payments[3]
    assert format_money(foreign.amount, foreign.currency) in text
    assert format_money(foreign.amount_base, base) in text
    assert "-2,500.00" in text  # the losing game kind


def test_the_sample_totals_read_as_a_person_would_write_them() -> None:
    text = text_of(pdf(sample_report("MGA")))
    assert "Deposits\n 146,456.78 EUR" in text
    assert "Gross gaming revenue (GGR)\n 14,160.00 EUR" in text


def test_ukgc_calls_it_gross_gambling_yield() -> None:
    text = text_of(pdf(sample_report("UKGC")))
    assert "Gross gambling yield (GGY)" in text
    assert "GGY per day (GBP)" in text
    assert "GGR" not in text


def test_curacao_is_spelt_with_its_cedilla() -> None:
    reader = pdf(sample_report("CW"))
    assert reader.pages[0].extract_text().startswith("Curaçao Gaming Authority: periodic report")
    assert reader.metadata is not None
    assert reader.metadata.title == "Curaçao Gaming Authority: periodic report, monthly/2026-01"


@pytest.mark.parametrize("market", MARKET_CODES)
def test_the_chart_draws_each_day_and_a_losing_day_in_red(market: str) -> None:
    data = sample_report(market)
    ggr = TEMPLATES[market].ggr_label
    first = pdf(data).pages[0]
    text = first.extract_text()
    assert f"{ggr} per day ({data.base_currency})" in text
    # The category axis names every day of the month.
    assert "\n".join(f"{d:02d}" for d in range(1, 32)) in text
    assert LOSS_FILL in drawing_of(first)
    winning = tuple(DailyGgr(day=d.day, ggr_base=abs(d.ggr_base)) for d in data.financial.daily)
    data = msgspec.structs.replace(
        data, financial=msgspec.structs.replace(data.financial, daily=winning)
    )
    assert LOSS_FILL not in drawing_of(pdf(data).pages[0])


def test_a_day_with_nothing_to_report_still_makes_a_document() -> None:
    reader = pdf(empty_report("MGA"))
    text = text_of(reader)
    assert "GGR per day (EUR)" in text
    assert text.count("None in the period.") == 8  # every section but the daily figures
    assert "Deposits\n 0.00 EUR" in text


@pytest.mark.parametrize("market", MARKET_CODES)
def test_every_page_is_numbered(market: str) -> None:
    reader = pdf(sample_report(market))
    total = len(reader.pages)
    assert total >= 1
    for number, page in enumerate(reader.pages, start=1):
        assert f"Page {number} of {total}" in page.extract_text()


def test_text_from_the_data_is_never_read_as_markup() -> None:
    data = sample_report(
        "MGA", operator=Operator(name="A & B <b>Ltd</b>", licence="MGA/B2B/7/2021")
    )
    text = text_of(pdf(data))
    assert "A & B <b>Ltd</b>" in text
    assert "MGA/B2B/7/2021" in text


@pytest.mark.parametrize("market", MARKET_CODES)
def test_the_same_data_gives_the_same_bytes(market: str, monkeypatch: pytest.MonkeyPatch) -> None:
    data = sample_report(market)
    first = render_pdf(data)
    again = msgspec.json.decode(msgspec.json.encode(data), type=ReportData)
    # Neither the clock nor a reproducible-build date in the environment shows through.
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert render_pdf(again) == first
    assert first.startswith(b"%PDF-")


def test_the_document_is_dated_by_the_report() -> None:
    generated = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    reader = pdf(sample_report("UKGC", generated_at=generated))
    assert reader.metadata is not None
    assert reader.metadata.creation_date == generated
    assert reader.metadata.author == "Example Casino Ltd"
    other = render_pdf(sample_report("UKGC", generated_at=generated.replace(second=8)))
    assert other != render_pdf(sample_report("UKGC", generated_at=generated))


def test_generated_at_without_a_time_zone_is_refused() -> None:
    naive = datetime(2026, 2, 1, 3, 15, 7)
    with pytest.raises(ValueError, match="generated_at: 2026-02-01T03:15:07 has no time zone"):
        render_pdf(sample_report("MGA", generated_at=naive))
