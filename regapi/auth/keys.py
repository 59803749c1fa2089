"""Token signing keys: Ed25519 key pairs whose private half is sealed for the database.

Why the database, and why sealed: every process of the service and the `pitboss keys`
command must see the same keys, the same current one, and a rotation at once; the
database is the one thing they all share. But a dump, a replica or a backup of it must not
be enough to mint tokens, so the private key is stored only as an AES-256-GCM envelope
under a key-encryption key (KEK) that lives in a file outside the database (by default
`<data dir>/keys/signing.kek`, owner-only; in production a mounted secret). The key id is
the envelope's associated data: an envelope copied onto another key's row does not open.
"""

from __future__ import annotations

import base64
import os
import secrets
import stat
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from joserfc.jwk import OKPKey

# The fully specified name of EdDSA over Ed25519 (RFC 9864); joserfc refuses the older,
# polymorphic "EdDSA".
ALG = "Ed25519"
_KEK_BYTES = 32
_NONCE_BYTES = 12
_ENVELOPE_VERSION = b"\x01"


class SigningKeyError(Exception):
    """A key-encryption key or signing key that cannot be used; the message says why and
    never holds key material."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    key: OKPKey = field(repr=False)  # private when it may sign, public only otherwise
    created_at: datetime
    superseded_at: datetime | None = None
    retired_at: datetime | None = None

    @property
    def is_current(self) -> bool:
        return self.superseded_at is None and self.retired_at is None

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = self.key.as_dict(private=False)
        return jwk | {"kid": self.kid, "alg": self.alg, "use": "sig"}


def default_kek_path(data_dir: Path) -> Path:
    return data_dir / "keys" / "signing.kek"


def new_kid() -> str:
    return "k-" + secrets.token_hex(8)


def generate(kid: str) -> OKPKey:
    return OKPKey.generate_key("Ed25519", parameters={"kid": kid})


def public_key(jwk: dict[str, Any]) -> OKPKey:
    key = OKPKey.import_key(jwk)
    if key.is_private:
        raise SigningKeyError(f"key {jwk.get('kid')!r}: a public key was expected")
    return key


def private_pem(key: OKPKey) -> bytes:
    pem: bytes = key.as_pem(private=True)
    return pem


def seal(kek: bytes, kid: str, key: OKPKey) -> bytes:
    """The private key as `version | nonce | AES-256-GCM(kek, pem, aad=kid)`."""
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(kek).encrypt(nonce, private_pem(key), _ENVELOPE_VERSION + kid.encode())
    return _ENVELOPE_VERSION + nonce + sealed


def unseal(kek: bytes, kid: str, envelope: bytes) -> OKPKey:
    if envelope[:1] != _ENVELOPE_VERSION or len(envelope) < 1 + _NONCE_BYTES + 16:
        raise SigningKeyError(f"signing key {kid}: not a sealed key this version knows")
    nonce, sealed = envelope[1 : 1 + _NONCE_BYTES], envelope[1 + _NONCE_BYTES :]
    try:
        pem = AESGCM(kek).decrypt(nonce, sealed, _ENVELOPE_VERSION + kid.encode())
    except InvalidTag:
        raise SigningKeyError(
            f"signing key {kid} does not open with this key-encryption key: every process "
            "must use the same PITBOSS_SIGNING_KEK_FILE"
        ) from None
    return OKPKey.import_key(pem, parameters={"kid": kid})


def read_kek(path: Path, *, create: bool) -> bytes:
    """The key-encryption key in `path` (base64 of 32 bytes). With `create`, a missing file
    is made (owner-only), as a development run and the first `pitboss keys rotate` do."""
    try:
        text = path.read_text("ascii").strip()
    except FileNotFoundError:
        if not create:
            raise SigningKeyError(
                f"no key-encryption key at {path} (PITBOSS_SIGNING_KEK_FILE)"
            ) from None
        return _create_kek(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise SigningKeyError(f"cannot read the key-encryption key {path}: {exc}") from None
    try:
        kek = base64.b64decode(text, validate=True)
    except ValueError:
        kek = b""
    if len(kek) != _KEK_BYTES:
        raise SigningKeyError(f"{path}: not a key-encryption key (base64 of {_KEK_BYTES} bytes)")
    return kek


def _create_kek(path: Path) -> bytes:
    kek = AESGCM.generate_key(bit_length=_KEK_BYTES * 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(base64.b64encode(kek).decode() + "\n")
            f.flush()
            os.fsync(f.fileno())
        # A hard link appears whole or not at all and never replaces a file: of two
        # processes starting at once, one writes the key and the other reads it.
        os.link(tmp, path)
    except FileExistsError:
        return read_kek(path, create=False)
    finally:
        tmp.unlink(missing_ok=True)
    return kek
