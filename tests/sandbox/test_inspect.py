"""`python -m sandbox.inspect` end to end against the real service (live prefix): every step
passes on real data, over plain HTTP and over mutual TLS; a wrong callback secret, a report
signed by a key the service no longer publishes, wrong credentials, a missing client
certificate and a callback port taken each fail their step and exit 1; bad arguments exit 2
naming the option. The callback receiver refuses replays, bad digests, stale timestamps
and other secrets' signatures, and takes a repeat once."""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import hashlib
import io
import ipaddress
import os
import re
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from engine import webhooks
from pitboss.service.app import make_app
from pitboss.service.settings import Settings
from regapi.auth.transport import server_context
from regapi.reports import signing
from sandbox import inspect
from sandbox.callbacks import CallbackReceiver
from tests.sandbox import live_data
from tests.sandbox.live_data import (
    CALLBACK_SECRET,
    ENTITY,
    ENTITY_ID,
    MARKET,
    PERIOD,
    PLAYER,
    everything,
    regulator_client,
    settings,
)
from tests.sandbox.seeded import player_with_a_case, sandbox_settings, sandbox_template
from tests.service.certs import INSPECTOR, Pki, make_pki
from tests.service.conftest import REPO, database_url, pg_server
from tests.service.serving import Client, authorize, serve

__all__ = ["database_url", "pg_server", "sandbox_settings", "sandbox_template", "settings"]

STEPS = (
    "authenticate", "signing keys", "list reports", "download report", "verify signatures",
    "player", "audit history", "logs", "file request", "callback", "request state",
)  # fmt: skip


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[Client]:
    async with serve(settings) as client:
        yield client


def argv(url: str, client_id: str, *extra: str) -> list[str]:
    return [
        "--url", url, "--client-id", client_id, "--period", PERIOD, "--market", MARKET,
        "--player", PLAYER, "--entity", ENTITY, "--entity-id", ENTITY_ID,
        "--callback-secret", CALLBACK_SECRET, "--timeout", "20", *extra,
    ]  # fmt: skip


def lines_of(output: str) -> dict[str, tuple[str, str]]:
    """Each step's status and detail, by name, from the inspection's output."""
    found: dict[str, tuple[str, str]] = {}
    for line in output.splitlines():
        m = re.fullmatch(r"(ok|FAIL|skip)\s+(.+?)\s+[0-9.]+ ms  (.*)", line)
        if m:
            found[m[2]] = (m[1], m[3])
    return found


async def inspect_here(args: list[str], secret: str) -> tuple[int, str]:
    """The inspection run in this process (the service is on this event loop)."""
    parser = argparse.ArgumentParser()
    inspect.add_arguments(parser)
    options = inspect.options_of(parser.parse_args(args), {"PITBOSS_CLIENT_SECRET": secret})
    out = io.StringIO()
    status = await inspect.Inspection(options, out).run()
    return status, out.getvalue()


