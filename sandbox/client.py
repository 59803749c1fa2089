"""A small asynchronous client of the regulator API, as a regulator (or our own inspection
script) uses it: a token by client credentials, reports listed, downloaded and their
signatures checked, a player, an entity's change history, a page of a log, and a file asked
for by callback.

The same client serves the live API and the sandbox: `prefix="/regulator"` (live) or
`"/sandbox/regulator"`; the file requests go to the matching webhook prefix
(`/webhook/regulator`, `/sandbox/webhook/regulator`). Mutual TLS is the caller's
`ssl.SSLContext` holding the client certificate.

    async with RegulatorClient(url, client_id, secret) as api:
        listing = await api.reports("monthly/2026-01", market="MGA")
        problems = await api.verify_report_files("monthly/2026-01", "MGA")

Every refusal is a `RegulatorApiError` carrying the status and the problem+json body (RFC
9457; the token endpoint's RFC 6749 error body), so the field at fault is at hand.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import re
import ssl as ssl_module
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final, Self, TypeVar
from urllib.parse import quote, quote_plus

import aiohttp
import msgspec

from regapi.reports.signing import MANIFEST_SUFFIX, SIGNATURE_SUFFIX, verify_manifest

LIVE_PREFIX: Final = "/regulator"
SANDBOX_PREFIX: Final = "/sandbox/regulator"
TOKEN_PATH: Final = "/oauth2/token"
# A token is fetched again this long before it expires (at most half its lifetime), so a
# request never leaves with a token that dies on the way.
_REFRESH_MARGIN_S: Final = 60.0
# As report files are named (migration 0007); anything else in a manifest is not fetched.
_FILE_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
T = TypeVar("T")


class RegulatorClientError(Exception):
    """Anything that keeps the client from an answer it can trust."""


class RegulatorApiError(RegulatorClientError):
    """The service refused: `status`, and `problem`, its problem+json body (`title`,
    `detail`, `field`...), or the token endpoint's `{"error", "error_description"}`."""

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        self.status = status
        self.problem = dict(problem)
        super().__init__(self._message())

    @property
    def field(self) -> str | None:
        """The request field at fault, when the service named one."""
        field = self.problem.get("field")
        return field if isinstance(field, str) else None

    def _message(self) -> str:
        p = self.problem
        what = p.get("title") or p.get("error") or "refused"
        detail = p.get("detail") or p.get("error_description")
        text = f"HTTP {self.status}: {what}"
        if detail:
            text += f": {detail}"
        if self.field:
            text += f" (field {self.field})"
        return text


class IntegrityError(RegulatorClientError):
    """A download whose bytes do not match the digest the service sent with them."""


class TransportError(RegulatorClientError):
    """The service could not be reached or did not answer in time."""


class Token(msgspec.Struct, kw_only=True):
    access_token: str
    token_type: str
    expires_in: int
    scope: str = ""


class ListedFile(msgspec.Struct, kw_only=True):
    """A report file as `GET …/reports/{period}` lists it."""

    id: int
    name: str
    market: str
    period: str
    format: str
    size: int
    sha256: str
    generated_at: str
    url: str


class ReportListing(msgspec.Struct, kw_only=True):
    period: str
    start: str
    end: str
    files: list[ListedFile]


def webhook_prefix_of(prefix: str) -> str:
    """`/regulator` → `/webhook/regulator`; `/sandbox/regulator` →
    `/sandbox/webhook/regulator`: the file requests live beside the API they mirror."""
    if not prefix.endswith(LIVE_PREFIX):
        raise ValueError(f"prefix: {prefix!r} does not end in {LIVE_PREFIX!r}")
    return prefix[: -len(LIVE_PREFIX)] + "/webhook" + LIVE_PREFIX


def rfc3339(value: str | datetime) -> str:
    """A time as the API takes it (`2026-01-05T00:00:00Z`); strings pass unchanged."""
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        raise ValueError("a time needs a time zone (the API takes RFC 3339 with an offset)")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def sha256_of_digest_header(value: str) -> bytes | None:
    """The SHA-256 in a `Content-Digest` field (RFC 9530: `sha-256=:<base64>:`, maybe
    among other algorithms), or None if it holds none."""
    for member in value.split(","):
        name, _, encoded = member.strip().partition("=")
        if name.strip().lower() != "sha-256":
            continue
        encoded = encoded.strip()
        if len(encoded) < 2 or encoded[0] != ":" or encoded[-1] != ":":
            return None
        try:
            return base64.b64decode(encoded[1:-1], validate=True)
        except binascii.Error:
            return None
    return None


