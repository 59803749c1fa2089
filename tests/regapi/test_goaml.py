"""goAML SAR documents: what `build` writes validates against the shipped schema, the
same input gives the same bytes, a tampered document is named by its problems, and the
validator reads no entity, file or DTD."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from lxml import etree

from regapi.sar import goaml
from regapi.sar.goaml import (
    Instrument,
    Player,
    ReportingEntity,
    ReportingPerson,
    SarInput,
    Transaction,
)

T0 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)


def deposit(event_id: str = "ev-1", seq: int = 1, **changes: Any) -> Transaction:
    values: dict[str, Any] = {
        "event_id": event_id, "seq": seq, "kind": "deposit", "player_id": "p-1", "at": T0,
        "amount_minor": 1_500_000, "currency": "EUR", "local_minor": 1_500_000, "rate": 1.0,
        "method": "card", "provider": "acmepay", "instrument_id": "card-1",
        "instrument_country": "MT", "ip_country": "MT", "status": "approved",
    }  # fmt: skip
    return Transaction(**(values | changes))


def sample(**changes: Any) -> SarInput:
    values: dict[str, Any] = {
        "reference": "PB-SAR-MGA-12-1",
        "report_code": "SAR",
        "submitted_at": datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
        "market": "MGA",
        "timezone": "Europe/Malta",
        "currency_local": "EUR",
        "entity": ReportingEntity(
            rentity_id=4242, name="Example Casino Ltd", licence="MGA/B2C/123/2019", country="MT"
        ),
        "reporting_person": ReportingPerson(
            first_name="Mary", last_name="Lro", email="mlro@casino.test", occupation="MLRO"
        ),
        "reason": "A large card deposit withdrawn to a new e-wallet within hours.",
        "action": "Case 12 was escalated for this report.",
        "players": [
            Player(
                player_id="p-1",
                reason="subject of case 12",
                full_name="Ada Maria Example",
                birthdate=date(1990, 5, 1),
                nationality="MT",
                email="ada@example.test",
                id_number="MT1234567",
                phone="+35699123456",
                address="1 Main St\nValletta",
            ),
            Player(player_id="p-2", reason="involved player of case 12"),
        ],
        "instruments": [
            Instrument(
                instrument_id="card-1",
                player_id="p-1",
                provider="acmepay",
                method="card",
                currency="EUR",
                country="MT",
                reason="1 deposit",
            ),
        ],
        "transactions": [
            deposit(),
            deposit(
                "ev-2",
                2,
                kind="withdrawal",
                at=datetime(2026, 11, 1, 13, 0, tzinfo=UTC),
                amount_minor=1_200_000,
                currency="GBP",
                local_minor=1_380_000,
                rate=1.15,
                method="ewallet",
                instrument_id="wallet-9",
                instrument_country=None,
                status=None,
            ),
            deposit(
                "ev-3",
                3,
                kind="chargeback",
                at=datetime(2026, 11, 1, 15, 0, tzinfo=UTC),
                ref_event_id="ev-1",
                status=None,
            ),
        ],
        "indicators": ["pass_through", "large_transaction", "large_transaction"],
    }
    return SarInput(**(values | changes))


def tree(content: bytes) -> Any:
    return etree.fromstring(content)


def texts(content: bytes, xpath: str) -> list[str]:
    return [str(e.text) for e in tree(content).xpath(xpath)]


# --- building ------------------------------------------------------------------------


def test_a_built_report_validates() -> None:
    content = goaml.build(sample())
    assert goaml.validate(content) == []
    assert content.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert texts(content, "/report/entity_reference") == ["PB-SAR-MGA-12-1"]
    assert texts(content, "/report/rentity_id") == ["4242"]
    assert texts(content, "/report/submission_code") == ["E"]
    # goAML times are local to the market, without a zone (Malta is UTC+1 in November).
    assert texts(content, "/report/submission_date") == ["2026-11-02T10:30:00"]
    assert texts(content, "/report/transaction/date_transaction") == [
        "2026-11-01T11:00:00", "2026-11-01T14:00:00", "2026-11-01T16:00:00"
    ]  # fmt: skip
    assert texts(content, "/report/report_indicators/indicator") == [
        "large_transaction",
        "pass_through",
    ]


def test_money_flows_through_the_players_account() -> None:
    content = goaml.build(sample())
    first, second, third = tree(content).xpath("/report/transaction")
    # A deposit: from the card at the PSP into the player's account at the operator.
    assert first.findtext("t_from/from_account/account") == "card-1"
    assert first.findtext("t_from/from_account/institution_name") == "acmepay"
    assert first.findtext("t_from/from_country") == "MT"
    assert first.findtext("t_to_my_client/to_account/account") == "p-1"
    assert first.findtext("t_to_my_client/to_account/institution_code") == "MGA/B2C/123/2019"
    assert first.findtext("t_to_my_client/to_account/account_name") == "Ada Maria Example"
    assert first.findtext("amount_local") == "15000.00"
    assert first.find("t_from/from_foreign_currency") is None  # already in EUR
    # A withdrawal in GBP: amount_local in EUR, the original kept as foreign currency.
    assert second.findtext("t_from_my_client/from_account/account") == "p-1"
    assert second.findtext("t_to/to_account/account") == "wallet-9"
    assert second.findtext("t_to/to_country") == "-"  # unknown
    assert second.findtext("amount_local") == "13800.00"
    assert second.findtext("t_to/to_foreign_currency/foreign_currency_code") == "GBP"
    assert second.findtext("t_to/to_foreign_currency/foreign_amount") == "12000.00"
    assert second.findtext("t_to/to_foreign_currency/foreign_exchange_rate") == "1.15"
    assert second.findtext("transmode_code") == "EWALLET"
    # A chargeback leaves the player's account for the card.
    assert third.findtext("t_from_my_client/from_funds_code") == "GAMING"
    assert "chargeback of deposit ev-1" in third.findtext("transaction_description")


def test_the_parties_are_the_players_their_accounts_and_instruments() -> None:
    content = goaml.build(sample())
    parties = tree(content).xpath("/report/activity/report_parties/report_party")
    person = parties[0].find("person")
    assert [person.findtext(t) for t in ("first_name", "middle_name", "last_name")] == [
        "Ada", "Maria", "Example"
    ]  # fmt: skip
    assert person.findtext("birthdate") == "1990-05-01T00:00:00"
    assert person.findtext("id_number") == "MT1234567"
    assert person.findtext("nationality1") == "MT"
    assert "address on file: 1 Main St Valletta" in person.findtext("comments")
    accounts = [p.findtext("account/account") for p in parties if p.find("account") is not None]
    # p-2 has no profile: only their account is reported.
    assert accounts == ["p-1", "p-2", "card-1"]
    assert len(parties) == 4


def test_the_same_input_gives_the_same_bytes() -> None:
    first = sample()
    shuffled = sample(
        transactions=list(reversed(first.transactions)),
        players=list(reversed(first.players)),
        indicators=list(reversed(first.indicators)),
    )
    assert goaml.build(first) == goaml.build(first) == goaml.build(shuffled)


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [(1_500_000, "EUR", "15000.00"), (5, "EUR", "0.05"), (1_500, "JPY", "1500"),
     (1_234, "KWD", "1.234"), (0, "GBP", "0.00")],
)  # fmt: skip
def test_amounts_are_major_units(amount: int, currency: str, expected: str) -> None:
    assert goaml.major(amount, currency) == expected


@pytest.mark.parametrize(
    ("full", "expected"),
    [("Ada Example", ("Ada", None, "Example")), ("Ada Maria Lu Example", ("Ada", "Maria Lu",
     "Example")), ("Cher", ("-", None, "Cher")), ("  ", ("-", None, "-"))],
)  # fmt: skip
def test_names_split_into_goamls_parts(full: str, expected: tuple[str, str | None, str]) -> None:
    assert goaml.split_name(full) == expected


def test_characters_xml_cannot_carry_are_replaced() -> None:
    content = goaml.build(sample(reason="bell \x07 and NUL \x00 here"))
    assert goaml.validate(content) == []
    assert texts(content, "/report/reason") == ["bell \ufffd and NUL \ufffd here"]


def test_a_long_event_id_is_numbered_by_its_sequence() -> None:
    content = goaml.build(sample(transactions=[deposit("e" * 150, 77)]))
    assert goaml.validate(content) == []
    assert texts(content, "/report/transaction/transactionnumber") == ["seq-77"]


def test_a_name_longer_than_goaml_allows_is_a_problem() -> None:
    [who, *rest] = sample().players
    long = msgspec.structs.replace(who, full_name="Ada " + "X" * 150)
    problems = goaml.validate(goaml.build(sample(players=[long, *rest])))
    assert [p.path for p in problems] == [
        "/report/activity/report_parties/report_party[1]/person/last_name"
    ]


# --- tampering -----------------------------------------------------------------------


def _set(xpath: str, value: str) -> Callable[[Any], None]:
    def change(root: Any) -> None:
        root.xpath(xpath)[0].text = value

    return change


def _remove(xpath: str) -> Callable[[Any], None]:
    def change(root: Any) -> None:
        element = root.xpath(xpath)[0]
        element.getparent().remove(element)

    return change


def _append(xpath: str, tag: str) -> Callable[[Any], None]:
    def change(root: Any) -> None:
        etree.SubElement(root.xpath(xpath)[0], tag).text = "x"

    return change


def _no_indicators(root: Any) -> None:
    for element in root.xpath("/report/report_indicators/indicator"):
        element.getparent().remove(element)


def _duplicate_transaction(root: Any) -> None:
    first = root.xpath("/report/transaction")[0]
    first.addnext(copy.deepcopy(first))


@pytest.mark.parametrize(
    ("change", "where", "says"),
    [
        (_remove("/report/rentity_id"), "/report/submission_code", "Expected is ( rentity_id )"),
        (_set("/report/rentity_id", "0"), "/report/rentity_id", "minInclusive"),
        (_set("/report/report_code", "CTR"), "/report/report_code", "enumeration"),
        (_set("/report/reason", "   "), "/report/reason", "pattern"),
        (_set("/report/transaction[1]/amount_local", "15,000.00"),
         "/report/transaction[1]/amount_local", "decimal"),
        (_set("/report/transaction[1]/date_transaction", "2026-11-01T11:00:00Z"),
         "/report/transaction[1]/date_transaction", "pattern"),
        (_set("/report/currency_code_local", "euro"), "/report/currency_code_local", "pattern"),
        (_no_indicators, "/report/report_indicators", "Expected is ( indicator )"),
        (_append("/report/reporting_person", "password"), "/report/reporting_person/password",
         "not expected"),
        (_remove("/report/transaction[1]/t_from/from_account"),
         "/report/transaction[1]/t_from/from_country", "from_account"),
        (_duplicate_transaction, "/report/transaction[2]", "Duplicate key-sequence ['ev-1']"),
    ],
)  # fmt: skip
def test_a_tampered_report_is_named_by_its_problems(
    change: Callable[[Any], None], where: str, says: str
) -> None:
    root = tree(goaml.build(sample()))
    change(root)
    problems = goaml.validate(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    assert problems, "the tampered document validated"
    assert any(p.path == where and says in p.message for p in problems), problems
    assert all(p.line > 0 for p in problems)


def test_malformed_xml_is_a_problem_with_its_line() -> None:
    [problem] = goaml.validate(b"<?xml version='1.0'?>\n<report>\n  <rentity_id>1</report>\n")
    assert problem.line == 3
    assert "mismatch" in problem.message.lower()
    assert goaml.validate(b"")[0].message


# --- the validator is hardened ------------------------------------------------------


def test_an_external_entity_is_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    valid = goaml.build(sample()).decode().split("\n", 1)[1]
    reason = "A large card deposit withdrawn to a new e-wallet within hours."
    doc = (
        f'<?xml version="1.0"?>\n<!DOCTYPE report [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
        + valid.replace(reason, "&xxe;")
    )
    problems = goaml.validate(doc.encode())
    assert [p.message for p in problems] == ["a DOCTYPE is not allowed in a report"]
    assert "TOP-SECRET" not in repr(problems)


def test_a_doctype_is_refused_even_on_an_otherwise_valid_report() -> None:
    valid = goaml.build(sample())
    assert goaml.validate(valid) == []
    doctyped = valid.replace(b"<report>", b"<!DOCTYPE report>\n<report>", 1)
    assert [p.message for p in goaml.validate(doctyped)] == ["a DOCTYPE is not allowed in a report"]


def test_entity_expansion_is_never_done() -> None:
    lol = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10 if i else "lol"}">' for i in range(10))
    doc = f'<?xml version="1.0"?><!DOCTYPE report [{lol}]><report>&l9;</report>'
    problems = goaml.validate(doc.encode())
    assert len(repr(problems)) < 1_000
    assert problems
