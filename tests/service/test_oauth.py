"""`POST /oauth2/token` (client credentials) and `GET /.well-known/jwks.json` over HTTP:
tokens that verify with the published keys and carry the claims, scope narrowing, and
RFC 6749 error bodies that tell an unknown client from a wrong secret in no way."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote_plus

import aiohttp
import asyncpg
import jsonschema
import pytest
from aiohttp.test_utils import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet

from pitboss.service.settings import Settings
from regapi.auth import clients, roles
from regapi.auth.clients import NewClient

Client = TestClient[Any, Any]
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
async def anon(client: Client) -> AsyncIterator[aiohttp.ClientSession]:
    """A session without the `client` fixture's default token."""
    async with aiohttp.ClientSession(base_url=client.make_url("/")) as s:
        yield s


@pytest.fixture
async def registered(db: asyncpg.Connection) -> NewClient:
    return await clients.create(db, name="AML desk", roles=[roles.ANALYST, roles.POLICY_ADMIN])


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


async def token_request(
    session: aiohttp.ClientSession,
    data: str | dict[str, str],
    headers: dict[str, str] | None = None,
    content_type: str = FORM,
) -> tuple[int, dict[str, Any], Any]:
    body = data if isinstance(data, str) else "&".join(
        f"{quote_plus(k)}={quote_plus(v)}" for k, v in data.items()
    )  # fmt: skip
    async with session.post(
        "/oauth2/token", data=body, headers={"Content-Type": content_type, **(headers or {})}
    ) as resp:
        return resp.status, await resp.json(content_type=None), resp.headers


async def test_a_client_gets_a_token_that_verifies_with_the_published_keys(
    anon: aiohttp.ClientSession, registered: NewClient, settings: Settings
) -> None:
    c = registered.client
    status, body, headers = await token_request(
        anon, {"grant_type": "client_credentials"}, basic(c.id, registered.secret)
    )
    assert status == 200, body
    assert headers["Cache-Control"] == "no-store"
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == settings.token_ttl_s
    assert body["scope"] == "analyst policy_admin"

    async with anon.get("/.well-known/jwks.json") as resp:
        jwks = await resp.json()
    decoded = jwt.decode(body["access_token"], KeySet.import_key_set(jwks), algorithms=["Ed25519"])
    assert decoded.header["kid"] in {k["kid"] for k in jwks["keys"]}
    claims = decoded.claims
    assert claims["iss"] == settings.token_issuer
    assert claims["aud"] == settings.token_audience
    assert claims["sub"] == c.id
    assert claims["name"] == "AML desk"
    assert claims["roles"] == ["analyst", "policy_admin"]
    assert claims["exp"] - claims["iat"] == settings.token_ttl_s
    assert claims["jti"]

    auth = {"Authorization": f"Bearer {body['access_token']}"}
    async with anon.get("/v1/alerts", headers=auth) as resp:
        assert resp.status == 200
    async with anon.post("/v1/events", json={}, headers=auth) as resp:
        assert resp.status == 403  # no ingest role


async def test_credentials_in_the_form_and_a_narrower_scope(
    anon: aiohttp.ClientSession, registered: NewClient
) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": registered.client.id,
        "client_secret": registered.secret,
        "scope": "analyst",
    }
    status, body, _ = await token_request(anon, form)
    assert status == 200, body
    assert body["scope"] == "analyst"
    auth = {"Authorization": f"Bearer {body['access_token']}"}
    async with anon.get("/v1/alerts", headers=auth) as resp:
        assert resp.status == 200
    async with anon.get("/v1/policies/versions", headers=auth) as resp:
        assert resp.status == 403
    again = await token_request(anon, form)
    assert again[1]["access_token"] != body["access_token"]  # a new jti each time


async def test_a_scope_beyond_the_clients_roles_is_invalid_scope(
    anon: aiohttp.ClientSession, registered: NewClient
) -> None:
    status, body, _ = await token_request(
        anon,
        {"grant_type": "client_credentials", "scope": "analyst regulator_read"},
        basic(registered.client.id, registered.secret),
    )
    assert (status, body["error"]) == (400, "invalid_scope")
    assert "regulator_read" in body["error_description"]
    assert "policy_admin" not in body["error_description"]  # what it holds is not said


