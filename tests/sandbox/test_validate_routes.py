"""The validator routes over HTTP, mounted in a small app of their own as the service
mounts them (under /sandbox/regulator, with the problem middleware and a body limit); the
caller is taken to be a sandbox client, as the service's access check would have left it."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from openapi_spec_validator import validate

from pitboss.service import openapi
from pitboss.service.auth import PRINCIPAL
from pitboss.service.http import problem_middleware
from pitboss.service.outbound import content_digest, signed_headers
from pitboss.service.routes.sandbox_validate import ROUTES, VALIDATION, Validation
from regapi import periods
from regapi.auth.principal import Principal
from regapi.reports import signing
from regapi.reports.render_csv import render_csv
from regapi.reports.render_pdf import render_pdf
from regapi.reports.render_xml import render_xml
from tests.regapi.reports.samples import sample_report

PREFIX = "/sandbox/regulator"
LIMIT = 256 * 1024
CLIENT_ID = "sandbox-client-1"
SECRET = "callback-secret-0123456789"
SIGNER = signing.ReportSigner(Ed25519PrivateKey.generate())

Client = TestClient[Any, Any]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def make_app(validation: Validation | None) -> web.Application:
    @web.middleware
    async def as_sandbox_client(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        request[PRINCIPAL] = Principal(CLIENT_ID, "Inspector", frozenset({"sandbox"}))
        return await handler(request)

    root = web.Application(
        client_max_size=LIMIT, middlewares=[problem_middleware, as_sandbox_client]
    )
    sub = web.Application()
    ROUTES.install(sub)
    if validation is not None:
        sub[VALIDATION] = validation
    root.add_subapp(PREFIX, sub)
    return root


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    validation = Validation(jwks=SIGNER.jwks(), secret_for={CLIENT_ID: SECRET}.get)
    async with TestClient(TestServer(make_app(validation))) as c:
        yield c


@pytest.fixture
async def bare() -> AsyncIterator[Client]:
    """The routes mounted without the sandbox's keys and secrets."""
    async with TestClient(TestServer(make_app(None))) as c:
        yield c


async def post_report(client: Client, content: bytes, **query: str) -> tuple[int, dict[str, Any]]:
    resp = await client.post(
        f"{PREFIX}/validate/report",
        params=query,
        data=content,
        headers={"Content-Type": "application/octet-stream"},
    )
    return resp.status, await resp.json(content_type=None)


async def post_signature(client: Client, body: object) -> tuple[int, dict[str, Any]]:
    resp = await client.post(f"{PREFIX}/validate/signature", json=body)
    return resp.status, await resp.json(content_type=None)


# --- the report validator -------------------------------------------------------------


@pytest.mark.parametrize(
    ("render", "fmt"), [(render_csv, "csv"), (render_xml, "xml"), (render_pdf, "pdf")]
)
async def test_a_report_file_is_valid(
    client: Client, render: Callable[..., bytes], fmt: str
) -> None:
    content = render(sample_report("UKGC"))
    assert await post_report(client, content) == (
        200,
        {"valid": True, "format": fmt, "market": "UKGC", "problems": []},
    )
    assert (await post_report(client, content, format=fmt, market="UKGC"))[0] == 200


async def test_a_report_with_problems_answers_200_with_each_located(client: Client) -> None:
    content = render_csv(sample_report("MGA")).replace(b"MGA/B2C/123/2019", b"nope")
    status, body = await post_report(client, content, market="CW")
    assert status == 200
    assert body == {
        "valid": False,
        "format": "csv",
        "market": "MGA",
        "problems": [
            {
                "line": 2,
                "column": 9,
                "location": "row 2, column value",
                "message": "the file is MGA's report, but market=CW was given",
            },
            {
                "line": 5,
                "column": 9,
                "location": "row 5, column value",
                "message": "'nope' is not in the form of MGA's licence numbers "
                "(like MGA/B2C/123/2019)",
            },
        ],
    }


