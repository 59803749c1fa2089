"""`POST /webhook/regulator/request` end to end: accepted at once, the file prepared in the
background and POSTed, signed, to a real local receiver, retried with backoff; its status
followed at `GET /webhook/regulator/request/{id}`."""

from __future__ import annotations

import base64
import csv
import dataclasses
import hashlib
import io
import json
import time
from typing import Any

import pytest

from engine import webhooks
from pitboss.service.settings import Settings, SettingsError
from tests.service.conftest import event
from tests.service.receivers import Received, Receiver, eventually
from tests.service.regulators import LARGE, REGULATOR, Client, regulator, sar_case, send
from tests.service.serving import serve

SECRET = "regulator-callback-secret-0123"
MAX_ROWS = 5
ENDPOINT = "/webhook/regulator/request"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings,
        regulator_callback_secrets={REGULATOR: SECRET},
        regulator_request_max_rows=MAX_ROWS,
        regulator_callback_max_attempts=3,
        regulator_callback_backoff_s=0.05,
        regulator_callback_backoff_max_s=0.2,
        regulator_callback_timeout_s=2.0,
        regulator_request_poll_s=0.2,
    )


def verified(received: Received) -> bytes:
    """The body, once its signature and digest check out as a receiver checks them."""
    h = received.headers
    webhooks.verify(
        SECRET,
        timestamp=h.get(webhooks.TIMESTAMP),
        nonce=h.get(webhooks.NONCE),
        signature=h.get(webhooks.SIGNATURE),
        body=received.body,
        now=time.time(),
        tolerance_s=300,
    )
    digest = base64.b64encode(hashlib.sha256(received.body).digest()).decode()
    assert h["Content-Digest"] == f"sha-256=:{digest}:"
    return received.body


