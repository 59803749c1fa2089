"""The signature validator, over real signatures (`regapi.reports.signing`) and real
webhook headers (`pitboss.service.outbound`): what verifies passes, and each way to fail
is explained."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engine import webhooks
from pitboss.service.outbound import content_digest, signed_headers
from regapi import periods
from regapi.reports import signing
from regapi.reports.render_csv import render_csv
from sandbox.signature_check import (
    STRING_TO_SIGN,
    SignatureCheck,
    check_file,
    check_manifest,
    check_webhook,
)
from tests.regapi.reports.samples import sample_report

SIGNER = signing.ReportSigner(Ed25519PrivateKey.generate())
OTHER = signing.ReportSigner(Ed25519PrivateKey.generate())
CONTENT = render_csv(sample_report("MGA"))
SIGNATURE = SIGNER.sign(CONTENT)
VALID = SignatureCheck(valid=True, problems=[])


def mismatch(kid: str) -> str:
    return (
        f"the signature does not match the content under key {kid}: either these are not "
        "the exact bytes that were signed (a changed figure, converted line ends, a "
        "re-encoding, a newline added by a download tool), or another key signed them "
        "(the sandbox and the live service have different keys: compare the kid with "
        "/sandbox/regulator/signing-keys). The signature alone cannot tell which."
    )


# --- files ----------------------------------------------------------------------------


def test_a_file_verifies_under_its_jwk_its_set_or_the_default_keys() -> None:
    assert check_file(CONTENT, SIGNATURE, SIGNER.public_jwk(), None) == VALID
    assert check_file(CONTENT, SIGNATURE, SIGNER.jwks(), None) == VALID
    assert check_file(CONTENT, SIGNATURE, None, SIGNER.jwks()) == VALID
    # A file's signature names no key: each key of a set is tried.
    both = {"keys": [OTHER.public_jwk(), SIGNER.public_jwk()]}
    assert check_file(CONTENT, SIGNATURE, both, None) == VALID


def test_tampered_content_and_a_wrong_key_say_the_same() -> None:
    tampered = CONTENT.replace(b"14645678", b"14645679")
    assert check_file(tampered, SIGNATURE, SIGNER.jwks(), None) == SignatureCheck(
        valid=False, problems=[mismatch(SIGNER.kid)]
    )
    assert check_file(CONTENT, SIGNATURE, OTHER.jwks(), None) == SignatureCheck(
        valid=False, problems=[mismatch(OTHER.kid)]
    )


@pytest.mark.parametrize(
    ("altered", "cause"),
    [
        (CONTENT.replace(b"\r\n", b"\n"), "CRLF line ends"),
        (CONTENT + b"\n", "no line end after the last line"),
        (CONTENT[:-2], "a line end after the last line"),
        (b"\xef\xbb\xbf" + CONTENT, "no byte-order mark"),
    ],
)
def test_a_usual_alteration_is_named(altered: bytes, cause: str) -> None:
    [problem] = check_file(altered, SIGNATURE, SIGNER.jwks(), None).problems
    assert problem == (
        mismatch(SIGNER.kid)
        + f" It does verify the same content with {cause}: a tool changed the file."
    )


def test_a_truncated_signature() -> None:
    assert check_file(CONTENT, SIGNATURE[:63], SIGNER.jwks(), None) == SignatureCheck(
        valid=False,
        problems=[
            "the signature is 63 bytes; an Ed25519 signature is exactly 64: it was cut short"
        ],
    )
    [problem] = check_file(CONTENT, SIGNATURE + b"\0", SIGNER.jwks(), None).problems
    assert problem.startswith("the signature is 65 bytes;")


@pytest.mark.parametrize(
    ("encoded", "how"),
    [
        (SIGNATURE.hex().encode(), "128 bytes of hex"),
        (base64.b64encode(SIGNATURE), "88 bytes of base64"),
        (base64.urlsafe_b64encode(SIGNATURE).rstrip(b"="), "86 bytes of base64url"),
    ],
)
def test_a_signature_encoded_once_too_often(encoded: bytes, how: str) -> None:
    [problem] = check_file(CONTENT, encoded, SIGNER.jwks(), None).problems
    assert problem == (
        f"the signature is {how} text: the .sig file holds the 64 raw bytes, decode it "
        "first (and then it verifies); in this request it is base64-encoded once"
    )
    [problem] = check_file(CONTENT, encoded, OTHER.jwks(), None).problems
    assert "(though even then it does not verify)" in problem


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ({"kty": "RSA", "n": "x", "e": "AQAB"},
         "key: the key is not an Ed25519 key (kty OKP, crv Ed25519)"),
        ({"kty": "OKP", "crv": "Ed25519", "x": "short", "kid": "k1"},
         "key: key 'k1': 'x' is not a base64url Ed25519 public key"),
        ({"keys": []}, "the key set holds no keys"),
        ("not a key", "key: no public key: give an Ed25519 public key, a JWK or a JWK Set"),
    ],
)  # fmt: skip
def test_an_unusable_key_says_why(key: object, problem: str) -> None:
    assert check_file(CONTENT, SIGNATURE, key, None) == SignatureCheck(
        valid=False, problems=[problem]
    )


# --- runs -----------------------------------------------------------------------------

PERIOD = periods.parse("monthly/2026-01")


def delivered(signer: signing.ReportSigner = SIGNER) -> dict[str, bytes]:
    return dict(
        signing.signed_bundle(
            market="MGA",
            period=PERIOD,
            revision=1,
            generated_at=datetime(2026, 2, 1, 3, 15, 7, tzinfo=UTC),
            files=[("MGA_monthly_2026-01.csv", CONTENT)],
            signer=signer,
        )
    )


def split(run: dict[str, bytes]) -> tuple[bytes, dict[str, bytes], dict[str, bytes]]:
    manifest = run.pop("MGA_monthly_2026-01.manifest.json")
    signatures = {k: v for k, v in run.items() if k.endswith(".sig")}
    files = {k: v for k, v in run.items() if not k.endswith(".sig")}
    return manifest, files, signatures


def test_a_run_verifies() -> None:
    assert check_manifest(*split(delivered()), SIGNER.jwks()) == VALID


def test_a_changed_file_in_a_run() -> None:
    manifest, files, signatures = split(delivered())
    files["MGA_monthly_2026-01.csv"] = CONTENT.replace(b"14645678", b"14645679")
    assert check_manifest(manifest, files, signatures, SIGNER.jwks()).problems == [
        "MGA_monthly_2026-01.csv: sha256 mismatch (these are not the bytes the manifest "
        "lists: changed after signing)",
        "MGA_monthly_2026-01.csv: signature does not match the content (changed after "
        "signing, or another key)",
    ]


def test_a_run_with_a_missing_signature_and_a_stray_file() -> None:
    manifest, files, signatures = split(delivered())
    del signatures["MGA_monthly_2026-01.csv.sig"]
    files["notes.txt"] = b"hello"
    assert check_manifest(manifest, files, signatures, SIGNER.jwks()).problems == [
        "MGA_monthly_2026-01.csv: signature file MGA_monthly_2026-01.csv.sig is missing "
        "(give it in signatures)",
        "notes.txt: not listed in the manifest (nothing vouches for it)",
    ]


def test_a_run_under_other_keys_names_both_kids() -> None:
    result = check_manifest(*split(delivered()), OTHER.jwks())
    assert result.problems[0] == f"manifest: unknown key id {SIGNER.kid!r}"
    assert result.problems[-1] == (
        f"the manifest names its key by key_id; the keys given have kid {OTHER.kid} (the "
        "sandbox's key is at /sandbox/regulator/signing-keys)"
    )


def test_a_manifest_that_is_not_one() -> None:
    assert check_manifest(b"{", {}, {}, SIGNER.jwks()).problems[0].startswith("manifest: not JSON")


# --- webhooks -------------------------------------------------------------------------

SECRET = "callback-secret-0123456789"
BODY = b'{"request_id":"r1","status":"done"}'
NOW = 1_767_600_000


def sent(body: bytes = BODY, *, at: int = NOW, secret: str = SECRET) -> dict[str, str]:
    """The headers Pitboss sends with a file-request callback or a report notice."""
    return {
        "Content-Type": "application/json",
        "Content-Digest": content_digest(body),
        **signed_headers(secret, body, at=at),
    }


def webhook(headers: dict[str, str], body: bytes = BODY, secret: str = SECRET) -> list[str]:
    result = check_webhook(headers, body, secret, now=NOW + 2, tolerance_s=300)
    assert result.valid is not bool(result.problems)
    return result.problems


def signature_problem(headers: dict[str, str], body: bytes = BODY) -> str:
    start = f"{headers[webhooks.TIMESTAMP]}.{headers[webhooks.NONCE]}."
    return (
        f"the signature does not match the body. Pitboss signs {STRING_TO_SIGN}; here the "
        f"signed bytes start {start!r} and go on with the {len(body)} body bytes exactly as "
        "received (before any JSON parsing, decompression or re-encoding). A wrong secret "
        "and a changed body look the same: an HMAC cannot tell them apart, so check both."
    )


def test_a_webhook_as_pitboss_sends_it_verifies() -> None:
    assert webhook(sent()) == []
    # Header names ignore case, as HTTP's do.
    assert webhook({k.lower(): v for k, v in sent().items()}) == []


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (webhooks.TIMESTAMP, "missing header Pitboss-Timestamp (epoch seconds when it was signed)"),
        (webhooks.NONCE, "missing header Pitboss-Nonce (a value used once)"),
        (webhooks.SIGNATURE, "missing header Pitboss-Signature (v1=<hex HMAC>)"),
        ("Content-Digest", "missing header Content-Digest (sha-256=:<base64 SHA-256 of the "
                           "body>:, RFC 9530); Pitboss sends it with every webhook"),
    ],
)  # fmt: skip
def test_a_missing_header(header: str, problem: str) -> None:
    headers = sent()
    del headers[header]
    assert webhook(headers) == [problem]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (str(NOW * 1000), f"Pitboss-Timestamp '{NOW * 1000}' is not epoch seconds (13 digits: "
                          "milliseconds; Pitboss sends seconds)"),
        ("2026-01-05T08:00:00Z", "Pitboss-Timestamp '2026-01-05T08:00:00Z' is not epoch seconds "
                                 "(a date; Pitboss sends seconds since 1970-01-01 UTC)"),
        ("soon", "Pitboss-Timestamp 'soon' is not epoch seconds"),
    ],
)  # fmt: skip
def test_a_timestamp_that_is_not_epoch_seconds(value: str, problem: str) -> None:
    assert webhook({**sent(), webhooks.TIMESTAMP: value}) == [problem]


def test_a_stale_or_future_timestamp_with_a_good_signature() -> None:
    assert webhook(sent(at=NOW - 1000)) == [
        f"Pitboss-Timestamp {NOW - 1000} is 1002 s ago (tolerance 300 s): a replayed request, "
        "or a clock that is off (check NTP); the signature itself matches"
    ]
    assert webhook(sent(at=NOW + 900)) == [
        f"Pitboss-Timestamp {NOW + 900} is 898 s in the future (tolerance 300 s): a replayed "
        "request, or a clock that is off (check NTP); the signature itself matches"
    ]


def test_a_changed_body_and_a_wrong_secret_are_explained_alike() -> None:
    headers = sent()
    changed = BODY.replace(b"done", b"DONE")
    mine = base64.b64encode(hashlib.sha256(changed).digest()).decode()
    assert webhook(headers, changed) == [
        signature_problem(headers, changed),
        f"Content-Digest sha-256 does not match the body (the body's is :{mine}:): the body "
        "was changed, or hashed after decoding or re-encoding",
    ]
    assert webhook(headers, secret="another-secret-0123456789") == [signature_problem(headers)]


def test_a_signature_over_the_body_alone_or_without_the_nonce() -> None:
    alone = "v1=" + hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert webhook({**sent(), webhooks.SIGNATURE: alone}) == [
        f"the signature is over the body alone; Pitboss signs {STRING_TO_SIGN}"
    ]
    message = str(NOW).encode() + b"." + BODY
    no_nonce = "v1=" + hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()
    assert webhook({**sent(), webhooks.SIGNATURE: no_nonce}) == [
        "the signature is over the timestamp and the body, without the nonce; Pitboss signs "
        + STRING_TO_SIGN
    ]


def test_a_malformed_signature_value() -> None:
    headers = sent()
    upper = headers[webhooks.SIGNATURE].upper().replace("V1=", "v1=")
    problems = webhook({**headers, webhooks.SIGNATURE: upper})
    assert problems == [f"Pitboss-Signature value {upper!r} is upper-case hex; compare lower-case"]
    problems = webhook({**headers, webhooks.SIGNATURE: "sha256=abc"})
    assert problems == [
        "Pitboss-Signature value 'sha256=abc' is not v1=<64 lower-case hex digits>",
        signature_problem(headers),
    ]


def test_one_of_several_signatures_matching_is_enough() -> None:
    headers = sent()
    rotated = "v1=" + "0" * 64 + ", " + headers[webhooks.SIGNATURE]
    assert webhook({**headers, webhooks.SIGNATURE: rotated}) == []


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("sha-256=" + base64.b64encode(hashlib.sha256(BODY).digest()).decode(),
         "Content-Digest sha-256 is {!r}; write it as sha-256=:<base64>: (RFC 9530: the colons "
         "are part of the value)"),
        (f"sha-256=:{hashlib.sha256(BODY).hexdigest()}:",
         "Content-Digest sha-256 is hex; it is base64 of the raw digest"),
        ("md5=:abc:", "Content-Digest 'md5=:abc:' holds no sha-256 or sha-512 digest "
                      "(sha-256=:<base64>:)"),
    ],
)  # fmt: skip
def test_a_content_digest_written_wrong(value: str, problem: str) -> None:
    encoded = value.partition("=")[2]
    assert webhook({**sent(), "Content-Digest": value}) == [problem.format(encoded)]


def test_a_sha512_content_digest_is_checked_too() -> None:
    digest = base64.b64encode(hashlib.sha512(BODY).digest()).decode()
    assert webhook({**sent(), "Content-Digest": f"sha-512=:{digest}:"}) == []
    assert webhook({**sent(), "Content-Digest": f"sha-512=:{digest[:-4]}AAA=:"})[0].startswith(
        "Content-Digest sha-512 does not match the body"
    )


def test_odd_headers_are_problems_not_errors() -> None:
    headers = sent()
    assert webhook({**headers, "pitboss-nonce": headers[webhooks.NONCE]}) == [
        "header pitboss-nonce is given twice (header names ignore case)"
    ]
    long_nonce = "n" * 201
    problems = webhook(sent() | {webhooks.NONCE: long_nonce})
    assert problems[0] == "Pitboss-Nonce is longer than 200 characters"
    assert webhook({}, b"") == [
        "missing header Pitboss-Timestamp (epoch seconds when it was signed)",
        "missing header Pitboss-Nonce (a value used once)",
        "missing header Pitboss-Signature (v1=<hex HMAC>)",
        "missing header Content-Digest (sha-256=:<base64 SHA-256 of the body>:, RFC 9530); "
        "Pitboss sends it with every webhook",
    ]
    assert webhook(sent(), secret="") == ["no secret to check with: the callback secret is empty"]
