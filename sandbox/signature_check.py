"""The sandbox's signature validator: does this signed file, run or webhook verify, and
if not, why not, in words a regulator's developer can act on.

Three things Pitboss signs:

- a report file: a detached Ed25519 signature (`<file>.sig`, 64 raw bytes) by the
  report-signing key (`regapi.reports.signing`);
- a run: the manifest, its signature, and each file and signature it lists
  (`signing.verify_manifest`);
- a webhook (report notices, file-request callbacks): HMAC-SHA256 headers as
  `engine.webhooks` defines them, and `Content-Digest` (RFC 9530) over the body
  (`pitboss.service.outbound`).

Every function takes untrusted input and answers with a `SignatureCheck`; none raises on
bad input.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import string
from collections.abc import Mapping
from typing import Final

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from engine import webhooks
from regapi.reports import signing

CONTENT_DIGEST: Final = "Content-Digest"
_HEX: Final = frozenset(string.hexdigits)
_SIGNATURE_VALUE: Final = re.compile(r"v1=[0-9a-f]{64}")
_DIGESTS: Final = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}
_MAX_NONCE: Final = 200
# The layout, as the developer will read it in a message.
STRING_TO_SIGN: Final = (
    "HMAC-SHA256 with the secret (UTF-8) as key over the bytes "
    "<Pitboss-Timestamp> + '.' + <Pitboss-Nonce> + '.' + <raw body>, "
    "sent as Pitboss-Signature: v1=<lower-case hex>"
)


class SignatureCheck(msgspec.Struct, frozen=True):
    valid: bool
    problems: list[str]  # why it does not verify, one reason each; empty when valid


def _result(problems: list[str]) -> SignatureCheck:
    return SignatureCheck(valid=not problems, problems=problems)


# --- report files -----------------------------------------------------------------------


def _keys(keys: object) -> tuple[list[tuple[str, Ed25519PublicKey]], list[str]]:
    """The usable keys of a JWK, a JWK Set or a list of JWKs, each with its kid, and
    what is wrong with the others."""
    if isinstance(keys, Mapping) and "keys" in keys:
        keys = keys["keys"]
    jwks = list(keys) if isinstance(keys, list | tuple) else [keys]
    found: list[tuple[str, Ed25519PublicKey]] = []
    problems: list[str] = []
    for i, jwk in enumerate(jwks[:100]):
        try:
            key = signing.resolve_key(jwk)
        except signing.SignatureError as exc:
            where = f"key {i + 1}: " if len(jwks) > 1 else "key: "
            problems.append(where + str(exc))
            continue
        found.append((signing.key_id(key), key))
    if not jwks:
        problems.append("the key set holds no keys")
    return found, problems


def _verifies(key: Ed25519PublicKey, content: bytes, signature: bytes) -> bool:
    try:
        signing.verify_file(key, content, signature)
    except signing.SignatureError:
        return False
    return True


def _decoded_signature(signature: bytes) -> tuple[str, bytes] | None:
    """A signature that was sent encoded once too often: how, and its 64 raw bytes."""
    text = signature.strip()
    if len(text) == 2 * signing.SIGNATURE_BYTES and set(text.decode("latin-1")) <= _HEX:
        return "hex", bytes.fromhex(text.decode("ascii"))
    for how, decode in (
        ("base64", base64.b64decode),
        ("base64url", base64.urlsafe_b64decode),
    ):
        try:
            raw = decode(text + b"=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            continue
        if len(raw) == signing.SIGNATURE_BYTES:
            return how, raw
    return None


def check_file(
    content: bytes, signature: bytes, key: object | None, default_keys: object
) -> SignatureCheck:
    """Does `signature` (the `.sig` file's bytes) verify `content` under `key` (a JWK, a
    JWK Set or a list of JWKs), or under `default_keys` (the sandbox's JWKS) when `key`
    is None? A set's keys are each tried: a file's signature does not name its key."""
    found, problems = _keys(default_keys if key is None else key)
    if not found:
        return _result(problems or ["no usable public key"])
    if len(signature) != signing.SIGNATURE_BYTES:
        return _result([_length_problem(content, signature, found)])
    if any(_verifies(k, content, signature) for _, k in found):
        return _result([])
    kids = ", ".join(kid for kid, _ in found)
    message = (
        f"the signature does not match the content under key {kids}: either these are not "
        "the exact bytes that were signed (a changed figure, converted line ends, a "
        "re-encoding, a newline added by a download tool), or another key signed them "
        "(the sandbox and the live service have different keys: compare the kid with "
        "/sandbox/regulator/signing-keys). The signature alone cannot tell which."
    )
    hint = _near_miss(content, signature, found)
    return _result([message + (f" {hint}" if hint else "")])


def _length_problem(
    content: bytes, signature: bytes, keys: list[tuple[str, Ed25519PublicKey]]
) -> str:
    size = len(signature)
    decoded = _decoded_signature(signature)
    if decoded is not None:
        how, raw = decoded
        verdict = (
            "and then it verifies"
            if any(_verifies(k, content, raw) for _, k in keys)
            else "though even then it does not verify"
        )
        return (
            f"the signature is {size} bytes of {how} text: the .sig file holds the 64 raw "
            f"bytes, decode it first ({verdict}); in this request it is base64-encoded once"
        )
    if size < signing.SIGNATURE_BYTES:
        return (
            f"the signature is {size} bytes; an Ed25519 signature is exactly "
            f"{signing.SIGNATURE_BYTES}: it was cut short"
        )
    return (
        f"the signature is {size} bytes; an Ed25519 signature is exactly "
        f"{signing.SIGNATURE_BYTES} raw bytes (the .sig file as it is)"
    )


def _near_miss(content: bytes, signature: bytes, keys: list[tuple[str, Ed25519PublicKey]]) -> str:
    """A likely cause, if the signature verifies over a usual alteration of the content."""
    variants = [
        (content.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), "CRLF line ends"),
        (content.replace(b"\r\n", b"\n"), "LF line ends"),
        (content.removeprefix(b"\xef\xbb\xbf"), "no byte-order mark"),
        (content + b"\r\n", "a line end after the last line"),
    ]
    for end in (b"\r\n", b"\n"):
        if content.endswith(end):
            variants.append((content[: -len(end)], "no line end after the last line"))
    for variant, what in variants:
        if variant != content and any(_verifies(k, variant, signature) for _, k in keys):
            return f"It does verify the same content with {what}: a tool changed the file."
    return ""


# --- runs ---------------------------------------------------------------------------


def check_manifest(
    manifest: bytes,
    files: Mapping[str, bytes],
    signatures: Mapping[str, bytes],
    keys: object,
) -> SignatureCheck:
    """Does a run verify: the manifest's signature under `keys` (the key it names), and
    each file it lists (there, size, SHA-256, signature)? `signatures` maps the signature
    files' names (`<file>.sig`, the manifest's own too) to their bytes."""
    try:
        problems = signing.verify_manifest(manifest, files, signatures, keys)
    except Exception as exc:  # verify_manifest is written not to raise; never 500 here
        return _result([f"the run cannot be checked: {type(exc).__name__}"])
    if any("unknown key id" in p for p in problems):
        given, _ = _keys(keys)
        kids = ", ".join(kid for kid, _ in given) or "none"
        problems.append(
            f"the manifest names its key by key_id; the keys given have kid {kids} (the "
            "sandbox's key is at /sandbox/regulator/signing-keys)"
        )
    return _result([_explained(p) for p in problems])


_EXPLAINED: Final = (
    (": missing file", " (the manifest lists it; give it in files)"),
    (": sha256 mismatch", " (these are not the bytes the manifest lists: changed after signing)"),
    (": signature does not match the content", " (changed after signing, or another key)"),
    (": not listed in the manifest", " (nothing vouches for it)"),
)


def _explained(problem: str) -> str:
    for ending, why in _EXPLAINED:
        if problem.endswith(ending):
            return problem + why
    if " signature file " in problem and problem.endswith(" is missing"):
        return problem + " (give it in signatures)"
    return problem


# --- webhooks -----------------------------------------------------------------------


def check_webhook(
    headers: Mapping[str, str], body: bytes, secret: str, *, now: float, tolerance_s: int
) -> SignatureCheck:
    """Does a webhook Pitboss sent verify: `Pitboss-Timestamp` within `tolerance_s` of
    `now`, `Pitboss-Signature` over timestamp, nonce and body under `secret`, and
    `Content-Digest` of the body? Every failure is listed, with what to do about it."""
    problems: list[str] = []
    found: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        if key in found:
            problems.append(f"header {name} is given twice (header names ignore case)")
        found[key] = value
    timestamp = found.get(webhooks.TIMESTAMP.lower())
    nonce = found.get(webhooks.NONCE.lower())
    signature = found.get(webhooks.SIGNATURE.lower())
    for header, given, what in (
        (webhooks.TIMESTAMP, timestamp, "epoch seconds when it was signed"),
        (webhooks.NONCE, nonce, "a value used once"),
        (webhooks.SIGNATURE, signature, "v1=<hex HMAC>"),
    ):
        if not given:
            problems.append(f"missing header {header} ({what})")
    at = _timestamp(timestamp, problems)
    if nonce and len(nonce) > _MAX_NONCE:
        problems.append(f"{webhooks.NONCE} is longer than {_MAX_NONCE} characters")
    matched = False
    if not secret:
        problems.append("no secret to check with: the callback secret is empty")
    elif at is not None and nonce and signature:
        matched = _signature(secret, at, timestamp or "", nonce, signature, body, problems)
    if at is not None and abs(now - at) > tolerance_s:
        ago = round(now - at)
        when = f"{ago} s ago" if ago > 0 else f"{-ago} s in the future"
        problems.append(
            f"{webhooks.TIMESTAMP} {at} is {when} (tolerance {tolerance_s} s): a replayed "
            "request, or a clock that is off (check NTP)"
            + ("; the signature itself matches" if matched else "")
        )
    _content_digest(found.get(CONTENT_DIGEST.lower()), body, problems)
    if not problems:
        # What the receiving side's own check says must agree with what is said here.
        try:
            webhooks.verify(
                secret,
                timestamp=timestamp,
                nonce=nonce,
                signature=signature,
                body=body,
                now=now,
                tolerance_s=tolerance_s,
            )
        except webhooks.SignatureError as exc:
            problems.append(str(exc))
    return _result(problems)


def _timestamp(value: str | None, problems: list[str]) -> int | None:
    if not value:
        return None
    if value.isascii() and value.isdigit() and len(value) <= 12:
        return int(value)
    hint = ""
    if value.isascii() and value.isdigit() and len(value) == 13:
        hint = " (13 digits: milliseconds; Pitboss sends seconds)"
    elif "T" in value or "-" in value:
        hint = " (a date; Pitboss sends seconds since 1970-01-01 UTC)"
    problems.append(f"{webhooks.TIMESTAMP} {value[:40]!r} is not epoch seconds{hint}")
    return None


def _signature(
    secret: str,
    at: int,
    timestamp: str,
    nonce: str,
    header: str,
    body: bytes,
    problems: list[str],
) -> bool:
    """True if one of the header's values matches; else says why not."""
    given = [v.strip() for v in header.split(",")]
    expected = webhooks.sign(secret, at, nonce, body)
    if any(hmac.compare_digest(expected.encode(), v.encode()) for v in given):
        return True
    bad = [v for v in given if not _SIGNATURE_VALUE.fullmatch(v)]
    for v in bad[:3]:
        if _SIGNATURE_VALUE.fullmatch(v.lower()):
            problems.append(
                f"{webhooks.SIGNATURE} value {v[:80]!r} is upper-case hex; compare lower-case"
            )
        else:
            problems.append(
                f"{webhooks.SIGNATURE} value {v[:80]!r} is not v1=<64 lower-case hex digits>"
            )
    if any(hmac.compare_digest(expected.lower(), v.lower()) for v in given):
        return False
    key = secret.encode()
    near = {
        "the body alone": body,
        "the timestamp and the body, without the nonce": timestamp.encode() + b"." + body,
    }
    for what, message in near.items():
        alt = "v1=" + hmac.new(key, message, hashlib.sha256).hexdigest()
        if any(hmac.compare_digest(alt, v.lower()) for v in given):
            problems.append(f"the signature is over {what}; Pitboss signs {STRING_TO_SIGN}")
            return False
    start = f"{timestamp}.{nonce}."
    problems.append(
        "the signature does not match the body. Pitboss signs "
        f"{STRING_TO_SIGN}; here the signed bytes start {start!r} and go on with the "
        f"{len(body)} body bytes exactly as received (before any JSON parsing, "
        "decompression or re-encoding). A wrong secret and a changed body look the "
        "same: an HMAC cannot tell them apart, so check both."
    )
    return False


