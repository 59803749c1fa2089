"""Retries: the `Idempotency-Key` header, repeated event ids, and retries after a restart.

A retried event gets the reply it got the first time and is decided once: one row in
`events`, and counted once in the windows later events are decided on.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from engine.store import events as event_store
from pitboss.service.settings import Settings
from tests.service.conftest import event
from tests.service.serving import serve, service_of

Client = TestClient[Any, Any]
KEY = "Idempotency-Key"
T0 = "2026-11-01T10:00:00Z"
T0_MS = int(datetime(2026, 11, 1, 10, tzinfo=UTC).timestamp() * 1000)


async def post(client: Client, body: dict[str, Any], key: str | None = None) -> tuple[int, bytes]:
    headers = {KEY: key} if key is not None else {}
    resp = await client.post("/v1/events", json=body, headers=headers)
    return resp.status, await resp.read()


async def post_batch(
    client: Client, events: list[dict[str, Any]], key: str | None = None
) -> tuple[int, Any]:
    headers = {KEY: key} if key is not None else {}
    resp = await client.post("/v1/events/batch", json={"events": events}, headers=headers)
    return resp.status, await resp.json()


async def stored(db: asyncpg.Connection, event_id: str | None = None) -> int:
    if event_id is None:
        return int(await db.fetchval("SELECT count(*) FROM events"))
    return int(await db.fetchval("SELECT count(*) FROM events WHERE event_id = $1", event_id))


def small_deposit(player: str, hour: int) -> dict[str, Any]:
    """A deposit just under aml_core's structuring line (1000 EUR in MGA)."""
    return event("deposit", player_id=player, amount=90_000, ts=f"2026-11-01T{hour:02d}:00:00Z")


def structuring(reply: Any) -> dict[str, Any] | None:
    return next((h for h in reply["hits"] if h["rule"] == "structuring"), None)


# --- the header -----------------------------------------------------------------------


async def test_same_key_same_body_gets_the_first_reply(
    client: Client, db: asyncpg.Connection
) -> None:
    e = event("deposit")
    first = await post(client, e, "k-1")
    again = await post(client, e, "k-1")
    assert first[0] == 200
    assert again == first
    assert await stored(db) == 1
    assert await db.fetchval("SELECT event_ids FROM idempotency_keys WHERE key = 'k-1'") == [
        e["event_id"]
    ]


async def test_same_key_on_a_batch_gets_the_first_replies(
    client: Client, db: asyncpg.Connection
) -> None:
    events = [event("deposit", ts=f"2026-11-01T10:0{i}:00Z") for i in range(3)]
    first = await post_batch(client, events, "batch-1")
    again = await post_batch(client, events, "batch-1")
    assert first[0] == 200
    assert again == first
    assert await stored(db) == 3


async def test_same_key_with_another_body_is_a_conflict(
    client: Client, db: asyncpg.Connection
) -> None:
    e = event("deposit")
    assert (await post(client, e, "k-2"))[0] == 200
    resp = await client.post("/v1/events", json=event("deposit"), headers={KEY: "k-2"})
    assert resp.status == 409
    assert resp.content_type == "application/problem+json"
    assert (await resp.json())["field"] == KEY
    # Nor may the key be reused for a batch holding other events.
    status, problem = await post_batch(client, [e, event("bet")], "k-2")
    assert status == 409
    assert problem["field"] == KEY
    assert await stored(db) == 1


async def test_a_key_is_answered_the_same_on_either_endpoint(client: Client) -> None:
    e = event("deposit")
    status, single = await post(client, e, "k-3")
    assert status == 200
    status, batch = await post_batch(client, [e], "k-3")
    assert status == 200
    assert batch["decisions"] == [json.loads(single)]


async def test_a_bad_key_header_is_refused(client: Client, db: asyncpg.Connection) -> None:
    for value in ("", "k" * 256, "a\tb"):  # empty, too long, not printable
        resp = await client.post("/v1/events", json=event("deposit"), headers={KEY: value})
        assert resp.status == 400, value
        assert (await resp.json())["field"] == KEY
        batch = {"events": [event()]}
        resp = await client.post("/v1/events/batch", json=batch, headers={KEY: value})
        assert resp.status == 400, value
    assert await stored(db) == 0


async def test_a_key_of_255_characters_is_taken(client: Client) -> None:
    assert (await post(client, event("deposit"), "k" * 255))[0] == 200


