"""Suspicious activity reports as goAML XML: the typed input, the document Pitboss files,
and its validation against Pitboss's schema of the goAML elements it fills
(`schemas/goaml-sar-1.xsd`; not the FIU's own XSD, see its annotation).

Pure: nothing here reads the database or the clock. `regapi.sar.filing` gathers the input
from a case and stores what `build` makes; the same input always gives the same bytes.

Money runs through the player's account at the operator, goAML's "my client" side: a
deposit comes from a payment instrument (`t_from`) into that account (`t_to_my_client`),
a withdrawal or a chargeback leaves it (`t_from_my_client`) for the instrument (`t_to`).
"""

from __future__ import annotations

import functools
import re
from datetime import date, datetime
from decimal import Decimal
from importlib import resources
from typing import Annotated, Any, Final, Literal, TypeAlias
from zoneinfo import ZoneInfo

import msgspec
from lxml import etree
from msgspec import Meta

from dsl.vocabulary import minor_units

SCHEMA_FILE: Final = "goaml-sar-1.xsd"
ReportCode: TypeAlias = Literal["SAR", "STR"]
REPORT_CODES: Final[tuple[ReportCode, ...]] = ("SAR", "STR")
TransactionKind: TypeAlias = Literal["deposit", "withdrawal", "chargeback"]
TRANSACTION_KINDS: Final[tuple[TransactionKind, ...]] = ("deposit", "withdrawal", "chargeback")
UNKNOWN_COUNTRY: Final = "-"  # goAML's "unknown" in every lookup
# goAML keeps transaction numbers to 100 characters; event ids may have up to 256.
_NUMBER_MAX: Final = 100
_CLIENT_NUMBER_MAX: Final = 30
# Characters XML 1.0 cannot carry at all; they are replaced, never dropped silently.
_NOT_XML: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# Mnemonic codes for the FIU's funds-type and conduction-type lookups, by payment method.
DEFAULT_METHOD_CODES: Final = {
    "card": "CARD",
    "ewallet": "EWALLET",
    "bank_transfer": "TRANSFER",
    "prepaid": "PREPAID",
    "crypto": "CRYPTO",
}


# --- the input ------------------------------------------------------------------------


