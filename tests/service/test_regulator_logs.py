"""`/regulator/logs/{type}`: transactions, decisions, alerts, incidents and the access log,
by time, paged with opaque cursors or streamed as NDJSON."""

from __future__ import annotations

import io
import json
import tracemalloc
from typing import Any

import asyncpg
import pytest

from tests.service.conftest import event
from tests.service.regulators import Client, get, regulator, sar_case, send

LOG = "/regulator/logs"


def ts(day: int, hour: int = 10) -> str:
    return f"2026-11-{day:02d}T{hour:02d}:00:00Z"


async def test_transactions_page_through_a_range_in_time_order(client: Client) -> None:
    # Sent out of time order; money events only (a login is not a transaction).
    sent = [
        event("deposit", player_id="p-1", ts=ts(3)),
        event("bet", player_id="p-1", ts=ts(2)),
        event("win", player_id="p-2", ts=ts(2)),
        event("withdrawal", player_id="p-1", ts=ts(4)),
        event("login", player_id="p-1", ts=ts(2, 9)),
        event("chargeback", player_id="p-2", ts=ts(5)),
        event("deposit", player_id="p-2", ts=ts(9)),  # after the range
        event("deposit", player_id="p-2", ts=ts(1)),  # before it
    ]
    await send(client, *sent)
    headers = regulator(client)
    seen: list[dict[str, Any]] = []
    query = {"from": ts(2), "to": ts(9), "limit": "2"}
    pages = 0
    while True:
        page = await get(client, f"{LOG}/transactions", headers, **query)
        assert page["type"] == "transactions"
        assert len(page["items"]) <= 2
        seen += page["items"]
        pages += 1
        if page["next_cursor"] is None:
            break
        query["cursor"] = page["next_cursor"]
    assert pages == 3
    assert [r["type"] for r in seen] == ["bet", "win", "deposit", "withdrawal", "chargeback"]
    times = [(r["ts"], r["seq"]) for r in seen]
    assert times == sorted(times)
    first = seen[0]
    assert first["event_id"] == sent[1]["event_id"]
    assert first["event"] == sent[1]  # the event as received
    assert first["player_id"] == "p-1"
    assert first["market"] == "MGA"

    only = await get(client, f"{LOG}/transactions", headers, player="p-2", **{"from": ts(1)})
    assert [r["type"] for r in only["items"]] == ["deposit", "win", "chargeback", "deposit"]
    assert only["next_cursor"] is None


async def test_decisions_log(client: Client) -> None:
    e = event("deposit", player_id="p-9", amount=1_500_000, ts=ts(3))
    await send(client, e, event("login", player_id="p-9", ts=ts(3, 11)))
    page = await get(client, f"{LOG}/decisions", regulator(client), player="p-9")
    first, second = page["items"]
    assert first["event_id"] == e["event_id"]
    assert first["action"] == first["decision"]["action"]
    assert first["score"] > 0
    assert first["policy_version"] == 1
    assert second["decision"]["event_id"] == second["event_id"]


async def test_alerts_and_incidents_logs_never_show_a_sar(client: Client) -> None:
    case_id = await sar_case(client, "p-77")
    await send(client, event("rng_check", game_id="wheel-1", p_value=0.0001, ts=ts(2)))
    headers = regulator(client)

    alerts = (await get(client, f"{LOG}/alerts", headers))["items"]
    [alert] = [a for a in alerts if a["player_id"] == "p-77"]
    assert alert["case_id"] == case_id
    assert "label" not in alert  # a label tells an escalated case from a cleared one

    incidents = (await get(client, f"{LOG}/incidents", headers))["items"]
    # The escalation opened an AML_suspect incident; it is not the regulator's to see.
    assert [i["kind"] for i in incidents] == ["RNG_anomaly"]
    assert incidents[0]["details"] == {"statistic": "chi2", "p_value": 0.0001}
    for body in (alerts, incidents):
        assert "sar" not in json.dumps(body).lower()
        assert "escalat" not in json.dumps(body).lower()


async def test_a_closing_note_is_not_in_the_incidents_log(client: Client) -> None:
    await send(client, event("rng_check", game_id="wheel-2", p_value=0.005, ts=ts(2)))
    [incident] = (await (await client.get("/v1/incidents")).json())["incidents"]
    resp = await client.post(f"/v1/incidents/{incident['id']}/close",
                             json={"by": "ana", "note": "see the SAR on p-1"})  # fmt: skip
    assert resp.status == 200, await resp.text()
    [listed] = (await get(client, f"{LOG}/incidents", regulator(client)))["items"]
    assert listed["state"] == "closed"
    assert "note" not in json.dumps(listed)
    assert "SAR" not in json.dumps(listed)


