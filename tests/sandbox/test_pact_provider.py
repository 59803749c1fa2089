"""The service's side of the contract: the committed pact
(`pacts/regulator-client-pitboss.json`, written by `test_pact_consumer.py`) replayed by
Pact's verifier against the real service on a real socket, each interaction's provider
states set up first with real data through the service's own API and store functions.

The provider states answer the values the contract's requests take from them (Pact's
`fromProviderState`): the regulator client's credentials, a token the service issued, the
URL of a real callback receiver, the id of a request delivered to it. Pact-python's
function state handlers cannot answer values, so the states are served over HTTP by a
small aiohttp app of the test's own, on the same event loop as the service.

`verify_contract(..., mount=...)` takes where the regulator paths are mounted: `""` for
the live `/regulator` and `/webhook/regulator`, `"/sandbox"` for the sandbox's mirror
(the token endpoint is at the root either way).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
from aiohttp import web
from pact import Verifier

from pitboss.service.settings import Settings
from regapi.auth import roles
from tests.sandbox import live_data
from tests.sandbox import regulator_contract as contract
from tests.sandbox.live_data import settings
from tests.sandbox.seeded import player_with_a_case, sandbox_settings, sandbox_template
from tests.service.conftest import database_url, pg_server
from tests.service.receivers import Receiver, eventually, http_receiver
from tests.service.serving import Client, serve

__all__ = ["database_url", "pg_server", "sandbox_settings", "sandbox_template", "settings"]

TOKEN_INTERACTION = "^a token request"
# Every interaction but the token request runs with a regulator's token.
AUTHORIZED_STATE = f"^{contract.TOKEN_STATE}$"

StateHandler = Callable[[dict[str, Any]], Awaitable[dict[str, str]]]


class LiveStates:
    """The contract's provider states over the live regulator API: each made once, with
    real data, and its values kept for the interactions that need the state again.

    For the sandbox: `role="sandbox"`, `mount="/sandbox"`, and `handlers` for the report,
    player, entity and transactions states pointing at the seeded data."""

    def __init__(
        self,
        service: Client,
        receiver: Receiver,
        *,
        role: str = roles.REGULATOR_READ,
        mount: str = "",
    ) -> None:
        self.service, self.receiver = service, receiver
        self.role, self.mount = role, mount
        # What the "delivered" state asks for: small enough to go in one callback.
        self.request_parameters = {"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"}
        self._done: dict[str, Any] = {}
        self._lock = asyncio.Lock()
        self.handlers: dict[str, StateHandler] = {
            contract.CLIENT_STATE: self.regulator_client,
            contract.TOKEN_STATE: self.token,
            contract.REPORT_STATE: self.report,
            contract.PLAYER_STATE: self.player,
            contract.NO_PLAYER_STATE: self.no_player,
            contract.HISTORY_STATE: self.history,
            contract.LOG_STATE: self.transactions,
            contract.CALLBACK_STATE: self.callback_receiver,
            contract.DELIVERED_STATE: self.delivered_request,
        }

    async def setup(self, state: str, params: dict[str, Any]) -> dict[str, str]:
        handler = self.handlers.get(state)
        if handler is None:
            raise LookupError(f"no provider state {state!r} (known: {sorted(self.handlers)})")
        async with self._lock:
            return await handler(params)

    async def once(self, key: str, make: Callable[[], Awaitable[Any]]) -> Any:
        if key not in self._done:
            self._done[key] = await make()
        return self._done[key]

    # --- the states -----------------------------------------------------------------------

    async def regulator_client(self, params: dict[str, Any]) -> dict[str, str]:
        client_id, secret = await self.once(
            "client", lambda: live_data.regulator_client(self.service, role=self.role)
        )
        pair = f"{quote_plus(client_id)}:{quote_plus(secret)}"
        return {"client_credentials": base64.b64encode(pair.encode()).decode()}

    async def token(self, params: dict[str, Any]) -> dict[str, str]:
        async def issue() -> str:
            basic = (await self.regulator_client({}))["client_credentials"]
            resp = await self.service.post(
                "/oauth2/token",
                data={"grant_type": "client_credentials"},
                headers={"Authorization": f"Basic {basic}"},
            )
            assert resp.status == 200, await resp.text()
            token: str = (await resp.json())["access_token"]
            return token

        return {"access_token": await self.once("token", issue)}

    async def report(self, params: dict[str, Any]) -> dict[str, str]:
        await self._january()
        await self.once("report", lambda: live_data.monthly_report(self.service))
        stem = f"{live_data.MARKET}_{live_data.PERIOD.replace('/', '_')}"
        return {"market": live_data.MARKET, "period": live_data.PERIOD, "stem": stem}

    async def player(self, params: dict[str, Any]) -> dict[str, str]:
        await self._january()
        await self.once("player", lambda: live_data.player_file(self.service))
        return {"player_id": live_data.PLAYER}

    async def no_player(self, params: dict[str, Any]) -> dict[str, str]:
        expect(params, player_id=live_data.UNKNOWN_PLAYER)
        return {}

    async def history(self, params: dict[str, Any]) -> dict[str, str]:
        await self.once("history", lambda: live_data.bonus_rule_history(self.service))
        return {"entity": live_data.ENTITY, "id": live_data.ENTITY_ID}

    async def transactions(self, params: dict[str, Any]) -> dict[str, str]:
        expect(params, month="2026-01", at_least=3)
        await self._january()  # seven
        return {}

    async def callback_receiver(self, params: dict[str, Any]) -> dict[str, str]:
        return {"callback_url": self.receiver.url}

    async def delivered_request(self, params: dict[str, Any]) -> dict[str, str]:
        async def deliver() -> str:
            await self._january()
            token = (await self.token({}))["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            body = {
                "type": "transactions",
                "parameters": self.request_parameters,
                "callback_url": self.receiver.url,
            }
            path = f"{self.mount}/webhook/regulator/request"
            resp = await self.service.post(path, json=body, headers=headers)
            assert resp.status == 202, await resp.text()
            request_id: str = (await resp.json())["id"]

            async def delivered() -> bool:
                found = await self.service.get(f"{path}/{request_id}", headers=headers)
                return bool((await found.json())["state"] == "delivered")

            await eventually(delivered, timeout=10)
            return request_id

        return {"request_id": await self.once("delivered", deliver)}

    async def _january(self) -> None:
        await self.once("january", lambda: live_data.january(self.service))


def expect(params: dict[str, Any], **wanted: Any) -> None:
    """The state's parameters are the ones this provider state makes (the contract could
    ask for others)."""
    if params != wanted:
        raise ValueError(f"this provider state is made for {wanted}, not {params}")


@contextlib.asynccontextmanager
async def state_server(
    setup: Callable[[str, dict[str, Any]], Awaitable[dict[str, str]]],
) -> AsyncIterator[str]:
    """An HTTP endpoint for the verifier's state changes (`{"state", "params",
    "action"}`), answering each state's values as JSON; its URL."""

    async def change(request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("action", "setup") != "setup":
            return web.json_response({})
        try:
            values = await setup(body["state"], body.get("params") or {})
        except Exception as exc:
            return web.Response(status=500, text=f"{type(exc).__name__}: {exc}")
        return web.json_response(values)

    app = web.Application()
    app.router.add_post("/pact/provider-states", change)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/pact/provider-states"
    finally:
        await runner.cleanup()


async def verify_contract(
    base_url: str, states_url: str, *, mount: str = "", pact_file: Path = contract.CONTRACT
) -> dict[str, str]:
    """Replay `pact_file` against the service at `base_url`, the regulator paths under
    `mount`: each interaction replayed and its result (`OK`). AssertionError with the
    verifier's report if any fails."""
    # The token endpoint is at the root wherever the regulator paths are mounted.
    passes = (
        ("token", "", TOKEN_INTERACTION, None),
        ("authorized", mount, None, AUTHORIZED_STATE),
    )
    verified: dict[str, str] = {}
    for name, path, description, state in passes:
        verifier = (
            Verifier(contract.PROVIDER, host="127.0.0.1")
            .add_transport(url=base_url + path)
            .add_source(pact_file)
            .filter(description, state=state)
            .state_handler(states_url, body=True)
            .set_request_timeout(30_000)
            .set_coloured_output(enabled=False)
        )
        try:
            # Blocking (the verifier's own threads): off the loop the service answers on.
            await asyncio.to_thread(verifier.verify)
        except Exception as exc:
            raise AssertionError(f"{name}: {exc}\n{verifier.output(strip_ansi=True)}") from None
        for result in verifier.results["interactionResults"]:
            assert result["description"] not in verified, f"{result['description']}: twice"
            verified[result["description"]] = result["result"]
    return verified


@pytest.fixture(autouse=True)
def _no_tracking(monkeypatch: pytest.MonkeyPatch) -> None:
    # The Pact library reports usage over the network unless told not to.
    monkeypatch.setenv("PACT_DO_NOT_TRACK", "true")


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[Client]:
    async with serve(settings) as client:
        yield client


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with http_receiver() as r:
        yield r


async def test_the_live_regulator_api_honours_the_contract(
    service: Client, receiver: Receiver
) -> None:
    states = LiveStates(service, receiver)
    interactions = json.loads(contract.CONTRACT.read_text())["interactions"]
    async with state_server(states.setup) as states_url:
        base = str(service.make_url("")).rstrip("/")
        verified = await verify_contract(base, states_url)
    assert verified == {i["description"]: "OK" for i in interactions}
    # The request filed for the "delivered" state reached the receiver.
    delivered = {r.headers["Pitboss-Request-Id"] for r in receiver.requests}
    assert states._done["delivered"] in delivered


async def test_a_contract_the_service_does_not_honour_fails_verification(
    service: Client, receiver: Receiver, tmp_path: Path
) -> None:
    doc = json.loads(contract.CONTRACT.read_text())
    wanted = ("a token request with client credentials", "a request for the report-signing keys")
    doc["interactions"] = [i for i in doc["interactions"] if i["description"] in wanted]
    [keys] = [i for i in doc["interactions"] if i["description"] == wanted[1]]
    keys["response"]["body"]["content"]["keys"][0]["alg"] = "ES256"  # exact in the contract
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(doc))
    async with state_server(LiveStates(service, receiver).setup) as states_url:
        base = str(service.make_url("")).rstrip("/")
        with pytest.raises(AssertionError, match="authorized: ") as failed:
            await verify_contract(base, states_url, pact_file=broken)
    assert "a request for the report-signing keys" in str(failed.value)
    assert "$.keys[0].alg -> Expected 'EdDSA' (String) to be equal to 'ES256' (String)" in str(
        failed.value
    ), str(failed.value)


async def test_the_sandbox_honours_the_same_contract(
    sandbox_settings: Settings, receiver: Receiver
) -> None:
    player_id = await player_with_a_case(sandbox_settings)

    def seeded(**values: str) -> StateHandler:
        async def handler(params: dict[str, Any]) -> dict[str, str]:
            return dict(values)

        return handler

    async with serve(sandbox_settings) as service:
        states = LiveStates(service, receiver, role=roles.SANDBOX, mount="/sandbox")
        states.handlers |= {
            contract.REPORT_STATE: seeded(market="MGA", period="monthly/2026-01",
                                          stem="MGA_monthly_2026-01"),
            contract.PLAYER_STATE: seeded(player_id=player_id),
            contract.HISTORY_STATE: seeded(entity="bonusRule", id="welcome-100"),
            contract.LOG_STATE: seeded(),  # the seeded January's transactions
        }  # fmt: skip
        # Small enough for the test receiver's 1 MiB: half a day of the seeded casino.
        states.request_parameters = {"from": "2026-01-05T00:00:00Z", "to": "2026-01-05T12:00:00Z"}
        interactions = json.loads(contract.CONTRACT.read_text())["interactions"]
        async with state_server(states.setup) as states_url:
            base = str(service.make_url("")).rstrip("/")
            verified = await verify_contract(base, states_url, mount="/sandbox")
    assert verified == {i["description"]: "OK" for i in interactions}
