"""Operating the service: health, metrics, the OpenAPI document, problem+json for every
HTTP mistake, back-pressure, and recovery from a write the database refused."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from pitboss.service.settings import Settings
from tests.service.conftest import event
from tests.service.serving import serve, service_of

Client = TestClient[Any, Any]
PROBLEM = "application/problem+json"


async def problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.content_type == PROBLEM
    body: dict[str, Any] = await resp.json()
    assert body["status"] == status
    assert body["title"]
    assert body["request_id"] == resp.headers["X-Request-Id"]
    return body


# --- health and metrics ---------------------------------------------------------------


async def test_healthz(client: Client) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ok"}


async def test_readyz_reports_the_engine_and_the_database(client: Client) -> None:
    resp = await client.get("/readyz")
    assert resp.status == 200
    assert await resp.json() == {
        "status": "ready",
        "database": True,
        "engine": True,
        "policy_version": 1,
        "pending_events": 0,
    }


async def test_a_request_id_is_echoed_or_made(client: Client) -> None:
    given = await client.get("/healthz", headers={"X-Request-Id": "trace-42"})
    assert given.headers["X-Request-Id"] == "trace-42"
    made = await client.get("/healthz", headers={"X-Request-Id": "x" * 200})
    assert len(made.headers["X-Request-Id"]) == 32


def samples(text: str, name: str) -> dict[str, float]:
    """Prometheus samples of one metric: the label part of the line → value."""
    out = {}
    for line in text.splitlines():
        if line.startswith((name + "{", name + " ")):
            labels, _, value = line[len(name) :].rpartition(" ")
            out[labels] = float(value)
    return out


async def test_metrics_count_events_decisions_and_responses(client: Client) -> None:
    deposit = event("deposit")
    assert (await client.post("/v1/events", json=deposit)).status == 200
    assert (await client.post("/v1/events", json=deposit)).status == 200  # a retry
    batch = {"events": [event("bet"), event("bet"), event("login")]}
    assert (await client.post("/v1/events/batch", json=batch)).status == 200
    assert (await client.get("/nowhere")).status == 404
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = await resp.text()
    ingested = samples(text, "pitboss_events_ingested_total")
    assert ingested == {'{type="deposit"}': 1, '{type="bet"}': 2, '{type="login"}': 1}
    assert samples(text, "pitboss_events_duplicate_total") == {"": 1}
    decided = samples(text, "pitboss_decision_latency_seconds_count")
    assert decided == {'{type="deposit"}': 1, '{type="bet"}': 2, '{type="login"}': 1}
    answered = samples(text, "api_response_time_seconds_count")
    assert answered['{method="POST",route="/v1/events",status="200"}'] == 2
    assert answered['{method="POST",route="/v1/events/batch",status="200"}'] == 1
    assert answered['{method="GET",route="unmatched",status="404"}'] == 1
    assert samples(text, "pitboss_ingest_pending_events") == {"": 0}


# --- the OpenAPI document -------------------------------------------------------------


async def test_openapi_is_valid_and_documents_every_route(client: Client) -> None:
    resp = await client.get("/openapi.json")
    assert resp.status == 200
    doc = await resp.json()
    assert doc["openapi"].startswith("3.1")
    validate(doc)
    registered = set()
    for route in client.app.router.routes():
        info = route.resource
        if route.method == "HEAD" or info is None:
            continue
        registered.add((route.method.lower(), info.canonical))
    documented = {(m, path) for path, ops in doc["paths"].items() for m in ops}
    assert registered <= documented, registered - documented
    assert ("post", "/v1/events") in registered
    post = doc["paths"]["/v1/events"]["post"]
    for status in ("400", "409", "422", "503"):
        assert PROBLEM in post["responses"][status]["content"]


# --- problem+json for HTTP mistakes ---------------------------------------------------


async def test_unknown_route_is_a_problem(client: Client) -> None:
    body = await problem(await client.get("/v1/nothing-here"), 404)
    assert body["title"] == "Not found"


async def test_wrong_method_is_a_problem_with_allow(client: Client) -> None:
    resp = await client.delete("/v1/events")
    await problem(resp, 405)
    assert "POST" in resp.headers["Allow"]


# Mistakes that change nothing are sent to one service, each checked on its own.
WRONG_TYPE = ["/v1/events", "/v1/events/batch", "/v1/policies/versions"]
MALFORMED = [
    ("/v1/events", b'{"event_id": "e-1", "type": "deposit",'),
    ("/v1/events", b"not json"),
    ("/v1/events", b""),
    ("/v1/events/batch", b'{"events": [{"type": '),
    ("/v1/events/batch", b"{"),
    ("/v1/events/batch", b""),
]
BAD_BATCHES: list[tuple[object, str]] = [
    ({"events": 5}, "events"),
    ({"evnts": []}, "evnts"),
    ({}, "events"),
    ({"events": [], "extra": 1}, "extra"),
    ({"events": []}, "events"),
]


async def test_wrong_content_type_is_415(client: Client, db: asyncpg.Connection) -> None:
    for path in WRONG_TYPE:
        resp = await client.post(path, data="type=deposit", headers={"Content-Type": "text/plain"})
        await problem(resp, 415)
    assert await db.fetchval("SELECT count(*) FROM events") == 0


async def test_a_content_type_too_deeply_nested_to_parse_is_415(client: Client) -> None:
    # Each "(" opens a comment the standard library's parser recurses into.
    nested = "application/json" + "(" * 1_000
    for path in [*WRONG_TYPE, "/v1/players/p-1/kyc/documents"]:
        resp = await client.post(path, data=b"{}", headers={"Content-Type": nested})
        assert (await problem(resp, 415))["field"] == "Content-Type", path


async def test_a_body_without_content_type_is_taken_as_json(client: Client) -> None:
    for path, body in [
        ("/v1/events", event("deposit")),
        ("/v1/events/batch", {"events": [event("bet")]}),
    ]:
        resp = await client.post(
            path, data=json.dumps(body).encode(), skip_auto_headers=["Content-Type"]
        )
        assert resp.status == 200, (path, await resp.text())


async def test_malformed_json_is_400(client: Client) -> None:
    for path, body in MALFORMED:
        resp = await client.post(path, data=body, headers={"Content-Type": "application/json"})
        assert (await problem(resp, 400))["title"] == "Malformed JSON", (path, body)


async def test_a_bad_batch_names_the_field(client: Client) -> None:
    for body, field in BAD_BATCHES:
        resp = await client.post("/v1/events/batch", json=body)
        assert (await problem(resp, 422))["field"] == field, body


async def test_a_batch_over_the_event_limit_is_413(settings: Settings) -> None:
    async with serve(dataclasses.replace(settings, max_batch_events=3)) as client:
        resp = await client.post("/v1/events/batch", json={"events": [event()] * 4})
        assert (await problem(resp, 413))["field"] == "events"


async def test_a_body_too_large_is_413(settings: Settings, database_url: str) -> None:
    async with serve(dataclasses.replace(settings, max_body_bytes=4_000)) as client:
        events = [event("deposit") for _ in range(40)]
        resp = await client.post("/v1/events/batch", json={"events": events})
        await problem(resp, 413)
        assert (await client.post("/v1/events", json=event("deposit"))).status == 200
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM events") == 1
    finally:
        await conn.close()


# --- back-pressure --------------------------------------------------------------------


async def test_too_many_requests_in_flight_is_429(settings: Settings, database_url: str) -> None:
    async with serve(dataclasses.replace(settings, max_inflight_requests=1)) as client:
        resps = await asyncio.gather(
            *(client.post("/v1/events", json=event("deposit")) for _ in range(20))
        )
        statuses = [r.status for r in resps]
        assert 200 in statuses
        assert 429 in statuses
        assert set(statuses) <= {200, 429}
        for r in resps:
            if r.status == 429:
                await problem(r, 429)
                assert r.headers["Retry-After"] == "1"
        # The limit counts requests in progress, not requests ever made.
        assert (await client.post("/v1/events", json=event("deposit"))).status == 200


async def test_probes_answer_while_the_limit_is_reached(
    settings: Settings, database_url: str
) -> None:
    async with serve(dataclasses.replace(settings, max_inflight_requests=1)) as client:
        conn = await asyncpg.connect(database_url)
        try:
            # Hold the one request allowed in its commit.
            lock = conn.transaction()
            await lock.start()
            await conn.execute("LOCK TABLE decisions IN ACCESS EXCLUSIVE MODE")
            held = asyncio.ensure_future(client.post("/v1/events", json=event("deposit")))
            while service_of(client).ingestor.pending == 0:
                await asyncio.sleep(0.01)
            await problem(await client.post("/v1/events", json=event("deposit")), 429)
            assert (await client.get("/healthz")).status == 200
            assert (await client.get("/readyz")).status == 200
            assert (await client.get("/metrics")).status == 200
            await lock.rollback()
            assert (await held).status == 200
        finally:
            await conn.close()


async def test_too_many_events_waiting_for_their_commit_is_503(settings: Settings) -> None:
    limits = dataclasses.replace(settings, max_pending_events=3, max_batch_events=3)
    async with serve(limits) as client:
        resps = await asyncio.gather(
            *(client.post("/v1/events", json=event("deposit")) for _ in range(30))
        )
        statuses = [r.status for r in resps]
        assert 200 in statuses
        assert 503 in statuses
        assert set(statuses) <= {200, 503}
        assert all(r.headers["Retry-After"] == "1" for r in resps if r.status == 503)


# --- a write the database refuses ------------------------------------------------------


def small_deposit(ts: str) -> dict[str, Any]:
    """A deposit just under aml_core's structuring line (1000 EUR in MGA)."""
    return event("deposit", player_id="p-refused", amount=90_000, ts=ts)


