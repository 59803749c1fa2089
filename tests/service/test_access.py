"""The access matrix, end to end over real TLS with real certificates: tokens (none,
expired, wrong audience, wrong role, signed by a rotated-out or unknown key), client
certificates (none, another CA's, expired, a name not on the list) and the address
allow-list, each refused with 401/403 and a body that tells nothing; the right token with
the right certificate from an allowed address gets its answer. Also: every route of the
app needs a token and its roles, the development warning, the production refusal."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import ssl
import time
import warnings
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from pitboss import cli
from pitboss.service import app as app_module
from pitboss.service.auth import ACCESS, PRINCIPAL, Access, StartupRefusedError
from pitboss.service.http import Route, Routes, json_response
from pitboss.service.settings import Settings, SettingsError
from regapi.auth import keyring, keys, roles
from regapi.auth.tokens import TokenService
from regapi.auth.transport import server_context
from tests.service.certs import INSPECTOR, Pki, make_pki
from tests.service.conftest import event

Client = TestClient[Any, Any]
SECRET = "the-answer-only-a-regulator-may-see"
PROBE_PATH = "/sandbox/regulator/probe/{id}"

# A regulator route of the test's own, so that what a refusal could leak is known.
PROBE = Routes()


@PROBE.add("GET", PROBE_PATH, summary="test probe", tag="test", roles=roles.SENSITIVE_READ)
async def probe(request: web.Request) -> web.Response:
    if request.match_info["id"] != "known":
        return json_response({"title": "Not found", "status": 404}, 404)
    return json_response({"secret": SECRET, "caller": request[PRINCIPAL].client_id})


@pytest.fixture
def with_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "ROUTE_MODULES", (*app_module.ROUTE_MODULES, PROBE))


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


def tls(settings: Settings, pki: Pki, allow: str = "127.0.0.0/8") -> Settings:
    return dataclasses.replace(
        settings,
        tls_cert=pki.server.cert,
        tls_key=pki.server.key,
        tls_client_ca=pki.ca,
        regulator_allow=(ipaddress.ip_network(allow),),
        regulator_cert_names=(INSPECTOR,),
    )


async def _serve(settings: Settings) -> AsyncIterator[TestServer]:
    assert settings.tls_cert is not None
    assert settings.tls_key is not None
    context = server_context(settings.tls_cert, settings.tls_key, settings.tls_client_ca)
    server = TestServer(app_module.make_app(settings))
    try:
        await server.start_server(ssl=context)  # (TestServer takes `ssl` here, not above)
        assert server.scheme == "https"
        yield server
    finally:
        await server.close()  # also after a refused start: what did start is stopped


@pytest.fixture
async def server(settings: Settings, pki: Pki, with_probe: None) -> AsyncIterator[TestServer]:
    """The service over TLS, mutual TLS on the regulator paths, 127.0.0.0/8 allowed."""
    async for s in _serve(tls(settings, pki)):
        yield s


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def access_of(server: TestServer) -> Access:
    return server.app[ACCESS]


def token(server: TestServer, *granted: str, **service: Any) -> str:
    """A token from the running service, or (with `service` overrides: clock, audience)
    from a token service of the test's own holding the service's current key."""
    access = access_of(server)
    tokens = access.tokens
    if service:
        settings = access.settings
        options: dict[str, Any] = {
            "issuer": settings.token_issuer,
            "audience": settings.token_audience,
            "ttl_s": settings.token_ttl_s,
        } | service
        tokens = TokenService(**options)
        assert access.tokens.current is not None
        tokens.load([access.tokens.current])
    return tokens.issue(client_id="pbc_inspector", name="MGA inspector", roles=granted).token


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


async def get(
    session: aiohttp.ClientSession,
    server: TestServer,
    path: str,
    context: ssl.SSLContext,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any], aiohttp.typedefs.LooseHeaders]:
    async with session.get(server.make_url(path), ssl=context, headers=headers or {}) as resp:
        body = await resp.json(content_type=None)
        return resp.status, body, resp.headers


def assert_tells_nothing(status: int, body: dict[str, Any]) -> None:
    """A refusal: a problem with its status and request id, and nothing else."""
    assert set(body) <= {"type", "title", "status", "request_id"}, body
    assert body["status"] == status
    assert body["title"] == {401: "Unauthorized", 403: "Forbidden"}[status]
    assert SECRET not in str(body)


# --- the matrix -----------------------------------------------------------------------


async def test_the_right_token_certificate_and_address_get_the_answer(
    server: TestServer, session: aiohttp.ClientSession, pki: Pki
) -> None:
    status, body, _ = await get(
        session, server, "/sandbox/regulator/probe/known", pki.client_context(pki.good),
        bearer(token(server, roles.REGULATOR_READ)),
    )  # fmt: skip
    assert (status, body) == (200, {"secret": SECRET, "caller": "pbc_inspector"})


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("no token", 401),
        ("not a bearer token", 401),
        ("garbage token", 401),
        ("expired token", 401),
        ("wrong audience", 401),
        ("wrong issuer", 401),
        ("signed by an unknown key", 401),
        ("wrong role", 403),
        ("operator roles only", 403),
    ],
)
async def test_tokens_that_do_not_pass_are_refused_and_nothing_leaks(
    server: TestServer, session: aiohttp.ClientSession, pki: Pki, case: str, expected: int
) -> None:
    everything_but = sorted(roles.ALL - set(roles.SENSITIVE_READ))
    headers = {
        "no token": {},
        "not a bearer token": {"Authorization": "Basic cGJjXzE6c2VjcmV0"},
        "garbage token": bearer("eyJhbGciOiJFZDI1NTE5In0.e30.c2ln"),
        "expired token": bearer(
            token(server, roles.REGULATOR_READ, clock=lambda: time.time() - 2 * 3600)
        ),
        "wrong audience": bearer(token(server, roles.REGULATOR_READ, audience="another-api")),
        "wrong issuer": bearer(token(server, roles.REGULATOR_READ, issuer="someone")),
        "signed by an unknown key": bearer(_forged(server)),
        "wrong role": bearer(token(server, roles.ANALYST)),
        "operator roles only": bearer(token(server, *everything_but)),
    }[case]
    status, body, resp_headers = await get(
        session, server, "/sandbox/regulator/probe/known", pki.client_context(pki.good), headers
    )
    assert status == expected
    assert_tells_nothing(status, body)
    if expected == 401:
        challenge = resp_headers["WWW-Authenticate"]
        assert challenge.startswith('Bearer realm="pitboss"')
        assert ("invalid_token" in challenge) == (case != "no token")
    else:
        assert "insufficient_scope" in resp_headers["WWW-Authenticate"]


def _forged(server: TestServer) -> str:
    """A well-formed token naming the service's current kid, signed by another key."""
    current = access_of(server).tokens.current
    assert current is not None
    impostor = dataclasses.replace(current, key=keys.generate(current.kid))
    tokens = TokenService(issuer="pitboss", audience="pitboss", ttl_s=600)
    tokens.load([impostor])
    return tokens.issue(client_id="pbc_x", name="x", roles=[roles.REGULATOR_READ]).token


