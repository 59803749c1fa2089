"""CSV reports: one long-form file that reads back to the report's figures, safe to open
in a spreadsheet, the same bytes for the same data."""

from __future__ import annotations

import csv
import io

import msgspec
import pytest

from regapi.reports.model import GamingRow, Operator, PaymentRow, ReportData
from regapi.reports.render_csv import COLUMNS, neutralise, render_csv
from regapi.reports.templates import TEMPLATES
from tests.regapi.reports.samples import MARKET_CODES, empty_report, sample_report


def read(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8"), newline="")))


def rows(
    parsed: list[dict[str, str]], section: str, item: str | None = None
) -> list[dict[str, str]]:
    return [r for r in parsed if r["section"] == section and item in (None, r["item"])]


@pytest.mark.parametrize("market", MARKET_CODES)
def test_metadata_comes_first_then_the_figures(market: str) -> None:
    data = sample_report(market)
    content = render_csv(data)
    assert content.split(b"\r\n")[0].decode() == ",".join(COLUMNS)
    parsed = read(content)
    meta = {r["item"]: r["value"] for r in parsed[:13]}
    assert all(r["section"] == "metadata" for r in parsed[:13])
    assert meta == {
        "market": market,
        "market_name": data.market_name,
        "operator": "Example Casino Ltd",
        "licence": TEMPLATES[market].licence_example,
        "period": "monthly/2026-01",
        "period_kind": "monthly",
        "start": "2026-01-01",
        "end": "2026-02-01",
        "timezone": data.timezone,
        "base_currency": data.base_currency,
        "generated_at": "2026-02-01T03:15:07Z",
        "revision": "1",
        "events": "1250431",
    }
    assert [r["section"] for r in parsed[13:]] == sorted(
        (r["section"] for r in parsed[13:]),
        key=[
            "totals",
            "payments",
            "gaming",
            "daily",
            "fairness",
            "kyc_aml",
            "incidents",
            "responsible_gambling",
        ].index,
    )


@pytest.mark.parametrize("market", MARKET_CODES)
def test_figures_read_back_to_the_report(market: str) -> None:
    data = sample_report(market)
    parsed = read(render_csv(data))
    base, ggr = data.base_currency, TEMPLATES[market].ggr_label.lower()
    totals = {r["item"]: r for r in rows(parsed, "totals")}
    assert list(totals) == ["deposits", "withdrawals", "chargebacks", "stakes", "wins", ggr]
    t = data.financial.totals
    for item, amount in zip(
        totals, (t.deposits, t.withdrawals, t.chargebacks, t.stakes, t.wins, t.ggr), strict=True
    ):
        assert totals[item]["currency"] == base
        assert int(totals[item]["amount_minor"]) == int(totals[item]["amount_base_minor"]) == amount

    payments = rows(parsed, "payments")
    assert [
        PaymentRow(
            direction=r["item"],
            method=r["label"],
            currency=r["currency"],
            status=r["detail"],
            count=int(r["count"]),
            amount=int(r["amount_minor"]),
            amount_base=int(r["amount_base_minor"]),
        )
        for r in payments
    ] == list(data.financial.payments)

    gaming = rows(parsed, "gaming")
    assert len(gaming) == 4 * len(data.financial.gaming)
    rebuilt = [
        GamingRow(
            game_kind=bets["label"],
            currency=stakes["currency"],
            bets=int(bets["count"]),
            stakes=int(stakes["amount_minor"]),
            wins=int(wins["amount_minor"]),
            ggr=int(g["amount_minor"]),
            ggr_base=int(g["amount_base_minor"]),
        )
        for bets, stakes, wins, g in zip(*[iter(gaming)] * 4, strict=True)
    ]
    assert rebuilt == list(data.financial.gaming)
    assert sum(int(r["amount_base_minor"]) for r in rows(parsed, "gaming", ggr)) == t.ggr

    daily = rows(parsed, "daily", ggr)
    assert [r["label"] for r in daily] == [d.day.isoformat() for d in data.financial.daily]
    assert sum(int(r["amount_minor"]) for r in daily) == t.ggr


def test_the_other_sections_read_back() -> None:
    data = sample_report("MGA")
    parsed = read(render_csv(data))

    def cells(section: str, item: str) -> list[tuple[str, str, str]]:
        return [(r["label"], r["detail"], r["count"]) for r in rows(parsed, section, item)]

    assert rows(parsed, "fairness", "anomaly_threshold")[0]["value"] == "0.001"
    assert cells("fairness", "anomaly_incidents") == [("", "", "1")]
    assert cells("fairness", "anomalies") == [
        ("blackjack-eu-7", "", "0"),
        ("roulette-live-2", "", "1"),
        ("starburst", "", "0"),
    ]
    assert cells("kyc_aml", "active_players") == [("", "", "5873")]
    assert cells("kyc_aml", "sars_filed") == [("", "", "3")]
    assert cells("kyc_aml", "verifications")[1] == ("2", "pending", "85")
    assert cells("kyc_aml", "alerts")[0] == ("aml_core", "high", "14")
    assert [label for label, _, _ in cells("kyc_aml", "cases")] == [
        "cleared",
        "escalated",
        "restricted",
    ]
    assert cells("incidents", "opened")[0] == ("AML_suspect", "2", "4")
    assert [n for _, _, n in cells("incidents", "closed")] == ["3", "1", "11"]
    assert cells("responsible_gambling", "self_exclusions") == [("", "", "11")]
    assert cells("responsible_gambling", "limit_changes") == [
        ("deposit", "", "143"),
        ("loss", "", "38"),
        ("session", "", "12"),
    ]


def test_a_losing_game_kind_stays_a_negative_number() -> None:
    content = render_csv(sample_report("MGA"))
    assert b"\r\ngaming,ggr,live,,EUR,,-250000,-250000,\r\n" in content
    assert b"'-" not in content


def test_a_quiet_day_keeps_its_metadata_and_totals() -> None:
    parsed = read(render_csv(empty_report("CW")))
    assert {r["section"] for r in parsed} == {
        "metadata",
        "totals",
        "daily",
        "fairness",
        "kyc_aml",
        "responsible_gambling",
    }
    assert all(r["amount_minor"] == "0" for r in rows(parsed, "totals"))
    assert rows(parsed, "metadata", "market_name")[0]["value"] == "Curaçao Gaming Authority"


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+1+1", "'+1+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("card", "card"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_text_a_spreadsheet_would_run_is_neutralised(text: str, written: str) -> None:
    assert neutralise(text) == written


def test_formula_injection_through_any_text_field_is_neutralised() -> None:
    data = sample_report(
        "MGA", operator=Operator(name="=cmd|'/C calc'!A0", licence="MGA/B2C/1/2020")
    )
    payments = (
        PaymentRow(
            direction="deposit",
            method="+evil",
            currency="EUR",
            status="@approved",
            count=1,
            amount=100,
            amount_base=100,
        ),
    )
    data = msgspec.structs.replace(
        data, financial=msgspec.structs.replace(data.financial, payments=payments)
    )
    parsed = read(render_csv(data))
    assert rows(parsed, "metadata", "operator")[0]["value"] == "'=cmd|'/C calc'!A0"
    [payment] = rows(parsed, "payments")
    assert (payment["label"], payment["detail"]) == ("'+evil", "'@approved")
    assert payment["amount_minor"] == "100"


@pytest.mark.parametrize("market", MARKET_CODES)
def test_the_same_data_gives_the_same_bytes(market: str) -> None:
    data = sample_report(market)
    again = msgspec.json.decode(msgspec.json.encode(data), type=ReportData)
    assert render_csv(data) == render_csv(again)


def test_generated_at_without_a_time_zone_is_refused() -> None:
    data = sample_report("MGA")
    naive = data.generated_at.replace(tzinfo=None)
    with pytest.raises(ValueError, match="generated_at: 2026-02-01T03:15:07 has no time zone"):
        render_csv(msgspec.structs.replace(data, generated_at=naive))
