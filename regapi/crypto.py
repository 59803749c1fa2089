"""Field encryption at rest: AES-256-GCM envelopes under a ring of keys per purpose.

A stored value is

    version (1 byte, 0x01) | key id length (1 byte) | key id (ASCII) | nonce (12 bytes)
    | ciphertext | tag (16 bytes)

The key id names the key that sealed it, so keys rotate: new values are sealed under the
ring's current key, older ones still open under theirs until `rewrap` moves them on. The
associated data is the header plus a *context* naming the row and column the value
belongs to (`b"players.email:" + player_id`): a ciphertext copied into another row or
column no longer opens, though the key is right.

Equality lookups never need the plaintext in the database: `KeyRing.blind_index` is an
HMAC-SHA256 under a key derived (HKDF) from the ring's index key, separate from every
encryption key, of a normalised value.

The keys themselves live outside the database (`regapi.keys`); nothing here touches
storage.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION: Final = 1
NONCE_BYTES: Final = 12  # 96 bits: GCM's own size, random per value
KEY_BYTES: Final = 32  # AES-256
TAG_BYTES: Final = 16
PURPOSES: Final = ("pii", "kyc_media")
_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class CryptoError(Exception):
    """A key ring or key file that cannot be used; the message says why, never a key."""


class DecryptError(CryptoError):
    """A stored value that does not open: unknown key, wrong row, or altered bytes."""


@dataclass(frozen=True)
class Key:
    id: str
    secret: bytes = field(repr=False)
    created_at: str | None = None  # ISO 8601, informational


def new_key(now: datetime | None = None) -> Key:
    """A fresh random 256-bit key, its id the date and 8 random hex digits."""
    now = now or datetime.now(UTC)
    return Key(
        id=f"{now:%Y%m%d}-{secrets.token_hex(4)}",
        secret=secrets.token_bytes(KEY_BYTES),
        created_at=now.isoformat(timespec="seconds"),
    )


def header_of(blob: bytes) -> tuple[str, int]:
    """The key id a stored value was sealed under, and where its nonce starts."""
    if len(blob) < 2 or blob[0] != VERSION:
        raise DecryptError("not a sealed value of format version 1")
    end = 2 + blob[1]
    if blob[1] == 0 or len(blob) < end + NONCE_BYTES + TAG_BYTES:
        raise DecryptError("sealed value is truncated")
    try:
        key_id = blob[2:end].decode("ascii")
    except UnicodeDecodeError:
        raise DecryptError("sealed value has a malformed key id") from None
    return key_id, end


class KeyRing:
    """The keys of one purpose (`pii`, `kyc_media`): seal under the current one, open
    under whichever sealed the value."""

    def __init__(
        self, purpose: str, keys: list[Key], current: str, index: str | None = None
    ) -> None:
        if purpose not in PURPOSES:
            raise CryptoError(f"purpose must be one of {PURPOSES}, got {purpose!r}")
        if not keys:
            raise CryptoError(f"{purpose}: no keys")
        by_id: dict[str, Key] = {}
        for key in keys:
            if not _KEY_ID.fullmatch(key.id):
                raise CryptoError(f"{purpose}: key id {key.id!r} is not 1-64 of A-Z a-z 0-9 . _ -")
            if len(key.secret) != KEY_BYTES:
                raise CryptoError(f"{purpose}: key {key.id!r} is not {KEY_BYTES} bytes")
            if key.id in by_id:
                raise CryptoError(f"{purpose}: key id {key.id!r} appears twice")
            by_id[key.id] = key
        if current not in by_id:
            raise CryptoError(f"{purpose}: current key {current!r} is not in the ring")
        index = keys[0].id if index is None else index
        if index not in by_id:
            raise CryptoError(f"{purpose}: index key {index!r} is not in the ring")
        self.purpose = purpose
        self.keys: Mapping[str, Key] = by_id
        self.current = current
        self.index = index
        self._aead = {k.id: AESGCM(k.secret) for k in keys}
        self._headers = {k.id: bytes((VERSION, len(k.id))) + k.id.encode("ascii") for k in keys}
        # Derived, so that an index value says nothing about any encryption key and the
        # same key material never serves two algorithms.
        self._index_key = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=None,
            info=b"pitboss blind index v1 " + purpose.encode(),
        ).derive(by_id[index].secret)

    def __repr__(self) -> str:
        return f"KeyRing({self.purpose!r}, keys={list(self.keys)}, current={self.current!r})"

    def encrypt(self, plaintext: bytes, context: bytes) -> bytes:
        """Seal `plaintext` under the current key, bound to `context` (row and column)."""
        header = self._headers[self.current]
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aead[self.current].encrypt(nonce, plaintext, header + context)
        return header + nonce + sealed

    def decrypt(self, blob: bytes, context: bytes) -> bytes:
        """Open a value sealed by `encrypt` with the same `context`, or raise
        `DecryptError`."""
        key_id, start = header_of(blob)
        aead = self._aead.get(key_id)
        if aead is None:
            raise DecryptError(f"{self.purpose}: no key {key_id!r} in the ring")
        nonce = blob[start : start + NONCE_BYTES]
        try:
            return aead.decrypt(nonce, blob[start + NONCE_BYTES :], blob[:start] + context)
        except InvalidTag:
            raise DecryptError(
                f"{self.purpose}: value sealed under key {key_id!r} does not open: "
                "altered, or not this row's"
            ) from None

    def needs_rewrap(self, blob: bytes) -> bool:
        return header_of(blob)[0] != self.current

    def rewrap(self, blob: bytes, context: bytes) -> bytes:
        """The value sealed again under the current key (unchanged if it already is)."""
        if not self.needs_rewrap(blob):
            return blob
        return self.encrypt(self.decrypt(blob, context), context)

    def encrypt_text(self, text: str, context: bytes) -> bytes:
        return self.encrypt(text.encode("utf-8"), context)

    def decrypt_text(self, blob: bytes, context: bytes) -> str:
        return self.decrypt(blob, context).decode("utf-8")

    def blind_index(self, normalised: str) -> bytes:
        """HMAC-SHA256 of a normalised value, for equality lookups without plaintext."""
        return hmac.new(self._index_key, normalised.encode("utf-8"), hashlib.sha256).digest()


# --- key files ------------------------------------------------------------------------
#
# {"purpose": "pii", "current": "20260701-1a2b3c4d", "index": "20260701-1a2b3c4d",
#  "keys": [{"id": "20260701-1a2b3c4d", "key": "<base64 of 32 bytes>",
#            "created_at": "2026-07-01T10:00:00+00:00"}]}
#
# `purpose` and `index` may be left out (then: any purpose; the first key).


def ring_from_json(text: str, purpose: str, *, source: str) -> KeyRing:
    """A key ring from a key file's text; `source` names where it came from in errors."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CryptoError(f"{source}: not JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(doc, dict):
        raise CryptoError(f"{source}: must be a JSON object with keys and current")
    if doc.get("purpose", purpose) != purpose:
        raise CryptoError(f"{source}: holds {doc['purpose']!r} keys, not {purpose!r} keys")
    raw_keys = doc.get("keys")
    if not isinstance(raw_keys, list) or not raw_keys:
        raise CryptoError(f"{source}: keys must be a non-empty list")
    keys = []
    for n, item in enumerate(raw_keys):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise CryptoError(f"{source}: keys[{n}] must be an object with an id and a key")
        try:
            secret = base64.b64decode(item.get("key", ""), validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise CryptoError(f"{source}: keys[{n}] ({item['id']}): key is not base64") from None
        created = item.get("created_at")
        keys.append(Key(item["id"], secret, created if isinstance(created, str) else None))
    current, index = doc.get("current"), doc.get("index")
    if not isinstance(current, str):
        raise CryptoError(f"{source}: current must name a key")
    if index is not None and not isinstance(index, str):
        raise CryptoError(f"{source}: index must name a key")
    try:
        return KeyRing(purpose, keys, current, index)
    except CryptoError as exc:
        raise CryptoError(f"{source}: {exc}") from None


def ring_to_json(ring: KeyRing) -> str:
    doc: dict[str, Any] = {
        "purpose": ring.purpose,
        "current": ring.current,
        "index": ring.index,
        "keys": [
            {
                "id": k.id,
                "key": base64.b64encode(k.secret).decode("ascii"),
                **({"created_at": k.created_at} if k.created_at else {}),
            }
            for k in ring.keys.values()
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


def with_new_key(ring: KeyRing | None, purpose: str, key: Key | None = None) -> KeyRing:
    """`ring` (or a new one) with a fresh key added and made current; the index key stays,
    so blind indexes already stored keep matching."""
    key = key or new_key()
    if ring is None:
        return KeyRing(purpose, [key], key.id)
    if key.id in ring.keys:
        raise CryptoError(f"{purpose}: key id {key.id!r} is taken")
    return KeyRing(purpose, [*ring.keys.values(), key], key.id, ring.index)