async def test_a_wrong_role_looks_the_same_for_a_known_and_an_unknown_id(
    server: TestServer, session: aiohttp.ClientSession, pki: Pki
) -> None:
    ctx, analyst = pki.client_context(pki.good), bearer(token(server, roles.ANALYST))
    answers = []
    for path in ("/sandbox/regulator/probe/known", "/sandbox/regulator/probe/unknown",
                 "/sandbox/regulator/no-such-route", "/regulator/no-such-route"):  # fmt: skip
        status, body, _ = await get(session, server, path, ctx, analyst)
        assert_tells_nothing(status, body)
        answers.append((status, {k: v for k, v in body.items() if k != "request_id"}))
    assert answers == [(403, {"title": "Forbidden", "status": 403})] * 4


@pytest.mark.parametrize("path", ["/sandbox/regulator/probe/known", "/regulator/logs/access"])
async def test_no_client_certificate_is_refused_on_regulator_paths(
    server: TestServer, session: aiohttp.ClientSession, pki: Pki, path: str
) -> None:
    good_token = bearer(token(server, roles.REGULATOR_READ, roles.COMPLIANCE_OFFICER))
    status, body, _ = await get(session, server, path, pki.client_context(None), good_token)
    assert status == 403
    assert_tells_nothing(status, body)


