"""Suspicious activity reports over HTTP: filed from an escalated case as goAML XML that
validates, audited, append-only, for compliance officers only — and never visible to the
player, nor in a regulator's view of the player."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from lxml import etree

from engine.events import to_epoch_ms
from engine.fx import RateTable
from pitboss.service.settings import Settings
from regapi import audit
from regapi.sar import goaml
from regapi.store import sars as store
from tests.service.conftest import event
from tests.service.regulators import LARGE, Client, regulator, sar_case, send
from tests.service.serving import serve, token_for

CONFIG = """
[operator]
name = "Example Casino Ltd"

[markets.MGA]
licence = "MGA/B2C/123/2019"
fiu_entity_id = 4242
"""
OFFICER = {"first_name": "Mary", "last_name": "Lro", "email": "mlro@casino.test"}
NARRATIVE = "Large card deposit withdrawn to a new e-wallet within hours, then charged back."
AT = "2026-11-10T10:00:00Z"


@pytest.fixture
async def officer(settings: Settings, tmp_path: Path) -> AsyncIterator[Client]:
    """The service with a reports configuration that names the operator's FIU id."""
    path = tmp_path / "reports.toml"
    path.write_text(CONFIG)
    async with serve(dataclasses.replace(settings, reports_config=path)) as client:
        yield client


@pytest.fixture
async def conn(officer: Client, database_url: str) -> AsyncIterator[asyncpg.Connection]:
    c = await asyncpg.connect(database_url)
    yield c
    await c.close()


def bearer(client: Client, *granted: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(client, *granted)}"}


async def call(
    client: Client, method: str, path: str, status: int, body: Any = None, **kw: Any
) -> Any:
    resp = await client.request(method, path, json=body, **kw)
    assert resp.status == status, await resp.text()
    return await resp.json()


async def case_for(client: Client, player: str, *moves: str, ts: str = AT) -> int:
    """A case around `player`'s AML alert (from a large deposit), moved along `moves`."""
    await send(client, event("deposit", player_id=player, amount=LARGE, ts=ts))
    resp = await client.get("/v1/alerts", params={"player": player, "family": "aml"})
    [alert] = (await resp.json())["alerts"]
    case = await call(client, "POST", "/v1/cases", 201, {"alert_ids": [alert["id"]], "by": "ana"})
    for to in moves:
        await call(client, "POST", f"/v1/cases/{case['id']}/transition", 200,
                   {"to": to, "by": "ana"})  # fmt: skip
    return int(case["id"])


async def profile(client: Client, player: str, full_name: str = "Ada Example") -> None:
    body = {"market": "MGA", "full_name": full_name, "email": "ada@example.test",
            "date_of_birth": "1990-05-01", "document_number": "DE1234567"}  # fmt: skip
    resp = await client.put(f"/v1/players/{player}/profile", json=body)
    assert resp.status in (200, 201), await resp.text()


async def file(client: Client, case_id: int, status: int = 201, **body: Any) -> Any:
    return await call(client, "POST", f"/v1/cases/{case_id}/sar", status,
                      {"reason": NARRATIVE, "reporting_person": OFFICER} | body)  # fmt: skip


async def xml(client: Client, sar_id: int) -> bytes:
    resp = await client.get(f"/v1/sars/{sar_id}/xml")
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "application/xml"
    assert resp.headers["Cache-Control"] == "no-store"
    return await resp.read()


# --- filing -------------------------------------------------------------------------


