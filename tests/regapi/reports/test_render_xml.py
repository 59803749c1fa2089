"""XML returns: each market's file passes its shipped schema, a tampered or hostile one
gets problems with line numbers, and the same data always gives the same bytes."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgspec
import pytest
from lxml import etree

from regapi.reports.model import Operator, ReportData, RngRow
from regapi.reports.render import MEDIA_TYPES, ReportRenderError, render
from regapi.reports.render_xml import MAX_PROBLEMS, render_xml, schema_text, validate_xml
from regapi.reports.templates import COMMON_NAMESPACE, TEMPLATES
from tests.regapi.reports.samples import MARKET_CODES, empty_report, sample_report

XS = "{http://www.w3.org/2001/XMLSchema}"


def line_of(document: bytes, text: bytes) -> int:
    at = document.index(text)
    return document.count(b"\n", 0, at) + 1


@pytest.mark.parametrize("market", MARKET_CODES)
@pytest.mark.parametrize("build", [sample_report, empty_report], ids=["filled", "empty"])
def test_every_markets_return_passes_its_schema(
    market: str, build: Callable[[str], ReportData]
) -> None:
    content = render_xml(build(market))
    assert content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<')
    assert validate_xml(market, content) == []


@pytest.mark.parametrize(
    ("market", "root", "licence", "ggr"),
    [
        ("MGA", "MGAReturn", "LicenceNumber", "GGR"),
        ("UKGC", "RegulatoryReturn", "AccountNumber", "GGY"),
        ("CW", "CuracaoReturn", "LicenceNumber", "GGR"),
    ],
)
def test_each_market_has_its_root_licence_and_word_for_ggr(
    market: str, root: str, licence: str, ggr: str
) -> None:
    data = sample_report(market)
    doc = etree.fromstring(render_xml(data))
    ns = TEMPLATES[market].namespace
    assert doc.tag == f"{{{ns}}}{root}"
    assert doc.findtext(f"{{{ns}}}Header/{{{ns}}}{licence}") == data.operator.licence
    summary = doc.find(f"{{{ns}}}Summary")
    assert summary is not None
    last = summary[-1]
    # UKGC's yield is its own element; the others reuse the common one.
    assert last.tag == (f"{{{ns}}}GGY" if ggr == "GGY" else f"{{{COMMON_NAMESPACE}}}GGR")
    assert int(last.text) == data.financial.totals.ggr
    assert last.get("currency") == data.base_currency


def test_figures_carry_their_currency_and_labels_the_event_did_not_have_are_left_out() -> None:
    data = sample_report("MGA")
    doc = etree.fromstring(render_xml(data))
    c = {"c": COMMON_NAMESPACE}
    payments = doc.findall(".//c:Payments/c:Payment", c)
    assert len(payments) == len(data.financial.payments)
    chargeback = payments[0]
    assert chargeback.findtext("c:Direction", namespaces=c) == "chargeback"
    assert chargeback.find("c:Method", c) is None
    assert chargeback.find("c:Status", c) is None
    foreign = payments[3]
    assert foreign.find("c:Amount", c).get("currency") == "USD"
    assert foreign.find("c:AmountBase", c).get("currency") == "EUR"
    live = doc.find(".//c:Gaming/c:Game", c)
    assert live.findtext("c:GameKind", namespaces=c) == "live"
    assert live.findtext("c:GGR", namespaces=c) == "-250000"
    days = doc.findall(".//c:Daily/c:Day", c)
    assert sum(int(d.findtext("c:GGRBase", namespaces=c)) for d in days) == (
        data.financial.totals.ggr
    )


@pytest.mark.parametrize("market", MARKET_CODES)
def test_the_same_data_gives_the_same_bytes(market: str) -> None:
    data = sample_report(market)
    # Through JSON and back: an equal value built anew, as a re-run would build it.
    again = msgspec.json.decode(msgspec.json.encode(data), type=ReportData)
    assert render_xml(data) == render_xml(again)


@pytest.mark.parametrize("market", MARKET_CODES)
def test_the_licence_pattern_in_each_schema_is_the_templates(market: str) -> None:
    t = TEMPLATES[market]
    schema = etree.fromstring(schema_text(t.schema))
    patterns = [
        p.get("value")
        for p in schema.iter(f"{XS}pattern")
        if p.getparent().getparent().get("name") in ("LicenceNumber", "AccountNumber")
    ]
    assert patterns == [t.licence.pattern]
    assert t.licence.fullmatch(t.licence_example)
    assert schema.get("targetNamespace") == t.namespace


# Tampered documents


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (b"MGA/B2C/123/2019", b"MGA-123", "is not accepted by the pattern"),
        (b"<c:Count>412</c:Count>", b"<c:Count>-412</c:Count>", "xs:nonNegativeInteger"),
        (b'<c:Amount currency="USD">', b'<c:Amount currency="usd">', "'[A-Z]{3}'"),
        (b"<c:Outcome>cleared", b"<c:Outcome>dismissed", "not an element of the set"),
        (b"<c:Priority>2", b"<c:Priority>5", "greater than the maximum value allowed"),
        (b"<c:Direction>deposit", b"<c:Direction>bonus", "not an element of the set"),
        (b"<c:Kind>monthly", b"<c:Kind>yearly", "not an element of the set"),
        (b"<c:Start>2026-01-01", b"<c:Start>2026-01-32", "xs:date"),
        (b"07Z</c:GeneratedAt>", b"07</c:GeneratedAt>", "is not accepted by the pattern '.+Z'"),
        (b"<Market>MGA</Market>", b"<Market>UKGC</Market>", "fixed value constraint"),
        (b"<BaseCurrency>EUR", b"<BaseCurrency>USD", "fixed value constraint"),
        (b"<c:Date>2026-01-02", b"<c:Date>2026-01-01", "Duplicate key-sequence"),
        (b"<c:GameId>starburst", b"<c:GameId>blackjack-eu-7", "Duplicate key-sequence"),
        (b'<c:Stakes currency="EUR">', b"<c:Stakes>", "attribute 'currency' is required"),
    ],
)
def test_a_tampered_return_gets_a_problem_on_the_line_at_fault(
    old: bytes, new: bytes, message: str
) -> None:
    original = render_xml(sample_report("MGA"))
    assert old in original
    tampered = original.replace(old, new, 1)
    problems = validate_xml("MGA", tampered)
    assert len(problems) == 1, problems
    assert message in problems[0].message
    # Duplicates are reported at the repeated row, which starts on the line before.
    assert problems[0].line in (line_of(original, old), line_of(original, old) - 1)


def test_a_missing_element_is_named_with_the_line_where_it_was_expected() -> None:
    original = render_xml(sample_report("MGA"))
    tampered = original.replace(b"    <c:SarsFiled>3</c:SarsFiled>\n", b"", 1)
    [problem] = validate_xml("MGA", tampered)
    assert "Expected is ( {urn:pitboss:report:common:1}SarsFiled )" in problem.message
    assert problem.line == line_of(tampered, b"<c:Verifications>")


@pytest.mark.parametrize("market", MARKET_CODES)
def test_another_markets_licence_is_refused(market: str) -> None:
    other = MARKET_CODES[(MARKET_CODES.index(market) + 1) % len(MARKET_CODES)]
    licence = TEMPLATES[other].licence_example
    data = sample_report(market, operator=Operator(name="X", licence=licence))
    problems = validate_xml(market, render_xml(data))
    assert [p.line for p in problems] == [7]
    assert "is not accepted by the pattern" in problems[0].message


def test_a_return_for_another_market_does_not_validate() -> None:
    [problem] = validate_xml("UKGC", render_xml(sample_report("MGA")))
    assert problem.line == 2
    assert "No matching global declaration available for the validation root" in problem.message


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        (b"", 1, "Document is empty"),
        (b"not xml at all", 1, "Start tag expected"),
        (b'<?xml version="1.0"?>\n<MGAReturn>\n  <Header>\n</MGAReturn>\n', 4, "mismatch"),
        (b"<MGAReturn>\n<Header>\n", 3, "Premature end of data"),
        (b"<a>\n&undeclared;</a>", 2, "Entity 'undeclared' not defined"),
        (b"<a b='1' b='2'/>", 1, "Attribute b redefined"),
    ],
)
def test_malformed_xml_is_a_problem_not_an_exception(
    content: bytes, line: int, message: str
) -> None:
    problems = validate_xml("MGA", content)
    assert problems
    assert problems[0].line == line
    assert message in problems[0].message


def test_a_truncated_return_says_where_it_ends() -> None:
    content = render_xml(sample_report("CW"))
    cut = content[: len(content) // 2]
    problems = validate_xml("CW", cut)
    assert problems
    assert problems[-1].line >= cut.count(b"\n")


def test_problems_stop_at_the_cap_and_say_how_many_more() -> None:
    content = render_xml(sample_report("MGA"))
    head, _, tail = content.partition(b"<c:Payments>\n")
    bad = b"<c:Payment><c:Direction>nope</c:Direction></c:Payment>\n" * (MAX_PROBLEMS + 50)
    problems = validate_xml("MGA", head + b"<c:Payments>\n" + bad + tail)
    assert len(problems) == MAX_PROBLEMS + 1
    assert problems[-1].message.endswith("more problems")


# Hostile documents


@pytest.fixture
def listener() -> Iterator[tuple[socket.socket, int]]:
    """A real TCP socket nobody should ever connect to."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.setblocking(False)
        yield sock, sock.getsockname()[1]


