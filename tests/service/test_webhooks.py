"""POST /v1/webhooks/{provider}: signed events from PSP and KYC providers.

The providers (conftest): `acmepay`, a PSP, and `idcheck`, a KYC provider.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from engine.webhooks import NONCE, SIGNATURE, TIMESTAMP, sign
from tests.service.conftest import KYC_SECRET, PSP_SECRET, event
from tests.service.serving import service_of

Client = TestClient[Any, Any]


def signed(
    body: bytes,
    secret: str = PSP_SECRET,
    *,
    at: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    at = int(time.time()) if at is None else at
    nonce = nonce or uuid.uuid4().hex
    return {
        "Content-Type": "application/json",
        TIMESTAMP: str(at),
        NONCE: nonce,
        SIGNATURE: sign(secret, at, nonce, body),
    }


def encoded(e: dict[str, Any]) -> bytes:
    return json.dumps(e).encode()


async def send(client: Client, provider: str, body: bytes, headers: dict[str, str]) -> Any:
    return await client.post(f"/v1/webhooks/{provider}", data=body, headers=headers)


async def refused(
    client: Client, db: asyncpg.Connection, resp: Any, reason: str, times: int = 1
) -> str:
    """Assert a 401 that was logged and counted with `reason` (`times` so far); returns its
    detail."""
    assert resp.status == 401, await resp.text()
    assert resp.content_type == "application/problem+json"
    assert resp.headers["WWW-Authenticate"] == "HMAC-SHA256"
    detail: str = (await resp.json())["detail"]
    row = await db.fetchrow(
        "SELECT provider, reason, remote FROM webhook_rejections ORDER BY id DESC"
    )
    assert row is not None
    assert (row["provider"], row["reason"]) == ("acmepay", reason)
    assert row["remote"] == "127.0.0.1"
    metrics = await (await client.get("/metrics")).text()
    line = f'pitboss_webhook_rejected_total{{provider="acmepay",reason="{reason}"}} {times}.0'
    assert line in metrics
    assert await db.fetchval("SELECT count(*) FROM events") == 0
    return detail


async def test_a_signed_psp_event_is_decided(client: Client, db: asyncpg.Connection) -> None:
    e = event("deposit", amount=1_500_000)
    body = encoded(e)
    resp = await send(client, "acmepay", body, signed(body))
    assert resp.status == 200, await resp.text()
    decision = await resp.json()
    assert decision["event_id"] == e["event_id"]
    assert "large_transaction" in {h["rule"] for h in decision["hits"]}
    assert await db.fetchval("SELECT count(*) FROM events") == 1
    assert await db.fetchval("SELECT count(*) FROM webhook_rejections") == 0
    stored = await client.get(f"/v1/decisions/{e['event_id']}")
    assert await stored.read() == await resp.read()


async def test_a_signed_kyc_event_is_decided(client: Client, db: asyncpg.Connection) -> None:
    body = encoded(event("kyc_update", kyc_level=2, status="approved"))
    resp = await send(client, "idcheck", body, signed(body, KYC_SECRET))
    assert resp.status == 200, await resp.text()
    assert await db.fetchval("SELECT type FROM events") == "kyc_update"


async def test_a_rotated_secret_may_send_both_signatures(client: Client) -> None:
    body = encoded(event("withdrawal"))
    headers = signed(body)
    old = sign("the-old-secret-0123456789", int(headers[TIMESTAMP]), headers[NONCE], body)
    headers[SIGNATURE] = f"{old}, {headers[SIGNATURE]}"
    assert (await send(client, "acmepay", body, headers)).status == 200


async def test_a_bad_signature_is_refused_logged_and_counted(
    client: Client, db: asyncpg.Connection
) -> None:
    body = encoded(event("deposit"))
    at = int(time.time())
    wrong = {
        "other secret": lambda nonce: sign(KYC_SECRET, at, nonce, body),
        "other body": lambda nonce: sign(PSP_SECRET, at, nonce, encoded(event("deposit"))),
        "other time": lambda nonce: sign(PSP_SECRET, at - 1, nonce, body),
        # A captured request replayed with a fresh nonce: the nonce is signed.
        "other nonce": lambda nonce: sign(PSP_SECRET, at, "captured-" + nonce, body),
        "garbage": lambda nonce: "v1=00",
    }
    for n, signature in enumerate(wrong.values(), 1):
        headers = signed(body, at=at, nonce=f"nonce-{n}")
        headers[SIGNATURE] = signature(f"nonce-{n}")
        resp = await send(client, "acmepay", body, headers)
        await refused(client, db, resp, "bad_signature", n)


async def test_a_missing_header_is_refused(client: Client, db: asyncpg.Connection) -> None:
    body = encoded(event("deposit"))
    for n, missing in enumerate([TIMESTAMP, NONCE, SIGNATURE], 1):
        headers = signed(body)
        del headers[missing]
        resp = await send(client, "acmepay", body, headers)
        assert missing in await refused(client, db, resp, "missing_header", n)


async def test_a_stale_timestamp_is_refused(client: Client, db: asyncpg.Connection) -> None:
    body = encoded(event("deposit"))
    for n, offset in enumerate([-301, 400, -10_000], 1):
        resp = await send(client, "acmepay", body, signed(body, at=int(time.time()) + offset))
        await refused(client, db, resp, "stale", n)


async def test_a_timestamp_that_is_not_a_number_is_refused(
    client: Client, db: asyncpg.Connection
) -> None:
    body = encoded(event("deposit"))
    headers = signed(body)
    for n, bad in enumerate(["yesterday", "9" * 400, "²"], 1):
        headers[TIMESTAMP] = bad
        resp = await send(client, "acmepay", body, headers)
        await refused(client, db, resp, "bad_timestamp", n)


async def test_a_replayed_nonce_is_refused(client: Client, db: asyncpg.Connection) -> None:
    body = encoded(event("deposit"))
    headers = signed(body, nonce="n-1")
    assert (await send(client, "acmepay", body, headers)).status == 200
    await db.execute("DELETE FROM events")  # so that `refused` can check nothing was added
    await db.execute("DELETE FROM decisions")
    # The same request again, and another event under the same nonce, signed anew.
    resp = await send(client, "acmepay", body, headers)
    await refused(client, db, resp, "replay")
    other = encoded(event("deposit"))
    resp = await send(client, "acmepay", other, signed(other, nonce="n-1"))
    assert resp.status == 401
    assert await db.fetchval("SELECT count(*) FROM events") == 0


async def test_nonces_are_per_provider(client: Client) -> None:
    psp, kyc = encoded(event("deposit")), encoded(event("kyc_update", kyc_level=1))
    assert (await send(client, "acmepay", psp, signed(psp, nonce="shared"))).status == 200
    resp = await send(client, "idcheck", kyc, signed(kyc, KYC_SECRET, nonce="shared"))
    assert resp.status == 200


async def test_an_unknown_provider_is_404(client: Client, db: asyncpg.Connection) -> None:
    body = encoded(event("deposit"))
    resp = await send(client, "nobody", body, signed(body))
    assert resp.status == 404
    assert (await resp.json())["field"] == "provider"
    assert await db.fetchval("SELECT count(*) FROM webhook_rejections") == 0


@pytest.mark.parametrize(
    ("provider", "secret", "kind"),
    [("idcheck", KYC_SECRET, "deposit"), ("acmepay", PSP_SECRET, "kyc_update"),
     ("acmepay", PSP_SECRET, "bet")],
)  # fmt: skip
async def test_a_provider_sends_only_its_kind_of_event(
    client: Client, db: asyncpg.Connection, provider: str, secret: str, kind: str
) -> None:
    body = encoded(event(kind))
    resp = await send(client, provider, body, signed(body, secret))
    assert resp.status == 422
    assert (await resp.json())["field"] == "type"
    assert await db.fetchval("SELECT count(*) FROM events") == 0


async def test_a_signed_invalid_event_names_the_field(client: Client) -> None:
    body = encoded(event("deposit", amount=-5))
    resp = await send(client, "acmepay", body, signed(body))
    assert resp.status == 422
    assert (await resp.json())["field"] == "amount"


async def test_a_request_not_taken_can_be_retried_with_its_nonce(client: Client) -> None:
    body = encoded(event("deposit"))
    headers = signed(body, nonce="retry-me")
    ingestor = service_of(client).ingestor
    ingestor._ready.clear()  # as during a rebuild: the service answers 503
    try:
        assert (await send(client, "acmepay", body, headers)).status == 503
    finally:
        ingestor._ready.set()
    assert (await send(client, "acmepay", body, headers)).status == 200
    assert (await send(client, "acmepay", body, headers)).status == 401
