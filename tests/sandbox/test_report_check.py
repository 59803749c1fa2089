"""The report validator: real reports of every market and format pass, with format and
market guessed; each kind of mistake is named with where it is; hostile input is bounded."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from reportlab.pdfgen.canvas import Canvas

from regapi import periods
from regapi.reports import signing
from regapi.reports.model import ReportData
from regapi.reports.render_csv import render_csv
from regapi.reports.render_pdf import render_pdf
from regapi.reports.render_xml import render_xml
from regapi.reports.templates import FORMATS, TEMPLATES, file_stem
from sandbox.report_check import MAX_PROBLEMS, Problem, ReportCheck, check_report, guess
from tests.regapi.reports.samples import MARKET_CODES, empty_report, sample_report

RENDER: dict[str, Callable[[ReportData], bytes]] = {
    "csv": render_csv,
    "xml": render_xml,
    "pdf": render_pdf,
}
SIGNER = signing.ReportSigner(Ed25519PrivateKey.generate())


def manifest_of(data: ReportData, **changes: Any) -> bytes:
    """The run's manifest, as `signing` writes it, with top-level fields changed."""
    period = periods.parse(data.period)
    stem = file_stem(data.market, period.kind, period.label, data.revision)
    files = [(f"{stem}.{fmt}", RENDER[fmt](data)) for fmt in FORMATS]
    content = signing.build_manifest(
        market=data.market,
        period=period,
        revision=data.revision,
        generated_at=data.generated_at,
        files=files,
        signer=SIGNER,
    )
    if not changes:
        return content
    doc = json.loads(content)
    for key, value in changes.items():
        if value is None:
            del doc[key]
        else:
            doc[key] = value
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def check(content: bytes, fmt: str | None = None, market: str | None = None) -> ReportCheck:
    return check_report(content, format=fmt, market=market)


def problems(content: bytes, fmt: str | None = None, market: str | None = None) -> list[Problem]:
    result = check(content, fmt, market)
    assert result.valid is not bool(result.problems)
    return result.problems


# --- what Pitboss writes passes -------------------------------------------------------


@pytest.mark.parametrize("make", [sample_report, empty_report])
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("market", MARKET_CODES)
def test_a_rendered_report_is_valid_guessed_or_told(
    market: str, fmt: str, make: Callable[..., ReportData]
) -> None:
    content = RENDER[fmt](make(market))
    valid = ReportCheck(valid=True, format=fmt, market=market, problems=[])
    assert check(content) == valid
    assert check(content, fmt, market) == valid


@pytest.mark.parametrize("market", MARKET_CODES)
def test_a_manifest_is_valid_guessed_or_told(market: str) -> None:
    content = manifest_of(sample_report(market))
    valid = ReportCheck(valid=True, format="manifest", market=market, problems=[])
    assert check(content) == valid
    assert check(content, "manifest", market) == valid


def test_a_revision_and_lf_line_ends_are_valid() -> None:
    data = sample_report("UKGC", revision=2)
    assert check(render_csv(data).replace(b"\r\n", b"\n")).valid
    assert check(manifest_of(data)).valid


def test_the_format_is_guessed_from_the_first_bytes() -> None:
    data = sample_report("CW")
    assert guess(render_csv(data)) == "csv"
    assert guess(b"\xef\xbb\xbf" + render_csv(data)) == "csv"
    assert guess(render_xml(data)) == "xml"
    assert guess(b"  \n<CuracaoReturn/>") == "xml"
    assert guess(render_pdf(data)) == "pdf"
    assert guess(manifest_of(data)) == "manifest"
    assert guess(b"hello, world") is None


def test_content_of_another_format_than_told_is_one_problem() -> None:
    assert problems(render_csv(sample_report()), "pdf") == [
        Problem(None, None, "file", "the content looks like CSV, not a PDF")
    ]


def test_unknown_content_says_the_format_cannot_be_told() -> None:
    result = check(b"hello, world\n")
    assert (result.valid, result.format, result.market) == (False, "unknown", None)
    assert result.problems[0].message.startswith("cannot tell the format")


@pytest.mark.parametrize(("fmt", "market"), [("txt", None), (None, "XX")])
def test_an_unknown_format_or_market_is_refused(fmt: str | None, market: str | None) -> None:
    with pytest.raises(ValueError, match=r"^(format|market): one of "):
        check(b"x", fmt, market)


# --- CSV ------------------------------------------------------------------------------

CSV = render_csv(sample_report("MGA"))


