"""Incidents opened by events (RNG checks, self-exclusion and activity after it), their
priorities and notifications, and /v1/incidents: list, one incident, close."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from engine.incidents import RNG_ANOMALY, SELF_EXCLUSION
from pitboss.service.settings import Settings
from tests.service.conftest import event
from tests.service.receivers import Mailbox, Receiver, eventually

Client = TestClient[Any, Any]
SECRET = "incident-secret-0123456789"


@pytest.fixture
def settings(settings: Settings, mailbox: Mailbox, receiver: Receiver) -> Settings:
    return dataclasses.replace(
        settings,
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        incident_emails=("compliance@casino.test",),
        incident_webhook_url=receiver.url,
        incident_webhook_secret=SECRET,
        notify_backoff_s=0.05,
        notify_backoff_max_s=0.2,
        notify_poll_s=0.5,
    )


async def send(client: Client, e: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post("/v1/events", json=e)
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def incidents(client: Client, query: str = "") -> list[dict[str, Any]]:
    resp = await client.get("/v1/incidents" + query)
    assert resp.status == 200, await resp.text()
    found: list[dict[str, Any]] = (await resp.json())["incidents"]
    return found


async def delivered(client: Client, incident_id: int) -> dict[str, Any]:
    """The incident, once every notification it queued has been sent."""

    async def check() -> dict[str, Any] | None:
        got: dict[str, Any] = await (await client.get(f"/v1/incidents/{incident_id}")).json()
        notes = got["notifications"]
        return got if notes and all(n["state"] == "sent" for n in notes) else None

    return await eventually(check)


async def test_a_p1_rng_check_opens_an_incident_and_notifies(
    client: Client, mailbox: Mailbox, receiver: Receiver
) -> None:
    e = event("rng_check", game_id="roulette-3", p_value=0.0001)
    await send(client, e)
    [listed] = await incidents(client)
    assert listed["kind"] == RNG_ANOMALY
    assert listed["priority"] == 1
    assert listed["state"] == "open"
    assert listed["subject"] == "game:roulette-3"
    assert listed["event_id"] == e["event_id"]
    assert listed["details"] == {"statistic": "chi2", "p_value": 0.0001}
    assert "notifications" not in listed

    got = await delivered(client, listed["id"])
    assert {(n["channel"], n["target"]) for n in got["notifications"]} == {
        ("email", "compliance@casino.test"),
        ("webhook", receiver.url),
    }
    assert all(n["attempts"] == 1 and n["sent_at"] for n in got["notifications"])
    assert len(mailbox.mails) == 1
    assert len(receiver.requests) == 1


async def test_a_p2_rng_check_opens_an_incident_without_notifying(
    client: Client, mailbox: Mailbox, receiver: Receiver
) -> None:
    await send(client, event("rng_check", game_id="slot-2", p_value=0.005))
    await send(client, event("rng_check", game_id="slot-3", p_value=0.5))  # nothing at all
    [p2] = await incidents(client)
    assert (p2["kind"], p2["priority"], p2["subject"]) == (RNG_ANOMALY, 2, "game:slot-2")
    detail = await (await client.get(f"/v1/incidents/{p2['id']}")).json()
    assert detail["notifications"] == []
    # A P1 after it is the only thing announced: the outbox is drained in order.
    await send(client, event("rng_check", game_id="slot-9", p_value=0.0002))
    p1 = (await incidents(client, "?priority=1"))[0]
    await delivered(client, p1["id"])
    assert [m.message["Subject"] for m in mailbox.mails] == [
        "[Pitboss P1] RNG_anomaly: game:slot-9"
    ]
    assert len(receiver.requests) == 1


async def test_activity_after_self_exclusion_raises_the_incident_to_p1(
    client: Client, mailbox: Mailbox, receiver: Receiver
) -> None:
    await send(client, event("self_exclusion", player_id="p-7", ts="2026-11-01T10:00:00Z"))
    [excluded] = await incidents(client)
    assert (excluded["kind"], excluded["priority"]) == (SELF_EXCLUSION, 2)
    assert excluded["subject"] == "player:p-7"
    assert excluded["repeats"] == 1
    detail = await (await client.get(f"/v1/incidents/{excluded['id']}")).json()
    assert detail["notifications"] == []

    # self_excluded_activity (responsible_gambling.pol): a login, deposit or bet of the
    # excluded player is blocked and raises the open incident to P1, which is announced.
    bet = event("bet", player_id="p-7", ts="2026-11-01T11:00:00Z")
    decision = await send(client, bet)
    assert decision["action"] == "block"
    [raised] = await incidents(client)
    assert raised["id"] == excluded["id"]
    assert (raised["priority"], raised["repeats"]) == (1, 2)
    got = await delivered(client, raised["id"])
    assert len(got["notifications"]) == 2
    [mail] = mailbox.mails
    assert mail.message["Subject"] == "[Pitboss P1] self_exclusion_event: player:p-7"
    assert "activity on self-excluded account p-7" in mail.body

    # Further activity counts up on the same incident; it was announced once already.
    await send(client, event("login", player_id="p-7", ts="2026-11-01T12:00:00Z"))
    [again] = await incidents(client)
    assert (again["id"], again["priority"], again["repeats"]) == (excluded["id"], 1, 3)
    detail = await (await client.get(f"/v1/incidents/{again['id']}")).json()
    assert len(detail["notifications"]) == 2
    assert len(receiver.requests) == 1


async def test_repeats_count_up_on_the_open_incident(client: Client, receiver: Receiver) -> None:
    for minute in range(3):
        ts = f"2026-11-01T10:0{minute}:00Z"
        await send(client, event("rng_check", game_id="dice-1", p_value=0.0001, ts=ts))
    [incident] = await incidents(client)
    assert incident["repeats"] == 3
    got = await delivered(client, incident["id"])
    assert len(got["notifications"]) == 2  # announced when opened, not on each repeat
    assert len(receiver.requests) == 1


async def test_the_list_filters_and_pages_newest_first(client: Client) -> None:
    for i, p in enumerate([0.0001, 0.005, 0.0001, 0.005, 0.005]):
        await send(client, event("rng_check", game_id=f"g-{i}", p_value=p))
    await send(client, event("self_exclusion", player_id="p-9"))
    everything = await incidents(client)
    ids = [i["id"] for i in everything]
    assert ids == sorted(ids, reverse=True)
    assert len(ids) == 6
    assert [i["subject"] for i in await incidents(client, "?kind=RNG_anomaly&priority=1")] == [
        "game:g-2",
        "game:g-0",
    ]
    assert len(await incidents(client, f"?kind={SELF_EXCLUSION}")) == 1
    assert len(await incidents(client, "?state=open&priority=2")) == 4
    assert await incidents(client, "?state=closed") == []

    seen, cursor, pages = [], "", 0
    while True:
        resp = await client.get(f"/v1/incidents?limit=4{cursor}")
        page = await resp.json()
        seen += [i["id"] for i in page["incidents"]]
        pages += 1
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert (seen, pages) == (ids, 2)


async def test_bad_list_queries_name_the_parameter(client: Client) -> None:
    for query, name in [
        ("state=shut", "state"),
        ("kind=fire", "kind"),
        ("priority=9", "priority"),
        ("priority=high", "priority"),
        ("cursor=-1", "cursor"),
        ("limit=0", "limit"),
        ("limit=100000", "limit"),
    ]:
        resp = await client.get(f"/v1/incidents?{query}")
        assert resp.status == 422, query
        assert resp.content_type == "application/problem+json"
        assert (await resp.json())["field"] == name, query


async def test_an_unknown_incident_is_not_found(client: Client) -> None:
    for path in ("/v1/incidents/999999", "/v1/incidents/abc", "/v1/incidents/99999999999999999999"):
        resp = await client.get(path)
        assert resp.status == 404, path
        assert (await resp.json())["field"] == "incident_id"
    resp = await client.post("/v1/incidents/999999/close", json={"by": "ana"})
    assert resp.status == 404


async def test_closing_an_incident(client: Client) -> None:
    await send(client, event("rng_check", game_id="wheel-1", p_value=0.005))
    [incident] = await incidents(client)
    url = f"/v1/incidents/{incident['id']}/close"

    for body, name in [({}, "by"), ({"by": ""}, "by"), ({"by": "ana", "reason": "x"}, "reason")]:
        resp = await client.post(url, json=body)
        assert resp.status == 422, body
        assert (await resp.json())["field"] == name, body

    resp = await client.post(url, json={"by": "ana", "note": "RNG recertified by the lab"})
    assert resp.status == 200
    closed = await resp.json()
    assert closed["state"] == "closed"
    assert closed["closed_at"] is not None
    assert closed["details"]["closed"] == {"by": "ana", "note": "RNG recertified by the lab"}
    assert closed["details"]["p_value"] == 0.005
    assert closed["notifications"] == []
    assert (await incidents(client, "?state=closed"))[0]["id"] == incident["id"]

    again = await client.post(url, json={"by": "ana"})
    assert again.status == 409
    # Once closed, the same anomaly opens a new incident rather than repeating the old one.
    await send(client, event("rng_check", game_id="wheel-1", p_value=0.005))
    [reopened] = await incidents(client, "?state=open")
    assert reopened["id"] != incident["id"]
    assert reopened["repeats"] == 1


async def test_the_incident_routes_are_documented(client: Client) -> None:
    paths = (await (await client.get("/openapi.json")).json())["paths"]
    assert set(paths["/v1/incidents"]) == {"get"}
    assert {p["name"] for p in paths["/v1/incidents"]["get"]["parameters"]} == {
        "state",
        "kind",
        "priority",
        "cursor",
        "limit",
    }
    detail = paths["/v1/incidents/{incident_id}"]["get"]["responses"]["200"]
    assert detail["content"]["application/json"]["schema"]["$ref"].endswith("/IncidentDetail")
    schemas = (await (await client.get("/openapi.json")).json())["components"]["schemas"]
    assert "notifications" in schemas["IncidentDetail"]["properties"]
    assert "post" in paths["/v1/incidents/{incident_id}/close"]
