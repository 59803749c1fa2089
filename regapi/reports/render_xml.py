"""A report as its market's XML return, and the schema check every return must pass.

Each market has its own namespace and root element (`templates.TEMPLATES`) and shares the
section types of `urn:pitboss:report:common:1`, written with the prefix `c`:

```xml
<MGAReturn xmlns="urn:pitboss:report:mga:1" xmlns:c="urn:pitboss:report:common:1" …>
  <Header>…<LicenceNumber>MGA/B2C/123/2019</LicenceNumber>…</Header>
  <Summary><c:Deposits currency="EUR">1234567</c:Deposits>…</Summary>
  <Financial><c:Payments><c:Payment>…</c:Payment></c:Payments>…</Financial>
  …
</MGAReturn>
```

`validate_xml` is also what the public validator serves, so it treats its input as
hostile: no DTDs, no entities, nothing fetched from files or the network. Schemas are read
from the package, never from where a document says they are.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Final

import msgspec
from lxml import etree

from regapi.reports.model import ReportData
from regapi.reports.templates import COMMON_NAMESPACE, COMMON_SCHEMA, TEMPLATES, template

_XSI: Final = "http://www.w3.org/2001/XMLSchema-instance"
# The licence element of each market's header; the regulator's own word for it.
_LICENCE_ELEMENT: Final = {"MGA": "LicenceNumber", "UKGC": "AccountNumber", "CW": "LicenceNumber"}
# A document can hold thousands of mistakes; the first hundred say what is wrong.
MAX_PROBLEMS: Final = 100
# Schemas are compiled with this base URL, so an import names a shipped file by its path
# under it; nothing is ever read from there (the resolver serves the package's files).
_SCHEMA_BASE: Final = "pitboss-schemas:/"

_DECLARATION: Final = b'<?xml version="1.0" encoding="UTF-8"?>\n'


class XmlProblem(msgspec.Struct, frozen=True):
    """One reason a document is not a valid return; line and column are 1-based (a column
    of 0 means libxml2 did not say)."""

    line: int
    column: int
    message: str


def render_xml(data: ReportData) -> bytes:
    """The report as its market's XML return: UTF-8, pretty-printed, and the same bytes
    for the same data. `ValueError` naming the element if a text holds characters XML
    cannot carry (control characters), or if `generated_at` has no time zone."""
    t = template(data.market)
    ns = t.namespace
    root = etree.Element(
        _q(ns, t.root),
        {f"{{{_XSI}}}schemaLocation": f"{ns} {t.schema}"},
        nsmap={None: ns, "c": COMMON_NAMESPACE, "xsi": _XSI},
    )
    _header(_sub(root, ns, "Header"), data)
    _summary(_sub(root, ns, "Summary"), data, ggr=t.ggr_label)
    _financial(_sub(root, ns, "Financial"), data)
    _fairness(_sub(root, ns, "Fairness"), data)
    _kyc_aml(_sub(root, ns, "KycAml"), data)
    _incidents(_sub(root, ns, "Incidents"), data)
    _responsible(_sub(root, ns, "ResponsibleGambling"), data)
    # lxml writes the declaration with single quotes; the usual form is friendlier to the
    # line-oriented tools some regulators check files with.
    body: bytes = etree.tostring(root, encoding="UTF-8", pretty_print=True)
    return _DECLARATION + body


def validate_xml(market: str, content: bytes) -> list[XmlProblem]:
    """What makes `content` an invalid return for `market`; empty when it is valid.

    Malformed XML, a DOCTYPE (so no entity can be declared, expanded or fetched) and every
    schema violation are problems, never exceptions; at most `MAX_PROBLEMS` are listed,
    then one saying how many more there are. `KeyError` for a market without a template.
    The caller bounds the size.
    """
    schema, lock = _schema(market)
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
    )
    parser.resolvers.add(_Refuse())
    try:
        root = etree.fromstring(content, parser)
    except etree.XMLSyntaxError as exc:
        problems = _problems(parser.error_log)
        return problems or [XmlProblem(exc.lineno or 1, exc.offset or 0, str(exc.msg))]
    doc = root.getroottree()
    if doc.docinfo.internalDTD is not None or doc.docinfo.externalDTD is not None:
        line, column = _position(content, b"<!DOCTYPE")
        return [XmlProblem(line, column, "a DOCTYPE is not allowed in a return")]
    # The schema keeps its error log on itself, so concurrent validations of one market
    # (the validator endpoint runs them in threads) take turns.
    with lock:
        if schema.validate(doc):
            return []
        problems = _problems(schema.error_log)
    return problems or [XmlProblem(1, 0, "the document does not match the schema")]


def schema_text(name: str) -> bytes:
    """A shipped schema file by name (`mga-return-1.xsd`, `report-common-1.xsd`…), for
    serving to the regulators who want it; `KeyError` for any other name."""
    if name not in _shipped():
        raise KeyError(f"{name!r} is not a Pitboss report schema (known: {sorted(_shipped())})")
    return resources.files("regapi.reports").joinpath("schemas", name).read_bytes()


# Building


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def _sub(
    parent: etree._Element, ns: str, name: str, text: str | int | None = None
) -> etree._Element:
    el: etree._Element = etree.SubElement(parent, _q(ns, name))
    if text is not None:
        try:
            el.text = str(text)
        except ValueError:
            path = el.getroottree().getpath(el)
            raise ValueError(
                f"{path}: {text!r} holds characters XML cannot carry (control characters)"
            ) from None
    return el


def _c(parent: etree._Element, name: str, text: str | int | None = None) -> etree._Element:
    return _sub(parent, COMMON_NAMESPACE, name, text)


def _optional(parent: etree._Element, name: str, text: str) -> None:
    # An empty label means the source event did not carry it; the schema makes the
    # element optional rather than allowing an empty one.
    if text:
        _c(parent, name, text)


def _money(parent: etree._Element, name: str, amount: int, currency: str) -> None:
    _c(parent, name, amount).set("currency", currency)


def _utc(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"generated_at: {value.isoformat()} has no time zone (expected UTC)")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _header(el: etree._Element, data: ReportData) -> None:
    ns = el.nsmap[None]
    _sub(el, ns, "Market", data.market)
    _sub(el, ns, "Regulator", data.market_name)
    _sub(el, ns, "Operator", data.operator.name)
    _sub(el, ns, _LICENCE_ELEMENT[data.market], data.operator.licence)
    period = _sub(el, ns, "Period")
    _c(period, "Kind", data.period_kind)
    _c(period, "Label", data.period.partition("/")[2])
    _c(period, "Start", data.start.isoformat())
    _c(period, "End", data.end.isoformat())
    _c(period, "TimeZone", data.timezone)
    _sub(el, ns, "BaseCurrency", data.base_currency)
    generation = _sub(el, ns, "Generation")
    _c(generation, "GeneratedAt", _utc(data.generated_at))
    _c(generation, "Revision", data.revision)
    _c(generation, "EventCount", data.events)


def _summary(el: etree._Element, data: ReportData, *, ggr: str) -> None:
    totals, base = data.financial.totals, data.base_currency
    _money(el, "Deposits", totals.deposits, base)
    _money(el, "Withdrawals", totals.withdrawals, base)
    _money(el, "Chargebacks", totals.chargebacks, base)
    _money(el, "Stakes", totals.stakes, base)
    _money(el, "Wins", totals.wins, base)
    if ggr == "GGR":
        _money(el, "GGR", totals.ggr, base)
    else:
        # UKGC's summary names gross gambling yield in the market's own namespace.
        _sub(el, el.nsmap[None], ggr, totals.ggr).set("currency", base)


def _financial(el: etree._Element, data: ReportData) -> None:
    base = data.base_currency
    payments = _c(el, "Payments")
    for p in data.financial.payments:
        row = _c(payments, "Payment")
        _c(row, "Direction", p.direction)
        _optional(row, "Method", p.method)
        _optional(row, "Status", p.status)
        _c(row, "Count", p.count)
        _money(row, "Amount", p.amount, p.currency)
        _money(row, "AmountBase", p.amount_base, base)
    gaming = _c(el, "Gaming")
    for g in data.financial.gaming:
        row = _c(gaming, "Game")
        _optional(row, "GameKind", g.game_kind)
        _c(row, "Bets", g.bets)
        _money(row, "Stakes", g.stakes, g.currency)
        _money(row, "Wins", g.wins, g.currency)
        _money(row, "GGR", g.ggr, g.currency)
        _money(row, "GGRBase", g.ggr_base, base)
    daily = _c(el, "Daily")
    for d in data.financial.daily:
        row = _c(daily, "Day")
        _c(row, "Date", d.day.isoformat())
        _money(row, "GGRBase", d.ggr_base, base)


def _fairness(el: etree._Element, data: ReportData) -> None:
    fairness = data.fairness
    # repr is the shortest text that reads back as the same float, and is xs:double.
    _c(el, "AnomalyThreshold", repr(float(fairness.threshold)))
    _c(el, "AnomalyIncidents", fairness.incidents)
    games = _c(el, "Games")
    for g in fairness.games:
        row = _c(games, "Game")
        _c(row, "GameId", g.game_id)
        _c(row, "Checks", g.checks)
        _c(row, "Anomalies", g.anomalies)


def _kyc_aml(el: etree._Element, data: ReportData) -> None:
    kyc = data.kyc_aml
    _c(el, "ActivePlayers", kyc.active_players)
    _c(el, "SarsFiled", kyc.sars_filed)
    verifications = _c(el, "Verifications")
    for v in kyc.verifications:
        row = _c(verifications, "Verification")
        _c(row, "Level", v.level)
        _optional(row, "Status", v.status)
        _c(row, "Count", v.count)
    alerts = _c(el, "Alerts")
    for a in kyc.alerts:
        row = _c(alerts, "Alert")
        _c(row, "Family", a.family)
        _c(row, "Severity", a.severity)
        _c(row, "Count", a.count)
    cases = _c(el, "Cases")
    for case in kyc.cases:
        row = _c(cases, "Case")
        _c(row, "Outcome", case.outcome)
        _c(row, "Count", case.count)


def _incidents(el: etree._Element, data: ReportData) -> None:
    for i in data.incidents:
        row = _c(el, "Incident")
        _c(row, "Kind", i.kind)
        _c(row, "Priority", i.priority)
        _c(row, "Opened", i.opened)
        _c(row, "Closed", i.closed)


def _responsible(el: etree._Element, data: ReportData) -> None:
    _c(el, "SelfExclusions", data.responsible.self_exclusions)
    limits = _c(el, "LimitChanges")
    for limit in data.responsible.limits:
        row = _c(limits, "LimitChange")
        _optional(row, "LimitKind", limit.limit_kind)
        _c(row, "Count", limit.count)


# Validating


@cache
def _shipped() -> frozenset[str]:
    return frozenset({COMMON_SCHEMA, *(t.schema for t in TEMPLATES.values())})


class _ShippedSchemas(etree.Resolver):  # type: ignore[misc]
    """Serves the package's schema files to an `xs:import` and nothing else."""

    def resolve(self, system_url: str | None, public_id: str | None, context: object) -> object:
        name = (system_url or "").removeprefix(_SCHEMA_BASE)
        if name in _shipped():
            return self.resolve_string(schema_text(name), context, base_url=system_url)
        return self.resolve_empty(context)