def edited(old: bytes, new: bytes, content: bytes = CSV) -> bytes:
    assert content.count(old) == 1, old
    return content.replace(old, new)


def test_csv_missing_metadata_row() -> None:
    content = edited(b"metadata,licence,,,,,,,MGA/B2C/123/2019\r\n", b"")
    assert problems(content) == [Problem(None, None, "metadata", "no metadata row for licence")]


def test_csv_non_integer_amount() -> None:
    content = edited(b"approved,EUR,412,12345678,", b"approved,EUR,412,123456.78,")
    assert problems(content) == [
        Problem(
            22,
            7,
            "row 22, column amount_minor",
            "'123456.78' is not an integer (money is in minor units: 1250 for 12.50)",
        )
    ]


def test_csv_licence_of_another_market() -> None:
    content = edited(b",MGA/B2C/123/2019", b",OGL/2024/123/0456")
    assert problems(content) == [
        Problem(
            5,
            9,
            "row 5, column value",
            "'OGL/2024/123/0456' is not in the form of MGA's licence numbers "
            "(like MGA/B2C/123/2019)",
        )
    ]


def test_csv_totals_row_that_disagrees_names_it_and_the_rows_it_sums() -> None:
    content = edited(
        b"totals,deposits,,,EUR,,14645678,14645678,", b"totals,deposits,,,EUR,,14645679,14645679,"
    )
    assert problems(content) == [
        Problem(
            15,
            7,
            "row 15, column amount_minor",
            "totals deposits is 14645679, but the approved deposit rows add up to 14645678 "
            "(rows 22, 24)",
        )
    ]


def test_csv_gaming_and_daily_figures_that_do_not_add_up() -> None:
    content = edited(
        b"gaming,ggr,sport,,EUR,,290000,290000,", b"gaming,ggr,sport,,EUR,,290001,290001,"
    )
    content = edited(
        b"daily,ggr,2026-01-02,,EUR,,45677,", b"daily,ggr,2026-01-02,,EUR,,45678,", content
    )
    assert [(p.location, p.message) for p in problems(content)] == [
        ("row 44, column amount_base_minor",
         "amount_base_minor 45677 differs from amount_minor 45678 though the currency is the "
         "base currency EUR"),
        ("row 20, column amount_minor",
         "totals ggr is 1416000, but the gaming ggr rows' amount_base_minor add up to 1416001 "
         "(rows 30, 34, 38, 42)"),
        ("row 20, column amount_minor",
         "totals ggr is 1416000, but the daily ggr rows add up to 1416001 (rows 43, 44, 45, 46, "
         "47, … (31 rows))"),
        ("row 42, column amount_minor",
         "gaming ggr of sport in EUR is 290001, not stakes - wins (900000 - 610000, rows 40 and "
         "41)"),
    ]  # fmt: skip


def test_csv_byte_order_mark() -> None:
    assert problems(b"\xef\xbb\xbf" + CSV) == [
        Problem(
            1,
            1,
            "line 1, column 1",
            "the file starts with a byte-order mark (EF BB BF); write UTF-8 without one",
        )
    ]


def test_csv_unknown_section() -> None:
    content = edited(b"fairness,anomaly_incidents", b"fairnes,anomaly_incidents")
    assert problems(content) == [
        Problem(
            75,
            1,
            "row 75, column section",
            "unknown section 'fairnes' (known: metadata, totals, payments, gaming, daily, "
            "fairness, kyc_aml, incidents, responsible_gambling)",
        ),
        Problem(None, None, "section fairness", "no fairness row for anomaly_incidents"),
    ]


def test_csv_truncated_file() -> None:
    cut = CSV[: CSV.index(b"daily,ggr,2026-01-10") + 12]
    found = problems(cut)
    assert found[:2] == [
        Problem(52, None, "line 52", "the last line has no line end: the file may be truncated"),
        Problem(
            52,
            None,
            "row 52",
            "row 52 has 3 fields; every row has 9 (section,item,label,detail,currency,count,"
            "amount_minor,amount_base_minor,value)",
        ),
    ]
    messages = [p.message for p in found]
    assert "no fairness row for anomaly_threshold" in messages
    assert "no responsible_gambling row for self_exclusions" in messages
    assert "no daily row for 2026-01-10 (one per day of monthly/2026-01)" in messages