async def test_a_certificate_from_the_ca_with_a_name_not_listed_is_refused(
    server: TestServer, session: aiohttp.ClientSession, pki: Pki
) -> None:
    status, body, _ = await get(
        session, server, "/sandbox/regulator/probe/known", pki.client_context(pki.unlisted),
        bearer(token(server, roles.REGULATOR_READ)),
    )  # fmt: skip
    assert status == 403
    assert_tells_nothing(status, body)


@pytest.mark.parametrize("which", ["foreign", "expired"])
async def test_a_certificate_from_another_ca_or_expired_never_completes_the_handshake(
    server: TestServer, session: aiohttp.ClientSession, pki: Pki, which: str
) -> None:
    """The server does not verify it, so no HTTP answer (nor anything in it) exists."""
    pair = pki.foreign if which == "foreign" else pki.expired
    with pytest.raises(aiohttp.ClientError):
        await get(
            session, server, "/sandbox/regulator/probe/known", pki.client_context(pair),
            bearer(token(server, roles.REGULATOR_READ)),
        )  # fmt: skip


async def test_operator_routes_need_no_client_certificate(
    server: TestServer, session: aiohttp.ClientSession, pki: Pki
) -> None:
    status, body, _ = await get(
        session, server, "/v1/alerts", pki.client_context(None), bearer(token(server, "analyst"))
    )
    assert status == 200
    assert body["alerts"] == []