async def test_an_unknown_format_answers_200_with_format_unknown(client: Client) -> None:
    status, body = await post_report(client, b"\x00\x01 not a report")
    assert status == 200
    assert (body["valid"], body["format"], body["market"]) == (False, "unknown", None)


@pytest.mark.parametrize(
    ("query", "field"), [({"format": "docx"}, "format"), ({"market": "mga"}, "market")]
)
async def test_a_bad_query_value_is_422_naming_it(
    client: Client, query: dict[str, str], field: str
) -> None:
    status, body = await post_report(client, b"x", **query)
    assert status == 422
    assert body["field"] == field
    assert body["detail"].startswith(f"{field} must be one of: ")


async def test_an_empty_body_is_422_and_a_form_is_415(client: Client) -> None:
    status, body = await post_report(client, b"")
    assert (status, body["field"]) == (422, "body")
    resp = await client.post(f"{PREFIX}/validate/report", data={"file": "x"})
    assert resp.status == 415
    assert "--data-binary" in (await resp.json(content_type=None))["detail"]


async def test_a_body_above_the_limit_is_413(client: Client) -> None:
    status, body = await post_report(client, b"a" * (LIMIT + 1))
    assert status == 413
    assert body["title"] == "Body too large"


# --- the signature validator ----------------------------------------------------------


async def test_a_file_with_the_sandbox_key_or_its_own(client: Client) -> None:
    content = render_csv(sample_report("MGA"))
    signature = SIGNER.sign(content)
    file = {"kind": "file", "content": b64(content), "signature": b64(signature)}
    assert await post_signature(client, {**file, "key": None}) == (
        200,
        {"valid": True, "problems": []},
    )
    assert await post_signature(client, file) == (200, {"valid": True, "problems": []})
    other = signing.ReportSigner(Ed25519PrivateKey.generate())
    status, body = await post_signature(client, {**file, "key": other.public_jwk()})
    assert (status, body["valid"]) == (200, False)
    assert body["problems"][0].startswith(
        f"the signature does not match the content under key {other.kid}"
    )


async def test_a_run(client: Client) -> None:
    run = dict(
        signing.signed_bundle(
            market="MGA",
            period=periods.parse("monthly/2026-01"),
            revision=1,
            generated_at=datetime(2026, 2, 1, tzinfo=UTC),
            files=[("MGA_monthly_2026-01.csv", b"section,item\r\n")],
            signer=SIGNER,
        )
    )
    manifest = run.pop("MGA_monthly_2026-01.manifest.json")
    body = {
        "kind": "manifest",
        "manifest": b64(manifest),
        "files": {k: b64(v) for k, v in run.items() if not k.endswith(".sig")},
        "signatures": {k: b64(v) for k, v in run.items() if k.endswith(".sig")},
        "keys": None,
    }
    assert await post_signature(client, body) == (200, {"valid": True, "problems": []})
    body["files"] = {"MGA_monthly_2026-01.csv": b64(b"section,item\n")}
    status, answer = await post_signature(client, body)
    assert (status, answer["valid"]) == (200, False)
    assert (
        "MGA_monthly_2026-01.csv: size mismatch (13 bytes, manifest says 14)"
        in (answer["problems"])
    )


async def test_a_webhook_with_the_callers_secret_or_a_given_one(client: Client) -> None:
    payload = b'{"status":"done"}'
    headers = {**signed_headers(SECRET, payload), "Content-Digest": content_digest(payload)}
    hook = {"kind": "webhook", "headers": headers, "body": b64(payload)}
    assert await post_signature(client, hook) == (200, {"valid": True, "problems": []})
    status, body = await post_signature(client, {**hook, "secret": "another-secret-012345"})
    assert (status, body["valid"]) == (200, False)
    assert body["problems"][0].startswith("the signature does not match the body.")


