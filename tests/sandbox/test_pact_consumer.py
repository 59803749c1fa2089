"""The regulator client's side of the contract (Pact V4): the interactions `RegulatorClient`
relies on (`regulator_contract.py`), each exercised by the real client against Pact's mock
server; the resulting contract is `pacts/regulator-client-pitboss.json`, which
`test_pact_provider.py` verifies against the running service.

The contract is written to a temporary folder as the tests pass; the last test compares it
with the committed file and, if they differ, writes the new one in its place and fails, so
a change of contract is a reviewed diff (run the module again once the diff is taken).
"""

from __future__ import annotations

import contextlib
import inspect
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pact import Pact

from sandbox.client import RegulatorApiError, RegulatorClient
from tests.sandbox.example_run import CSV, CSV_NAME, MANIFEST_NAME, MARKET, PERIOD, SIGNER
from tests.sandbox.regulator_contract import (
    CLIENT_ID,
    CLIENT_SECRET,
    CONSUMER,
    CONTRACT,
    FROM,
    PLAYER,
    PROVIDER,
    REQUEST_ID,
    TO,
    TOKEN,
    UNKNOWN_PLAYER,
    history_interaction,
    log_interaction,
    player_interaction,
    report_interactions,
    request_interactions,
    token_interaction,
    unknown_player_interaction,
)

# --- running the client against the mock server -----------------------------------------------


class Contract:
    """The contract as the tests regenerate it: each passing test's pact merged into
    `folder`, and the tests that did so."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.passed: set[str] = set()

    @property
    def file(self) -> Path:
        return self.folder / CONTRACT.name


class Consumer:
    """One test's pact; `client()` serves it and hands out a real RegulatorClient."""

    def __init__(self, contract: Contract, test: str) -> None:
        self.pact = Pact(CONSUMER, PROVIDER)
        token_interaction(self.pact)  # every call starts with a token
        self._contract, self._test = contract, test

    @contextlib.asynccontextmanager
    async def client(self) -> AsyncIterator[RegulatorClient]:
        # Leaving the mock server raises if any interaction was not met, or a request
        # matched none; only then is the pact written.
        with self.pact.serve(addr="127.0.0.1") as server:
            base = str(server.url).rstrip("/")
            async with RegulatorClient(base, CLIENT_ID, CLIENT_SECRET) as api:
                yield api
        self.pact.write_file(self._contract.folder)
        self._contract.passed.add(self._test)


@pytest.fixture(autouse=True)
def _no_tracking(monkeypatch: pytest.MonkeyPatch) -> None:
    # The Pact library reports usage over the network unless told not to.
    monkeypatch.setenv("PACT_DO_NOT_TRACK", "true")


@pytest.fixture(scope="module")
def contract(tmp_path_factory: pytest.TempPathFactory) -> Contract:
    return Contract(tmp_path_factory.mktemp("pacts"))


@pytest.fixture
def consumer(contract: Contract, request: pytest.FixtureRequest) -> Consumer:
    return Consumer(contract, request.node.originalname)


async def test_a_token_by_client_credentials_is_kept(consumer: Consumer) -> None:
    async with consumer.client() as api:
        assert await api.token() == TOKEN
        assert await api.token() == TOKEN  # kept: the mock would take a second request too
        assert api.granted is not None
        assert (api.granted.scope, api.granted.expires_in) == ("regulator_read", 900)


async def test_report_files_are_listed_downloaded_and_their_signatures_verified(
    consumer: Consumer,
) -> None:
    report_interactions(consumer.pact)
    async with consumer.client() as api:
        listing = await api.reports(PERIOD, MARKET)
        assert (listing.period, listing.start, listing.end) == (PERIOD, "2026-01-01", "2026-02-01")
        assert [f.name for f in listing.files] == [MANIFEST_NAME]
        assert await api.verify_report_files(PERIOD, MARKET) == []
        assert await api.download(PERIOD, CSV_NAME) == CSV
        keys = await api.signing_keys()
        assert keys["keys"] == [SIGNER.public_jwk()]


async def test_a_player(consumer: Consumer) -> None:
    player_interaction(consumer.pact)
    async with consumer.client() as api:
        view = await api.player(PLAYER)
    assert view["profile"]["full_name"] == "Maria Borg"
    assert view["transactions"]["recent"][0]["event"]["type"] == "deposit"


async def test_a_player_not_known_is_a_problem_naming_the_field(consumer: Consumer) -> None:
    # Its own mock server: the known player's path pattern takes this one's too.
    unknown_player_interaction(consumer.pact)
    async with consumer.client() as api:
        with pytest.raises(RegulatorApiError) as refused:
            await api.player(UNKNOWN_PLAYER)
    assert refused.value.status == 404
    assert refused.value.field == "id"
    assert str(refused.value) == "HTTP 404: Not found: no player 'p-nobody' (field id)"


async def test_an_entitys_change_history(consumer: Consumer) -> None:
    history_interaction(consumer.pact)
    async with consumer.client() as api:
        history = await api.audit("bonusRule", "welcome")
    assert history["changes"][0]["diff"][0] == {"op": "add", "path": "/cap"}


async def test_a_page_of_a_log(consumer: Consumer) -> None:
    log_interaction(consumer.pact)
    async with consumer.client() as api:
        page = await api.logs("transactions", FROM, datetime(2026, 2, 1, tzinfo=UTC), 2)
    assert page["next_cursor"]
    assert len(page["items"]) == 1


async def test_a_file_asked_for_by_callback_and_its_state(consumer: Consumer) -> None:
    request_interactions(consumer.pact)
    async with consumer.client() as api:
        request_id = await api.request_file(
            "transactions", {"from": FROM, "to": TO}, callback_url="http://127.0.0.1:9/cb"
        )
        assert request_id == REQUEST_ID
        state = await api.request_state(request_id)
    assert state["state"] == "delivered"
    assert state["file"]["rows"] == 3


# --- the contract, regenerated -------------------------------------------------------------


def canonical(text: str) -> dict[str, Any]:
    """The contract as compared: interactions in a fixed order, the Pact library's own
    versions left out (an upgrade of the tool is not a change of contract)."""
    doc: dict[str, Any] = json.loads(text)
    doc["interactions"].sort(key=lambda i: (i["description"], json.dumps(i["providerStates"])))
    doc.get("metadata", {}).pop("pactRust", None)
    return doc


def test_the_regenerated_contract_is_the_committed_one(
    contract: Contract, request: pytest.FixtureRequest
) -> None:
    # The module's consumer tests, whether selected or not: a contract regenerated by some
    # of them is not the contract.
    writers = {
        name
        for name, test in vars(request.module).items()
        if name.startswith("test_") and "consumer" in inspect.signature(test).parameters
    }
    if writers - contract.passed:
        pytest.skip("the contract is compared only when every consumer test has run and passed")
    regenerated = canonical(contract.file.read_text())
    committed = canonical(CONTRACT.read_text()) if CONTRACT.exists() else None
    if regenerated == committed:
        return
    CONTRACT.parent.mkdir(parents=True, exist_ok=True)
    CONTRACT.write_text(json.dumps(regenerated, indent=2, sort_keys=True) + "\n")
    pytest.fail(
        f"the contract changed: {CONTRACT} now holds the regenerated one; review the diff "
        "and commit it with the change that made it"
    )