@pytest.mark.parametrize(
    ("old", "new", "location", "message"),
    [
        (b"payments,deposit,card,declined,EUR,37,", b"payments,deposit,card,declined,EUR,-37,",
         "row 23, column count", "-37 is negative; payments deposit cannot be"),
        (b"payments,deposit,card,declined,EUR,", b"payments,deposit,card,declined,EURO,",
         "row 23, column currency", "'EURO' is not an ISO 4217 code (three capitals)"),
        (b"payments,deposit,card,declined,EUR,", b"payments,deposit,card,declined,XQQ,",
         "row 23, column currency", "'XQQ' is not an ISO 4217 currency"),
        (b"payments,deposit,card,declined,", b"payments,deposit,=HYPERLINK(1),declined,",
         "row 23, column label",
         "'=HYPERLINK(1)' would run as a formula in a spreadsheet; write it with a leading '"),
        (b"gaming,bets,live,,,8200,", b"gaming,bets,live,,,,",
         "row 27, column count", "gaming bets rows need a count"),
        (b"gaming,bets,live,,,8200,,", b"gaming,bets,live,,,8200,1,",
         "row 27, column amount_minor", "gaming bets rows leave amount_minor empty"),
        (b"metadata,generated_at,,,,,,,2026-02-01T03:15:07Z",
         b"metadata,generated_at,,,,,,,2026-02-01 03:15:07+01:00",
         "row 12, column value",
         "'2026-02-01 03:15:07+01:00' is not an RFC 3339 time in UTC (like 2026-02-01T03:15:07Z)"),
        (b"metadata,timezone,,,,,,,Europe/Malta", b"metadata,timezone,,,,,,,UTC",
         "row 10, column value", "timezone is 'UTC'; MGA reports are in Europe/Malta"),
        (b"metadata,end,,,,,,,2026-02-01", b"metadata,end,,,,,,,2026-01-31",
         "row 9, column value", "end is '2026-01-31'; period monthly/2026-01 has end 2026-02-01"),
        (b"metadata,revision,,,,,,,1", b"metadata,revision,,,,,,,0",
         "row 13, column value", "revision '0' is not a whole number from 1"),
        (b"kyc_aml,cases,cleared,,,31,", b"kyc_aml,cased,cleared,,,31,",
         "row 91, column item",
         "unknown kyc_aml item 'cased' (known: active_players, sars_filed, verifications, "
         "alerts, cases)"),
        (b"daily,ggr,2026-01-02,", b"daily,ggy,2026-01-02,",
         "row 44, column item", "MGA reports write ggr, not ggy"),
        (b"totals,withdrawals,,,EUR,", b"totals,withdrawals,,,USD,",
         "row 16, column currency", "totals rows are in the base currency EUR, not 'USD'"),
    ],
)  # fmt: skip
def test_csv_row_mistakes_are_located(old: bytes, new: bytes, location: str, message: str) -> None:
    found = problems(edited(old, new))
    assert (location, message) in [(p.location, p.message) for p in found]
    assert found[0].location == location  # the first problem is the mistake itself


def test_csv_metadata_after_the_figures_and_a_second_totals_row() -> None:
    line = b"metadata,operator,,,,,,,Example Casino Ltd\r\n"
    content = edited(line, b"") + line + b"totals,wins,,,EUR,,1,1,\r\n"
    last = content.count(b"\r\n")
    assert [(p.location, p.message) for p in problems(content)] == [
        (f"row {last - 1}, column section", "metadata rows come first, before every figure"),
        (
            f"row {last}, column section",
            "section totals comes after responsible_gambling; "
            "sections are in the order metadata, totals, payments, gaming, daily, fairness, "
            "kyc_aml, incidents, responsible_gambling",
        ),
        (f"row {last}, column item", "a second totals wins row (the first is row 18)"),
    ]


def test_csv_rows_out_of_section_order_are_said_once() -> None:
    content = CSV + b"payments,deposit,card,declined,EUR,1,1,1,\r\n" * 3
    assert problems(content) == [
        Problem(
            104,
            1,
            "row 104, column section",
            "section payments comes after responsible_gambling; sections are in the order "
            "metadata, totals, payments, gaming, daily, fairness, kyc_aml, incidents, "
            "responsible_gambling",
        )
    ]


def test_csv_mixed_line_ends_and_a_wrong_header() -> None:
    content = edited(b"section,item,label,", b"section,item,lable,")
    content = edited(b"metadata,market,,,,,,,MGA\r\n", b"metadata,market,,,,,,,MGA\n", content)
    assert problems(content) == [
        Problem(2, None, "line 2", "line 2 ends with LF, the lines before it with CRLF; use one "
                "kind of line end"),
        Problem(1, None, "row 1", "the header is 'section,item,lable,detail,currency,count,"
                "amount_minor,amount_base_minor,value'; expected section,item,label,detail,"
                "currency,count,amount_minor,amount_base_minor,value (column 3 is 'lable', not "
                "label)"),
    ]  # fmt: skip


