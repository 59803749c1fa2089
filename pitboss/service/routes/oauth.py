"""OAuth2 client credentials (RFC 6749 §4.4): `POST /oauth2/token`, and the public keys
that verify the tokens, `GET /.well-known/jwks.json`.

Errors here are RFC 6749 §5.2 bodies (`{"error": "invalid_client", ...}`), which OAuth
client libraries read, not problem+json.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote_plus

import msgspec
import structlog
from aiohttp import web

from pitboss.service.auth import ACCESS
from pitboss.service.http import Routes
from pitboss.service.state import SERVICE
from regapi.auth import clients, roles
from regapi.auth.tokens import NoSigningKeyError

ROUTES = Routes()
log = structlog.get_logger("pitboss.oauth")

_FORM = "application/x-www-form-urlencoded"
_MAX_FORM = 8 * 1024
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_JSON = msgspec.json.Encoder()


class TokenOut(msgspec.Struct, kw_only=True):
    access_token: str
    token_type: str
    expires_in: int
    scope: str  # the roles granted, space-separated


class TokenForm(msgspec.Struct, kw_only=True):
    """What the form may hold (for the OpenAPI document; `_token` reads the form itself).
    The client's id and secret come here or by HTTP Basic."""

    grant_type: Literal["client_credentials"]
    client_id: str | None = None
    client_secret: str | None = None
    scope: str | None = None  # the roles wanted, space-separated; default: all it holds


class OAuthErrorBody(msgspec.Struct, kw_only=True, omit_defaults=True):
    error: str
    error_description: str | None = None


class JwkSet(msgspec.Struct):
    keys: list[dict[str, Any]]


class _RefusedError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


def _invalid_client() -> _RefusedError:
    # One answer for an unknown id, a wrong secret and a disabled client.
    return _RefusedError(401, "invalid_client", "client authentication failed")


def _form(raw: bytes) -> dict[str, str]:
    try:
        pairs = parse_qsl(
            raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw),
            max_num_fields=16, errors="strict",
        )  # fmt: skip
    except (UnicodeDecodeError, ValueError):
        raise _RefusedError(400, "invalid_request", "the body is not a form") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise _RefusedError(400, "invalid_request", f"{name} is given more than once")
        form[name] = value
    return form


def _basic(header: str | None) -> tuple[str, str] | None:
    """Client id and secret from `Authorization: Basic`, each form-encoded first
    (RFC 6749 §2.3.1); None when the header is absent."""
    if header is None or not header.strip():
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise _RefusedError(400, "invalid_request", "client authentication is Basic or the form")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise _invalid_client() from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise _invalid_client()
    return unquote_plus(client_id), unquote_plus(secret)


def _scope(requested: str | None, held: tuple[str, ...]) -> tuple[str, ...]:
    if requested is None:
        return held
    wanted = requested.split()
    if not wanted:
        raise _RefusedError(400, "invalid_scope", "scope is empty")
    extra = [r for r in wanted if r not in held]
    if extra:
        # Names only what the client asked for, never the roles it holds.
        raise _RefusedError(400, "invalid_scope", f"not granted to this client: {' '.join(extra)}")
    return tuple(r for r in held if r in wanted)


@ROUTES.add(
    "POST", "/oauth2/token",
    summary="A token for a client (client_credentials; id and secret by HTTP Basic or in "
    "the form; optional scope: the roles wanted). Errors are RFC 6749 bodies.",
    tag="access", body=TokenForm, body_media=_FORM, response=TokenOut, errors=(400, 401, 503),
    error_body=OAuthErrorBody, roles=roles.PUBLIC,
)  # fmt: skip
async def token(request: web.Request) -> web.Response:
    try:
        body = await _token(request)
    except _RefusedError as exc:
        headers = dict(_NO_STORE)
        if exc.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="pitboss"'
        return web.Response(
            body=_JSON.encode(OAuthErrorBody(error=exc.error, error_description=exc.description)),
            status=exc.status,
            content_type="application/json",
            headers=headers,
        )
    return web.Response(body=_JSON.encode(body), content_type="application/json", headers=_NO_STORE)


async def _token(request: web.Request) -> TokenOut:
    if request.content_type != _FORM:
        raise _RefusedError(400, "invalid_request", f"send the parameters as {_FORM}")
    if (request.content_length or 0) > _MAX_FORM:
        raise _RefusedError(400, "invalid_request", "the form is too large")
    raw = await request.content.read(_MAX_FORM + 1)
    if len(raw) > _MAX_FORM:
        raise _RefusedError(400, "invalid_request", "the form is too large")
    form = _form(raw)
    grant = form.get("grant_type")
    if not grant:
        raise _RefusedError(400, "invalid_request", "grant_type is required")
    if grant != "client_credentials":
        raise _RefusedError(400, "unsupported_grant_type", "only client_credentials is supported")
    basic = _basic(request.headers.get("Authorization"))
    if basic is not None and "client_secret" in form:
        raise _RefusedError(400, "invalid_request", "use one way to authenticate the client")
    if basic is not None:
        client_id, secret = basic
        if form.get("client_id", client_id) != client_id:
            raise _RefusedError(400, "invalid_request", "client_id differs from the Basic one")
    else:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if not client_id or not secret:
            raise _invalid_client()
    service = request.app[SERVICE]
    client = await clients.authenticate(service.pool, client_id, secret)
    if client is None:
        log.warning("token_refused", client_id=client_id[:64], remote=request.remote)
        raise _invalid_client()
    granted = _scope(form.get("scope"), client.roles)
    try:
        issued = request.app[ACCESS].tokens.issue(
            client_id=client.id, name=client.name, roles=granted
        )
    except NoSigningKeyError:
        raise _RefusedError(503, "temporarily_unavailable", "no signing key") from None
    log.info("token_issued", client_id=client.id, roles=list(granted))
    return TokenOut(
        access_token=issued.token,
        token_type="Bearer",
        expires_in=issued.expires_in,
        scope=" ".join(issued.roles),
    )


@ROUTES.add("GET", "/.well-known/jwks.json",
            summary="The public keys that verify tokens: the current one and those "
            "superseded whose tokens may not have expired", tag="access",
            response=JwkSet, roles=roles.PUBLIC)  # fmt: skip
async def jwks(request: web.Request) -> web.Response:
    # Short-lived in caches: a verifier that sees an unknown `kid` should fetch again.
    return web.Response(
        body=request.app[ACCESS].tokens.jwks(),
        content_type="application/json",
        headers={"Cache-Control": "public, max-age=60"},
    )
