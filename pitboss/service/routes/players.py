"""Player profiles and KYC records: personal data in, sealed; out, only to compliance
officers and regulators (`regapi.players`)."""

from __future__ import annotations

import msgspec
import structlog
from aiohttp import web

from pitboss.service.auth import PRINCIPAL
from pitboss.service.http import (
    ProblemError,
    Routes,
    is_whole,
    json_response,
    read_body,
    register_error,
    register_status,
)
from pitboss.service.state import SERVICE
from regapi import players
from regapi.auth import roles
from regapi.crypto import CryptoError
from regapi.players import (
    DocumentMeta,
    KycIn,
    MediaTypeError,
    NotFoundError,
    PlayerError,
    PlayerProfile,
    PlayerSummary,
    ProfileIn,
    TooLargeError,
)

log = structlog.get_logger("pitboss.players")
ROUTES = Routes()

# Who may do what. Reading personal data is sensitive: compliance officers and
# regulators only. The operator's platform (`ingest`) writes what players give it at
# sign-up and uploads their documents, but cannot read either back.
_READ = roles.SENSITIVE_READ
_WRITE = (roles.INGEST, roles.COMPLIANCE_OFFICER)
_DECIDE = roles.SENSITIVE_WRITE
# Personal data is not to be kept by caches or proxies on the way.
_PRIVATE = {"Cache-Control": "no-store"}


def _unopenable(exc: CryptoError) -> ProblemError:
    # A stored value that does not open means altered rows or a missing key: the
    # operator's to look into, never the caller's; the message names no personal data.
    log.error("sealed_value_unopenable", error=str(exc))
    return ProblemError(500, "Internal error", "the error was logged")


register_status(PlayerError, 422, "Invalid request")
register_status(NotFoundError, 404, "Not found")
register_status(MediaTypeError, 415, "Unsupported media type")
register_status(TooLargeError, 413, "Body too large")
register_error(CryptoError, _unopenable)


class DocumentList(msgspec.Struct, kw_only=True):
    documents: list[DocumentMeta]


def _player(request: web.Request) -> str:
    return players.check_player_id(request.match_info["id"])


def _actor(request: web.Request) -> str:
    principal = request.get(PRINCIPAL)
    return "system" if principal is None else principal.name or principal.client_id


def _private(response: web.Response) -> web.Response:
    response.headers.update(_PRIVATE)
    return response


@ROUTES.add("PUT", "/v1/players/{id}/profile",
            summary="Create or replace a player's profile (stored encrypted)", tag="players",
            body=ProfileIn, response=PlayerSummary, errors=(400, 404, 415, 422),
            roles=_WRITE)  # fmt: skip
async def put_profile(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    player_id = _player(request)
    body = await read_body(request, ProfileIn)
    async with service.pool.acquire() as conn:
        summary, created = await players.put_profile(
            conn, service.keys, player_id, body, actor=_actor(request)
        )
    return json_response(summary, 201 if created else 200)


@ROUTES.add("GET", "/v1/players/{id}/profile",
            summary="A player's profile, decrypted (sensitive)", tag="players",
            response=PlayerProfile, errors=(404,), roles=_READ)  # fmt: skip
async def get_profile(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    player_id = _player(request)
    async with service.pool.acquire() as conn:
        profile = await players.profile_of(conn, service.keys, player_id)
    if profile is None:
        raise NotFoundError(f"no profile for player {player_id!r}", field="id")
    return _private(json_response(profile))


@ROUTES.add("PUT", "/v1/players/{id}/kyc", summary="Set a player's KYC level and status (audited)",
            tag="players", body=KycIn, response=PlayerSummary, errors=(400, 404, 415, 422),
            roles=_DECIDE)  # fmt: skip
async def put_kyc(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    player_id = _player(request)
    body = await read_body(request, KycIn)
    async with service.pool.acquire() as conn:
        summary = await players.set_kyc(conn, player_id, body, actor=_actor(request))
    return json_response(summary)


async def _read_document(request: web.Request) -> bytes:
    """The raw body, refused as soon as it is known to be over the limit."""
    cap = players.MAX_DOCUMENT_BYTES
    if request.content_length is not None and request.content_length > cap:
        raise TooLargeError(f"body: a document is at most {cap} bytes", field="body")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > cap:
            raise TooLargeError(f"body: a document is at most {cap} bytes", field="body")
        chunks.append(chunk)
    return b"".join(chunks)


@ROUTES.add("POST", "/v1/players/{id}/kyc/documents",
            summary="Upload an identity document: the raw file as the body, at most 10 MiB "
                    "(stored encrypted under the KYC media key)",
            tag="players", response=DocumentMeta, status=201, errors=(404, 413, 415, 422),
            query={"kind": (str, " | ".join(players.DOCUMENT_KINDS))},
            headers={"Content-Type": " | ".join(players.CONTENT_TYPES)},
            roles=_WRITE)  # fmt: skip
async def upload_document(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    player_id = _player(request)
    kind = request.query.get("kind")
    # Checked before the body is read, so a wrong request is not read through 10 MiB.
    players.check_document(kind, request.content_type, 1)
    content = await _read_document(request)
    async with service.pool.acquire() as conn:
        meta = await players.add_document(
            conn,
            service.keys,
            player_id,
            kind=kind,
            content_type=request.content_type,
            content=content,
            actor=_actor(request),
        )
    response = json_response(meta, 201)
    response.headers["Location"] = f"/v1/players/{player_id}/kyc/documents/{meta.id}"
    return response


@ROUTES.add("GET", "/v1/players/{id}/kyc/documents",
            summary="A player's identity documents: kind, type, size, digest (sensitive)",
            tag="players", response=DocumentList, errors=(404,), roles=_READ)  # fmt: skip
async def list_documents(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    player_id = _player(request)
    async with service.pool.acquire() as conn:
        docs = await players.documents(conn, player_id)
    return _private(json_response(DocumentList(documents=docs)))


@ROUTES.add("GET", "/v1/players/{id}/kyc/documents/{doc}",
            summary="Download an identity document, decrypted (sensitive)", tag="players",
            errors=(404,), content_type="application/octet-stream", roles=_READ)  # fmt: skip
async def get_document(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    player_id = _player(request)
    raw = request.match_info["doc"]
    if not is_whole(raw):
        raise NotFoundError(f"no document {raw!r}", field="doc")
    async with service.pool.acquire() as conn:
        meta, content = await players.document(conn, service.keys, player_id, int(raw))
    return web.Response(
        body=content,
        content_type=meta.content_type,
        headers={
            **_PRIVATE,
            # Downloaded, never shown inline, and never sniffed into something runnable.
            "Content-Disposition": f'attachment; filename="kyc-{meta.id}"',
            "X-Content-Type-Options": "nosniff",
            "ETag": f'"{meta.sha256}"',
        },
    )
