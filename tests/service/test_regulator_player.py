"""`/regulator/player/{id}`: profile, KYC state, limits, restrictions, transactions, alerts
and cases — and never a SAR, nor anything that shows one exists."""

from __future__ import annotations

import json
from typing import Any

from tests.service.conftest import event
from tests.service.regulators import LARGE, Client, get, post, regulator, sar_case, send

PLAYER = "/regulator/player"


def ts(day: int, hour: int = 10) -> str:
    return f"2026-11-{day:02d}T{hour:02d}:00:00Z"


async def test_a_player_from_events_only(client: Client) -> None:
    await send(
        client,
        event("kyc_update", player_id="p-5", kyc_level=1, status="pending", ts=ts(1)),
        event("kyc_update", player_id="p-5", kyc_level=2, status="approved", doc_country="MT",
              doc_match=True, ts=ts(2)),
        event("limit_change", player_id="p-5", limit_kind="deposit", value=10_000, ts=ts(2)),
        event("limit_change", player_id="p-5", limit_kind="deposit", value=5_000, ts=ts(3)),
        event("limit_change", player_id="p-5", limit_kind="loss", value=2_000, ts=ts(3)),
        *(event("deposit", player_id="p-5", amount=1_000 + d, ts=ts(d)) for d in range(4, 30)),
        event("login", player_id="p-5", ts=ts(29, 12)),
    )  # fmt: skip
    view = await get(client, f"{PLAYER}/p-5", regulator(client))
    assert view["player_id"] == "p-5"
    assert view["profile"] is None  # no profile recorded for this player
    assert view["kyc"] == {
        "level": 2, "status": "approved", "source": "events", "updated_at": "2026-11-02T10:00:00Z",
        "doc_country": "MT", "doc_match": True, "documents": [],
    }  # fmt: skip
    assert [(limit["limit_kind"], limit["value"]) for limit in view["limits"]] == [
        ("deposit", 5_000),
        ("loss", 2_000),
    ]  # the latest of each kind
    assert view["self_exclusion"] is None
    recent = view["transactions"]["recent"]
    assert len(recent) == 20
    assert [r["event"]["amount"] for r in recent[:2]] == [1_029, 1_028]  # newest first
    assert view["transactions"]["log"] == "/regulator/logs/transactions?player=p-5"
    assert view["alerts"] == []
    assert view["cases"] == []
    assert view["restrictions"] == []

    log = await get(client, view["transactions"]["log"], regulator(client), limit="1000")
    assert len(log["items"]) == 26


async def test_a_player_with_a_profile_and_documents(client: Client) -> None:
    await send(client, event("deposit", player_id="p-6", ts=ts(1)))
    profile = {"market": "MGA", "full_name": "Ada Example", "email": "ada@example.test",
               "date_of_birth": "1990-05-01", "document_number": "MT1234567"}  # fmt: skip
    resp = await client.put("/v1/players/p-6/profile", json=profile)
    assert resp.status in (200, 201), await resp.text()
    resp = await client.put("/v1/players/p-6/kyc", json={"kyc_level": 3, "kyc_status": "approved"})
    assert resp.status == 200, await resp.text()
    resp = await client.post(
        "/v1/players/p-6/kyc/documents",
        params={"kind": "passport"},
        data=b"%PDF-1.4 scan",
        headers={"Content-Type": "application/pdf"},
    )
    assert resp.status == 201, await resp.text()

    view = await get(client, f"{PLAYER}/p-6", regulator(client))
    assert view["profile"]["full_name"] == "Ada Example"
    assert view["profile"]["document_number"] == "MT1234567"
    kyc = view["kyc"]
    assert (kyc["level"], kyc["status"], kyc["source"]) == (3, "approved", "profile")
    [document] = kyc["documents"]
    assert document["kind"] == "passport"
    assert document["content_type"] == "application/pdf"

    # A profile is enough for a player the service has no event of yet.
    resp = await client.put("/v1/players/p-7/profile", json=profile)
    assert resp.status in (200, 201), await resp.text()
    view = await get(client, f"{PLAYER}/p-7", regulator(client))
    assert view["profile"]["email"] == "ada@example.test"
    assert view["transactions"]["recent"] == []


async def test_an_unknown_player_is_404(client: Client) -> None:
    resp = await client.get(f"{PLAYER}/nobody", headers=regulator(client))
    assert resp.status == 404
    assert (await resp.json())["field"] == "id"


async def test_self_exclusion(client: Client) -> None:
    await send(client, event("self_exclusion", player_id="p-8", until="2099-01-01T00:00:00Z",
                             ts=ts(1)))  # fmt: skip
    view = await get(client, f"{PLAYER}/p-8", regulator(client))
    excluded = view["self_exclusion"]
    assert excluded["in_force"] is True
    assert excluded["until"] == "2099-01-01T00:00:00Z"


# --- tipping off -----------------------------------------------------------------------


def text_of(value: Any) -> str:
    return json.dumps(value).lower()


async def test_no_sar_nor_its_existence(client: Client) -> None:
    """A case whose notes and evidence mention the SAR, escalated (a SAR filed), and a
    restriction whose reason says "SAR filed": the regulator's view shows none of it."""
    case_id = await sar_case(client, "p-31")
    view = await get(client, f"{PLAYER}/p-31", regulator(client))
    body = text_of(view)
    assert "sar" not in body
    assert "fiu" not in body
    assert "escalat" not in body
    [case] = view["cases"]
    assert case["id"] == case_id
    assert case["state"] == "decided"  # escalated or restricted, never which
    assert set(case) == {"id", "subject_kind", "subject_id", "state", "priority", "opened_at",
                         "decided_at", "closed_at", "alert_ids"}  # fmt: skip
    [restriction] = view["restrictions"]
    assert restriction["kind"] == "withdrawal_freeze"
    assert "reason" not in restriction
    [alert] = view["alerts"]
    assert "label" not in alert

    # The same read by a compliance officer says no more.
    officer = regulator(client, client_id="mlro", role="compliance_officer")
    assert "sar" not in text_of(await get(client, f"{PLAYER}/p-31", officer))


async def test_an_escalated_case_reads_as_a_cleared_one(client: Client) -> None:
    """Whether a case ended in a SAR cannot be told from the view: a case escalated and one
    cleared read the same, field for field but their ids and times."""
    views = {}
    for player, outcome in (("p-41", "escalated"), ("p-42", "cleared")):
        await send(client, event("deposit", player_id=player, amount=LARGE, ts=ts(1)))
        resp = await client.get("/v1/alerts", params={"player": player})
        [alert] = (await resp.json())["alerts"]
        case = await post(client, "/v1/cases", {"alert_ids": [alert["id"]], "by": "ana"}, 201)
        for to in ("investigating", outcome, "closed"):
            await post(client, f"/v1/cases/{case['id']}/transition", {"to": to, "by": "ana"})
        views[player] = await get(client, f"{PLAYER}/{player}", regulator(client))

    def shape(view: dict[str, Any]) -> Any:
        [case] = view["cases"]
        [alert] = view["alerts"]
        keep = ("state", "priority", "subject_kind")
        return ({k: case[k] for k in keep}, sorted(alert), alert["state"], view["restrictions"],
                sorted(view))  # fmt: skip

    assert shape(views["p-41"]) == shape(views["p-42"])
    assert views["p-41"]["cases"][0]["state"] == "closed"