class ReportingPerson(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """goAML's `reporting_person`: who files the report (the MLRO or a deputy)."""

    first_name: Annotated[str, Meta(min_length=1, max_length=100)]
    last_name: Annotated[str, Meta(min_length=1, max_length=100)]
    email: Annotated[str, Meta(min_length=3, max_length=255)] | None = None
    occupation: Annotated[str, Meta(min_length=1, max_length=255)] | None = None


class ReportingEntity(msgspec.Struct, frozen=True, kw_only=True):
    """The operator as the FIU knows it."""

    rentity_id: int  # its reporting-entity id at the market's FIU
    name: str  # the operator; the institution holding players' accounts
    licence: str  # its licence in the market; the institution code of those accounts
    country: str  # ISO 3166 alpha-2 of the market
    branch: str | None = None


class Player(msgspec.Struct, frozen=True, kw_only=True):
    """An involved player. The personal fields come from their profile and are None
    without one (then only their account at the operator is reported)."""

    player_id: str
    reason: str  # why they are in the report
    full_name: str | None = None
    birthdate: date | None = None
    nationality: str | None = None  # ISO 3166 alpha-2
    email: str | None = None
    id_number: str | None = None
    phone: str | None = None
    address: str | None = None


class Instrument(msgspec.Struct, frozen=True, kw_only=True):
    """A payment instrument (hashed card or wallet id) a player used."""

    instrument_id: str
    player_id: str
    provider: str | None  # the payment service provider
    method: str | None
    currency: str
    country: str | None  # the card's issuing country, when known
    reason: str


class Transaction(msgspec.Struct, frozen=True, kw_only=True):
    """A deposit, withdrawal or chargeback of an involved player."""

    event_id: str
    seq: int  # the service's sequence number: the operator's internal reference
    kind: TransactionKind
    player_id: str
    at: datetime  # aware
    amount_minor: int  # in `currency`
    currency: str
    local_minor: int  # the same amount in the report's local currency
    rate: float  # local units per unit of `currency` at `at` (1.0 when the same)
    method: str | None = None
    provider: str | None = None
    instrument_id: str | None = None
    instrument_country: str | None = None
    ip_country: str | None = None
    status: str | None = None
    ref_event_id: str | None = None  # a chargeback's deposit


class Lookups(msgspec.Struct, frozen=True, kw_only=True):
    """The codes written where goAML takes a code of the FIU's lookup tables. The
    defaults are Pitboss's mnemonics; an operator maps them to its FIU's table."""

    methods: dict[str, str] = msgspec.field(default_factory=lambda: dict(DEFAULT_METHOD_CODES))
    gaming_account: str = "GAMING"  # funds held in a player's account at the operator
    other: str = "OTHER"  # a payment method without a code


class SarInput(msgspec.Struct, frozen=True, kw_only=True):
    reference: str  # goAML entity_reference
    report_code: ReportCode
    submitted_at: datetime  # aware
    market: str
    timezone: str  # the market's: goAML times are local, without a zone
    currency_local: str
    entity: ReportingEntity
    reporting_person: ReportingPerson
    reason: str
    action: str | None
    players: list[Player]
    instruments: list[Instrument]
    transactions: list[Transaction]
    indicators: list[str]  # ids of the rules that fired
    lookups: Lookups = msgspec.field(default_factory=Lookups)


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    """Why a document does not validate: where, and what the schema says."""

    line: int
    column: int
    message: str
    path: str | None = None  # the element, as an XPath, when known

    def __str__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        return f"line {self.line}:{self.column}{where}: {self.message}"


# --- formatting ------------------------------------------------------------------------


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _local_time(at: datetime, zone: ZoneInfo) -> str:
    """goAML's sql_date: local date and time, no zone, whole seconds."""
    return at.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S")


def _day(day: date) -> str:
    return f"{day.isoformat()}T00:00:00"


def _decimal(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def major(amount_minor: int, currency: str) -> str:
    """An amount in minor units as goAML's decimal in major units: 1500000 EUR → 15000.00."""
    places = minor_units(currency)
    return f"{Decimal(amount_minor).scaleb(-places):.{places}f}"


def _rate(rate: float) -> str:
    return _decimal(Decimal(rate).quantize(Decimal("1e-10")))


def split_name(full_name: str) -> tuple[str, str | None, str]:
    """First, middle and last name from a full name. goAML needs both a first and a last
    name: a name of one word is the last name, and the first reads "-" (unknown)."""
    parts = full_name.split()
    if not parts:
        return "-", None, "-"
    if len(parts) == 1:
        return "-", None, parts[0]
    return parts[0], " ".join(parts[1:-1]) or None, parts[-1]


def transaction_number(t: Transaction) -> str:
    """The event id, or (one too long for goAML) the service's sequence number."""
    return t.event_id if len(t.event_id) <= _NUMBER_MAX else f"seq-{t.seq}"


# --- building ---------------------------------------------------------------------------


def _add(parent: Any, tag: str, text: str | None = None) -> Any:
    element = etree.SubElement(parent, tag)
    if text is not None:
        element.text = _clean(text)
    return element


def _maybe(parent: Any, tag: str, text: str | None) -> None:
    if text is not None:
        _add(parent, tag, text)


def _method_code(sar: SarInput, method: str | None) -> str:
    return sar.lookups.methods.get(method or "", sar.lookups.other)


class _Builder:
    def __init__(self, sar: SarInput) -> None:
        self.sar = sar
        self.zone = ZoneInfo(sar.timezone)
        self.names = {p.player_id: p.full_name for p in sar.players}

    def document(self) -> Any:
        sar = self.sar
        root = etree.Element("report")
        _add(root, "rentity_id", str(sar.entity.rentity_id))
        _maybe(root, "rentity_branch", sar.entity.branch)
        _add(root, "submission_code", "E")
        _add(root, "report_code", sar.report_code)
        _add(root, "entity_reference", sar.reference)
        _add(root, "submission_date", _local_time(sar.submitted_at, self.zone))
        _add(root, "currency_code_local", sar.currency_local)
        person = _add(root, "reporting_person")
        _add(person, "first_name", sar.reporting_person.first_name)
        _add(person, "last_name", sar.reporting_person.last_name)
        _maybe(person, "email", sar.reporting_person.email)
        _maybe(person, "occupation", sar.reporting_person.occupation)
        _add(root, "reason", sar.reason)
        _maybe(root, "action", sar.action)
        for t in sorted(sar.transactions, key=lambda t: (t.at, t.seq)):
            self.transaction(root, t)
        self.activity(root)
        indicators = _add(root, "report_indicators")
        for code in sorted(set(sar.indicators)):
            _add(indicators, "indicator", code)
        return root

    def player_account(self, parent: Any, tag: str, player_id: str, currency: str | None) -> None:
        """A player's account at the operator (goAML's "my client" account)."""
        entity = self.sar.entity
        account = _add(parent, tag)
        _add(account, "institution_name", entity.name)
        _add(account, "institution_code", entity.licence)
        _add(account, "non_bank_institution", "true")
        _add(account, "account", player_id)
        _maybe(account, "currency_code", currency)
        _maybe(account, "account_name", self.names.get(player_id))
        if len(player_id) <= _CLIENT_NUMBER_MAX:
            _add(account, "client_number", player_id)

    def instrument_account(
        self,
        parent: Any,
        tag: str,
        instrument_id: str | None,
        provider: str | None,
        method: str | None,
        currency: str,
    ) -> None:
        """A card or wallet at a payment service provider."""
        account = _add(parent, tag)
        _add(account, "institution_name", provider or method or "unknown payment provider")
        if provider is not None:
            _add(account, "non_bank_institution", "true")
        _add(account, "account", instrument_id or "unknown")
        _add(account, "currency_code", currency)

    def foreign(self, parent: Any, tag: str, t: Transaction) -> None:
        if t.currency == self.sar.currency_local:
            return
        block = _add(parent, tag)
        _add(block, "foreign_currency_code", t.currency)
        _add(block, "foreign_amount", major(t.amount_minor, t.currency))
        _add(block, "foreign_exchange_rate", _rate(t.rate))

    def transaction(self, root: Any, t: Transaction) -> None:
        sar = self.sar
        tx = _add(root, "transaction")
        _add(tx, "transactionnumber", transaction_number(t))
        _add(tx, "internal_ref_number", str(t.seq))
        where = f"online, {sar.market}" + (f", IP country {t.ip_country}" if t.ip_country else "")
        _add(tx, "transaction_location", where)
        _add(tx, "transaction_description", _description(t))
        _add(tx, "date_transaction", _local_time(t.at, self.zone))
        _add(tx, "transmode_code", _method_code(sar, t.method))
        _add(tx, "amount_local", major(t.local_minor, sar.currency_local))
        country = t.instrument_country or UNKNOWN_COUNTRY
        if t.kind == "deposit":
            side = _add(tx, "t_from")
            _add(side, "from_funds_code", _method_code(sar, t.method))
            self.foreign(side, "from_foreign_currency", t)
            self.instrument_account(side, "from_account", t.instrument_id, t.provider,
                                    t.method, t.currency)  # fmt: skip
            _add(side, "from_country", country)
            side = _add(tx, "t_to_my_client")
            _add(side, "to_funds_code", sar.lookups.gaming_account)
            self.player_account(side, "to_account", t.player_id, t.currency)
            _add(side, "to_country", sar.entity.country)
        else:
            side = _add(tx, "t_from_my_client")
            _add(side, "from_funds_code", sar.lookups.gaming_account)
            self.player_account(side, "from_account", t.player_id, t.currency)
            _add(side, "from_country", sar.entity.country)
            side = _add(tx, "t_to")
            _add(side, "to_funds_code", _method_code(sar, t.method))
            self.foreign(side, "to_foreign_currency", t)
            self.instrument_account(side, "to_account", t.instrument_id, t.provider,
                                    t.method, t.currency)  # fmt: skip
            _add(side, "to_country", country)

    def activity(self, root: Any) -> None:
        parties = _add(_add(root, "activity"), "report_parties")
        for p in sorted(self.sar.players, key=lambda p: p.player_id):
            if p.full_name is not None:
                party = _add(parties, "report_party")
                _person(_add(party, "person"), p, self.zone)
                _add(party, "reason", p.reason)
            party = _add(parties, "report_party")
            self.player_account(party, "account", p.player_id, None)
            _add(party, "reason", f"the account of player {p.player_id} at "
                                  f"{self.sar.entity.name}")  # fmt: skip
        for i in sorted(self.sar.instruments, key=lambda i: (i.instrument_id, i.player_id)):
            party = _add(parties, "report_party")
            self.instrument_account(party, "account", i.instrument_id, i.provider, i.method,
                                    i.currency)  # fmt: skip
            _add(party, "reason", i.reason)


def _person(element: Any, p: Player, zone: ZoneInfo) -> None:
    first, middle, last = split_name(p.full_name or "")
    _add(element, "first_name", first)
    _maybe(element, "middle_name", middle)
    _add(element, "last_name", last)
    if p.birthdate is not None:
        _add(element, "birthdate", _day(p.birthdate))
    _maybe(element, "id_number", p.id_number)
    _maybe(element, "nationality1", p.nationality)
    _maybe(element, "email", p.email)
    notes = [f"player {p.player_id}"]
    if p.phone:
        notes.append(f"phone {p.phone}")
    if p.address:
        notes.append("address on file: " + " ".join(p.address.split()))
    _add(element, "comments", "; ".join(notes))


def _description(t: Transaction) -> str:
    if t.kind == "chargeback":
        what = "chargeback" + (f" of deposit {t.ref_event_id}" if t.ref_event_id else "")
    else:
        via = "by" if t.kind == "deposit" else "to"
        what = f"{t.kind} {via} {t.method or 'an unknown method'}"
        if t.provider:
            what += f" via {t.provider}"
    if t.status:
        what += f", status {t.status}"
    return f"{what} (event {t.event_id})"


def build(sar: SarInput) -> bytes:
    """The goAML report for `sar`, UTF-8 with an XML declaration. The same input gives
    the same bytes: transactions, parties and indicators are written in a fixed order."""
    root = _Builder(sar).document()
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


# --- validating --------------------------------------------------------------------------


def _parser() -> Any:
    # Hardened: no entity is expanded, no DTD loaded, nothing fetched over the network,
    # and libxml2's limits on depth and size stay on (huge_tree off).
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
    )


@functools.cache
def schema() -> Any:
    """The shipped schema, parsed once."""
    text = resources.files("regapi.sar").joinpath("schemas", SCHEMA_FILE).read_bytes()
    return etree.XMLSchema(etree.fromstring(text, _parser()))


def validate(content: bytes) -> list[Problem]:
    """What is wrong with `content` as a Pitboss goAML report; empty when it is valid.

    A document with a DOCTYPE is refused before validation: a report has no use for one,
    and entities are how XML reads files or explodes in size."""
    try:
        root = etree.fromstring(content, _parser())
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (0, 0)
        return [Problem(line=line or 0, column=column or 0, message=str(exc.msg))]
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        return [Problem(line=1, column=0, message="a DOCTYPE is not allowed in a report")]
    validator = schema()
    if validator.validate(root):
        return []
    return [
        Problem(line=e.line, column=e.column, message=e.message, path=e.path or None)
        for e in validator.error_log
    ]