async def test_a_sar_is_filed_from_an_escalated_case(
    officer: Client, conn: asyncpg.Connection
) -> None:
    big = event("deposit", player_id="p-s", amount=LARGE, ts=AT, ip_country="MT")
    await send(
        officer,
        event("kyc_update", player_id="p-s", kyc_level=2, status="approved", doc_country="DE",
              ts="2026-09-01T10:00:00Z"),
        # 40 days before the alert: outside the case's window.
        event("deposit", player_id="p-s", amount=2_000, ts="2026-10-01T10:00:00Z"),
        # 10 days before: inside it.
        event("deposit", player_id="p-s", amount=3_000, ts="2026-10-31T10:00:00Z"),
        big,
        event("withdrawal", player_id="p-s", amount=1_000_000, currency="GBP",
              method="ewallet", psp="walletco", instrument_id="wallet-9", card_country=None,
              ts="2026-11-10T12:00:00Z"),
        event("chargeback", player_id="p-s", amount=LARGE, ref_event_id=big["event_id"],
              ts="2026-11-10T14:00:00Z"),
    )  # fmt: skip
    await profile(officer, "p-s", "Ada Maria Example")
    resp = await officer.get("/v1/alerts", params={"player": "p-s", "family": "aml"})
    [alert] = (await resp.json())["alerts"]
    case = await call(officer, "POST", "/v1/cases", 201, {"alert_ids": [alert["id"]], "by": "a"})
    case_id = case["id"]
    for to in ("investigating", "escalated"):
        await call(officer, "POST", f"/v1/cases/{case_id}/transition", 200, {"to": to, "by": "a"})

    resp = await officer.post(f"/v1/cases/{case_id}/sar",
                              json={"reason": NARRATIVE, "reporting_person": OFFICER})  # fmt: skip
    assert resp.status == 201, await resp.text()
    record = await resp.json()
    reference = f"PB-SAR-MGA-{case_id}-1"
    assert set(record) == {"id", "reference", "case_id", "market", "report_code", "sha256",
                           "filed_by", "filed_at"}  # fmt: skip
    assert (record["reference"], record["case_id"], record["market"], record["report_code"]) == (
        reference, case_id, "MGA", "SAR"
    )  # fmt: skip
    assert record["filed_by"] == "test-client"
    assert resp.headers["Location"] == f"/v1/sars/{record['id']}/xml"

    content = await xml(officer, record["id"])
    assert hashlib.sha256(content).hexdigest() == record["sha256"]
    assert goaml.validate(content) == []
    root = etree.fromstring(content)
    assert root.findtext("entity_reference") == reference
    assert root.findtext("rentity_id") == "4242"
    assert root.findtext("report_code") == "SAR"
    assert root.findtext("currency_code_local") == "EUR"
    assert root.findtext("reason") == NARRATIVE
    assert root.findtext("reporting_person/last_name") == "Lro"
    assert root.findtext("action") == f"Case {case_id} was escalated for this report."
    assert "large_transaction" in [e.text for e in root.iterfind("report_indicators/indicator")]

    transactions = {t.findtext("transactionnumber"): t for t in root.iterfind("transaction")}
    numbers = [t.findtext("transactionnumber") for t in root.iterfind("transaction")]
    assert len(numbers) == 4  # the 40-day-old deposit is outside the window
    assert numbers[1] == big["event_id"]
    assert transactions[big["event_id"]].findtext("amount_local") == "15000.00"
    assert transactions[big["event_id"]].findtext("transaction_location") == (
        "online, MGA, IP country MT"
    )
    withdrawal = root.find("transaction[3]")
    rates = RateTable.default()
    at_ms = to_epoch_ms(datetime(2026, 11, 10, 12, tzinfo=UTC))
    assert withdrawal.findtext("amount_local") == goaml.major(
        rates.convert_minor(1_000_000, "GBP", "EUR", at_ms), "EUR"
    )
    assert withdrawal.findtext("t_to/to_foreign_currency/foreign_amount") == "10000.00"
    assert withdrawal.findtext("t_to/to_account/account") == "wallet-9"
    assert withdrawal.findtext("t_to/to_account/institution_name") == "walletco"
    chargeback = root.find("transaction[4]")
    assert chargeback.findtext("t_to/to_account/account") == "card-1"  # the deposit's card
    assert f"chargeback of deposit {big['event_id']}" in chargeback.findtext(
        "transaction_description"
    )

    person = root.find("activity/report_parties/report_party/person")
    assert [person.findtext(t) for t in ("first_name", "middle_name", "last_name")] == [
        "Ada", "Maria", "Example"
    ]  # fmt: skip
    assert person.findtext("birthdate") == "1990-05-01T00:00:00"
    assert person.findtext("nationality1") == "DE"  # the KYC document's country
    assert person.findtext("id_number") == "DE1234567"
    instruments = [a.text for a in root.iterfind("activity/report_parties/report_party/account/"
                                                 "account")]  # fmt: skip
    assert instruments == ["p-s", "card-1", "wallet-9"]

    listed = await call(officer, "GET", f"/v1/cases/{case_id}/sars", 200)
    assert listed == {"sars": [record]}

    # Audited with the facts of the filing, never the narrative nor personal data.
    [entry] = await audit.history(conn, "sar", reference)
    assert entry.action == "create"
    assert entry.actor == "test-client"
    assert entry.after == {"reference": reference, "case_id": case_id, "market": "MGA",
                           "report_code": "SAR", "sha256": record["sha256"],
                           "filed_by": "test-client"}  # fmt: skip
    assert "e-wallet" not in repr(entry)
    assert "Ada" not in repr(entry)

    timeline = await call(officer, "GET", f"/v1/cases/{case_id}/timeline", 200)
    last = timeline["entries"][-1]
    assert (last["kind"], last["data"]) == ("sar_filed", {"reference": reference,
                                                         "sar_id": record["id"]})  # fmt: skip

    # A second report from the same case (a continuing suspicion) is numbered on.
    again = await file(officer, case_id, report_code="STR")
    assert again["reference"] == f"PB-SAR-MGA-{case_id}-2"
    assert again["report_code"] == "STR"
    today = datetime.now(UTC)
    day = timedelta(days=1)
    assert await store.count_filed(conn, "MGA", today - day, today + day) == 2
    assert await store.count_filed(conn, "UKGC", today - day, today + day) == 0
    assert await store.count_filed(conn, "MGA", today - 3 * day, today - day) == 0