async def test_the_access_log_records_every_regulator_read(client: Client) -> None:
    await send(client, event("deposit", player_id="p-4", ts=ts(3)))
    mga = regulator(client, client_id="mga-inspector")
    ukgc = regulator(client, client_id="ukgc-inspector")
    await get(client, f"{LOG}/transactions", mga, player="p-4", **{"from": ts(1)})
    await get(client, "/regulator/player/p-4", ukgc)
    resp = await client.get(f"{LOG}/transactions", headers=mga, params={"from": "yesterday"})
    assert resp.status == 422

    page = await get(client, f"{LOG}/access", mga)
    rows = page["items"]
    # The three reads above, and this one (being answered: no status yet).
    assert [(r["client_id"], r["route"], r["status"]) for r in rows] == [
        ("mga-inspector", "/regulator/logs/{type}", 200),
        ("ukgc-inspector", "/regulator/player/{id}", 200),
        ("mga-inspector", "/regulator/logs/{type}", 422),
        ("mga-inspector", "/regulator/logs/{type}", None),
    ]
    first = rows[0]
    assert first["method"] == "GET"
    assert first["path"] == "/regulator/logs/transactions"
    assert first["params"] == {"type": "transactions", "player": "p-4", "from": ts(1)}
    assert first["player_id"] == "p-4"
    assert first["principal"] == "mga-inspector"
    assert first["roles"] == ["regulator_read"]
    assert first["remote"] == "127.0.0.1"
    assert first["cert_subject"] is None  # no TLS in this test (see test_regulator_access)
    assert first["request_id"]
    assert first["duration_ms"] > 0
    assert rows[1]["player_id"] == "p-4"

    # Who looked at p-4: the two reads, and this very question (it names p-4 too).
    about = (await get(client, f"{LOG}/access", mga, player="p-4"))["items"]
    assert [r["id"] for r in about[:2]] == [rows[0]["id"], rows[1]["id"]]
    assert len(about) == 3
    assert about[2]["params"]["type"] == "access"


async def test_the_access_log_cannot_be_rewritten(client: Client, db: asyncpg.Connection) -> None:
    await get(client, f"{LOG}/access", regulator(client))
    for sql in (
        "UPDATE access_log SET client_id = 'someone-else'",
        "UPDATE access_log SET status = 500",  # the outcome is written once
        "DELETE FROM access_log",
        "TRUNCATE access_log",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await db.execute(sql)


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("sars", {}, "type"),
        ("transactions", {"from": "2026-11-01"}, "from"),
        ("transactions", {"to": "2026-11-01T10:00:00"}, "to"),
        ("transactions", {"from": ts(3), "to": ts(2)}, "to"),
        ("transactions", {"limit": "1001"}, "limit"),
        ("transactions", {"limit": "0"}, "limit"),
        ("transactions", {"cursor": "garbage"}, "cursor"),
        ("transactions", {"player": "p" * 257}, "player"),
        ("transactions", {"format": "xml"}, "format"),
    ],
)
async def test_bad_queries_are_422_naming_the_parameter(
    client: Client, path: str, query: dict[str, str], field: str
) -> None:
    resp = await client.get(f"{LOG}/{path}", headers=regulator(client), params=query)
    assert resp.status == 422, await resp.text()
    assert (await resp.json())["field"] == field


async def test_a_cursor_is_for_its_own_log(client: Client) -> None:
    await send(client, *(event("deposit", ts=ts(2, h)) for h in range(3)))
    headers = regulator(client)
    page = await get(client, f"{LOG}/transactions", headers, limit="1")
    resp = await client.get(f"{LOG}/decisions", headers=headers,
                            params={"cursor": page["next_cursor"]})  # fmt: skip
    assert resp.status == 422
    assert (await resp.json())["field"] == "cursor"


# --- streaming -------------------------------------------------------------------------

ROWS = 20_000


async def test_a_large_range_streams_as_ndjson_row_by_row(client: Client) -> None:
    for start in range(0, ROWS, 10_000):
        batch = [
            event("bet", player_id=f"p-{i % 200}", amount=100 + i % 7,
                  ts=f"2026-11-{1 + i // 1000:02d}T{i % 24:02d}:{i % 60:02d}:00Z")
            for i in range(start, start + 10_000)
        ]  # fmt: skip
        # Over 1 MiB: as a stream, which aiohttp prefers to a large bytes body.
        body = io.BytesIO(json.dumps({"events": batch}).encode())
        resp = await client.post("/v1/events/batch", data=body,
                                 headers={"Content-Type": "application/json"})  # fmt: skip
        assert resp.status == 200, await resp.text()
    headers = regulator(client) | {"Accept": "application/x-ndjson"}

    tracemalloc.start()
    try:
        resp = await client.get(f"{LOG}/transactions", headers=headers,
                                params={"from": "2026-11-01T00:00:00Z"})  # fmt: skip
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/x-ndjson"
        assert resp.headers["Transfer-Encoding"] == "chunked"
        assert "Content-Length" not in resp.headers
        first = json.loads(await resp.content.readline())
        # The first row is here while the rest is still being written.
        assert not resp.content.at_eof()
        assert first["type"] == "bet"
        assert first["ts"].startswith("2026-11-01T00:00")
        count, size, last = 1, 0, (first["ts"], first["seq"])
        async for line in resp.content:
            row = json.loads(line)
            assert (row["ts"], row["seq"]) >= last
            last = (row["ts"], row["seq"])
            count += 1
            size += len(line)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == ROWS
    # Flat: far less memory at the peak than the response holds (server and client here).
    assert size > 5_000_000
    assert peak < size / 2, (peak, size)

    # format=ndjson says the same; limit caps a stream.
    resp = await client.get(f"{LOG}/transactions", headers=regulator(client),
                            params={"format": "ndjson", "limit": "5"})  # fmt: skip
    lines = (await resp.read()).splitlines()
    assert len(lines) == 5
    assert json.loads(lines[0])["type"] == "bet"


async def test_an_empty_range_streams_nothing(client: Client) -> None:
    resp = await client.get(f"{LOG}/decisions", headers=regulator(client),
                            params={"format": "ndjson", "from": ts(1), "to": ts(2)})  # fmt: skip
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "application/x-ndjson"
    assert await resp.read() == b""