async def test_tls_1_2_is_taken_and_older_versions_are_not(server: TestServer, pki: Pki) -> None:
    context = server_context(pki.server.cert, pki.server.key, pki.ca)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_OPTIONAL
    tls12 = pki.client_context(None)
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    old = pki.client_context(None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # as it should be
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client offer it at all
    async with aiohttp.ClientSession() as session:
        status, _, _ = await get(session, server, "/healthz", tls12)
        assert status == 200
        with pytest.raises(aiohttp.ClientError):
            await get(session, server, "/healthz", old)


async def test_an_address_not_allowed_is_refused(
    settings: Settings, pki: Pki, session: aiohttp.ClientSession, with_probe: None
) -> None:
    async for server in _serve(tls(settings, pki, allow="10.0.0.0/8")):
        status, body, _ = await get(
            session, server, "/sandbox/regulator/probe/known", pki.client_context(pki.good),
            bearer(token(server, roles.REGULATOR_READ)),
        )  # fmt: skip
        assert status == 403
        assert_tells_nothing(status, body)
        # Elsewhere the allow-list does not apply.
        status, _, _ = await get(session, server, "/healthz", pki.client_context(None))
        assert status == 200


# --- keys: rotation, retirement, disabled clients ---------------------------------------


async def test_rotation_keeps_tokens_of_the_previous_key_until_it_is_retired(
    server: TestServer, session: aiohttp.ClientSession, pki: Pki, settings: Settings
) -> None:
    access = access_of(server)
    ctx = pki.client_context(pki.good)
    old_kid = access.tokens.current.kid if access.tokens.current else ""
    before = bearer(token(server, roles.REGULATOR_READ))
    conn = await asyncpg.connect(settings.database_url)
    try:
        kek = keys.read_kek(settings.kek_path, create=False)
        rotation = await keyring.rotate(conn, kek)
        await access.refresh()
        assert rotation.superseded == old_kid
        assert access.tokens.current is not None
        assert access.tokens.current.kid == rotation.current.kid != old_kid
        after = bearer(token(server, roles.REGULATOR_READ))

        # Both verify; the JWKS publishes both.
        for headers in (before, after):
            status, _, _ = await get(session, server, "/sandbox/regulator/probe/known", ctx,
                                     headers)  # fmt: skip
            assert status == 200
        status, jwks, _ = await get(session, server, "/.well-known/jwks.json", ctx)
        assert {k["kid"] for k in jwks["keys"]} == {old_kid, rotation.current.kid}
        assert all("d" not in k for k in jwks["keys"])  # public halves only

        # Retired (compromised, say): its tokens are refused at once.
        await keyring.retire(conn, kek, old_kid)
        await access.refresh()
        status, body, _ = await get(session, server, "/sandbox/regulator/probe/known", ctx,
                                    before)  # fmt: skip
        assert status == 401
        assert_tells_nothing(status, body)
        status, _, _ = await get(session, server, "/sandbox/regulator/probe/known", ctx, after)
        assert status == 200
        status, jwks, _ = await get(session, server, "/.well-known/jwks.json", ctx)
        assert [k["kid"] for k in jwks["keys"]] == [rotation.current.kid]

        # A superseded key stops verifying once its grace (token lifetime and margin) ends.
        newer = await keyring.rotate(conn, kek)
        await access.refresh()
        status, _, _ = await get(session, server, "/sandbox/regulator/probe/known", ctx, after)
        assert status == 200
        await conn.execute(
            "UPDATE auth_signing_keys SET superseded_at = now() - interval '1 day' WHERE kid = $1",
            rotation.current.kid,
        )
        await access.refresh()
        status, _, _ = await get(session, server, "/sandbox/regulator/probe/known", ctx, after)
        assert status == 401
        assert access.tokens.kids == {newer.current.kid}
    finally:
        await conn.close()


async def test_a_disabled_clients_tokens_are_refused_after_a_refresh(
    server: TestServer, session: aiohttp.ClientSession, pki: Pki, settings: Settings
) -> None:
    access = access_of(server)
    ctx = pki.client_context(pki.good)
    headers = bearer(token(server, roles.REGULATOR_READ))
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute(
            "INSERT INTO auth_clients (id, name, roles, secret_hash, disabled_at) "
            "VALUES ('pbc_inspector', 'MGA inspector', '{regulator_read}', 'x', now())"
        )
    finally:
        await conn.close()
    status, _, _ = await get(session, server, "/sandbox/regulator/probe/known", ctx, headers)
    assert status == 200  # not yet reloaded
    await access.refresh()
    status, body, _ = await get(session, server, "/sandbox/regulator/probe/known", ctx, headers)
    assert status == 401
    assert_tells_nothing(status, body)


# --- every route --------------------------------------------------------------------------


def _every_route() -> list[tuple[str, Route]]:
    found = [(r.path, r) for table in app_module.ROUTE_MODULES for r in table.routes]
    for prefix, table in getattr(app_module, "SUB_APPS", ()):
        found.extend((prefix + r.path, r) for r in table.routes)
    return found


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_route_declares_roles_and_regulator_read_only_reads() -> None:
    public = {"/healthz", "/readyz", "/openapi.json", "/oauth2/token", "/.well-known/jwks.json",
              "/v1/webhooks/{provider}"}  # fmt: skip
    for path, route in _every_route():
        assert set(route.roles) <= roles.ALL, path
        assert (not route.roles) == (path in public), path
        if roles.REGULATOR_READ in route.roles and route.method != "GET":
            assert path.startswith("/webhook/regulator/"), f"{route.method} {path}"
        if path.startswith(("/regulator/", "/sandbox/regulator/")):
            assert set(route.roles) <= set(roles.SENSITIVE_READ), path


async def test_every_route_needs_a_token_and_one_of_its_roles(client: Client) -> None:
    access: Access = client.app[ACCESS]
    for path, route in _every_route():
        if not route.roles:
            continue
        url = _concrete(path)
        resp = await client.request(route.method, url, headers={"Authorization": ""})
        assert resp.status == 401, f"{route.method} {path}: {resp.status}"
        assert_tells_nothing(401, await resp.json(content_type=None))
        others = sorted(roles.ALL - set(route.roles))
        if not others:
            continue
        other = access.tokens.issue(client_id="pbc_other", name="other", roles=others)
        resp = await client.request(route.method, url, headers=bearer(other.token))
        assert resp.status == 403, f"{route.method} {path}: {resp.status}"
        assert_tells_nothing(403, await resp.json(content_type=None))


async def test_a_token_goes_only_where_its_roles_go(
    client: Client, token_for: Callable[..., str]
) -> None:
    assert (await client.post("/v1/events", json=event(player_id="p-1"))).status == 200
    frontend = bearer(token_for(roles.PLAYER_FRONTEND))
    assert (await client.get("/v1/players/p-1/status", headers=frontend)).status == 200
    assert (await client.get("/v1/players/p-1/restrictions", headers=frontend)).status == 403
    assert (await client.get("/metrics", headers=frontend)).status == 403
    assert (await client.get("/metrics", headers=bearer(token_for(roles.OPS)))).status == 200
    officer = bearer(token_for(roles.COMPLIANCE_OFFICER))
    for path in ("/v1/alerts", "/v1/policies/versions", "/v1/incidents"):
        assert (await client.get(path, headers=officer)).status == 200, path
    # Public routes need nothing.
    for path in ("/healthz", "/readyz", "/openapi.json", "/.well-known/jwks.json"):
        assert (await client.get(path, headers={"Authorization": ""})).status == 200, path


# --- development warning, production refusal ------------------------------------------------


def test_a_development_run_without_tls_says_so_loudly(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    with structlog.testing.capture_logs() as logs:
        app_module.make_app(settings)
    [warning] = [e for e in logs if e["event"] == "insecure_configuration"]
    assert warning["log_level"] == "warning"
    assert len(warning["gaps"]) == 3
    err = capsys.readouterr().err
    assert "WARNING" in err
    assert "development" in err
    for variable in ("PITBOSS_TLS_CERT", "PITBOSS_TLS_CLIENT_CA", "PITBOSS_REGULATOR_ALLOW"):
        assert variable in err
    assert "tokens are still required" in err


def test_a_development_run_with_everything_on_says_nothing(
    settings: Settings, pki: Pki, capsys: pytest.CaptureFixture[str]
) -> None:
    with structlog.testing.capture_logs() as logs:
        app_module.make_app(tls(settings, pki))
    assert not [e for e in logs if e["event"] == "insecure_configuration"]
    assert "WARNING" not in capsys.readouterr().err


def test_production_refuses_to_start_without_tls_client_ca_and_allow_list(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pytest.raises(SettingsError, match="production refuses to start without") as err:
        Settings(env="production")
    for variable in ("PITBOSS_TLS_CERT", "PITBOSS_TLS_KEY", "PITBOSS_TLS_CLIENT_CA",
                     "PITBOSS_REGULATOR_ALLOW"):  # fmt: skip
        assert variable in str(err.value)
    for name in list(os.environ):
        if name.startswith("PITBOSS_") or name == "DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("PITBOSS_ENV", "production")
    monkeypatch.setenv("PITBOSS_DATA_DIR", str(tmp_path))
    assert cli.main(["serve"]) == 1
    message = capsys.readouterr().err
    assert message.startswith("pitboss serve: PITBOSS_ENV:")
    assert "PITBOSS_TLS_CERT" in message
    assert "PITBOSS_REGULATOR_ALLOW" in message


async def test_production_refuses_to_start_without_a_signing_key(
    settings: Settings, pki: Pki, tmp_path: Path
) -> None:
    kek = tmp_path / "signing.kek"
    production = dataclasses.replace(
        tls(settings, pki), env="production", signing_kek_file=kek, **_pii_key_files(tmp_path)
    )
    # No key-encryption key: named, and nothing is made.
    with pytest.raises(StartupRefusedError, match="PITBOSS_SIGNING_KEK_FILE"):
        async for _ in _serve(production):
            pass
    assert not kek.exists()
    # A key-encryption key but no signing key: `pitboss keys rotate` first.
    keys.read_kek(kek, create=True)
    with pytest.raises(StartupRefusedError, match="pitboss keys rotate"):
        async for _ in _serve(production):
            pass
    conn = await asyncpg.connect(settings.database_url)
    try:
        await keyring.rotate(conn, keys.read_kek(kek, create=False))
    finally:
        await conn.close()
    async for server in _serve(production):
        assert access_of(server).tokens.current is not None


def _pii_key_files(folder: Path) -> dict[str, Path]:
    """Production also wants the personal-data keys (regapi.keys), and the reports'
    configuration and signing key (regapi.reports)."""
    from regapi.keys import add_key
    from regapi.reports.signing import load_or_create

    files = {"pii_key_file": folder / "pii.json", "kyc_media_key_file": folder / "kyc.json",
             "reports_config": folder / "reports.toml",
             "report_signing_key_file": folder / "report-signing.pem"}  # fmt: skip
    add_key(files["pii_key_file"], "pii")
    add_key(files["kyc_media_key_file"], "kyc_media")
    files["reports_config"].write_text(
        '[operator]\nname = "Casino Ltd"\n[markets.MGA]\nlicence = "MGA/B2C/123/2019"\n'
    )
    load_or_create(files["report_signing_key_file"], create=True)
    return files


# --- settings ---------------------------------------------------------------------------


def test_access_settings_from_the_environment(pki: Pki, tmp_path: Path) -> None:
    env = {
        "PITBOSS_TLS_CERT": str(pki.server.cert),
        "PITBOSS_TLS_KEY": str(pki.server.key),
        "PITBOSS_TLS_CLIENT_CA": str(pki.ca),
        "PITBOSS_REGULATOR_ALLOW": "203.0.113.7, 10.0.0.0/8,2001:db8::/32",
        "PITBOSS_REGULATOR_CERT_NAMES": "inspector.mga.test, api.ukgc.test",
        "PITBOSS_TOKEN_AUDIENCE": "pitboss-mt",
        "PITBOSS_TOKEN_TTL_S": "300",
        "PITBOSS_SIGNING_KEK_FILE": str(tmp_path / "kek"),
        "PITBOSS_DATA_DIR": str(tmp_path / "data"),
    }
    settings = Settings.from_env(env)
    assert settings.tls
    assert [str(n) for n in settings.regulator_allow] == [
        "203.0.113.7/32", "10.0.0.0/8", "2001:db8::/32",
    ]  # fmt: skip
    assert settings.regulator_cert_names == ("inspector.mga.test", "api.ukgc.test")
    assert (settings.token_audience, settings.token_ttl_s) == ("pitboss-mt", 300)
    assert settings.kek_path == tmp_path / "kek"
    assert Settings.from_env({"PITBOSS_DATA_DIR": "/srv/p"}).kek_path == Path(
        "/srv/p/keys/signing.kek"
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PITBOSS_REGULATOR_ALLOW": "10.0.0.0/8,10.0.0.300"},
         "PITBOSS_REGULATOR_ALLOW: '10.0.0.300' is not an address or CIDR"),
        ({"PITBOSS_TLS_CERT": "{cert}"}, "PITBOSS_TLS_KEY: tls_key: tls_cert and tls_key go"),
        ({"PITBOSS_TLS_CERT": "/nonexistent.crt", "PITBOSS_TLS_KEY": "{key}"},
         "PITBOSS_TLS_CERT: tls_cert: no such file: /nonexistent.crt"),
        ({"PITBOSS_TLS_CLIENT_CA": "{ca}"}, "PITBOSS_TLS_CLIENT_CA: tls_client_ca: needs tls_cert"),
        ({"PITBOSS_REGULATOR_CERT_NAMES": "x"},
         "PITBOSS_REGULATOR_CERT_NAMES: .*needs tls_client_ca"),
        ({"PITBOSS_TOKEN_TTL_S": "5"}, "PITBOSS_TOKEN_TTL_S: token_ttl_s: must be 60..86400"),
        ({"PITBOSS_ENV": "staging"}, "PITBOSS_ENV: env: must be one of"),
    ],
)  # fmt: skip
def test_bad_access_settings_name_their_variable(
    pki: Pki, env: dict[str, str], message: str
) -> None:
    paths = {"cert": pki.server.cert, "key": pki.server.key, "ca": pki.ca}
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({k: v.format(**paths) for k, v in env.items()})