async def ask(client: Client, body: dict[str, Any], status: int = 202,
              headers: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    resp = await client.post(ENDPOINT, json=body, headers=headers or regulator(client))
    assert resp.status == status, await resp.text()
    answer: dict[str, Any] = await resp.json()
    if status == 202:
        assert resp.headers["Location"] == f"{ENDPOINT}/{answer['id']}"
    return answer


async def status_of(client: Client, request_id: str) -> dict[str, Any]:
    resp = await client.get(f"{ENDPOINT}/{request_id}", headers=regulator(client))
    assert resp.status == 200, await resp.text()
    found: dict[str, Any] = await resp.json()
    return found


async def test_a_transactions_request_is_delivered_signed(
    client: Client, receiver: Receiver
) -> None:
    await send(client, *(event("deposit", player_id="p-1", amount=100 * i,
                               ts=f"2026-11-0{i}T10:00:00Z") for i in range(1, 5)))  # fmt: skip
    accepted = await ask(client, {
        "type": "transactions",
        "parameters": {"from": "2026-11-02T00:00:00Z", "to": "2026-11-10T00:00:00Z"},
        "callback_url": receiver.url,
    })  # fmt: skip
    assert accepted["state"] == "queued"
    assert accepted["status_url"] == f"{ENDPOINT}/{accepted['id']}"

    await eventually(lambda: _async(receiver.requests))
    [received] = receiver.requests
    body = json.loads(verified(received))
    assert received.headers["Content-Type"] == "application/json"
    assert received.headers["Pitboss-Request-Id"] == accepted["id"]
    assert received.headers["Idempotency-Key"] == f"pitboss-regulator-request-{accepted['id']}"
    assert body["request_id"] == accepted["id"]
    assert body["type"] == "transactions"
    assert body["rows"] == 3
    assert [r["event"]["amount"] for r in body["data"]] == [200, 300, 400]

    done = await eventually(lambda: _delivered(client, accepted["id"]))
    assert done["attempts"] == 1
    assert done["last_error"] is None
    assert done["next_attempt"] is None
    assert done["delivered_at"]
    assert done["file"]["sha256"] == hashlib.sha256(received.body).hexdigest()
    assert done["file"]["rows"] == 3
    assert done["file"]["format"] == "json"
    # The file can be fetched as well, the same bytes.
    resp = await client.get(f"{ENDPOINT}/{accepted['id']}/file", headers=regulator(client))
    assert resp.status == 200
    assert await resp.read() == received.body


async def test_a_receiver_failing_twice_gets_it_on_the_third_attempt(
    client: Client, receiver: Receiver
) -> None:
    receiver.fail_first = 2
    await send(client, event("deposit", player_id="p-2", amount=LARGE, ts="2026-11-02T10:00:00Z"))
    accepted = await ask(client, {
        "type": "alerts", "format": "csv",
        "parameters": {"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"},
        "callback_url": receiver.url,
    })  # fmt: skip
    seen: list[tuple[str, int]] = []

    async def watch() -> dict[str, Any] | None:
        found = await status_of(client, accepted["id"])
        if not seen or seen[-1] != (found["state"], found["attempts"]):
            seen.append((found["state"], found["attempts"]))
        return found if found["state"] == "delivered" else None

    done = await eventually(watch, timeout=10)
    assert done["attempts"] == 3
    assert done["last_error"] == "HTTP 500: receiver down"  # the second attempt's
    assert len(receiver.requests) == 3
    states = [state for state, _ in seen]
    assert states[-1] == "delivered"
    assert set(states) <= {"queued", "delivering", "delivered"}
    assert states == sorted(states, key=["queued", "delivering", "delivered"].index)
    assert ("delivering", 1) in seen or ("delivering", 2) in seen  # a retry was waiting
    # Each attempt signed anew (its own nonce), all under one idempotency key.
    nonces = {r.headers[webhooks.NONCE] for r in receiver.requests}
    keys = {r.headers["Idempotency-Key"] for r in receiver.requests}
    assert len(nonces) == 3
    assert len(keys) == 1
    body = verified(receiver.requests[-1])
    assert receiver.requests[-1].headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert rows
    assert rows[0]["player_id"] == "p-2"
    assert "label" not in rows[0]


async def test_a_receiver_always_failing_fails_the_request(
    client: Client, receiver: Receiver
) -> None:
    receiver.always_fail = True
    await send(client, event("deposit", player_id="p-3"))
    accepted = await ask(client, {"type": "player_report", "parameters": {"player_id": "p-3"},
                                  "callback_url": receiver.url})  # fmt: skip

    async def failed() -> dict[str, Any] | None:
        found = await status_of(client, accepted["id"])
        return found if found["state"] == "failed" else None

    done = await eventually(failed, timeout=10)
    assert done["attempts"] == 3
    assert done["last_error"] == "HTTP 500: receiver down"
    assert len(receiver.requests) == 3
    report = json.loads(verified(receiver.requests[0]))
    assert report["data"]["player_id"] == "p-3"
    assert report["data"]["transactions"]["recent"][0]["player_id"] == "p-3"


async def test_a_player_report_as_csv(client: Client, receiver: Receiver) -> None:
    await send(client, event("deposit", player_id="p-4", amount=7_000))
    accepted = await ask(client, {"type": "player_report", "format": "csv",
                                  "parameters": {"player_id": "p-4"},
                                  "callback_url": receiver.url})  # fmt: skip
    await eventually(lambda: _delivered(client, accepted["id"]))
    rows = list(csv.DictReader(io.StringIO(verified(receiver.requests[0]).decode())))
    assert set(rows[0]) == {"section", "item", "field", "value"}
    cells = {(r["section"], r["field"]): r["value"] for r in rows}
    assert cells["player_id", ""] == "p-4"
    assert json.loads(cells["transactions", "recent"])[0]["event"]["amount"] == 7_000


async def test_a_player_report_never_shows_a_sar(client: Client, receiver: Receiver) -> None:
    await sar_case(client, "p-31")
    for fmt in ("json", "csv"):
        await ask(
            client,
            {
                "type": "player_report",
                "format": fmt,
                "parameters": {"player_id": "p-31"},
                "callback_url": receiver.url,
            },
        )
    await eventually(lambda: _async(len(receiver.requests) == 2))
    for received in receiver.requests:
        body = verified(received).decode().lower()
        assert "p-31" in body
        assert "sar" not in body
        assert "escalat" not in body


async def test_a_file_too_large_fails_without_being_sent(
    client: Client, receiver: Receiver
) -> None:
    await send(client, *(event("bet", ts=f"2026-11-01T10:0{i}:00Z") for i in range(MAX_ROWS + 1)))
    accepted = await ask(client, {
        "type": "transactions",
        "parameters": {"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"},
        "callback_url": receiver.url,
    })  # fmt: skip

    async def failed() -> dict[str, Any] | None:
        found = await status_of(client, accepted["id"])
        return found if found["state"] == "failed" else None

    done = await eventually(failed)
    assert f"more than {MAX_ROWS} rows" in done["last_error"]
    assert "format=ndjson" in done["last_error"]
    assert done["file"] is None
    assert receiver.requests == []
    resp = await client.get(f"{ENDPOINT}/{accepted['id']}/file", headers=regulator(client))
    assert resp.status == 409


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"type": "sars", "callback_url": "http://x"}, 422, "type"),
        ({"type": "transactions", "callback_url": "http://x"}, 422, "parameters.from"),
        ({"type": "transactions", "parameters": {"from": "2026-11-01", "to": "2026-11-02"},
          "callback_url": "http://x"}, 422, "parameters.from"),
        ({"type": "transactions", "parameters": {"from": "2026-11-02T00:00:00Z",
                                                 "to": "2026-11-01T00:00:00Z"},
          "callback_url": "http://x"}, 422, "parameters.to"),
        ({"type": "alerts", "parameters": {"from": "2026-11-01T00:00:00Z",
                                           "to": "2026-11-02T00:00:00Z", "extra": 1},
          "callback_url": "http://x"}, 422, "parameters.extra"),
        ({"type": "player_report", "parameters": {}, "callback_url": "http://x"}, 422,
         "parameters.player_id"),
        ({"type": "player_report", "parameters": {"player_id": "nobody"},
          "callback_url": "http://x"}, 404, "parameters.player_id"),
        ({"type": "player_report", "parameters": {"player_id": "p-1"},
          "callback_url": "ftp://x"}, 422, "callback_url"),
        ({"type": "player_report", "parameters": {"player_id": "p-1"}}, 422, "callback_url"),
        ({"type": "player_report", "parameters": {"player_id": "p-1"}, "callback_url": "http://x",
          "format": "xml"}, 422, "format"),
        ({"type": "player_report", "parameters": {"player_id": "p-1"}, "callback_url": "http://x",
          "priority": "high"}, 422, "priority"),
    ],
)  # fmt: skip
async def test_bad_requests_name_the_field(
    client: Client, body: dict[str, Any], status: int, field: str
) -> None:
    await send(client, event("deposit", player_id="p-1"))
    answer = await ask(client, body, status)
    assert answer["field"] == field