def test_csv_given_market_that_disagrees_is_a_problem_and_the_file_is_checked_as_its_own() -> None:
    result = check(CSV, market="UKGC")
    assert result.market == "MGA"
    assert result.problems == [
        Problem(2, 9, "row 2, column value", "the file is MGA's report, but market=UKGC was given")
    ]


def test_csv_guarded_text_is_read_back_without_its_quote() -> None:
    data = sample_report("MGA")
    guarded = msgspec.structs.replace(
        data, operator=msgspec.structs.replace(data.operator, name="=Casino")
    )
    content = render_csv(guarded)
    assert b",'=Casino" in content
    assert check(content).valid


def test_csv_problems_are_capped() -> None:
    content = CSV + b"responsible_gambling,limit_changes,loss,,,x,,,\r\n" * 500
    found = problems(content)
    assert len(found) == MAX_PROBLEMS + 1
    assert found[-1] == Problem(None, None, "file", "… and 400 more problems")


def test_csv_ten_megabytes_of_garbage_is_answered_briefly() -> None:
    garbage = random.Random(8).randbytes(10_000_000)
    result = check(garbage)
    assert (result.valid, result.format) == (False, "unknown")
    result = check(garbage, "csv", "MGA")
    assert not result.valid
    assert len(result.problems) <= MAX_PROBLEMS + 1
    assert result.problems[0].message.startswith("not UTF-8: byte 0x")


def test_csv_of_no_rows() -> None:
    assert problems(b"", "csv") == [Problem(None, None, "file", "the file is empty")]
    header = CSV.split(b"\r\n", 1)[0] + b"\r\n"
    assert problems(header, "csv", "CW")[0] == Problem(
        None, None, "metadata", "no metadata row for market"
    )
    assert problems(header, "csv", "CW")[-1] == Problem(
        None, None, "file", "the file holds no rows after the header"
    )


# --- XML ------------------------------------------------------------------------------

XML = render_xml(sample_report("MGA"))


def test_xml_with_another_markets_root() -> None:
    content = XML.replace(b"MGAReturn", b"RegulatoryReturn")
    found = problems(content)
    assert found[0] == Problem(
        2,
        None,
        "line 2",
        "the root element is 'RegulatoryReturn' in MGA's namespace urn:pitboss:report:mga:1; "
        "MGA's return is MGAReturn",
    )
    assert found[1].location.startswith("line 2")
    assert "No matching global declaration" in found[1].message


def test_xml_of_another_market_than_told() -> None:
    result = check(render_xml(sample_report("UKGC")), market="CW")
    assert result.market == "UKGC"
    assert result.problems == [
        Problem(
            2,
            None,
            "line 2",
            "the file is UKGC's return (namespace urn:pitboss:report:ukgc:1), but market=CW "
            "was given",
        )
    ]


def test_xml_negative_count() -> None:
    content = XML.replace(b"<c:Count>412</c:Count>", b"<c:Count>-412</c:Count>")
    line = content[: content.index(b"-412")].count(b"\n") + 1
    [found] = problems(content)
    assert (found.line, found.location) == (line, f"line {line}")
    assert "'-412' is not a valid value of the atomic type 'xs:nonNegativeInteger'" in (
        found.message
    )


def test_xml_of_no_known_namespace() -> None:
    content = XML.replace(b"urn:pitboss:report:mga:1", b"urn:example:other")
    result = check(content)
    assert (result.format, result.market) == ("xml", None)
    [found] = result.problems
    assert found.location == "line 2"
    assert found.message.startswith(
        "the root element '{urn:example:other}MGAReturn' is not a Pitboss return"
    )


def test_xml_deep_nesting_is_refused() -> None:
    at = XML.index(b"<Header>")
    content = XML[:at] + b"<a>" * 300 + b"</a>" * 300 + XML[at:]
    [found] = problems(content)
    assert found.location.startswith("line 3, column ")
    assert found.message.startswith("Excessive depth in document: 256")


def test_xml_entities_are_not_expanded() -> None:
    content = (
        b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n'
        b'<MGAReturn xmlns="urn:pitboss:report:mga:1">&b;</MGAReturn>'
    )
    assert problems(content) == [
        Problem(2, 1, "line 2, column 1", "a DOCTYPE is not allowed in a return")
    ]