class RegulatorClient:
    """The regulator API for one client; use it as an async context manager."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        prefix: str = LIVE_PREFIX,
        ssl: ssl_module.SSLContext | None = None,
        timeout_s: float = 30.0,
        webhook_prefix: str | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url: {base_url!r} is not an http(s) URL")
        self.base_url = base_url.rstrip("/")
        self.prefix = "/" + prefix.strip("/")
        self.webhook_prefix = webhook_prefix or webhook_prefix_of(self.prefix)
        self.client_id = client_id
        self._secret = client_secret
        self._ssl = ssl
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._token: Token | None = None
        self._token_until = 0.0
        self._token_lock = asyncio.Lock()

    async def __aenter__(self) -> Self:
        # ssl=None keeps aiohttp's default: the system's trust store, certificates checked.
        connector = aiohttp.TCPConnector(ssl=self._ssl if self._ssl is not None else True)
        self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def granted(self) -> Token | None:
        """The last token the service issued (its scope and lifetime), if any."""
        return self._token

    # --- the token ------------------------------------------------------------------------

    async def token(self) -> str:
        """A bearer token (client credentials at /oauth2/token), kept until near its expiry."""
        async with self._token_lock:
            if self._token is not None and time.monotonic() < self._token_until:
                return self._token.access_token
            # RFC 6749 §2.3.1: each of id and secret is form-encoded before Basic encoding.
            pair = f"{quote_plus(self.client_id)}:{quote_plus(self._secret)}"
            basic = base64.b64encode(pair.encode()).decode("ascii")
            started = time.monotonic()
            status, body, _ = await self._send(
                "POST",
                TOKEN_PATH,
                headers={"Authorization": f"Basic {basic}"},
                data={"grant_type": "client_credentials"},
            )
            if status != 200:
                raise RegulatorApiError(status, _problem(status, body))
            token = _decode(body, Token, f"POST {TOKEN_PATH}")
            if token.token_type.lower() != "bearer":
                raise RegulatorClientError(f"POST {TOKEN_PATH}: token type {token.token_type!r}")
            margin = min(_REFRESH_MARGIN_S, token.expires_in / 2)
            self._token, self._token_until = token, started + token.expires_in - margin
            return token.access_token

    # --- reports --------------------------------------------------------------------------

    async def reports(self, period: str, market: str | None = None) -> ReportListing:
        """The report files generated for `period` (`monthly/2026-01`), maybe one market's."""
        params = {} if market is None else {"market": market}
        path = f"{self.prefix}/reports/{quote(period, safe='/')}"
        body = await self._json("GET", path, params=params)
        listing = _convert(body, ReportListing, f"GET {path}")
        _echoed(f"GET {path}", "period", listing.period, period)
        return listing

    async def download(self, period: str, name: str) -> bytes:
        """One report file's bytes, checked against the `Content-Digest` (and `ETag`) the
        service sent with them; `IntegrityError` if they differ or no digest came."""
        path = f"{self.prefix}/reports/{quote(period, safe='/')}/{quote(name, safe='')}"
        status, body, headers = await self._authorized("GET", path)
        if status != 200:
            raise RegulatorApiError(status, _problem(status, body))
        digest = hashlib.sha256(body).digest()
        announced = sha256_of_digest_header(headers.get("Content-Digest", ""))
        if announced is None:
            raise IntegrityError(f"{name}: the answer has no sha-256 Content-Digest")
        if announced != digest:
            raise IntegrityError(
                f"{name}: sha-256 of the body is {digest.hex()}, Content-Digest says "
                f"{announced.hex()}"
            )
        etag = headers.get("ETag", "").removeprefix("W/").strip('"')
        if re.fullmatch(r"[0-9a-f]{64}", etag) and etag != digest.hex():
            raise IntegrityError(f"{name}: sha-256 of the body is {digest.hex()}, ETag says {etag}")
        return body

    async def signing_keys(self) -> dict[str, Any]:
        """The keys that verify report signatures: `{"keys": [JWK...], "pem": ...}`."""
        return await self._json("GET", f"{self.prefix}/signing-keys")

    async def verify_report_files(self, period: str, market: str | None = None) -> list[str]:
        """Everything wrong with a period's reports, one line each; empty when every run
        checks out.

        Each manifest listed is the root of a run: it is downloaded with its signature,
        then every file it lists and their signatures, and all of them are checked with
        `regapi.reports.signing.verify_manifest` against the published signing keys. A
        file of the listing that no manifest vouches for is a problem too."""
        listing = await self.reports(period, market)
        where = f"{period}{' ' + market if market else ''}"
        manifests = [f for f in listing.files if f.name.endswith(MANIFEST_SUFFIX)]
        if not manifests:
            return [f"{where}: no manifest among the {len(listing.files)} files listed"]
        keys = await self.signing_keys()
        listed = {f.name: f for f in listing.files}
        problems: list[str] = []
        # The files some run accounts for: verify_manifest speaks of the rest of a run's.
        vouched: set[str] = set()
        for manifest in manifests:
            fetched, run_problems = await self._fetch_run(period, manifest.name, listed)
            problems += run_problems
            stem = manifest.name.removesuffix(MANIFEST_SUFFIX)
            vouched |= {n for n in listed if n.startswith(stem + ".")}
            content = fetched.get(manifest.name)
            if content is None:
                continue  # its download failed, and said so
            files = {n: c for n, c in fetched.items() if not n.endswith(SIGNATURE_SUFFIX)}
            signatures = {n: c for n, c in fetched.items() if n.endswith(SIGNATURE_SUFFIX)}
            problems += verify_manifest(content, files, signatures, keys)
        problems += [
            f"{name}: listed for {where} but no manifest lists it"
            for name in listed
            if name not in vouched
        ]
        return problems

    async def _fetch_run(
        self, period: str, manifest_name: str, listed: Mapping[str, ListedFile]
    ) -> tuple[dict[str, bytes], list[str]]:
        """The manifest, its signature, every file it lists and theirs, and the listing's
        other files of the same run (`<stem>.*`), by name; and what went wrong fetching."""
        problems: list[str] = []
        fetched: dict[str, bytes] = {}

        async def fetch(name: str) -> bytes | None:
            if name in fetched:
                return fetched[name]
            try:
                content = await self.download(period, name)
            except RegulatorApiError as exc:
                if exc.status != 404:
                    problems.append(f"{name}: {exc}")
                return None  # missing: verify_manifest names it
            except IntegrityError as exc:
                problems.append(str(exc))
                return None
            known = listed.get(name)
            if known is not None and known.sha256 != hashlib.sha256(content).hexdigest():
                problems.append(f"{name}: differs from the sha256 the listing gives")
            fetched[name] = content
            return content

        manifest = await fetch(manifest_name)
        await fetch(manifest_name + SIGNATURE_SUFFIX)
        stem = manifest_name.removesuffix(MANIFEST_SUFFIX)
        wanted = [n for n in listed if n.startswith(stem + ".")]
        wanted += _names_in(manifest) if manifest is not None else []
        for name in dict.fromkeys(wanted):
            await fetch(name)
        return fetched, problems

    # --- reading --------------------------------------------------------------------------

    async def player(self, player_id: str) -> dict[str, Any]:
        """The player as the regulator sees them (profile, KYC, limits, transactions...)."""
        path = f"{self.prefix}/player/{quote(player_id, safe='')}"
        view = await self._json("GET", path)
        _echoed(f"GET {path}", "player_id", view.get("player_id"), player_id)
        return view

    async def audit(self, entity: str, entity_id: str) -> dict[str, Any]:
        """Every recorded change to an entity, oldest first."""
        path = f"{self.prefix}/audit"
        history = await self._json("GET", path, params={"entity": entity, "id": entity_id})
        _echoed(f"GET {path}", "entity", history.get("entity"), entity)
        _echoed(f"GET {path}", "id", history.get("id"), entity_id)
        return history

    async def logs(
        self,
        kind: str,
        from_: str | datetime | None = None,
        to: str | datetime | None = None,
        limit: int | None = None,
        *,
        player: str | None = None,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """One page of a log (`transactions`, `decisions`, `alerts`, `incidents`,
        `access`): `{"type", "items", "next_cursor"}`."""
        params: dict[str, str] = {}
        if from_ is not None:
            params["from"] = rfc3339(from_)
        if to is not None:
            params["to"] = rfc3339(to)
        if limit is not None:
            params["limit"] = str(limit)
        if player is not None:
            params["player"] = player
        if cursor is not None:
            params["cursor"] = cursor
        path = f"{self.prefix}/logs/{quote(kind, safe='')}"
        page = await self._json("GET", path, params=params)
        _echoed(f"GET {path}", "type", page.get("type"), kind)
        return page

    # --- files by callback ------------------------------------------------------------------

    async def request_file(
        self,
        kind: str,
        parameters: Mapping[str, Any],
        *,
        callback_url: str,
        fmt: str = "json",
    ) -> str:
        """Ask for a file (`player_report`, `transactions`, ...) to be POSTed, signed, to
        `callback_url`; returns the request's id (follow it with `request_state`)."""
        body = {
            "type": kind,
            "parameters": dict(parameters),
            "callback_url": callback_url,
            "format": fmt,
        }
        path = f"{self.webhook_prefix}/request"
        answer = await self._json("POST", path, json_body=body, expect=202)
        request_id = answer.get("id")
        if not isinstance(request_id, str):
            raise RegulatorClientError(f"POST {path}: the answer has no request id")
        return request_id

    async def request_state(self, request_id: str) -> dict[str, Any]:
        """A request's state: `state`, `attempts`, `last_error`, `file` once prepared..."""
        path = f"{self.webhook_prefix}/request/{quote(request_id, safe='')}"
        state = await self._json("GET", path)
        _echoed(f"GET {path}", "id", state.get("id"), request_id)
        return state

    # --- the wire ---------------------------------------------------------------------------

    async def _json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: object = None,
        expect: int = 200,
    ) -> dict[str, Any]:
        status, body, _ = await self._authorized(method, path, params=params, json_body=json_body)
        if status != expect:
            raise RegulatorApiError(status, _problem(status, body))
        return _decode(body, dict[str, Any], f"{method} {path}")

    async def _authorized(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: object = None,
    ) -> tuple[int, bytes, Mapping[str, str]]:
        """Send with the bearer token; a 401 is tried once more with a new token (the one
        kept may have been revoked by a key rotation)."""
        for attempt in (1, 2):
            token = await self.token()
            headers = {"Authorization": f"Bearer {token}"}
            status, body, answer = await self._send(
                method, path, headers=headers, params=params, json_body=json_body
            )
            if status != 401 or attempt == 2:
                return status, body, answer
            async with self._token_lock:
                if self._token is not None and self._token.access_token == token:
                    self._token = None
        raise AssertionError("unreachable")

    async def _send(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        json_body: object = None,
        data: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes, Mapping[str, str]]:
        if self._session is None:
            raise RegulatorClientError("use the client as `async with RegulatorClient(...)`")
        url = self.base_url + path
        try:
            async with self._session.request(
                method,
                url,
                headers=dict(headers),
                params=dict(params or {}),
                json=json_body,
                data=data,
                allow_redirects=False,
            ) as resp:
                return resp.status, await resp.read(), resp.headers
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            reason = str(exc) or type(exc).__name__
            raise TransportError(f"{method} {url}: {reason}") from exc


