"""Helpers for the regulator API's tests: a regulator's token, events sent, and a case
that ends in a suspicious activity report."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.service.conftest import event
from tests.service.serving import token_for

Client = TestClient[Any, Any]
LARGE = 1_500_000  # 15,000 EUR: fires aml_core's large_transaction on its own
REGULATOR = "mga-inspector"


def regulator(
    client: Client, client_id: str = REGULATOR, role: str = "regulator_read"
) -> dict[str, str]:
    """Headers carrying a regulator's token."""
    return {"Authorization": f"Bearer {token_for(client, role, client_id=client_id)}"}


async def send(client: Client, *events: dict[str, Any]) -> None:
    resp = await client.post("/v1/events/batch", json={"events": list(events)})
    assert resp.status == 200, await resp.text()


async def post(client: Client, path: str, body: dict[str, Any], status: int = 200) -> Any:
    resp = await client.post(path, json=body)
    assert resp.status == status, await resp.text()
    return await resp.json()


async def get(client: Client, path: str, headers: dict[str, str], **params: str) -> Any:
    resp = await client.get(path, headers=headers, params=params)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def sar_case(client: Client, player: str, ts: str = "2026-11-01T10:00:00Z") -> int:
    """An AML alert about `player`, a case around it whose notes, evidence and restriction
    speak of the SAR, escalated (a SAR filed) and restricted; returns the case id."""
    await send(client, event("deposit", player_id=player, amount=LARGE, ts=ts))
    resp = await client.get("/v1/alerts", params={"player": player, "family": "aml"})
    [alert] = (await resp.json())["alerts"]
    case = await post(
        client,
        "/v1/cases",
        {"alert_ids": [alert["id"]], "by": "ana", "title": f"SAR candidate {player}"},
        201,
    )
    case_id: int = case["id"]
    await post(client, f"/v1/cases/{case_id}/transition", {"to": "investigating", "by": "ana"})
    await post(client, f"/v1/cases/{case_id}/notes",
               {"text": "Filing a SAR with the FIU today", "by": "ana"}, 201)  # fmt: skip
    await post(client, f"/v1/cases/{case_id}/evidence",
               {"description": "SAR reference FIU-2026-0042", "by": "ana",
                "ref": "sar://fiu/2026/0042"}, 201)  # fmt: skip
    await post(client, f"/v1/cases/{case_id}/transition",
               {"to": "escalated", "by": "ana", "note": "SAR filed"})  # fmt: skip
    await post(
        client,
        f"/v1/players/{player}/restrictions",
        {"kind": "withdrawal_freeze", "reason": "SAR filed", "by": "ana", "case_id": case_id},
        201,
    )
    await post(client, f"/v1/cases/{case_id}/transition",
               {"to": "restricted", "by": "ana", "note": "SAR filed; frozen"})  # fmt: skip
    return case_id