async def test_every_step_passes_against_the_service(service: Client) -> None:
    client_id, secret = await everything(service)
    url = str(service.make_url("")).rstrip("/")
    env = {**os.environ, "PITBOSS_CLIENT_SECRET": secret}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sandbox.inspect", *argv(url, client_id),
        cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    output = out.decode()
    assert proc.returncode == 0, output + err.decode()
    assert output.startswith(f"Inspecting {url} (/regulator) as {client_id}\n")
    steps = lines_of(output)
    assert list(steps) == list(STEPS)
    assert {status for status, _ in steps.values()} == {"ok"}, output
    assert re.search(r"\n11 steps: 11 ok, 0 failed, 0 skipped \([0-9.]+ s\)\n$", output)
    detail = {name: d for name, (_, d) in steps.items()}
    assert "scope regulator_read, expires in 900 s" in detail["authenticate"]
    assert "(Ed25519)" in detail["signing keys"]
    assert detail["list reports"].startswith(
        f"{PERIOD} {MARKET}: 8 files (csv, manifest, pdf, sig, xml), 2026-01-01 to 2026-02-01"
    )
    assert detail["download report"].startswith("MGA_monthly_2026-01.csv: ")
    assert "matches the Content-Digest and the listing" in detail["download report"]
    assert detail["verify signatures"].startswith("1 run, 8 files: every signature")
    assert detail["player"] == (
        f"{PLAYER}: profile yes, KYC level 0 none, 5 recent transactions, 1 alert, 1 case"
    )
    assert detail["audit history"].startswith(
        f"{ENTITY} {ENTITY_ID}: 2 changes, the last (update) by test-client at 20"
    )
    assert detail["logs"] == (
        "transactions 2026-01-01T00:00:00Z to 2026-02-01T00:00:00Z: 5 rows, the whole range"
    )
    assert '{"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z", "player": "p-reg-1"}' \
        in detail["file request"]  # fmt: skip
    assert re.fullmatch(
        r"[0-9,]+ bytes \(application/json, 5 rows\): signature, timestamp \(skew [+-]\d+ s\), "
        r"nonce and digest verified",
        detail["callback"],
    ), detail["callback"]
    assert re.fullmatch(
        r"delivered after 1 attempt; its file transactions-[0-9a-f-]+\.json is the callback's "
        r"body",
        detail["request state"],
    ), detail["request state"]


async def test_a_wrong_callback_secret_fails_the_callback(service: Client) -> None:
    client_id, secret = await everything(service)
    url = str(service.make_url("")).rstrip("/")
    args = argv(url, client_id, "--request-type", "player_report", "--request-format", "csv")
    args[args.index(CALLBACK_SECRET)] = "not-the-operators-secret-0123"
    status, output = await inspect_here(args, secret)
    assert status == 1
    steps = lines_of(output)
    assert steps["file request"][0] == "ok"
    assert steps["callback"] == (
        "FAIL", "signature: the signature does not match the body"
    ), output  # fmt: skip
    assert steps["request state"] == ("skip", "needs callback")
    assert all(steps[s][0] == "ok" for s in STEPS[:9])  # the steps before still passed
    assert "11 steps: 9 ok, 1 failed, 1 skipped" in output


async def test_a_report_signed_by_a_key_no_longer_published_fails_verification(
    settings: Settings, tmp_path: Path
) -> None:
    async with serve(settings) as first:
        client_id, secret = await everything(first)
    # The same database served with another report-signing key: the stored reports'
    # signatures name a key the service no longer publishes.
    other_key = tmp_path / "other-report-signing.pem"
    signing.load_or_create(other_key, create=True)
    rekeyed = dataclasses.replace(settings, report_signing_key_file=other_key)
    async with serve(rekeyed) as service:
        url = str(service.make_url("")).rstrip("/")
        status, output = await inspect_here(argv(url, client_id), secret)
    assert status == 1
    steps = lines_of(output)
    assert steps["download report"][0] == "ok"  # the bytes are as stored
    verdict, detail = steps["verify signatures"]
    assert verdict == "FAIL"
    assert detail.startswith("1 problem: manifest: unknown key id "), detail
    assert steps["request state"][0] == "ok"


async def test_wrong_credentials_fail_authentication_and_skip_the_rest(service: Client) -> None:
    client_id, _ = await everything(service)
    url = str(service.make_url("")).rstrip("/")
    status, output = await inspect_here(argv(url, client_id), "not-the-secret")
    assert status == 1
    steps = lines_of(output)
    assert steps["authenticate"] == (
        "FAIL", "HTTP 401: invalid_client: client authentication failed"
    )  # fmt: skip
    needs = {"download report": "list reports", "verify signatures": "list reports",
             "callback": "file request", "request state": "callback"}  # fmt: skip
    for name in STEPS[1:]:
        assert steps[name] == ("skip", f"needs {needs.get(name, 'authenticate')}")
    assert "11 steps: 0 ok, 1 failed, 10 skipped" in output