def _echoed(where: str, field: str, got: object, asked: str) -> None:
    """An answer about something else than what was asked for is no answer: a proxy's
    cache, a routing mistake."""
    if got != asked:
        raise RegulatorClientError(f"{where}: the answer is about {field} {got!r}, not {asked!r}")


def _problem(status: int, body: bytes) -> dict[str, Any]:
    """The error body as the service sent it; a body that is not JSON (a proxy's page)
    becomes a problem of its own."""
    try:
        found = json.loads(body)
    except ValueError:
        found = None
    if isinstance(found, dict):
        return found
    text = body.decode("utf-8", "replace").strip()
    return {"status": status, "title": "Unexpected answer", "detail": text[:500] or None}


def _decode(body: bytes, kind: type[T], where: str) -> T:
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.DecodeError as exc:
        raise RegulatorClientError(f"{where}: unexpected answer: {exc}") from None


def _convert(body: Mapping[str, Any], kind: type[T], where: str) -> T:
    try:
        return msgspec.convert(body, type=kind)
    except msgspec.ValidationError as exc:
        raise RegulatorClientError(f"{where}: unexpected answer: {exc}") from None


def _names_in(manifest: bytes) -> list[str]:
    """The file and signature names a manifest lists, those that are file names; what is
    wrong with a manifest is `verify_manifest`'s to say."""
    try:
        doc = json.loads(manifest)
    except ValueError:
        return []
    entries = doc.get("files") if isinstance(doc, dict) else None
    names: list[str] = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict):
            for key in ("name", "signature"):
                value = entry.get(key)
                if isinstance(value, str) and _FILE_NAME.fullmatch(value):
                    names.append(value)
    return names