async def test_reports_filed_at_once_from_one_case_are_numbered_apart(officer: Client) -> None:
    case_id = await case_for(officer, "p-c", "investigating", "escalated")
    filed = await asyncio.gather(*(file(officer, case_id) for _ in range(3)))
    assert sorted(r["reference"] for r in filed) == [f"PB-SAR-MGA-{case_id}-{n}" for n in (1, 2, 3)]


async def test_only_a_case_whose_outcome_was_escalation_is_reported(officer: Client) -> None:
    refused = {
        "p-1": ("investigating",),
        "p-2": ("investigating", "cleared"),
        "p-3": ("investigating", "cleared", "closed"),
        "p-4": ("investigating", "restricted"),
    }
    for player, moves in refused.items():
        case_id = await case_for(officer, player, *moves)
        problem = await file(officer, case_id, 409)
        assert problem["field"] == "state"
        assert f"case {case_id} is {moves[-1]} and was never escalated" in problem["detail"]
    accepted = {
        "p-5": ("investigating", "escalated", "restricted"),
        "p-6": ("investigating", "escalated", "closed"),
        "p-7": ("investigating", "restricted", "escalated"),
    }
    for player, moves in accepted.items():
        case_id = await case_for(officer, player, *moves)
        assert (await file(officer, case_id))["case_id"] == case_id
    # The helper the regulator tests use: notes and a restriction speak of the SAR.
    restricted = await sar_case(officer, "p-8", AT)
    content = await xml(officer, (await file(officer, restricted))["id"])
    assert (
        etree.fromstring(content)
        .findtext("action")
        .endswith("restrictions in force on the account: withdrawal_freeze.")
    )

    for path in ("/v1/cases/999999/sar", "/v1/cases/nope/sar"):
        resp = await officer.post(path, json={"reason": NARRATIVE, "reporting_person": OFFICER})
        assert resp.status == 404
        assert (await resp.json())["field"] == "id"
    assert (await officer.get("/v1/cases/999999/sars")).status == 404
    assert (await officer.get("/v1/sars/999999/xml")).status == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reporting_person": OFFICER}, "reason"),
        ({"reason": "", "reporting_person": OFFICER}, "reason"),
        ({"reason": "  \n\t ", "reporting_person": OFFICER}, "reason"),
        ({"reason": "x" * 4_001, "reporting_person": OFFICER}, "reason"),
        ({"reason": "bell \x07", "reporting_person": OFFICER}, "reason"),
        ({"reason": NARRATIVE}, "reporting_person"),
        ({"reason": NARRATIVE, "reporting_person": {"last_name": "Lro"}}, "reporting_person"),
        ({"reason": NARRATIVE, "reporting_person": OFFICER | {"first_name": "  "}},
         "reporting_person.first_name"),
        ({"reason": NARRATIVE, "reporting_person": OFFICER | {"email": "mlro at casino"}},
         "reporting_person.email"),
        ({"reason": NARRATIVE, "reporting_person": OFFICER | {"phone": "1"}},
         "reporting_person"),
        ({"reason": NARRATIVE, "reporting_person": OFFICER, "report_code": "CTR"},
         "report_code"),
        ({"reason": NARRATIVE, "reporting_person": OFFICER, "to": "fiu"}, "to"),
    ],
)  # fmt: skip
async def test_a_bad_body_is_refused_naming_the_field(
    officer: Client, conn: asyncpg.Connection, body: dict[str, Any], field: str
) -> None:
    case_id = await case_for(officer, "p-b", "investigating", "escalated")
    problem = await call(officer, "POST", f"/v1/cases/{case_id}/sar", 422, body)
    assert problem["field"] == field
    assert await conn.fetchval("SELECT count(*) FROM sars") == 0


