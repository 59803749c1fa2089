"""`RegulatorClient`'s own checks, which no contract can say, against a regulator API that
lies: a tampered report run, downloads whose digest headers disagree with their bytes, a
token refused, an answer about someone else, an error page that is not problem+json, a
service not there."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from typing import Final

import pytest
from aiohttp import web

from sandbox.client import (
    IntegrityError,
    RegulatorApiError,
    RegulatorClient,
    RegulatorClientError,
    TransportError,
)
from tests.sandbox.example_run import CSV, CSV_NAME, FILES, MARKET, PERIOD, SIGNER, STEM

CLIENT_ID, CLIENT_SECRET = "pbc_example", "example-secret"


class Liar:
    """A regulator API wrong in the ways a client must catch: a report run with a tampered
    file, a file of the run and one of no run that no manifest lists, downloads whose digest
    headers disagree with their bytes, a token refused once, an error page that is not
    problem+json, a player's file about another player. `tokens` counts the tokens it
    issued."""

    TAMPERED: Final = {**FILES, CSV_NAME: CSV + b"metadata,note,,,,,,,edited\r\n"}
    EXTRA: Final = f"{STEM}.xml"  # of the run, not in its manifest
    STRAY: Final = f"{STEM}_draft.csv"  # of no run

    def __init__(self) -> None:
        self.tokens = 0
        self.url = ""

    async def token(self, request: web.Request) -> web.Response:
        self.tokens += 1
        return web.json_response({"access_token": f"t{self.tokens}", "token_type": "Bearer",
                                  "expires_in": 900, "scope": "regulator_read"})  # fmt: skip

    async def listing(self, request: web.Request) -> web.Response:
        files = {**self.TAMPERED, self.EXTRA: b"<MGAReturn/>", self.STRAY: b"draft"}
        entries = [
            {"id": n, "name": name, "market": MARKET, "period": PERIOD, "format": "x",
             "size": len(content), "sha256": hashlib.sha256(content).hexdigest(),
             "generated_at": "2026-02-01T04:00:07Z", "url": f"/regulator/reports/{PERIOD}/{name}"}
            for n, (name, content) in enumerate(sorted(files.items()))
        ]  # fmt: skip
        return web.json_response({"period": PERIOD, "start": "2026-01-01", "end": "2026-02-01",
                                  "files": entries})  # fmt: skip

    async def download(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        odd = {"lie-digest.csv": b"a", "lie-etag.csv": b"a", "bare.csv": b"a"}
        content = {**self.TAMPERED, self.EXTRA: b"<MGAReturn/>", **odd}.get(name)
        if content is None:
            return web.json_response({"title": "Not found", "status": 404}, status=404)
        digest = hashlib.sha256(content)
        headers = {
            "Content-Digest": f"sha-256=:{base64.b64encode(digest.digest()).decode()}:",
            "ETag": f'"{digest.hexdigest()}"',
        }
        if name == "lie-digest.csv":
            headers["Content-Digest"] = "sha-256=:" + base64.b64encode(bytes(32)).decode() + ":"
        elif name == "lie-etag.csv":
            headers["ETag"] = '"' + "0" * 64 + '"'
        elif name == "bare.csv":
            headers = {}
        return web.Response(body=content, headers=headers)

    async def keys(self, request: web.Request) -> web.Response:
        return web.json_response({"keys": [SIGNER.public_jwk()], "pem": ""})

    async def player(self, request: web.Request) -> web.Response:
        if request.headers["Authorization"] == "Bearer t1":
            return web.json_response({"title": "Unauthorized", "status": 401}, status=401)
        asked = request.match_info["id"]
        return web.json_response({"player_id": "p-other" if asked == "p-mixup" else asked})

    async def audit(self, request: web.Request) -> web.Response:
        return web.Response(status=502, text="<html>Bad gateway</html>", content_type="text/html")


@pytest.fixture
async def liar() -> AsyncIterator[Liar]:
    server = Liar()
    app = web.Application()
    app.router.add_post("/oauth2/token", server.token)
    app.router.add_get("/regulator/signing-keys", server.keys)
    app.router.add_get("/regulator/reports/monthly/{label}", server.listing)
    app.router.add_get("/regulator/reports/monthly/{label}/{name}", server.download)
    app.router.add_get("/regulator/player/{id}", server.player)
    app.router.add_get("/regulator/audit", server.audit)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    server.url = f"http://{host}:{port}"
    yield server
    await runner.cleanup()


async def test_a_tampered_run_is_reported_file_by_file(liar: Liar) -> None:
    async with RegulatorClient(liar.url, CLIENT_ID, CLIENT_SECRET) as api:
        problems = await api.verify_report_files(PERIOD, MARKET)
    assert problems == [
        f"{CSV_NAME}: size mismatch ({len(Liar.TAMPERED[CSV_NAME])} bytes, manifest says "
        f"{len(CSV)})",
        f"{CSV_NAME}: sha256 mismatch",
        f"{CSV_NAME}: signature does not match the content",
        f"{Liar.EXTRA}: not listed in the manifest",
        f"{Liar.STRAY}: listed for {PERIOD} {MARKET} but no manifest lists it",
    ]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("lie-digest.csv", "sha-256 of the body is ca97.*, Content-Digest says 0000"),
        ("lie-etag.csv", "sha-256 of the body is ca97.*, ETag says 0000"),
        ("bare.csv", "bare.csv: the answer has no sha-256 Content-Digest"),
    ],
)
async def test_a_download_that_does_not_match_its_digest_is_refused(
    liar: Liar, name: str, message: str
) -> None:
    async with RegulatorClient(liar.url, CLIENT_ID, CLIENT_SECRET) as api:
        with pytest.raises(IntegrityError, match=message):
            await api.download(PERIOD, name)


async def test_a_refused_token_is_replaced_once(liar: Liar) -> None:
    async with RegulatorClient(liar.url, CLIENT_ID, CLIENT_SECRET) as api:
        assert await api.player("p-1") == {"player_id": "p-1"}
    assert liar.tokens == 2  # t1 refused, t2 taken


async def test_an_answer_about_someone_else_is_refused(liar: Liar) -> None:
    async with RegulatorClient(liar.url, CLIENT_ID, CLIENT_SECRET) as api:
        with pytest.raises(RegulatorClientError, match="about player_id 'p-other', not 'p-mixup'"):
            await api.player("p-mixup")


async def test_an_error_page_that_is_not_problem_json(liar: Liar) -> None:
    async with RegulatorClient(liar.url, CLIENT_ID, CLIENT_SECRET) as api:
        with pytest.raises(RegulatorApiError) as refused:
            await api.audit("bonusRule", "welcome")
    assert refused.value.status == 502
    assert str(refused.value) == "HTTP 502: Unexpected answer: <html>Bad gateway</html>"


async def test_a_service_not_there_is_a_transport_error() -> None:
    async with RegulatorClient("http://127.0.0.1:9", CLIENT_ID, CLIENT_SECRET) as api:
        with pytest.raises(TransportError, match=r"POST http://127\.0\.0\.1:9/oauth2/token: "):
            await api.token()
