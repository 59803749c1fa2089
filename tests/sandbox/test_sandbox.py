"""The regulator sandbox over the real service: every regulator route mirrored under
/sandbox over a seeded synthetic casino, with credentials that never reach live data."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from engine import webhooks
from pitboss.service.app import SANDBOX_APPS, SUB_APPS, make_app
from pitboss.service.auth import StartupRefusedError
from pitboss.service.settings import Settings
from regapi.reports import signing
from regapi.reports.render_xml import validate_xml
from tests.sandbox.seeded import sandbox_settings, sandbox_template
from tests.service import conftest as service_fixtures
from tests.service.conftest import event
from tests.service.receivers import Receiver, eventually
from tests.service.serving import Client, serve, token_for

pg_server = service_fixtures.pg_server
database_url = service_fixtures.database_url
settings = service_fixtures.settings
receiver = service_fixtures.receiver
__all__ = ["sandbox_settings", "sandbox_template"]

CALLBACK_SECRET = "sandbox-callback-secret-0123456789"


@pytest.fixture
async def service(sandbox_settings: Settings) -> AsyncIterator[Client]:
    configured = replace(
        sandbox_settings,
        regulator_callback_secrets={"sandbox-client": CALLBACK_SECRET},
        regulator_callback_backoff_s=0.05,
        regulator_request_poll_s=0.1,
    )
    async with serve(configured) as client:
        sandbox = token_for(client, "sandbox", client_id="sandbox-client")
        client.session.headers["Authorization"] = f"Bearer {sandbox}"
        yield client


def bearer(client: Client, *roles: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(client, *roles)}"}


def test_every_regulator_route_is_mirrored_for_sandbox_clients_only() -> None:
    live = {(p + r.path, r.method) for p, t in SUB_APPS for r in t.routes}
    mirrored = {(p.removeprefix("/sandbox") + r.path, r.method) for p, t in SANDBOX_APPS
                for r in t.routes}  # fmt: skip
    assert live <= mirrored
    assert {r.roles for _, t in SANDBOX_APPS for r in t.routes} == {("sandbox",)}


async def test_reports_of_the_synthetic_casino_are_signed_by_the_sandbox_key(
    service: Client,
) -> None:
    listing = await service.get("/sandbox/regulator/reports/monthly/2026-01")
    assert listing.status == 200, await listing.text()
    files = (await listing.json())["files"]
    assert {f["market"] for f in files} == {"MGA", "UKGC", "CW"}
    by_name = {f["name"]: f for f in files}
    assert by_name["MGA_monthly_2026-01.xml"]["url"] == (
        "/sandbox/regulator/reports/monthly/2026-01/MGA_monthly_2026-01.xml"
    )
    contents = {}
    for name in by_name:
        if name.startswith("MGA_"):
            got = await service.get(f"/sandbox/regulator/reports/monthly/2026-01/{name}")
            assert got.status == 200
            contents[name] = await got.read()
    assert validate_xml("MGA", contents["MGA_monthly_2026-01.xml"]) == []
    keys = await (await service.get("/sandbox/regulator/signing-keys")).json()
    manifest = contents.pop("MGA_monthly_2026-01.manifest.json")
    sigs = {n: c for n, c in contents.items() if n.endswith(".sig")}
    files_ = {n: c for n, c in contents.items() if not n.endswith(".sig")}
    assert signing.verify_manifest(manifest, files_, sigs, keys) == []
    # The live key is another: a sandbox file never passes for a live one.
    live_keys = await (
        await service.get("/regulator/signing-keys", headers=bearer(service, "regulator_read"))
    ).json()
    assert live_keys["keys"][0]["kid"] != keys["keys"][0]["kid"]
    assert signing.verify_manifest(manifest, files_, sigs, live_keys)


async def test_sandbox_credentials_never_reach_live_data_nor_live_ones_the_sandbox(
    service: Client,
) -> None:
    for path in ("/regulator/reports/monthly/2026-01", "/regulator/logs/alerts",
                 "/regulator/no-such-route", "/webhook/regulator/request/x"):  # fmt: skip
        assert (await service.get(path)).status == 403, path
    live = bearer(service, "regulator_read", "compliance_officer")
    for path in ("/sandbox/regulator/reports/monthly/2026-01", "/sandbox/regulator/logs/alerts",
                 "/sandbox/regulator/no-such-route"):  # fmt: skip
        assert (await service.get(path, headers=live)).status == 403, path
    garbage = {"Authorization": "Bearer not-a-token"}
    assert (await service.get("/sandbox/regulator/logs/alerts", headers=garbage)).status == 401


async def test_players_logs_and_audit_come_from_the_sandbox_database(
    service: Client, sandbox_settings: Settings
) -> None:
    conn = await asyncpg.connect(sandbox_settings.sandbox_database_url)
    try:
        player_id = await conn.fetchval("SELECT player_id FROM players ORDER BY player_id LIMIT 1")
        seeded_events = await conn.fetchval("SELECT count(*) FROM events")
    finally:
        await conn.close()
    seen = await service.get(f"/sandbox/regulator/player/{player_id}")
    assert seen.status == 200
    body = await seen.json()
    assert body["profile"]["email"].endswith("@sandbox.pitboss.test")
    assert body["transactions"]["log"].startswith("/sandbox/regulator/logs/transactions?")
    # Not a live player: the live API has never heard of them.
    live = bearer(service, "regulator_read")
    assert (await service.get(f"/regulator/player/{player_id}", headers=live)).status == 404
    # A live event never shows in the sandbox.
    resp = await service.post("/v1/events", json=event("deposit", player_id="live-only"),
                              headers=bearer(service, "ingest"))  # fmt: skip
    assert resp.status == 200
    assert (await service.get("/sandbox/regulator/player/live-only")).status == 404
    page = await service.get(
        "/sandbox/regulator/logs/transactions",
        params={"from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z", "limit": "5"},
    )
    assert page.status == 200
    assert len((await page.json())["items"]) == 5
    history = await service.get("/sandbox/regulator/audit?entity=bonusRule&id=welcome-100")
    assert history.status == 200
    assert len((await history.json())["changes"]) == 2
    assert seeded_events > 0


async def test_sandbox_reads_are_logged_in_the_sandbox(
    service: Client, sandbox_settings: Settings, database_url: str
) -> None:
    assert (await service.get("/sandbox/regulator/logs/alerts")).status == 200

    async def logged(url: str) -> int:
        conn = await asyncpg.connect(url)
        try:
            n: int = await conn.fetchval(
                "SELECT count(*) FROM access_log WHERE path = '/sandbox/regulator/logs/alerts'"
            )
            return n
        finally:
            await conn.close()

    assert await logged(sandbox_settings.sandbox_database_url or "") == 1
    assert await logged(database_url) == 0


async def test_a_file_request_is_answered_by_the_sandbox(
    service: Client, receiver: Receiver
) -> None:
    resp = await service.post(
        "/sandbox/webhook/regulator/request",
        json={"type": "alerts", "parameters": {"from": "2026-01-01T00:00:00Z",
                                               "to": "2026-02-01T00:00:00Z"},
              "format": "json", "callback_url": receiver.url},
    )  # fmt: skip
    assert resp.status == 202, await resp.text()
    accepted = await resp.json()
    assert accepted["status_url"].startswith("/sandbox/webhook/regulator/request/")

    async def answered() -> Any:
        return receiver.requests or None

    [delivered] = await eventually(answered, timeout=15)
    webhooks.verify(CALLBACK_SECRET, timestamp=delivered.headers[webhooks.TIMESTAMP],
                    nonce=delivered.headers[webhooks.NONCE],
                    signature=delivered.headers[webhooks.SIGNATURE], body=delivered.body,
                    now=time.time(), tolerance_s=300)  # fmt: skip
    assert json.loads(delivered.body)  # the seeded alerts, as JSON
    state = await service.get(accepted["status_url"])
    assert (await state.json())["state"] == "delivered"


async def test_another_seed_on_a_seeded_database_is_refused(sandbox_settings: Settings) -> None:
    other = replace(sandbox_settings, sandbox_seed=sandbox_settings.sandbox_seed + 1)
    server = TestServer(make_app(other))
    try:
        with pytest.raises(StartupRefusedError, match="pitboss sandbox seed --reset"):
            await server.start_server()
    finally:
        await server.close()  # what did start is stopped


def test_the_sandbox_database_must_not_be_the_live_one(settings: Settings) -> None:
    from pitboss.service.settings import SettingsError

    with pytest.raises(SettingsError, match="must not be the live database"):
        replace(settings, sandbox=True, sandbox_database_url=settings.database_url)


async def test_the_validators_check_the_sandboxs_own_files_and_callbacks(
    service: Client, receiver: Receiver
) -> None:
    base = "/sandbox/regulator/reports/weekly/2026-W03"
    csv_file = await (await service.get(f"{base}/UKGC_weekly_2026-W03.csv")).read()
    sig = await (await service.get(f"{base}/UKGC_weekly_2026-W03.csv.sig")).read()

    checked = await service.post("/sandbox/regulator/validate/report", data=csv_file,
                                 headers={"Content-Type": "application/octet-stream"})  # fmt: skip
    assert checked.status == 200, await checked.text()
    assert await checked.json() == {"valid": True, "format": "csv", "market": "UKGC",
                                    "problems": []}  # fmt: skip
    broken = csv_file.replace(b"metadata,licence,,,,,,,000123", b"metadata,licence,,,,,,,12")
    checked = await service.post("/sandbox/regulator/validate/report?format=csv", data=broken,
                                 headers={"Content-Type": "application/octet-stream"})  # fmt: skip
    found = await checked.json()
    assert found["valid"] is False
    assert found["problems"][0]["location"].startswith("row ")

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    # key null: the sandbox's own signing key.
    ok = await service.post("/sandbox/regulator/validate/signature",
                            json={"kind": "file", "content": b64(csv_file),
                                  "signature": b64(sig), "key": None})  # fmt: skip
    assert await ok.json() == {"valid": True, "problems": []}
    bad = await service.post("/sandbox/regulator/validate/signature",
                             json={"kind": "file", "content": b64(broken),
                                   "signature": b64(sig), "key": None})  # fmt: skip
    assert (await bad.json())["valid"] is False

    # A callback the sandbox sent, checked with the caller's own secret (secret null).
    await service.post(
        "/sandbox/webhook/regulator/request",
        json={"type": "incidents", "parameters": {"from": "2026-01-01T00:00:00Z",
                                                  "to": "2026-02-01T00:00:00Z"},
              "format": "csv", "callback_url": receiver.url},
    )  # fmt: skip

    async def answered() -> Any:
        return receiver.requests or None

    [hook] = await eventually(answered, timeout=15)
    headers = {
        k: v for k, v in hook.headers.items() if k.lower().startswith(("pitboss-", "content-"))
    }
    verdict = await service.post("/sandbox/regulator/validate/signature",
                                 json={"kind": "webhook", "headers": headers,
                                       "body": b64(hook.body), "secret": None})  # fmt: skip
    assert await verdict.json() == {"valid": True, "problems": []}
    tampered = await service.post("/sandbox/regulator/validate/signature",
                                  json={"kind": "webhook", "headers": headers,
                                        "body": b64(hook.body + b" "), "secret": None})  # fmt: skip
    assert (await tampered.json())["valid"] is False


async def test_the_sandbox_is_in_the_openapi_document_only_when_served(
    service: Client, settings: Settings
) -> None:
    doc = await (await service.get("/openapi.json")).json()
    assert "/sandbox/regulator/validate/report" in doc["paths"]
    assert "/sandbox/regulator/player/{id}" in doc["paths"]
    assert "/sandbox/webhook/regulator/request" in doc["paths"]
    async with serve(settings) as plain:
        paths = (await (await plain.get("/openapi.json")).json())["paths"]
        assert not [p for p in paths if p.startswith("/sandbox/")]
        assert (await plain.get("/sandbox/regulator/logs/alerts")).status == 403
