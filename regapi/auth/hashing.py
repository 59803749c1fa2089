"""Client secrets: made at random, stored only as a slow, salted hash.

scrypt (RFC 7914) from the standard library: memory-hard, so guessing secrets from a
stolen table is slow even on GPUs, and no native package to install. The cost and the
salt are written into the hash text (`scrypt$n$r$p$salt$hash`), so the cost can be
raised for new clients while the old hashes still verify.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
from typing import Final

# 16 MiB and about 50 ms per hash: the token endpoint hashes once per token, not per call.
N: Final = 2**14
R: Final = 8
P: Final = 1
_SALT_BYTES: Final = 16
_HASH_BYTES: Final = 32
_SCHEME: Final = "scrypt"


def new_client_id() -> str:
    return "pbc_" + secrets.token_hex(10)


def new_secret() -> str:
    """256 random bits, URL-safe: fits a form field and an HTTP Basic header unquoted."""
    return secrets.token_urlsafe(32)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_secret(secret: str, *, n: int = N, r: int = R, p: int = P) -> str:
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(secret, salt, n, r, p)
    return f"{_SCHEME}${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_secret(secret: str, stored: str) -> bool:
    """True if `secret` hashes to `stored`; compared in constant time."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != _SCHEME:
            return False
        expected = _unb64(digest)
        actual = _scrypt(secret, _unb64(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


@functools.cache
def decoy() -> str:
    """A hash of nothing anyone knows: an unknown client id is checked against it, so that
    the answer takes as long as for a known one and does not tell which ids exist."""
    return hash_secret(secrets.token_urlsafe(32))


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        secret.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r + 1024 * 1024,
        dklen=_HASH_BYTES,
    )  # fmt: skip