def _content_digest(value: str | None, body: bytes, problems: list[str]) -> None:
    """RFC 9530: `sha-256=:<base64 of the raw digest>:`, maybe beside other algorithms."""
    if value is None:
        problems.append(
            f"missing header {CONTENT_DIGEST} (sha-256=:<base64 SHA-256 of the body>:, "
            "RFC 9530); Pitboss sends it with every webhook"
        )
        return
    checked = False
    for member in value.split(","):
        algorithm, eq, rest = member.strip().partition("=")
        algorithm = algorithm.strip().lower()
        if not eq or algorithm not in _DIGESTS:
            continue
        encoded = rest.split(";", 1)[0].strip()
        if not (len(encoded) >= 2 and encoded.startswith(":") and encoded.endswith(":")):
            problems.append(
                f"{CONTENT_DIGEST} {algorithm} is {encoded[:100]!r}; write it as "
                f"{algorithm}=:<base64>: (RFC 9530: the colons are part of the value)"
            )
            checked = True
            continue
        checked = True
        digest = _DIGESTS[algorithm](body).digest()
        if encoded[1:-1].lower() == digest.hex():
            problems.append(f"{CONTENT_DIGEST} {algorithm} is hex; it is base64 of the raw digest")
            continue
        try:
            claimed = base64.b64decode(encoded[1:-1], validate=True)
        except (binascii.Error, ValueError):
            problems.append(f"{CONTENT_DIGEST} {algorithm} is not base64")
            continue
        if claimed != digest:
            mine = base64.b64encode(digest).decode()
            problems.append(
                f"{CONTENT_DIGEST} {algorithm} does not match the body (the body's is "
                f":{mine}:): the body was changed, or hashed after decoding or re-encoding"
            )
    if not checked:
        problems.append(
            f"{CONTENT_DIGEST} {value[:100]!r} holds no sha-256 or sha-512 digest "
            "(sha-256=:<base64>:)"
        )