class _Refuse(etree.Resolver):  # type: ignore[misc]
    """A document gets nothing from outside itself (belt and braces: the parser neither
    loads DTDs nor resolves entities)."""

    def resolve(self, system_url: str | None, public_id: str | None, context: object) -> object:
        return self.resolve_empty(context)


@cache
def _schema(market: str) -> tuple[etree.XMLSchema, threading.Lock]:
    t = template(market)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    parser.resolvers.add(_ShippedSchemas())
    doc = etree.fromstring(schema_text(t.schema), parser, base_url=_SCHEMA_BASE + t.schema)
    return etree.XMLSchema(doc.getroottree()), threading.Lock()


def _problems(log: etree._ListErrorLog) -> list[XmlProblem]:
    errors = [e for e in log if e.level >= etree.ErrorLevels.ERROR]
    problems = [XmlProblem(e.line, e.column, e.message.strip()) for e in errors[:MAX_PROBLEMS]]
    if len(errors) > MAX_PROBLEMS:
        more = errors[MAX_PROBLEMS]
        problems.append(
            XmlProblem(more.line, more.column, f"{len(errors) - MAX_PROBLEMS} more problems")
        )
    return problems


def _position(content: bytes, marker: bytes) -> tuple[int, int]:
    """The 1-based line and column of `marker` in `content`; (1, 1) if it is not there
    as ASCII (a UTF-16 document, say)."""
    at = content.find(marker)
    if at < 0:
        return 1, 1
    return content.count(b"\n", 0, at) + 1, at - (content.rfind(b"\n", 0, at) + 1) + 1