async def test_a_report_that_does_not_validate_is_not_filed(
    officer: Client, conn: asyncpg.Connection
) -> None:
    # goAML keeps a last name to 100 characters; a profile may hold a longer name.
    await profile(officer, "p-long", "Ada " + "X" * 150)
    case_id = await case_for(officer, "p-long", "investigating", "escalated")
    problem = await file(officer, case_id, 422)
    assert problem["title"] == "Invalid SAR"
    assert "nothing was filed" in problem["detail"]
    assert [e["field"] for e in problem["errors"]] == [
        "/report/activity/report_parties/report_party[1]/person/last_name"
    ]
    assert await conn.fetchval("SELECT count(*) FROM sars") == 0
    assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE entity = 'sar'") == 0
    kinds = [e["kind"] for e in (await call(officer, "GET", f"/v1/cases/{case_id}/timeline",
                                            200))["entries"]]  # fmt: skip
    assert "sar_filed" not in kinds


async def test_without_an_fiu_entity_id_nothing_is_filed(client: Client) -> None:
    # The development configuration has no reporting-entity id at any FIU.
    case_id = await case_for(client, "p-d", "investigating", "escalated")
    problem = await file(client, case_id, 409)
    assert problem["field"] == "markets.MGA.fiu_entity_id"


# --- who may see a report -------------------------------------------------------------


async def test_only_compliance_officers_file_and_read_reports(officer: Client) -> None:
    case_id = await case_for(officer, "p-r", "investigating", "escalated")
    analyst = bearer(officer, "analyst")
    body = {"reason": NARRATIVE, "reporting_person": OFFICER}
    assert (await officer.post(f"/v1/cases/{case_id}/sar", json=body, headers=analyst)).status == (
        403
    )
    record = await file(officer, case_id)
    # Analysts work the case: they may see that a report was filed, not what it says.
    listed = await call(officer, "GET", f"/v1/cases/{case_id}/sars", 200, headers=analyst)
    assert listed["sars"] == [record]
    assert NARRATIVE not in json.dumps(listed)
    assert (await officer.get(f"/v1/sars/{record['id']}/xml", headers=analyst)).status == 403
    for role in ("player_frontend", "regulator_read", "ingest", "policy_admin", "ops"):
        headers = bearer(officer, role)
        for method, path in (
            ("POST", f"/v1/cases/{case_id}/sar"),
            ("GET", f"/v1/cases/{case_id}/sars"),
            ("GET", f"/v1/sars/{record['id']}/xml"),
        ):
            resp = await officer.request(method, path, json=body, headers=headers)
            assert resp.status == 403, (role, method, path)


async def test_a_sar_is_never_shown_to_the_player_nor_in_the_regulators_view(
    officer: Client,
) -> None:
    await profile(officer, "p-t")
    case_id = await case_for(officer, "p-t", "investigating", "escalated")
    player = bearer(officer, "player_frontend")
    inspector = regulator(officer)

    async def seen() -> tuple[Any, Any]:
        status = await call(officer, "GET", "/v1/players/p-t/status", 200, headers=player)
        view = await call(officer, "GET", "/regulator/player/p-t", 200, headers=inspector)
        return status, view

    before = await seen()
    record = await file(officer, case_id, reason="NARRATIVE-7f3a: funds of unclear origin")
    after = await seen()
    # Filing changed nothing either of them sees.
    assert after == before
    for answer in after:
        text = json.dumps(answer)
        assert record["reference"] not in text
        assert "NARRATIVE-7f3a" not in text
        assert "sar" not in text.lower()
    # Nor does the regulator's audit route serve the report's audit trail.
    resp = await officer.get("/regulator/audit", params={"entity": "sar",
                             "id": record["reference"]}, headers=inspector)  # fmt: skip
    assert resp.status == 422
    assert (await resp.json())["field"] == "entity"


# --- the table --------------------------------------------------------------------------


async def test_the_sars_table_refuses_changes(officer: Client, conn: asyncpg.Connection) -> None:
    case_id = await case_for(officer, "p-a", "investigating", "escalated")
    record = await file(officer, case_id)
    for statement in (
        "UPDATE sars SET reason = 'rewritten'",
        "UPDATE sars SET xml = ''::bytea",
        "DELETE FROM sars",
        "TRUNCATE sars CASCADE",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await conn.execute(statement)
    row = await conn.fetchrow("SELECT reason, sha256, xml FROM sars WHERE id = $1", record["id"])
    assert row["reason"] == NARRATIVE
    assert hashlib.sha256(row["xml"]).hexdigest() == row["sha256"] == record["sha256"]