async def wait_ready(client: Client) -> None:
    for _ in range(200):
        if (await client.get("/readyz")).status == 200:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the service did not become ready again")


async def test_after_a_refused_write_the_service_recovers_as_if_it_never_came(
    client: Client, db: asyncpg.Connection
) -> None:
    before = [small_deposit(f"2026-11-30T{h}:00:00Z") for h in (20, 21, 22, 23)]
    resp = await client.post("/v1/events/batch", json={"events": before})
    assert resp.status == 200
    await db.execute("ALTER TABLE decisions ADD CONSTRAINT refuse CHECK (false) NOT VALID")
    # The first events of a new month: their commit would also create its partition.
    refused = [small_deposit("2026-12-01T00:10:00Z"), small_deposit("2026-12-01T00:20:00Z")]
    resps = await asyncio.gather(
        client.post("/v1/events", json=refused[0], headers={"Idempotency-Key": "refused"}),
        client.post("/v1/events", json=refused[1]),
    )
    for r in resps:
        await problem(r, 503)
        assert int(r.headers["Retry-After"]) > 0
    await db.execute("ALTER TABLE decisions DROP CONSTRAINT refuse")
    await wait_ready(client)
    assert await db.fetchval("SELECT count(*) FROM events") == 4
    for e in refused:
        assert (await client.get(f"/v1/decisions/{e['event_id']}")).status == 404
    # Four deposits under the line are stored; this is the fifth, not the seventh.
    after = small_deposit("2026-12-01T00:30:00Z")
    resp = await client.post("/v1/events", json=after)
    assert resp.status == 200, await resp.text()
    [hit] = [h for h in (await resp.json())["hits"] if h["rule"] == "structuring"]
    assert hit["values"]["small_deposits"] == 5
    # A refused event sent again (its key was not kept) is decided now, after the fifth.
    resp = await client.post("/v1/events", json=refused[0], headers={"Idempotency-Key": "refused"})
    assert resp.status == 200
    [hit] = [h for h in (await resp.json())["hits"] if h["rule"] == "structuring"]
    assert hit["values"]["small_deposits"] == 6
    assert await db.fetchval("SELECT count(*) FROM events") == 6
    seqs = await db.fetch("SELECT seq FROM decisions ORDER BY seq")
    assert [r["seq"] for r in seqs] == [1, 2, 3, 4, 5, 6]


async def test_the_first_write_of_a_database_refused_then_taken(
    client: Client, db: asyncpg.Connection
) -> None:
    # The refused commit also created the month's first partition, and rolled it back.
    await db.execute("ALTER TABLE events ADD CONSTRAINT refuse CHECK (false) NOT VALID")
    e = event("deposit")
    await problem(await client.post("/v1/events", json=e), 503)
    await db.execute("ALTER TABLE events DROP CONSTRAINT refuse")
    await wait_ready(client)
    resp = await client.post("/v1/events", json=e)
    assert resp.status == 200, await resp.text()
    assert json.loads(await resp.read())["event_id"] == e["event_id"]
    assert await db.fetchval("SELECT count(*) FROM events") == 1