@pytest.mark.parametrize(
    ("body", "field", "detail"),
    [
        ({"kind": "file", "content": "!!!", "signature": "AAAA"}, "content",
         "Invalid base64 encoded string"),
        ({"kind": "file", "content": "AAAA", "signature": "AAA"}, "signature",
         "Invalid base64 encoded string"),
        ({"kind": "manifest", "manifest": "AAAA", "files": {"a.csv": "?"}, "signatures": {}},
         'files["a.csv"]', "Invalid base64 encoded string"),
        ({"kind": "webhook", "headers": {}, "body": "", "extra": 1}, "extra",
         "Object contains unknown field `extra`"),
        ({"kind": "telepathy"}, "kind", "Invalid value 'telepathy'"),
        ({"kind": "file", "signature": "AAAA"}, "content", "Object missing required field"),
        ({"kind": "webhook", "headers": {"a": 1}, "body": ""}, "headers[...]",
         "Expected `str`, got `int`"),
    ],
)  # fmt: skip
async def test_a_bad_signature_request_is_422_naming_the_field(
    client: Client, body: dict[str, Any], field: str, detail: str
) -> None:
    status, answer = await post_signature(client, body)
    assert status == 422
    assert answer["field"] == field
    assert answer["detail"].startswith(f"body: {detail}")


async def test_malformed_json_is_400_and_another_media_type_415(client: Client) -> None:
    resp = await client.post(
        f"{PREFIX}/validate/signature",
        data=b"{",
        headers={"Content-Type": "application/json"},
    )
    assert resp.status == 400
    resp = await client.post(
        f"{PREFIX}/validate/signature", data=b"kind=file", headers={"Content-Type": "text/plain"}
    )
    assert resp.status == 415


async def test_without_the_sandbox_keys_a_null_key_is_503_and_a_given_key_works(
    bare: Client,
) -> None:
    content = b"section,item\r\n"
    file = {"kind": "file", "content": b64(content), "signature": b64(SIGNER.sign(content))}
    status, body = await post_signature(bare, file)
    assert (status, body["field"]) == (503, "key")
    assert await post_signature(bare, {**file, "key": SIGNER.jwks()}) == (
        200,
        {"valid": True, "problems": []},
    )


async def test_a_caller_without_a_callback_secret_is_told_to_give_one(bare: Client) -> None:
    hook = {"kind": "webhook", "headers": {}, "body": ""}
    status, body = await post_signature(bare, hook)
    assert (status, body["field"]) == (503, "secret")


async def test_a_client_without_a_secret_is_422() -> None:
    validation = Validation(jwks=SIGNER.jwks(), secret_for=lambda client_id: None)
    async with TestClient(TestServer(make_app(validation))) as c:
        status, body = await post_signature(c, {"kind": "webhook", "headers": {}, "body": ""})
    assert (status, body["field"]) == (422, "secret")
    assert body["detail"] == (
        f"no callback secret is configured for client {CLIENT_ID!r}; give secret"
    )


# --- the description ------------------------------------------------------------------


def test_the_openapi_document_describes_both_routes() -> None:
    doc = openapi.document([], title="t", version="1", mounted=[(PREFIX, ROUTES)])
    validate(doc)
    report = doc["paths"][f"{PREFIX}/validate/report"]["post"]
    assert report["requestBody"]["content"] == {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
    }
    assert {p["name"] for p in report["parameters"]} == {"format", "market"}
    assert report["security"] == [{"oauth2": ["sandbox"]}]
    assert {"413", "422"} <= report["responses"].keys()
    signature = doc["paths"][f"{PREFIX}/validate/signature"]["post"]
    schema = json.dumps(signature["requestBody"]["content"]["application/json"]["schema"])
    assert all(
        kind in json.dumps(doc["components"]) for kind in ("FileIn", "ManifestIn", "WebhookIn")
    )
    assert "$ref" in schema or "oneOf" in schema
