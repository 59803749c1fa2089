"""POST /v1/events and /v1/events/batch: decisions, idempotency, errors."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from tests.service.conftest import event

Client = TestClient[Any, Any]


async def test_an_event_is_decided_and_stored(client: Client, db: asyncpg.Connection) -> None:
    e = event("deposit", amount=1_500_000)  # 15,000 EUR: reviewed on its own
    resp = await client.post("/v1/events", json=e)
    assert resp.status == 200
    body = await resp.json()
    assert body["event_id"] == e["event_id"]
    assert body["action"] != "allow"
    assert any(h["rule"] == "large_transaction" for h in body["hits"])
    stored = await db.fetchval("SELECT count(*) FROM events WHERE event_id = $1", e["event_id"])
    assert stored == 1
    got = await client.get(f"/v1/decisions/{e['event_id']}")
    assert await got.read() == await resp.read()


async def test_a_retry_gets_the_first_reply_and_counts_once(
    client: Client, db: asyncpg.Connection
) -> None:
    e = event("deposit")
    first = await (await client.post("/v1/events", json=e)).read()
    again = await client.post("/v1/events", json=e)
    assert again.status == 200
    assert await again.read() == first
    assert await db.fetchval("SELECT count(*) FROM events") == 1


async def test_an_event_id_reused_for_another_event_is_a_conflict(client: Client) -> None:
    e = event("deposit")
    await client.post("/v1/events", json=e)
    resp = await client.post("/v1/events", json={**e, "amount": 7})
    assert resp.status == 409
    assert resp.content_type == "application/problem+json"
    assert (await resp.json())["field"] == "event_id"


async def test_an_invalid_event_names_the_field(client: Client) -> None:
    resp = await client.post("/v1/events", json=event("deposit", amount=-1))
    assert resp.status == 422
    problem = await resp.json()
    assert problem["field"] == "amount"
    assert problem["status"] == 422


async def test_a_batch_with_one_bad_event_takes_none(
    client: Client, db: asyncpg.Connection
) -> None:
    good, bad = event("deposit"), event("bet", currency="EURO")
    resp = await client.post("/v1/events/batch", json={"events": [good, bad]})
    assert resp.status == 422
    problem = await resp.json()
    assert problem["errors"][0]["field"] == "events[1].currency"
    assert await db.fetchval("SELECT count(*) FROM events") == 0


# Valid by the contract (ISO 4217, after 1970), but with no FX rate to convert them to
# the market's base currency: AED is not in the rate table, which starts in 2020.
NO_RATE = [
    (event("deposit", currency="AED"), "currency"),
    (event("withdrawal", market="CW", currency="EUR", ts="2019-06-01T00:00:00Z"), "ts"),
]


async def test_an_event_with_no_fx_rate_is_refused_naming_the_field(
    client: Client, db: asyncpg.Connection
) -> None:
    for e, field in NO_RATE:
        resp = await client.post("/v1/events", json=e)
        assert resp.status == 422, await resp.text()
        problem = await resp.json()
        assert problem["field"] == field
        assert "FX rate" in problem["detail"]
    # Its own currency needs no rate, whenever it happened.
    same = event("deposit", market="MGA", currency="EUR", ts="2019-06-01T00:00:00Z")
    assert (await client.post("/v1/events", json=same)).status == 200
    assert await db.fetchval("SELECT count(*) FROM events") == 1


async def test_a_batch_with_an_event_with_no_fx_rate_takes_none(
    client: Client, db: asyncpg.Connection
) -> None:
    good, (bad, field) = event("deposit"), NO_RATE[0]
    resp = await client.post("/v1/events/batch", json={"events": [good, bad]})
    assert resp.status == 422, await resp.text()
    assert (await resp.json())["field"] == f"events[1].{field}"
    # The next commit does not take the good event along: it was never decided.
    assert (await client.post("/v1/events", json=event("login"))).status == 200
    assert (await client.get(f"/v1/decisions/{good['event_id']}")).status == 404
    assert await db.fetchval("SELECT count(*) FROM events") == 1


async def test_a_batch_is_decided_in_order(client: Client) -> None:
    events = [event("deposit", ts=f"2026-11-01T10:0{i}:00Z") for i in range(5)]
    resp = await client.post("/v1/events/batch", json={"events": events})
    assert resp.status == 200
    decisions = (await resp.json())["decisions"]
    assert [d["event_id"] for d in decisions] == [e["event_id"] for e in events]
