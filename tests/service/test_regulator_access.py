"""The regulator API as a whole: mounted as sub-apps and documented, open to regulators and
compliance officers only, every read logged with where it came from (a client
certificate too), response times measured per route, and the audit history of an entity."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from openapi_spec_validator import validate

from pitboss.service.app import make_app
from pitboss.service.settings import Settings
from regapi.auth.transport import server_context
from tests.service.certs import INSPECTOR, make_pki
from tests.service.conftest import event
from tests.service.regulators import Client, get, regulator, send
from tests.service.serving import authorize, token_for

REGULATOR_ROUTES = [
    ("get", "/regulator/reports/{period}"),
    ("get", "/regulator/reports/{period}/{file}"),
    ("get", "/regulator/logs/{type}"),
    ("get", "/regulator/player/{id}"),
    ("get", "/regulator/audit"),
    ("post", "/webhook/regulator/request"),
    ("get", "/webhook/regulator/request/{id}"),
    ("get", "/webhook/regulator/request/{id}/file"),
]


async def test_the_sub_apps_are_documented(client: Client) -> None:
    doc = await (await client.get("/openapi.json")).json()
    validate(doc)
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert set(REGULATOR_ROUTES) <= documented
    operation_ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(operation_ids) == len(set(operation_ids))
    log = doc["paths"]["/regulator/logs/{type}"]["get"]
    assert {p["name"] for p in log["parameters"]} >= {"type", "from", "to", "player", "cursor",
                                                     "limit", "format"}  # fmt: skip
    assert log["tags"] == ["regulator"]
    # Every regulator route is registered under its prefix (the router feeds the check of
    # the whole document in test_operations).
    registered = {
        (r.method.lower(), r.resource.canonical)
        for r in client.app.router.routes()
        if r.resource is not None and r.method != "HEAD"
    }
    assert set(REGULATOR_ROUTES) <= registered


@pytest.mark.parametrize(("method", "path"), REGULATOR_ROUTES)
async def test_only_regulators_and_compliance_officers_get_in(
    client: Client, method: str, path: str
) -> None:
    concrete = (path.replace("{period}", "daily/2026-11-20").replace("{file}", "x.csv")
                .replace("{type}", "alerts").replace("{id}", "p-1"))  # fmt: skip
    call = client.post if method == "post" else client.get
    # Sent without the client fixture's default token.
    assert (await call(concrete, headers={"Authorization": ""})).status == 401
    analyst = token_for(client, "analyst", "ingest", "policy_admin", "ops")
    resp = await call(concrete, headers={"Authorization": f"Bearer {analyst}"})
    assert resp.status == 403
    for role in ("regulator_read", "compliance_officer"):
        resp = await call(concrete, headers=regulator(client, role=role), json={})
        assert resp.status not in (401, 403), (role, await resp.text())


async def test_refused_requests_are_not_logged_as_reads(client: Client) -> None:
    await client.get("/regulator/logs/alerts", headers={"Authorization": ""})
    await client.get(
        "/regulator/logs/alerts",
        headers={"Authorization": f"Bearer {token_for(client, 'analyst')}"},
    )
    [row] = (await get(client, "/regulator/logs/access", regulator(client)))["items"]
    assert row["params"] == {"type": "access"}  # only the read that was let in


async def test_response_times_are_measured_per_regulator_route(client: Client) -> None:
    await get(client, "/regulator/logs/alerts", regulator(client))
    await client.get("/regulator/logs/nothing", headers=regulator(client))
    metrics = await (await client.get("/metrics")).text()
    assert ('api_response_time_seconds_count{method="GET",route="/regulator/logs/{type}",'
            'status="200"} 1.0') in metrics  # fmt: skip
    assert ('api_response_time_seconds_count{method="GET",route="/regulator/logs/{type}",'
            'status="422"} 1.0') in metrics  # fmt: skip


# --- where a read came from: the client certificate ----------------------------------


async def test_the_client_certificate_subject_is_logged(settings: Settings, tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    tls = dataclasses.replace(settings, tls_cert=pki.server.cert, tls_key=pki.server.key,
                              tls_client_ca=pki.ca)  # fmt: skip
    context = server_context(pki.server.cert, pki.server.key, pki.ca)
    server = TestServer(make_app(tls), scheme="https")
    await server.start_server(ssl=context)  # TestClient would start it without TLS
    async with TestClient(server) as client:
        authorize(client)
        tls_client = pki.client_context(pki.good)
        page = await client.get("/regulator/logs/access", headers=regulator(client),
                                ssl=tls_client)  # fmt: skip
        assert page.status == 200, await page.text()
        [row] = (await page.json())["items"]
    assert row["cert_subject"] == f"CN={INSPECTOR}"
    assert row["remote"] == "127.0.0.1"


# --- the audit history of an entity -------------------------------------------------


async def test_the_change_history_of_a_bonus_rule(client: Client) -> None:
    path = "/v1/config/bonusRule/123"
    resp = await client.put(path, json={"name": "welcome", "match": 100, "cap": 20_000})
    assert resp.status in (200, 201), await resp.text()
    patch = [{"op": "replace", "path": "/cap", "value": 10_000}]
    resp = await client.patch(path, json=patch)
    assert resp.status == 200, await resp.text()

    history = await get(client, "/regulator/audit", regulator(client),
                        entity="bonusRule", id="123")  # fmt: skip
    assert (history["entity"], history["id"]) == ("bonusRule", "123")
    created, changed = history["changes"]
    assert (created["version"], created["action"]) == (1, "create")
    assert created["operator"] == "test-client"  # the principal that made the change
    assert {"op": "add", "path": "/cap", "value": 20_000} in created["diff"]
    assert (changed["version"], changed["action"]) == (2, "update")
    assert changed["diff"] == patch
    assert changed["at"] >= created["at"]
    assert len(changed["hash"]) == 64


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ({"entity": "sar", "id": "1"}, 422, "entity"),
        ({"id": "1"}, 422, "entity"),
        ({"entity": "bonusRule"}, 422, "id"),
        ({"entity": "bonusRule", "id": "never-changed"}, 404, "id"),
    ],
)
async def test_audit_queries_are_checked(
    client: Client, query: dict[str, str], status: int, field: str
) -> None:
    resp = await client.get("/regulator/audit", headers=regulator(client), params=query)
    assert resp.status == status, await resp.text()
    assert (await resp.json())["field"] == field


async def test_a_regulator_read_answers_quickly(client: Client) -> None:
    await send(client, *(event("deposit", player_id=f"p-{i}") for i in range(50)))
    body: Any = await get(client, "/regulator/logs/transactions", regulator(client), limit="50")
    assert len(body["items"]) == 50
