"""Inputs that once reached PostgreSQL or Python unchecked: each is now a 4xx that names
what is wrong, and never holds up other clients' events."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from engine.ingest import Ingestor
from tests.service.conftest import event
from tests.service.serving import service_of

Client = TestClient[Any, Any]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"player_id": "p\u0000x"}, "player_id"),
        ({"device_id": "d\u0000"}, "device_id"),
        ({"event_id": "e" * 10_000}, "event_id"),
        ({"ts": "9999-12-31T23:00:00Z", "market": "CW"}, "ts"),
        ({"ts": 10**18}, "ts"),
        ({"ts": -(10**14)}, "ts"),
    ],
)
async def test_a_value_the_store_cannot_take_is_refused_alone(
    client: Client, db: asyncpg.Connection, fields: dict[str, Any], field: str
) -> None:
    good = [event("deposit") for _ in range(5)]
    bad = event("deposit", **fields)
    alone, together = await asyncio.gather(
        client.post("/v1/events", json=bad),
        client.post("/v1/events/batch", json={"events": good}),
    )
    assert alone.status == 422, await alone.text()
    assert (await alone.json())["field"] == field
    assert together.status == 200
    assert await db.fetchval("SELECT count(*) FROM events") == 5


@pytest.mark.parametrize(
    "path",
    [
        "/v1/cases/%C2%B2",
        "/v1/cases/" + "1" * 5000,
        "/v1/incidents/%C2%B2",
        "/v1/alerts/" + "9" * 30,
        "/v1/policies/versions/%C2%B2",
    ],
)
async def test_a_malformed_id_in_the_path_is_404(client: Client, path: str) -> None:
    resp = await client.get(path)
    assert resp.status == 404, await resp.text()
    assert resp.content_type == "application/problem+json"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/decisions/a%00b",
        "/v1/players/a%00b/status",
        "/v1/alerts?player=a%00b",
        "/v1/cases?assignee=a%00b",
        "/v1/incidents?limit=%C2%B2",
    ],
)
async def test_a_nul_or_odd_digit_in_a_url_is_a_client_error(client: Client, path: str) -> None:
    resp = await client.get(path)
    assert 400 <= resp.status < 500, await resp.text()
    assert resp.content_type == "application/problem+json"


async def test_a_file_that_is_also_a_folder_is_refused(client: Client) -> None:
    files = {"a.pol": "policy a", "a.pol/b.pol": "policy b"}
    resp = await client.post("/v1/policies/versions", json={"files": files})
    assert resp.status == 422, await resp.text()
    assert (await resp.json())["field"] == "files.a.pol"


async def test_a_switch_whose_rebuild_fails_leaves_the_old_version_live(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await client.post("/v1/events", json=event("deposit"))).status == 200
    ingestor = service_of(client).ingestor
    original = Ingestor._rebuild
    calls = 0

    async def failing_once(self: Ingestor) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("replay failed")
        await original(self)

    monkeypatch.setattr(Ingestor, "_rebuild", failing_once)
    resp = await client.post("/v1/policies/versions/1/activate", json={"by": "ops"})
    assert resp.status == 500
    assert calls == 2  # the failed switch, then the old version rebuilt
    assert ingestor.ready
    assert ingestor.version_id == 1
    versions = await (await client.get("/v1/policies/versions")).json()
    assert versions["live"] == 1
    assert (await client.post("/v1/events", json=event("deposit"))).status == 200