async def test_steps_without_their_input_are_skipped(service: Client) -> None:
    client_id, secret = await everything(service)
    url = str(service.make_url("")).rstrip("/")
    status, output = await inspect_here(["--url", url, "--client-id", client_id], secret)
    assert status == 0, output
    steps = lines_of(output)
    assert steps["list reports"] == ("skip", "no --period given")
    assert steps["player"] == ("skip", "no --player given")
    assert steps["audit history"] == ("skip", "no --entity and --entity-id given")
    assert steps["logs"][0] == "ok"  # the last 24 hours: nothing, and that is an answer
    assert steps["callback"] == ("skip", "no --callback-secret: its callback cannot be checked")
    assert "11 steps: 3 ok, 0 failed, 8 skipped" in output


# --- mutual TLS -----------------------------------------------------------------------------


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


@pytest.fixture
async def tls_service(settings: Settings, pki: Pki) -> AsyncIterator[Client]:
    """The service over TLS: regulator paths need a certificate named INSPECTOR from the CA."""
    configured = dataclasses.replace(
        settings,
        tls_cert=pki.server.cert,
        tls_key=pki.server.key,
        tls_client_ca=pki.ca,
        regulator_allow=(ipaddress.ip_network("127.0.0.0/8"),),
        regulator_cert_names=(INSPECTOR,),
    )
    assert configured.tls_cert is not None
    assert configured.tls_key is not None
    context = server_context(configured.tls_cert, configured.tls_key, configured.tls_client_ca)
    server = TestServer(make_app(configured))
    await server.start_server(ssl=context)
    connector = aiohttp.TCPConnector(ssl=pki.client_context(pki.good))
    async with TestClient(server, connector=connector) as client:
        authorize(client)
        yield client


async def test_mutual_tls_with_and_without_a_client_certificate(
    tls_service: Client, pki: Pki
) -> None:
    client_id, secret = await everything(tls_service)
    url = str(tls_service.make_url("")).rstrip("/")
    assert url.startswith("https://")
    tls = ["--cert", str(pki.good.cert), "--key", str(pki.good.key), "--ca", str(pki.ca)]
    status, output = await inspect_here(argv(url, client_id, *tls), secret)
    assert status == 0, output
    assert "11 steps: 11 ok" in output

    status, output = await inspect_here(argv(url, client_id, "--ca", str(pki.ca)), secret)
    assert status == 1
    steps = lines_of(output)
    assert steps["authenticate"][0] == "ok"  # the token endpoint is not a regulator path
    verdict, detail = steps["signing keys"]
    assert verdict == "FAIL"
    assert detail.startswith("HTTP 403"), detail


