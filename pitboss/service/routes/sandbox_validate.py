"""The sandbox's validators, for a regulator to check its side before going live:
`POST /validate/report` (a report file against its format, each problem with where it is)
and `POST /validate/signature` (a signed file, run or webhook, and why it fails).

Paths are relative to the sandbox sub-app, mounted at `/sandbox/regulator`; both routes
admit the `sandbox` role only. Mounted in the service, the keys a signature is checked
against by default are the mount's own report signer's (`regulator_data`), and a webhook's
secret is the caller's callback secret (`PITBOSS_REGULATOR_CALLBACK_SECRETS`). Mounted in
an app of its own (tests), the app sets them:

    sub_app[VALIDATION] = Validation(
        jwks=sandbox_signer.jwks(),           # for a file or run sent with key(s) null
        secret_for=lambda client_id: ...,     # the caller's callback secret, or None
    )

Without either, the report validator works, and a signature check that asks for the
sandbox's key or the caller's secret is answered 503. The body limit is the service's
(`max_body_bytes`, aiohttp's `client_max_size`): above it, 413.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Final, cast

import msgspec
from aiohttp import web

from pitboss.service.auth import PRINCIPAL
from pitboss.service.http import ProblemError, Routes, json_response, query_choice, read_body
from pitboss.service.regulator_data import SLOT
from pitboss.service.regulator_requests import callback_secret
from pitboss.service.state import SERVICE
from regapi.auth import roles
from regapi.reports.templates import TEMPLATES
from sandbox.report_check import FORMAT_NAMES, ReportCheck, check_report
from sandbox.signature_check import SignatureCheck, check_file, check_manifest, check_webhook

ROUTES = Routes()

_TAG: Final = "sandbox"
# Sent as a browser form, a file arrives wrapped; the validator wants the file itself.
_FORMS: Final = ("multipart/form-data", "application/x-www-form-urlencoded")


@dataclass(frozen=True)
class Validation:
    """What the signature validator takes from the sandbox."""

    jwks: dict[str, Any]  # the sandbox's report-signing keys (a JWK Set)
    secret_for: Callable[[str], str | None]  # a client id → its callback secret
    tolerance_s: int = 300  # how far a webhook's timestamp may be from now


VALIDATION = web.AppKey("sandbox_validation", Validation)
_DEFAULT: Final = Validation(jwks={"keys": []}, secret_for=lambda client_id: None)


def _mounted(request: web.Request) -> Validation | None:
    """What the mount answering `request` gives: set explicitly (`VALIDATION`), or taken
    from its regulator data (the sandbox's signer) and the service's callback secrets."""
    found = request.config_dict.get(VALIDATION)
    if found is not None:
        return found
    slot = request.app.get(SLOT)
    service = request.config_dict.get(SERVICE)
    if slot is None or slot.data is None or service is None:
        return None
    settings = service.settings
    return Validation(
        jwks=slot.data.signer.jwks(),
        secret_for=lambda client_id: callback_secret(settings, client_id),
        tolerance_s=settings.webhook_tolerance_s,
    )


def _validation(request: web.Request, field: str) -> Validation:
    found = _mounted(request)
    if found is None:
        raise ProblemError(
            503,
            "Unavailable",
            f"the sandbox's keys and secrets are not configured; give {field}",
            field=field,
        )
    return found


# --- reports ------------------------------------------------------------------------


@ROUTES.add("POST", "/validate/report",
            summary="Check a report file (CSV, XML, PDF or a run's manifest) against its "
                    "format; every problem with where it is",
            tag=_TAG, body=bytes, body_media="application/octet-stream", response=ReportCheck,
            errors=(400, 413, 415, 422), roles=roles.SANDBOX_ONLY,
            query={"format": (str, " | ".join(FORMAT_NAMES) + "; guessed from the content "
                                   "if absent"),
                   "market": (str, " | ".join(TEMPLATES) + "; guessed from the content if "
                                   "absent")})  # fmt: skip
async def validate_report(request: web.Request) -> web.Response:
    fmt = query_choice(request, "format", FORMAT_NAMES)
    market = query_choice(request, "market", tuple(TEMPLATES))
    if request.content_type in _FORMS:
        raise ProblemError(
            415,
            "Unsupported media type",
            "send the file's bytes as the body (application/octet-stream; curl "
            "--data-binary @file), not a form",
        )
    content = await request.read()
    if not content:
        raise ProblemError(422, "Invalid request", "the body is empty: send the file", field="body")
    # Parsing a file of several megabytes takes a while; the loop serves others meanwhile.
    result = await asyncio.to_thread(check_report, content, format=fmt, market=market)
    return json_response(result)


# --- signatures ---------------------------------------------------------------------


class FileIn(msgspec.Struct, tag_field="kind", tag="file", forbid_unknown_fields=True):
    """A report file and its detached signature (the `.sig` file's 64 bytes)."""

    content: bytes  # base64
    signature: bytes  # base64
    key: dict[str, Any] | None = None  # a JWK or JWK Set; null: the sandbox's key


# Decoded by the handler rather than by msgspec, so that a bad one is named by its key.
Base64 = Annotated[str, msgspec.Meta(extra_json_schema={"contentEncoding": "base64"})]


class ManifestIn(msgspec.Struct, tag_field="kind", tag="manifest", forbid_unknown_fields=True):
    """A run: its manifest, the files it lists and every signature file, by name."""

    manifest: bytes  # base64
    files: dict[str, Base64]  # name → content
    signatures: dict[str, Base64]  # `<file>.sig` (and the manifest's) → content
    keys: dict[str, Any] | None = None  # a JWK Set; null: the sandbox's keys


class WebhookIn(msgspec.Struct, tag_field="kind", tag="webhook", forbid_unknown_fields=True):
    """A webhook as it was received: its headers and its raw body."""

    headers: dict[str, str]
    body: bytes  # base64
    secret: str | None = None  # null: the calling client's callback secret


SignatureIn = FileIn | ManifestIn | WebhookIn


def _decoded(values: dict[str, str], what: str) -> dict[str, bytes]:
    out = {}
    for name, text in values.items():
        try:
            out[name] = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            field = f"{what}[{json.dumps(name)}]"
            raise ProblemError(
                422, "Invalid request", f"body: Invalid base64 encoded string - at {field}",
                field=field,
            ) from None  # fmt: skip
    return out


def _secret(request: web.Request, given: str | None) -> str:
    if given is not None:
        return given
    validation = _validation(request, "secret")
    who = request.get(PRINCIPAL)
    secret = validation.secret_for(who.client_id) if who is not None else None
    if secret is None:
        client = who.client_id if who is not None else "this caller"
        raise ProblemError(
            422,
            "Invalid request",
            f"no callback secret is configured for client {client!r}; give secret",
            field="secret",
        )
    return secret


@ROUTES.add("POST", "/validate/signature",
            summary="Verify a signed report file, a run (manifest and files) or a webhook; "
                    "why it fails",
            tag=_TAG, body=SignatureIn, response=SignatureCheck, errors=(400, 413, 415, 422, 503),
            roles=roles.SANDBOX_ONLY)  # fmt: skip
async def validate_signature(request: web.Request) -> web.Response:
    given = await read_body(request, cast("type[SignatureIn]", SignatureIn))
    result: SignatureCheck
    match given:
        case FileIn():
            default = _validation(request, "key").jwks if given.key is None else None
            result = await asyncio.to_thread(
                check_file, given.content, given.signature, given.key, default
            )
        case ManifestIn():
            keys = given.keys if given.keys is not None else _validation(request, "keys").jwks
            files = _decoded(given.files, "files")
            signatures = _decoded(given.signatures, "signatures")
            result = await asyncio.to_thread(
                check_manifest, given.manifest, files, signatures, keys
            )
        case WebhookIn():
            secret = _secret(request, given.secret)
            validation = _mounted(request)
            result = check_webhook(
                given.headers,
                given.body,
                secret,
                now=time.time(),
                tolerance_s=(validation or _DEFAULT).tolerance_s,
            )
    return json_response(result)