def test_malformed_xml_without_a_market() -> None:
    result = check(b'<?xml version="1.0"?>\n<MGAReturn>\n  <Header>\n</MGAReturn>\n')
    assert (result.format, result.market) == ("xml", None)
    root, syntax = result.problems
    assert root.message.startswith("the root element 'MGAReturn' is not a Pitboss return")
    assert (syntax.line, syntax.location) == (4, f"line 4, column {syntax.column}")
    assert "mismatch" in syntax.message


# --- PDF ------------------------------------------------------------------------------


def test_pdf_that_is_not_a_pdf() -> None:
    assert problems(b"PK\x03\x04 a zip file", "pdf") == [
        Problem(None, None, "file", "not a PDF: it does not start with %PDF-")
    ]


def test_pdf_of_another_market() -> None:
    result = check(render_pdf(sample_report("UKGC")), market="MGA")
    assert result.market == "UKGC"
    assert result.problems == [
        Problem(
            None,
            None,
            "page 1",
            "the title is UKGC's ('UK Gambling Commission: regulatory return'), but "
            "market=MGA was given",
        )
    ]


def test_pdf_truncated() -> None:
    pdf = render_pdf(sample_report("CW"))
    [found] = problems(pdf[: len(pdf) // 2])
    assert found.location == "file"
    assert found.message.startswith("the PDF cannot be read: ")


def test_pdf_that_is_no_report() -> None:
    buffer = io.BytesIO()
    canvas = Canvas(buffer)
    canvas.drawString(100, 700, "Minutes of the board meeting")
    canvas.showPage()
    canvas.save()
    result = check(buffer.getvalue())
    assert (result.format, result.market) == ("pdf", None)
    assert [(p.location, p.message.split(" (")[0]) for p in result.problems] == [
        ("page 1", "no report title on the first page"),
        ("page 1", "no period on the first page"),
        ("page 1", "the footer does not say 'Page 1 of 1'"),
    ]


def test_pdf_with_another_licence_number() -> None:
    data = sample_report("MGA")
    other = msgspec.structs.replace(
        data, operator=msgspec.structs.replace(data.operator, licence="C-123")
    )
    assert problems(render_pdf(other)) == [
        Problem(None, None, "page 1", "Licence number 'C-123' is not like MGA/B2C/123/2019")
    ]


# --- manifests --------------------------------------------------------------------------


def test_manifest_missing_fields() -> None:
    doc = json.loads(manifest_of(sample_report("MGA")))
    del doc["key_id"]
    del doc["files"][1]["sha256"]
    doc["files"][2]["size"] = -1
    content = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    assert problems(content) == [
        Problem(None, None, "key_id", "key_id is missing"),
        Problem(None, None, "files[1].sha256", "files[1].sha256 is missing"),
        Problem(None, None, "files[2].size", "size is -1; expected a byte count"),
    ]


def test_manifest_of_another_market_and_names_that_do_not_fit() -> None:
    content = manifest_of(sample_report("CW"), revision=2)
    result = check(content, market="MGA")
    assert result.market == "CW"
    assert result.problems[:2] == [
        Problem(None, None, "market", "the manifest is CW's, but market=MGA was given"),
        Problem(
            None,
            None,
            "manifest",
            "manifest is 'CW_monthly_2026-01.manifest.json'; for this run it is "
            "CW_monthly_2026-01_r2.manifest.json",
        ),
    ]
    assert result.problems[2].location == "files[0].name"


def test_manifest_that_is_not_canonical_or_not_json() -> None:
    doc = json.loads(manifest_of(sample_report("UKGC")))
    pretty = json.dumps(doc, indent=2).encode()
    [found] = problems(pretty)
    assert found.message.startswith("not canonical JSON (keys sorted, no white space, ASCII)")
    assert problems(b'{"version": 1,\n  "files": [}', "manifest") == [
        Problem(2, 13, "line 2, column 13", "not JSON: Expecting value")
    ]
    assert problems(b"[" * 100_000, "manifest") == [
        Problem(None, None, "file", "not a manifest: nested too deeply")
    ]


def test_manifest_unknown_and_duplicate_fields() -> None:
    content = manifest_of(sample_report("MGA"))
    content = content[:-1] + b',"extra":1,"version":1}'
    found = [(p.location, p.message) for p in problems(content)]
    assert found == [
        ("file", "the key 'version' appears twice in one object"),
        ("extra", "unknown field 'extra'"),
    ]


def test_each_market_has_a_template_the_tests_cover() -> None:
    assert set(MARKET_CODES) == set(TEMPLATES)