def assert_nobody_connected(sock: socket.socket) -> None:
    with pytest.raises(BlockingIOError):
        sock.accept()


def test_an_external_file_entity_is_refused_and_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cr3t-value")
    doc = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<!DOCTYPE MGAReturn [\n  <!ENTITY leak SYSTEM "{secret.as_uri()}">\n]>\n'
        '<MGAReturn xmlns="urn:pitboss:report:mga:1">&leak;</MGAReturn>\n'
    ).encode()
    problems = validate_xml("MGA", doc)
    assert [(p.line, p.column) for p in problems] == [(2, 1)]
    assert "DOCTYPE is not allowed" in problems[0].message
    assert all("s3cr3t" not in p.message for p in problems)


@pytest.mark.parametrize(
    "template",
    [
        # An external DTD.
        '<!DOCTYPE MGAReturn SYSTEM "http://127.0.0.1:{port}/return.dtd">\n<MGAReturn/>',
        # A parameter entity fetched from the network while the DTD is read.
        '<!DOCTYPE r [\n<!ENTITY % remote SYSTEM "http://127.0.0.1:{port}/p.dtd">\n%remote;\n]>'
        "\n<r/>",
        # An external general entity used in content.
        '<!DOCTYPE r [<!ENTITY x SYSTEM "http://127.0.0.1:{port}/x">]>\n<r>&x;</r>',
        # Exponential expansion of internal entities.
        '<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>\n<r>&c;&c;&c;&c;</r>',
    ],
    ids=["external-dtd", "parameter-entity", "general-entity", "expansion"],
)
def test_a_doctype_of_any_kind_is_refused_without_fetching_anything(
    template: str, listener: tuple[socket.socket, int]
) -> None:
    sock, port = listener
    doc = ('<?xml version="1.0"?>\n' + template.format(port=port)).encode()
    problems = validate_xml("MGA", doc)
    assert [(p.line, p.message) for p in problems] == [(2, "a DOCTYPE is not allowed in a return")]
    assert_nobody_connected(sock)


