"""Verifying inbound webhooks: HMAC-SHA256 over `timestamp.nonce.body`, a time tolerance, nonces,
and several signatures while a secret is rotated."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from engine.events import EVENT_TYPES
from engine.webhooks import ALLOWED_TYPES, NONCE, SIGNATURE, TIMESTAMP, SignatureError, sign, verify

SECRET = "psp-secret-0123456789abcdef"
OLD = "the-old-secret-0123456789"
BODY = b'{"type":"deposit","event_id":"e-1"}'
NOW = 1_790_000_000
N1 = "n-1"
TOLERANCE = 300


def check(
    *,
    timestamp: str | None = str(NOW),
    nonce: str | None = "n-1",
    signature: str | None = None,
    body: bytes = BODY,
    now: float = NOW,
    secret: str = SECRET,
) -> int:
    if signature is None:
        signature = sign(SECRET, NOW, "n-1", BODY)
    return verify(
        secret,
        timestamp=timestamp,
        nonce=nonce,
        signature=signature,
        body=body,
        now=now,
        tolerance_s=TOLERANCE,
    )


def refused(reason: str, **kwargs: object) -> SignatureError:
    with pytest.raises(SignatureError) as info:
        check(**kwargs)  # type: ignore[arg-type]
    assert info.value.reason == reason
    return info.value


def test_sign_is_hmac_sha256_of_timestamp_dot_nonce_dot_body() -> None:
    mac = hmac.new(SECRET.encode(), f"{NOW}.n-1.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, NOW, "n-1", BODY) == "v1=" + mac
    assert sign(SECRET, NOW + 1, "n-1", BODY) != sign(SECRET, NOW, "n-1", BODY)
    assert sign(OLD, NOW, "n-1", BODY) != sign(SECRET, NOW, "n-1", BODY)
    assert sign(SECRET, NOW, "n-2", BODY) != sign(SECRET, NOW, "n-1", BODY)


def test_a_good_signature_returns_the_timestamp() -> None:
    assert check() == NOW


@pytest.mark.parametrize("offset", [-TOLERANCE, TOLERANCE, 0.5])
def test_the_tolerance_is_inclusive(offset: float) -> None:
    assert check(now=NOW + offset) == NOW


@pytest.mark.parametrize("offset", [-TOLERANCE - 1, TOLERANCE + 1, 10**9])
def test_a_timestamp_out_of_tolerance_is_stale(offset: int) -> None:
    error = refused("stale", now=NOW + offset)
    assert TIMESTAMP in str(error)


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ({"timestamp": None}, [TIMESTAMP]),
        ({"nonce": ""}, [NONCE]),
        ({"signature": ""}, [SIGNATURE]),
        ({"timestamp": "", "nonce": None}, [TIMESTAMP, NONCE]),
    ],
)
def test_missing_headers_are_named(given: dict[str, object], missing: list[str]) -> None:
    error = refused("missing_header", **given)
    assert str(error) == "missing header " + ", ".join(missing)


@pytest.mark.parametrize("timestamp", ["soon", "1.5e9", "0x10"])
def test_a_timestamp_must_be_epoch_seconds(timestamp: str) -> None:
    refused("bad_timestamp", timestamp=timestamp)


def test_a_long_nonce_is_refused() -> None:
    assert check(nonce="n" * 200, signature=sign(SECRET, NOW, "n" * 200, BODY)) == NOW
    refused("bad_nonce", nonce="n" * 201)


@pytest.mark.parametrize(
    "signature",
    [
        sign(OLD, NOW, "n-1", BODY),
        sign(SECRET, NOW, "n-1", BODY + b" "),
        sign(SECRET, NOW - 1, "n-1", BODY),
        sign(SECRET, NOW, "n-1", BODY).upper(),
        sign(SECRET, NOW, "n-1", BODY).removeprefix("v1="),
        "v1=",
        "garbage",
    ],
)
def test_a_signature_that_does_not_match_is_refused(signature: str) -> None:
    refused("bad_signature", signature=signature)


def test_the_body_is_signed_byte_for_byte() -> None:
    refused("bad_signature", body=BODY.replace(b'"e-1"', b'"e-2"'))


@pytest.mark.parametrize(
    "header",
    [
        f"{sign(OLD, NOW, N1, BODY)},{sign(SECRET, NOW, N1, BODY)}",
        f"{sign(SECRET, NOW, N1, BODY)}, {sign(OLD, NOW, N1, BODY)}",
        f" {sign(SECRET, NOW, N1, BODY)} ",
    ],
)
def test_one_matching_signature_of_several_is_enough(header: str) -> None:
    assert check(signature=header) == NOW


def test_during_a_rotation_either_secret_verifies_both_signatures() -> None:
    header = f"{sign(OLD, NOW, N1, BODY)},{sign(SECRET, NOW, N1, BODY)}"
    assert check(signature=header, secret=OLD) == NOW
    assert check(signature=header, secret=SECRET) == NOW
    refused("bad_signature", signature=header, secret="a-third-secret-0123456789")


def test_each_kind_of_provider_sends_known_event_types_only() -> None:
    assert set(ALLOWED_TYPES) == {"psp", "kyc"}
    for allowed in ALLOWED_TYPES.values():
        assert allowed <= set(EVENT_TYPES)
    assert "deposit" in ALLOWED_TYPES["psp"]
    assert ALLOWED_TYPES["kyc"] == {"kyc_update"}
    assert not ALLOWED_TYPES["psp"] & {"bet", "win", "login", "kyc_update"}
