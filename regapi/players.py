"""Player profiles and KYC records: validated, sealed field by field, opened for those
entitled to read them.

Every personal field is sealed under the `pii` ring and bound to its row and column
(`players.<column>:<player id>`); identity documents under the `kyc_media` ring, bound to
their document id and player. The database sees ciphertext, keyed blind indexes of the
normalised email and document number (for lookups), and the plain KYC state. Changes of
KYC state go to the audit trail in the same transaction, with the state only: personal
data never enters the audit log, which cannot be erased.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Final, Literal, TypeAlias, cast

import asyncpg
import msgspec
from msgspec import Meta

from engine.events import MarketCode
from regapi import audit
from regapi.keys import Keys
from regapi.store import players as store

KycStatus: TypeAlias = Literal["none", "pending", "approved", "rejected", "expired"]
KycLevel: TypeAlias = Annotated[int, Meta(ge=0, le=9)]
DocumentKind: TypeAlias = Literal[
    "passport",
    "id_card",
    "driving_licence",
    "residence_permit",
    "proof_of_address",
    "selfie",
    "source_of_funds",
    "other",
]
DOCUMENT_KINDS: Final = (
    "passport",
    "id_card",
    "driving_licence",
    "residence_permit",
    "proof_of_address",
    "selfie",
    "source_of_funds",
    "other",
)
# Served back as they were uploaded, so only kinds a browser will not run as a page.
CONTENT_TYPES: Final = (
    "application/pdf",
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/heic",
    "image/tiff",
)
MAX_DOCUMENT_BYTES: Final = 10 * 1024 * 1024
PLAYER_ID_MAX: Final = 200
_OLDEST: Final = date(1900, 1, 1)


class PlayerError(Exception):
    """A request about a player that cannot be done as asked; names the field."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFoundError(PlayerError):
    pass


class MediaTypeError(PlayerError):
    pass


class TooLargeError(PlayerError):
    pass


# --- what comes in, what goes out ---------------------------------------------------


class ProfileIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    market: MarketCode
    full_name: Annotated[str, Meta(min_length=1, max_length=200)]
    email: Annotated[str, Meta(min_length=3, max_length=254)]
    date_of_birth: date
    phone: Annotated[str, Meta(min_length=1, max_length=40)] | None = None
    address: Annotated[str, Meta(min_length=1, max_length=500)] | None = None
    document_number: Annotated[str, Meta(min_length=1, max_length=60)] | None = None


class KycIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    kyc_level: KycLevel
    kyc_status: KycStatus


class PlayerProfile(msgspec.Struct, kw_only=True):
    """A profile opened: for compliance officers and regulators only."""

    player_id: str
    market: str
    full_name: str
    email: str
    phone: str | None
    address: str | None
    date_of_birth: date
    document_number: str | None
    kyc_level: int
    kyc_status: str
    created_at: datetime
    updated_at: datetime


class PlayerSummary(msgspec.Struct, kw_only=True):
    """What a write answers: the record's state, no personal data."""

    player_id: str
    market: str
    kyc_level: int
    kyc_status: str
    created_at: datetime
    updated_at: datetime


class DocumentMeta(msgspec.Struct, kw_only=True):
    id: int
    player_id: str
    kind: str
    content_type: str
    sha256: str  # hex digest of the document as uploaded
    size: int
    uploaded_at: datetime
    uploaded_by: str


@dataclass(frozen=True)
class Rewrapped:
    players: int  # rows sealed again under the current pii key
    documents: int  # documents sealed again under the current kyc_media key


# --- normalising and checking ------------------------------------------------------

_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")
_PHONE_SEPARATORS = re.compile(r"[\s().-]")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_DOC_SEPARATORS = re.compile(r"[\s./-]")
_DOC = re.compile(r"[A-Z0-9]{3,40}")


def normalise_email(email: str) -> str:
    """The form an email is indexed under: NFKC, trimmed, lower-cased."""
    return unicodedata.normalize("NFKC", email).strip().lower()