async def test_a_retry_under_a_new_key_is_answered_at_once_and_keeps_the_key(
    client: Client, db: asyncpg.Connection
) -> None:
    e = event("deposit")
    first = await post(client, e, "first")
    # The event is known by its id; the new key has nothing new to commit, yet it must be
    # recorded, and a retry under it must not wait for some later event to be written.
    assert await post(client, e, "second") == first
    again = await asyncio.wait_for(post(client, e, "second"), timeout=5)
    assert again == first
    assert await stored(db) == 1
    keys = await db.fetch("SELECT key FROM idempotency_keys ORDER BY key")
    assert [r["key"] for r in keys] == ["first", "second"]
    resp = await client.post("/v1/events", json=event("deposit"), headers={KEY: "second"})
    assert resp.status == 409


# --- counted once ---------------------------------------------------------------------


async def test_retries_count_once_in_windows(client: Client, db: asyncpg.Connection) -> None:
    # structuring fires at the fifth deposit under 1000 EUR in 24 h. Each of the first four
    # is sent three times (twice under one key, once under another): had a retry been
    # counted, the fourth would fire it, and the fifth would count more than five.
    for hour in range(4):
        e = small_deposit("p-retry", hour)
        status, first = await post(client, e, f"key-{hour}")
        assert status == 200
        assert (await post(client, e, f"key-{hour}"))[1] == first
        assert (await post(client, e, f"other-{hour}"))[1] == first
        assert (await post(client, e))[1] == first
        assert structuring(json.loads(first)) is None
    fifth = small_deposit("p-retry", 4)
    status, body = await post_batch(client, [fifth, fifth], "key-4")
    assert status == 200
    hit = structuring(body["decisions"][0])
    assert hit is not None
    assert hit["values"]["small_deposits"] == 5
    assert body["decisions"][1] == body["decisions"][0]
    assert await stored(db) == 5
    assert await db.fetchval("SELECT count(*) FROM decisions") == 5


async def test_different_events_under_different_keys_are_both_taken(
    client: Client, db: asyncpg.Connection
) -> None:
    a, b = event("deposit"), event("deposit")
    assert (await post(client, a, "ka"))[0] == 200
    assert (await post(client, b, "kb"))[0] == 200
    assert await stored(db) == 2


@pytest.mark.parametrize("with_key", [False, True], ids=["by-id", "by-key"])
async def test_concurrent_retries_of_a_new_event_decide_it_once(
    client: Client, db: asyncpg.Connection, with_key: bool
) -> None:
    e = event("deposit")
    key = "concurrent" if with_key else None
    replies = await asyncio.gather(*(post(client, e, key) for _ in range(10)))
    assert {status for status, _ in replies} == {200}
    assert len({body for _, body in replies}) == 1
    assert await stored(db, e["event_id"]) == 1
    assert await db.fetchval("SELECT count(*) FROM decisions") == 1