async def test_a_client_without_a_callback_secret_is_refused(client: Client) -> None:
    body = {
        "type": "alerts",
        "callback_url": "http://x",
        "parameters": {"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"},
    }
    answer = await ask(client, body, 403, headers=regulator(client, client_id="ukgc-inspector"))
    assert answer["field"] == "callback_url"
    assert "ukgc-inspector" in answer["detail"]  # fmt: skip


async def test_a_request_is_seen_by_its_client_and_compliance_only(
    client: Client, receiver: Receiver
) -> None:
    body = {
        "type": "incidents",
        "callback_url": receiver.url,
        "parameters": {"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"},
    }
    accepted = await ask(client, body)
    path = f"{ENDPOINT}/{accepted['id']}"
    other = await client.get(path, headers=regulator(client, client_id="ukgc-inspector"))
    assert other.status == 404
    officer = regulator(client, client_id="mlro", role="compliance_officer")
    assert (await client.get(path, headers=officer)).status == 200
    for bad in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        resp = await client.get(f"{ENDPOINT}/{bad}", headers=regulator(client))
        assert resp.status == 404


def test_callback_secrets_from_the_environment() -> None:
    settings = Settings.from_env(
        {"PITBOSS_REGULATOR_CALLBACK_SECRETS": f"mga:{SECRET},*:{SECRET}x"}
    )
    assert settings.regulator_callback_secrets == {"mga": SECRET, "*": SECRET + "x"}
    with pytest.raises(SettingsError, match="PITBOSS_REGULATOR_CALLBACK_SECRETS: item 1"):
        Settings.from_env({"PITBOSS_REGULATOR_CALLBACK_SECRETS": "just-a-secret"})
    with pytest.raises(SettingsError, match=r"PITBOSS_REGULATOR_CALLBACK_SECRETS.*shorter"):
        Settings.from_env({"PITBOSS_REGULATOR_CALLBACK_SECRETS": "mga:short"})
    with pytest.raises(SettingsError, match="PITBOSS_REGULATOR_REQUEST_MAX_ROWS"):
        Settings.from_env({"PITBOSS_REGULATOR_REQUEST_MAX_ROWS": "0"})


async def _async(value: Any) -> Any:
    return value


async def _delivered(client: Client, request_id: str) -> dict[str, Any] | None:
    found = await status_of(client, request_id)
    return found if found["state"] == "delivered" else None


async def test_callbacks_go_only_to_allowed_hosts_when_a_list_is_set(settings: Settings) -> None:
    allowed = dataclasses.replace(settings, regulator_callback_hosts=("*.regulator.example",))
    body = {
        "type": "alerts",
        "callback_url": "http://169.254.169.254/latest/meta-data",
        "parameters": {"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"},
    }
    async with serve(allowed) as c:
        answer = await ask(c, body, 422)
        assert answer["field"] == "callback_url"
        assert "169.254.169.254" in answer["detail"]
        await ask(c, body | {"callback_url": "https://files.regulator.example/in"})


def test_callback_hosts_from_the_environment() -> None:
    found = Settings.from_env({"PITBOSS_REGULATOR_CALLBACK_HOSTS": "a.example, *.b.example"})
    assert found.regulator_callback_hosts == ("a.example", "*.b.example")
    with pytest.raises(SettingsError, match=r"PITBOSS_REGULATOR_CALLBACK_HOSTS: .*'http://x'"):
        Settings.from_env({"PITBOSS_REGULATOR_CALLBACK_HOSTS": "http://x"})