# --- arguments ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--period", "yearly/2026"], "--period: 'yearly' is not a period kind"),
        (["--entity", "bonusRule"], "--entity and --entity-id: give both or neither"),
        (["--request-type", "player_report"], "--request-type player_report: needs --player"),
        (["--key", "k.pem"], "--key: needs --cert"),
        (["--cert", "/nonexistent.pem"], "--cert: no such file /nonexistent.pem"),
        (["--timeout", "0"], "--timeout: a number of seconds above 0"),
    ],
)
def test_bad_arguments_exit_2_naming_the_option(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("PITBOSS_CLIENT_SECRET", "s")
    status = inspect.main(["--url", "http://127.0.0.1:1", "--client-id", "c", *extra])
    assert status == 2
    assert capsys.readouterr().err.startswith(f"inspect: {message}")


def test_a_missing_secret_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PITBOSS_CLIENT_SECRET", raising=False)
    assert inspect.main(["--url", "http://127.0.0.1:1", "--client-id", "c"]) == 2
    assert "--client-secret: required" in capsys.readouterr().err


async def test_a_callback_port_taken_fails_the_request_step(service: Client) -> None:
    client_id, secret = await regulator_client(service)
    url = str(service.make_url("")).rstrip("/")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = ["--url", url, "--client-id", client_id, "--callback-secret", CALLBACK_SECRET,
                "--callback-port", str(port)]  # fmt: skip
        status, output = await inspect_here(args, secret)
    assert status == 1
    steps = lines_of(output)
    assert steps["file request"][0] == "FAIL"
    assert steps["file request"][1].startswith(
        f"the callback receiver cannot listen on 127.0.0.1:{port}: "
    )
    assert steps["callback"] == ("skip", "needs file request")


# --- the callback receiver ------------------------------------------------------------------


def signed(body: bytes, *, secret: str = CALLBACK_SECRET, nonce: str = "n-1", at: float = 0,
           request_id: str = "r-1", key: str = "k-1") -> dict[str, str]:  # fmt: skip
    """Headers of a callback as the service signs it (`at`: seconds from now)."""
    stamp = int(time.time() + at)
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    return {
        webhooks.TIMESTAMP: str(stamp),
        webhooks.NONCE: nonce,
        webhooks.SIGNATURE: webhooks.sign(secret, stamp, nonce, body),
        "Content-Digest": f"sha-256=:{digest}:",
        "Pitboss-Request-Id": request_id,
        "Idempotency-Key": key,
    }


async def test_the_callback_receiver_checks_what_a_receiver_must() -> None:
    receiver = CallbackReceiver(CALLBACK_SECRET, "127.0.0.1")
    await receiver.start()
    body = b'{"rows": 0}'
    cases = [
        # (headers, body, status, the problems kept for its request id)
        (signed(body), body, 204, []),
        (signed(body), body, 204, None),  # the same idempotency key: a repeat, dropped
        (signed(body, key="k-2", request_id="r-2"), body, 401,
         ["Pitboss-Nonce 'n-1' was seen before (a replay)"]),
        (signed(body, nonce="n-3", key="k-3", request_id="r-3"), body + b" ", 401,
         ["signature: the signature does not match the body",
          "Content-Digest does not match the body"]),
        (signed(body, nonce="n-4", key="k-4", request_id="r-4", at=-600), body, 401,
         ["signature: Pitboss-Timestamp is more than 300 s from now"]),
        (signed(body, nonce="n-5", key="k-5", request_id="r-5", secret="another-secret-0123"),
         body, 401, ["signature: the signature does not match the body"]),
    ]  # fmt: skip
    try:
        async with aiohttp.ClientSession() as session:
            for headers, content, status, problems in cases:
                async with session.post(receiver.url, data=content, headers=headers) as resp:
                    assert resp.status == status, headers
                if problems is not None:
                    got = await receiver.wait_for(headers["Pitboss-Request-Id"], 1)
                    assert got.problems == problems
                    assert got.body == content
            async with session.post(receiver.url.rsplit("/", 1)[0] + "/guess", data=body) as resp:
                assert resp.status == 404  # the path holds a random part
        with pytest.raises(TimeoutError):
            await receiver.wait_for("never", 0.05)
    finally:
        await receiver.stop()


async def test_every_step_passes_against_the_sandbox(sandbox_settings: Settings) -> None:
    player_id = await player_with_a_case(sandbox_settings)
    async with serve(sandbox_settings) as service:
        client_id, secret = await live_data.regulator_client(service, role="sandbox")
        url = str(service.make_url("")).rstrip("/")
        args = ["--url", url, "--client-id", client_id, "--sandbox", "--period", PERIOD,
                "--market", MARKET, "--player", player_id, "--entity", "bonusRule",
                "--entity-id", "welcome-100", "--callback-secret", CALLBACK_SECRET,
                "--timeout", "20"]  # fmt: skip
        status, output = await inspect_here(args, secret)
    assert status == 0, output
    assert output.startswith(f"Inspecting {url} (/sandbox/regulator) as {client_id}\n")
    steps = lines_of(output)
    assert {s for s, _ in steps.values()} == {"ok"}, output
    assert steps["player"][1].startswith(f"{player_id}: profile yes")
    assert steps["audit history"][1].startswith("bonusRule welcome-100: 2 changes")