def normalise_document(number: str) -> str:
    """The form a document number is indexed under: NFKC, upper case, no separators."""
    return _DOC_SEPARATORS.sub("", unicodedata.normalize("NFKC", number).upper())


def _printable(value: str, name: str, *, newlines: bool = False) -> str:
    value = unicodedata.normalize("NFC", value).strip()
    if not value:
        raise PlayerError(f"{name}: must not be blank", field=name)
    allowed = "\n" if newlines else ""
    if any(not ch.isprintable() and ch not in allowed for ch in value):
        raise PlayerError(f"{name}: must not hold control characters", field=name)
    return value


@dataclass(frozen=True)
class _Checked:
    fields: dict[str, str | None]  # sealed column → plaintext
    email_index: str
    document_index: str | None


def check_profile(profile: ProfileIn, today: date | None = None) -> _Checked:
    """The profile's fields as they will be stored, or `PlayerError` naming the field."""
    today = today or datetime.now(UTC).date()
    email = _printable(profile.email, "email")
    if not _EMAIL.fullmatch(email):
        raise PlayerError("email: not an email address (name@domain.tld)", field="email")
    if not _OLDEST <= profile.date_of_birth <= today:
        raise PlayerError(f"date_of_birth: must be from {_OLDEST} to today", field="date_of_birth")
    phone = None
    if profile.phone is not None:
        phone = _PHONE_SEPARATORS.sub("", profile.phone)
        if not _E164.fullmatch(phone):
            raise PlayerError(
                "phone: an international number, + and 7 to 15 digits (E.164)", field="phone"
            )
    document = None
    if profile.document_number is not None:
        document = _printable(profile.document_number, "document_number")
        if not _DOC.fullmatch(normalise_document(document)):
            raise PlayerError(
                "document_number: 3 to 40 letters A-Z and digits (spaces, '-', '.', '/' "
                "are ignored)",
                field="document_number",
            )
    fields: dict[str, str | None] = {
        "full_name": _printable(profile.full_name, "full_name"),
        "email": email,
        "phone": phone,
        "address": None
        if profile.address is None
        else _printable(profile.address, "address", newlines=True),
        "date_of_birth": profile.date_of_birth.isoformat(),
        "document_number": document,
    }
    return _Checked(
        fields,
        normalise_email(email),
        None if document is None else normalise_document(document),
    )


def check_player_id(player_id: str) -> str:
    if not 0 < len(player_id) <= PLAYER_ID_MAX or "\x00" in player_id:
        raise NotFoundError(f"no player {player_id[:PLAYER_ID_MAX]!r}", field="id")
    return player_id


# --- sealing ------------------------------------------------------------------------


def field_context(column: str, player_id: str) -> bytes:
    """What a sealed profile field is bound to: its column and its row."""
    return f"players.{column}:".encode() + player_id.encode("utf-8")


def document_context(doc_id: int, player_id: str) -> bytes:
    return f"kyc_documents.content:{doc_id}:".encode() + player_id.encode("utf-8")


def _seal(keys: Keys, player_id: str, fields: dict[str, str | None]) -> dict[str, bytes | None]:
    return {
        column: None
        if value is None
        else keys.pii.encrypt_text(value, field_context(column, player_id))
        for column, value in fields.items()
    }


def _open(keys: Keys, row: store.PlayerRow) -> dict[str, str | None]:
    return {
        column: None
        if blob is None
        else keys.pii.decrypt_text(blob, field_context(column, row.player_id))
        for column, blob in row.sealed.items()
    }