async def test_an_unknown_client_a_wrong_secret_and_a_disabled_client_look_alike(
    anon: aiohttp.ClientSession, registered: NewClient, db: asyncpg.Connection
) -> None:
    grant = {"grant_type": "client_credentials"}
    c = registered.client
    other = await clients.create(db, name="retired desk", roles=[roles.ANALYST])
    await clients.disable(db, other.client.id)
    answers = [
        await token_request(anon, grant, basic(c.id, registered.secret + "x")),
        await token_request(anon, grant, basic("pbc_0000000000000000dead", registered.secret)),
        await token_request(anon, grant, basic(other.client.id, other.secret)),
        await token_request(anon, grant | {"client_id": c.id, "client_secret": "nope"}),
        await token_request(anon, grant),  # no credentials at all
        # An id PostgreSQL cannot even compare (a NUL) is just not a client's.
        await token_request(anon, grant | {"client_id": "pbc_\x00", "client_secret": "nope"}),
        await token_request(anon, grant, basic("\x00", registered.secret)),
    ]
    for status, body, headers in answers:
        assert status == 401
        assert body == {
            "error": "invalid_client",
            "error_description": "client authentication failed",
        }
        assert headers["WWW-Authenticate"] == 'Basic realm="pitboss"'
        assert headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("data", "headers", "content_type", "error"),
    [
        ("", None, FORM, "invalid_request"),
        ("client_id=x", None, FORM, "invalid_request"),
        ("grant_type=password&username=a&password=b", None, FORM, "unsupported_grant_type"),
        ("grant_type=authorization_code&code=x", None, FORM, "unsupported_grant_type"),
        ('{"grant_type": "client_credentials"}', None, "application/json", "invalid_request"),
        ("grant_type=client_credentials&grant_type=client_credentials", None, FORM,
         "invalid_request"),
        ("grant_type=client_credentials&client_secret=s", "basic", FORM, "invalid_request"),
        ("grant_type=client_credentials&client_id=someone-else", "basic", FORM,
         "invalid_request"),
        ("grant_type=client_credentials", "bearer", FORM, "invalid_request"),
        ("grant_type=client_credentials", "bad-basic", FORM, "invalid_client"),
        ("grant_type=client_credentials&%ZZ", None, FORM, "invalid_request"),
        ("grant_type=client_credentials&x=" + "a" * 9000, None, FORM, "invalid_request"),
    ],
)  # fmt: skip
async def test_token_endpoint_errors_are_rfc_6749_bodies(
    anon: aiohttp.ClientSession,
    registered: NewClient,
    data: str,
    headers: str | None,
    content_type: str,
    error: str,
) -> None:
    sent = {
        None: {},
        "basic": basic(registered.client.id, registered.secret),
        "bearer": {"Authorization": "Bearer abc"},
        "bad-basic": {"Authorization": "Basic !!!not-base64"},
    }[headers]
    status, body, resp_headers = await token_request(anon, data, sent, content_type)
    assert body["error"] == error, body
    assert status == (401 if error == "invalid_client" else 400)
    assert set(body) <= {"error", "error_description"}
    assert resp_headers["Cache-Control"] == "no-store"


async def test_the_openapi_document_describes_the_form_and_the_error_bodies(
    anon: aiohttp.ClientSession,
) -> None:
    async with anon.get("/openapi.json") as resp:
        doc = await resp.json()
    post = doc["paths"]["/oauth2/token"]["post"]

    def schema(media: dict[str, Any]) -> dict[str, Any]:
        return {**media["schema"], "components": doc["components"]}

    form = schema(post["requestBody"]["content"][FORM])
    jsonschema.validate({"grant_type": "client_credentials", "scope": "analyst"}, form)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"grant_type": "password"}, form)
    unknown = {"grant_type": "client_credentials", "client_id": "pbc_x", "client_secret": "x"}
    for data, status in [({"grant_type": "password"}, 400), (unknown, 401)]:
        got, body, _ = await token_request(anon, data)
        assert got == status
        jsonschema.validate(
            body, schema(post["responses"][str(status)]["content"]["application/json"])
        )


async def test_only_a_slow_salted_hash_of_the_secret_is_stored(
    registered: NewClient, db: asyncpg.Connection
) -> None:
    stored = await db.fetchval(
        "SELECT secret_hash FROM auth_clients WHERE id = $1", registered.client.id
    )
    assert stored.startswith("scrypt$16384$8$1$")
    assert registered.secret not in stored
    twin = await clients.create(db, name="twin", roles=[roles.ANALYST])
    assert twin.secret != registered.secret
    assert twin.client.secret_hash.split("$")[4] != stored.split("$")[4]  # own salt


async def test_jwks_lists_public_keys_only(anon: aiohttp.ClientSession) -> None:
    async with anon.get("/.well-known/jwks.json") as resp:
        assert resp.status == 200
        assert "max-age" in resp.headers["Cache-Control"]
        jwks = await resp.json()
    [key] = jwks["keys"]
    assert set(key) == {"kty", "crv", "x", "kid", "alg", "use"}
    assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("OKP", "Ed25519", "Ed25519", "sig")