def test_xinclude_and_schema_location_are_not_followed(
    listener: tuple[socket.socket, int],
) -> None:
    sock, port = listener
    content = render_xml(sample_report("MGA"))
    hostile = content.replace(
        b"mga-return-1.xsd", f"http://127.0.0.1:{port}/evil.xsd".encode(), 1
    ).replace(
        b"<Header>",
        b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
        + f'href="http://127.0.0.1:{port}/x" parse="text"/>\n  <Header>'.encode(),
        1,
    )
    problems = validate_xml("MGA", hostile)
    assert len(problems) == 1
    assert "XInclude}include': This element is not expected" in problems[0].message
    assert problems[0].line == 3
    assert_nobody_connected(sock)


def test_validation_from_many_threads_gives_each_document_its_own_answer() -> None:
    good = render_xml(sample_report("UKGC"))
    bad = good.replace(b"<AccountNumber>000123", b"<AccountNumber>12", 1)
    docs = [good, bad] * 40
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda d: validate_xml("UKGC", d), docs))
    assert all(r == [] for r in results[::2])
    assert all(len(r) == 1 and "AccountNumber" in r[0].message for r in results[1::2])


def test_an_unknown_market_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"'ZZ' has no report template \(known: CW, MGA, UKGC\)"):
        validate_xml("ZZ", b"<a/>")


# render()


def test_render_refuses_to_deliver_a_return_that_fails_its_own_schema() -> None:
    data = sample_report("UKGC", operator=Operator(name="X", licence="UK-123"))
    expected = r"UKGC monthly/2026-01 xml fails its own schema: line 7: .*AccountNumber.*'UK-123'"
    with pytest.raises(ReportRenderError, match=expected) as info:
        render(data, "xml")
    assert [p.line for p in info.value.problems] == [7]


def test_render_names_the_element_whose_text_xml_cannot_carry() -> None:
    data = sample_report("MGA")
    games = (*data.fairness.games[:2], RngRow(game_id="star\x00burst", checks=1, anomalies=0))
    data = msgspec.structs.replace(
        data, fairness=msgspec.structs.replace(data.fairness, games=games)
    )
    with pytest.raises(
        ReportRenderError, match=r"MGA monthly/2026-01 xml: .*/c:Game\[3\]/c:GameId"
    ):
        render(data, "xml")


def test_render_dispatches_each_format_and_refuses_others() -> None:
    data = sample_report("CW")
    assert render(data, "xml") == render_xml(data)
    assert render(data, "csv").startswith(b"section,item,")
    assert render(data, "pdf").startswith(b"%PDF-")
    assert set(MEDIA_TYPES) == {"csv", "xml", "pdf"}
    with pytest.raises(ReportRenderError, match=r"'json' is not a report format"):
        render(data, "json")