def _profile(keys: Keys, row: store.PlayerRow) -> PlayerProfile:
    plain = _open(keys, row)
    dob = plain["date_of_birth"]
    assert dob is not None  # NOT NULL in the schema
    return PlayerProfile(
        player_id=row.player_id,
        market=row.market,
        full_name=plain["full_name"] or "",
        email=plain["email"] or "",
        phone=plain["phone"],
        address=plain["address"],
        date_of_birth=date.fromisoformat(dob),
        document_number=plain["document_number"],
        kyc_level=row.kyc_level,
        kyc_status=row.kyc_status,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _summary(row: store.PlayerRow) -> PlayerSummary:
    return PlayerSummary(
        player_id=row.player_id,
        market=row.market,
        kyc_level=row.kyc_level,
        kyc_status=row.kyc_status,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _kyc_state(level: int, status: str) -> dict[str, object]:
    return {"kyc_level": level, "kyc_status": status}


# --- profiles -----------------------------------------------------------------------


async def put_profile(
    conn: asyncpg.Connection, keys: Keys, player_id: str, profile: ProfileIn, *, actor: str
) -> tuple[PlayerSummary, bool]:
    """Create or replace a player's profile; also whether it was created. A new profile
    starts at KYC level 0, status `none`, and that first state is audited."""
    check_player_id(player_id)
    checked = check_profile(profile)
    document_index = checked.document_index
    async with conn.transaction():
        row, created = await store.put(
            conn,
            player_id,
            market=profile.market,
            sealed=_seal(keys, player_id, checked.fields),
            email_hmac=keys.pii.blind_index(checked.email_index),
            document_hmac=None if document_index is None else keys.pii.blind_index(document_index),
        )
        if created:
            await audit.record(
                conn,
                entity="kyc_state",
                entity_id=player_id,
                action="create",
                actor=actor,
                before=None,
                after=_kyc_state(row.kyc_level, row.kyc_status),
            )
    return _summary(row), created


async def profile_of(conn: asyncpg.Connection, keys: Keys, player_id: str) -> PlayerProfile | None:
    """A player's profile opened, or None if the player has none."""
    row = await store.get(conn, player_id)
    return None if row is None else _profile(keys, row)


async def summary_of(conn: asyncpg.Connection, player_id: str) -> PlayerSummary | None:
    """A player's record without personal data (nothing is decrypted)."""
    row = await store.get(conn, player_id)
    return None if row is None else _summary(row)


async def set_kyc(
    conn: asyncpg.Connection, player_id: str, state: KycIn, *, actor: str
) -> PlayerSummary:
    """Set a player's KYC level and status; a change is audited in the same transaction
    (a request that changes nothing writes nothing)."""
    async with conn.transaction():
        row = await store.get(conn, player_id, for_update=True)
        if row is None:
            raise NotFoundError(f"no profile for player {player_id!r}", field="id")
        before = _kyc_state(row.kyc_level, row.kyc_status)
        after = _kyc_state(state.kyc_level, state.kyc_status)
        if before == after:
            return _summary(row)
        row = await store.set_kyc(conn, player_id, state.kyc_level, state.kyc_status)
        await audit.record(
            conn,
            entity="kyc_state",
            entity_id=player_id,
            action="update",
            actor=actor,
            before=before,
            after=after,
        )
    return _summary(row)


async def find_by_email(conn: asyncpg.Connection, keys: Keys, email: str) -> list[str]:
    """Players whose email is this one (compared normalised), through the blind index."""
    return await store.by_email_hmac(conn, keys.pii.blind_index(normalise_email(email)))


async def find_by_document(conn: asyncpg.Connection, keys: Keys, number: str) -> list[str]:
    """Players holding this document number (compared normalised)."""
    return await store.by_document_hmac(conn, keys.pii.blind_index(normalise_document(number)))


# --- KYC documents ------------------------------------------------------------------


def check_document(kind: str | None, content_type: str, size: int) -> DocumentKind:
    if kind not in DOCUMENT_KINDS:
        raise PlayerError(f"kind: must be one of {', '.join(DOCUMENT_KINDS)}", field="kind")
    if content_type not in CONTENT_TYPES:
        raise MediaTypeError(
            f"Content-Type: must be one of {', '.join(CONTENT_TYPES)}", field="Content-Type"
        )
    if size > MAX_DOCUMENT_BYTES:
        raise TooLargeError(f"body: a document is at most {MAX_DOCUMENT_BYTES} bytes", field="body")
    if size == 0:
        raise PlayerError("body: the document is empty", field="body")
    return cast(DocumentKind, kind)  # one of DOCUMENT_KINDS, checked above


def _meta(row: store.DocumentRow) -> DocumentMeta:
    return DocumentMeta(**{f: getattr(row, f) for f in DocumentMeta.__struct_fields__})


async def add_document(
    conn: asyncpg.Connection,
    keys: Keys,
    player_id: str,
    *,
    kind: str | None,
    content_type: str,
    content: bytes,
    actor: str,
) -> DocumentMeta:
    """Store an identity document sealed under the KYC media key."""
    checked_kind = check_document(kind, content_type, len(content))
    digest = hashlib.sha256(content).hexdigest()
    async with conn.transaction():
        if await store.get(conn, player_id) is None:
            raise NotFoundError(f"no profile for player {player_id!r}", field="id")
        doc_id = await store.next_document_id(conn)
        row = await store.add_document(
            conn,
            doc_id=doc_id,
            player_id=player_id,
            kind=checked_kind,
            content=keys.kyc_media.encrypt(content, document_context(doc_id, player_id)),
            content_type=content_type,
            sha256=digest,
            size=len(content),
            uploaded_by=actor,
        )
    return _meta(row)


async def documents(conn: asyncpg.Connection, player_id: str) -> list[DocumentMeta]:
    """A player's documents, oldest first (metadata only)."""
    if await store.get(conn, player_id) is None:
        raise NotFoundError(f"no profile for player {player_id!r}", field="id")
    return [_meta(r) for r in await store.documents(conn, player_id)]


async def document(
    conn: asyncpg.Connection, keys: Keys, player_id: str, doc_id: int
) -> tuple[DocumentMeta, bytes]:
    """A document's metadata and its content, opened."""
    found = await store.document(conn, player_id, doc_id)
    if found is None:
        raise NotFoundError(f"no document {doc_id} of player {player_id!r}", field="doc")
    row, sealed = found
    return _meta(row), keys.kyc_media.decrypt(sealed, document_context(doc_id, player_id))


# --- key rotation -------------------------------------------------------------------


async def _rewrap_player(conn: asyncpg.Connection, keys: Keys, row: store.PlayerRow) -> bool:
    plain = _open(keys, row)
    document_number = plain["document_number"]
    email_hmac = keys.pii.blind_index(normalise_email(plain["email"] or ""))
    document_hmac = (
        None
        if document_number is None
        else keys.pii.blind_index(normalise_document(document_number))
    )
    stale = any(blob is not None and keys.pii.needs_rewrap(blob) for blob in row.sealed.values())
    if not stale and email_hmac == row.email_hmac and document_hmac == row.document_hmac:
        return False
    sealed = {
        column: None
        if blob is None
        else keys.pii.rewrap(blob, field_context(column, row.player_id))
        for column, blob in row.sealed.items()
    }
    await store.reseal(conn, row.player_id, sealed, email_hmac, document_hmac)
    return True


async def rewrap(conn: asyncpg.Connection, keys: Keys, *, page: int = 200) -> Rewrapped:
    """Seal every stored value again under its ring's current key (and blind indexes
    under the ring's index key), a page per transaction; values already current are left
    alone. Run after adding a key; afterwards the old key can be retired."""
    players = documents_ = 0
    after: str | None = None
    while True:
        async with conn.transaction():
            rows = await store.players_after(conn, after, page)
            for row in rows:
                if await _rewrap_player(conn, keys, row):
                    players += 1
        if len(rows) < page:
            break
        after = rows[-1].player_id
    last = 0
    doc_page = max(1, page // 25)  # documents are up to 10 MiB each: a few at a time
    while True:
        async with conn.transaction():
            docs = await store.documents_after(conn, last, doc_page)
            for doc_id, player_id, blob in docs:
                if keys.kyc_media.needs_rewrap(blob):
                    context = document_context(doc_id, player_id)
                    await store.reseal_document(conn, doc_id, keys.kyc_media.rewrap(blob, context))
                    documents_ += 1
        if len(docs) < doc_page:
            break
        last = docs[-1][0]
    return Rewrapped(players=players, documents=documents_)