@pytest.fixture
def slow_first_key_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first look-up of an idempotency key answers only after 0.3 s: long enough for
    another request with that key to be decided and committed meanwhile."""
    real = event_store.idempotency_key
    calls = 0

    async def lookup(conn: asyncpg.Connection, key: str) -> tuple[bytes, list[str]] | None:
        nonlocal calls
        calls += 1
        found = await real(conn, key)
        if calls == 1:
            await asyncio.sleep(0.3)
        return found

    monkeypatch.setattr(event_store, "idempotency_key", lookup)


@pytest.mark.usefixtures("slow_first_key_lookup")
@pytest.mark.parametrize("same_body", [True, False], ids=["same-body", "other-body"])
async def test_a_key_committed_while_its_retry_looked_it_up(
    client: Client, db: asyncpg.Connection, same_body: bool
) -> None:
    e = event("deposit")
    with capture_logs() as logs:
        late = asyncio.ensure_future(post(client, e if same_body else event("deposit"), "raced"))
        await asyncio.sleep(0.05)
        first = await post(client, e, "raced")
        assert first[0] == 200
        if same_body:
            assert await late == first
        else:
            assert (await late)[0] == 409
        # Writing the key twice would fail a group commit, and with it this event.
        assert (await post(client, event("bet")))[0] == 200
    assert [entry for entry in logs if entry["event"] == "commit_failed"] == []
    assert await stored(db) == 2
    assert await db.fetchval("SELECT count(*) FROM idempotency_keys") == 1


async def test_concurrent_batches_sharing_events_decide_each_once(
    client: Client, db: asyncpg.Connection
) -> None:
    events = [event("deposit", ts=f"2026-11-01T10:0{i}:00Z") for i in range(4)]
    batches = [events[:3], events[1:], events[::-1], events]
    replies = await asyncio.gather(*(post_batch(client, b) for b in batches))
    assert {status for status, _ in replies} == {200}
    by_id: dict[str, Any] = {}
    for _, body in replies:
        for d in body["decisions"]:
            assert by_id.setdefault(d["event_id"], d) == d
    assert await stored(db) == 4


async def test_concurrent_requests_reusing_a_key_for_other_bodies_conflict(
    client: Client, db: asyncpg.Connection
) -> None:
    bodies = [event("deposit") for _ in range(5)]
    replies = await asyncio.gather(*(post(client, b, "contested") for b in bodies))
    statuses = sorted(status for status, _ in replies)
    assert statuses == [200, 409, 409, 409, 409]
    assert await stored(db) == 1


# --- one event, several forms ---------------------------------------------------------


async def test_an_event_id_repeated_inside_a_batch_is_decided_once(
    client: Client, db: asyncpg.Connection
) -> None:
    e, other = event("deposit"), event("bet")
    status, body = await post_batch(client, [e, other, e])
    assert status == 200
    ids = [d["event_id"] for d in body["decisions"]]
    assert ids == [e["event_id"], other["event_id"], e["event_id"]]
    assert body["decisions"][2] == body["decisions"][0]
    assert await stored(db) == 2


async def test_an_event_id_repeated_inside_a_batch_with_another_body_is_a_conflict(
    client: Client, db: asyncpg.Connection
) -> None:
    e = event("deposit")
    status, problem = await post_batch(client, [e, event("bet"), {**e, "amount": 1}])
    assert status == 409
    assert problem["field"] == "events[2].event_id"
    assert await stored(db) == 0


@pytest.mark.parametrize(
    "ts", [T0_MS, "2026-11-01T11:00:00+01:00", "2026-11-01T10:00:00.000Z"], ids=str
)
async def test_a_retry_with_its_time_in_another_form_is_the_same_event(
    client: Client, db: asyncpg.Connection, ts: object
) -> None:
    e = event("deposit", ts=T0)
    first = await post(client, e, "k-ts")
    assert first[0] == 200
    assert await post(client, {**e, "ts": ts}) == first
    assert await post(client, {**e, "ts": ts}, "k-ts") == first
    assert await stored(db) == 1


async def test_a_retry_one_millisecond_later_is_a_conflict(client: Client) -> None:
    e = event("deposit", ts=T0_MS)
    assert (await post(client, e))[0] == 200
    status, _ = await post(client, {**e, "ts": T0_MS + 1})
    assert status == 409


# --- after a restart ------------------------------------------------------------------


async def test_a_retry_after_a_restart_gets_the_first_reply(
    settings: Settings, database_url: str
) -> None:
    events = [small_deposit("p-restart", hour) for hour in range(4)]
    async with serve(settings) as first_run:
        status, before = await post_batch(first_run, events[:3], "restart-key")
        assert status == 200
    async with serve(settings) as second_run:
        # The id is known from the stored events the new process replayed.
        assert await post_batch(second_run, events[:3], "restart-key") == (200, before)
        status, single = await post(second_run, events[0])
        assert status == 200
        assert json.loads(single) == before["decisions"][0]
        status, _ = await post(second_run, {**events[1], "amount": 1})
        assert status == 409
        status, _ = await post(second_run, events[3], "restart-key")
        assert status == 409
        # The windows were rebuilt too: the fourth deposit is counted after three.
        status, fourth = await post(second_run, events[3])
        assert status == 200
        assert structuring(json.loads(fourth)) is None
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM events") == 4
    finally:
        await conn.close()


async def test_a_retry_of_an_event_the_memory_forgot_is_found_in_the_database(
    client: Client, db: asyncpg.Connection
) -> None:
    old, recent = event("deposit"), event("deposit")
    _, first = await post(client, old)
    await post(client, recent)
    # Keep only the latest id in memory, so that `old` is looked up in PostgreSQL.
    ingestor = service_of(client).ingestor
    ingestor.limits.recent_ids = 1
    await ingestor.switch(ingestor.pack, ingestor.version_id, {})
    assert await post(client, old) == (200, first)
    status, _ = await post(client, {**old, "amount": 1})
    assert status == 409
    assert await stored(db) == 2
