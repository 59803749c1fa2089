"""Verifying inbound webhooks (PSP and KYC providers).

The sender signs `timestamp + "." + nonce + "." + body` with HMAC-SHA256 under the secret it shares
with us, and sends `Pitboss-Timestamp` (epoch seconds), `Pitboss-Nonce` and
`Pitboss-Signature: v1=<hex>` (several `v1=` values, comma-separated, while a secret is
being rotated). A request is taken if one signature matches, its timestamp is within the
tolerance, and its nonce has not been seen before (the caller's nonce store decides that).
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP = "Pitboss-Timestamp"
NONCE = "Pitboss-Nonce"
SIGNATURE = "Pitboss-Signature"

# What each kind of provider may send.
ALLOWED_TYPES = {
    "psp": frozenset({"deposit", "withdrawal", "chargeback", "cancellation"}),
    "kyc": frozenset({"kyc_update"}),
}


class SignatureError(Exception):
    """A webhook that must be refused; `reason` is a short code for logs and metrics."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def sign(secret: str, timestamp: int, nonce: str, body: bytes) -> str:
    # The nonce is signed too: otherwise a captured request replayed with a fresh nonce
    # would pass, and the nonce store would protect nothing.
    message = str(timestamp).encode() + b"." + nonce.encode() + b"." + body
    return "v1=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(
    secret: str,
    *,
    timestamp: str | None,
    nonce: str | None,
    signature: str | None,
    body: bytes,
    now: float,
    tolerance_s: int,
) -> int:
    """Check the signature and the timestamp; returns the timestamp. Nonces are the caller's."""
    if not timestamp or not signature or not nonce:
        missing = [
            n for n, v in ((TIMESTAMP, timestamp), (NONCE, nonce), (SIGNATURE, signature)) if not v
        ]
        raise SignatureError("missing_header", f"missing header {', '.join(missing)}")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise SignatureError("bad_timestamp", f"{TIMESTAMP} is not epoch seconds")
    at = int(timestamp)
    if abs(now - at) > tolerance_s:
        raise SignatureError("stale", f"{TIMESTAMP} is more than {tolerance_s} s from now")
    if len(nonce) > 200:
        raise SignatureError("bad_nonce", f"{NONCE} is longer than 200 characters")
    expected = sign(secret, at, nonce, body)
    given = [s.strip() for s in signature.split(",")]
    if not any(hmac.compare_digest(expected, s) for s in given):
        raise SignatureError("bad_signature", "the signature does not match the body")
    return at
