"""Signing report files: an Ed25519 key of its own, a detached signature per file, and a
manifest that lists every file of a run with its size and SHA-256, signed too.

The report-signing key is not one of the OAuth token keys: a regulator keeps it for years
to check filed returns, while token keys rotate every few months, and a leak of one must
not let anyone forge the other. It is a PEM (PKCS#8) file, owner-only, made on first use.

What a run delivers, for `MGA_monthly_2026-01`::

    MGA_monthly_2026-01.csv                    the report, in each format
    MGA_monthly_2026-01.csv.sig                64 bytes: Ed25519 over the file's bytes
    …
    MGA_monthly_2026-01.manifest.json.sig
    MGA_monthly_2026-01.manifest.json          every file's name, size, sha256, signature

The manifest is canonical JSON (keys sorted, no white space, ASCII), so the same run always
gives the same bytes. It names the key (`key_id`, the RFC 7638 thumbprint of the public
key) and the algorithm (`Ed25519`).

How a regulator checks a file with OpenSSL (1.1.1 or later), given the public key as PEM
(`key.pem`, from `ReportSigner.public_pem`)::

    openssl pkeyutl -verify -pubin -inkey key.pem -rawin \\
        -in MGA_monthly_2026-01.csv -sigfile MGA_monthly_2026-01.csv.sig

It prints `Signature Verified Successfully` (exit 0) or `Signature Verification Failure`
(exit 1). Check the manifest's signature the same way, then each file's SHA-256 against
the manifest (`sha256sum`). `verify_file` and `verify_manifest` do the same in Python and
are written for a regulator-side validator: they take untrusted input and fail only with
`SignatureError` (or, for the manifest, a list of problems).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import structlog
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from regapi.keys import warn_if_shared
from regapi.periods import Period
from regapi.reports.templates import file_stem

log = structlog.get_logger("regapi.reports.signing")

ALGORITHM: Final = "Ed25519"
JWK_ALG: Final = "EdDSA"
SIGNATURE_SUFFIX: Final = ".sig"
MANIFEST_SUFFIX: Final = ".manifest.json"
MANIFEST_VERSION: Final = 1
SIGNATURE_BYTES: Final = 64
# As report_files names them (migration 0007): no path separators, no leading dot.
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_SHA256: Final = re.compile(r"[0-9a-f]{64}")
_B64URL: Final = re.compile(r"[A-Za-z0-9_-]*")


class ReportKeyError(Exception):
    """The report-signing key file cannot be used; the message names the file and never
    holds key material."""


class ManifestError(ValueError):
    """A manifest that cannot be built from what was given; the message names the file."""


class SignatureError(Exception):
    """A signature that does not verify; the message says why."""


def signature_name(name: str) -> str:
    return name + SIGNATURE_SUFFIX


def manifest_name(market: str, period: Period, revision: int) -> str:
    """`MGA_monthly_2026-01.manifest.json` (`_r2` before the suffix for a revision)."""
    return file_stem(market, period.kind, period.label, revision) + MANIFEST_SUFFIX


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256, base64url) of an Ed25519 public key."""
    # RFC 7638 §3.2: the required members only, sorted, no white space.
    members = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(_raw_public(key))}
    return _b64url(hashlib.sha256(_canonical(members)).digest())


class ReportSigner:
    """The report-signing key: signs files, and says how to check them."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private = private_key
        self.public_key = private_key.public_key()
        self.kid = key_id(self.public_key)

    def __repr__(self) -> str:
        return f"ReportSigner(kid={self.kid!r})"

    def sign(self, content: bytes) -> bytes:
        """The raw 64-byte detached signature of `content`."""
        return self._private.sign(content)

    def public_jwk(self) -> dict[str, str]:
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": _b64url(_raw_public(self.public_key)),
            "kid": self.kid,
            "use": "sig",
            "alg": JWK_ALG,
        }

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """A JWK Set holding this key, as a regulator keeps it."""
        return {"keys": [self.public_jwk()]}

    def public_pem(self) -> bytes:
        """The public key as PEM (SubjectPublicKeyInfo), for `openssl pkeyutl -pubin`."""
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


# --- the key file ---------------------------------------------------------------------


def load_or_create(path: Path, *, create: bool) -> ReportSigner:
    """The signer whose private key is the PEM (PKCS#8) file at `path`.

    With `create`, a missing file is made: a new key, written owner-only (0600) and whole.
    Two processes creating it at once end up with the same key (the second reads the
    first's), so nothing is ever signed by a key that is then replaced."""
    if not path.exists():
        if not create:
            raise ReportKeyError(f"{path}: no such report-signing key file")
        _create(path)
    return _read(path)


def _read(path: Path) -> ReportSigner:
    try:
        info = path.stat()
        data = path.read_bytes()
    except OSError as exc:
        raise ReportKeyError(
            f"{path}: cannot read the report-signing key file: {exc.strerror}"
        ) from None
    warn_if_shared(path, info.st_mode)  # as for the personal-data key files
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise ReportKeyError(
            f"{path}: the report-signing key is encrypted; give it unencrypted (PKCS#8 PEM)"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise ReportKeyError(f"{path}: not a PEM private key (PKCS#8)") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ReportKeyError(
            f"{path}: the report-signing key must be Ed25519, not {type(key).__name__}"
        )
    return ReportSigner(key)


def _create(path: Path) -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise ReportKeyError(
            f"{path}: cannot create the report-signing key file: {exc.strerror}"
        ) from None
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)  # O_CREAT's mode is masked by the umask; this is not
        # A link, not a rename: it fails if another process made the file meanwhile, and
        # then that key is the one.
        os.link(tmp, path)
        log.warning("report_signing_key_created", path=str(path))
    except FileExistsError:
        pass
    except OSError as exc:
        raise ReportKeyError(
            f"{path}: cannot create the report-signing key file: {exc.strerror}"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)


# --- manifests ------------------------------------------------------------------------


def _utc(at: datetime) -> str:
    if at.tzinfo is None:
        raise ManifestError("generated_at: a time with a time zone is needed")
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def build_manifest(
    *,
    market: str,
    period: Period,
    revision: int,
    generated_at: datetime,
    files: Sequence[tuple[str, bytes]],
    signer: ReportSigner,
) -> bytes:
    """The canonical manifest of a run's report files (not their signatures, which it
    names). The same arguments always give the same bytes."""
    name = manifest_name(market, period, revision)
    listed = []
    seen: set[str] = set()
    for file, content in files:
        if not _NAME.fullmatch(file):
            raise ManifestError(f"{file!r}: not a report file name")
        if file in seen:
            raise ManifestError(f"{file}: listed twice")
        if file.endswith(SIGNATURE_SUFFIX) or file == name:
            raise ManifestError(f"{file}: a signature or the manifest is not listed as a file")
        seen.add(file)
        listed.append(
            {
                "name": file,
                "size": len(content),
                "sha256": hashlib.sha256(content).hexdigest(),
                "signature": signature_name(file),
            }
        )
    if not listed:
        raise ManifestError(f"{name}: a manifest lists at least one file")
    return _canonical(
        {
            "version": MANIFEST_VERSION,
            "manifest": name,
            "market": market,
            "period": str(period),
            "revision": revision,
            "generated_at": _utc(generated_at),
            "algorithm": ALGORITHM,
            "key_id": signer.kid,
            "files": listed,
        }
    )


def signed_bundle(
    *,
    market: str,
    period: Period,
    revision: int,
    generated_at: datetime,
    files: Sequence[tuple[str, bytes]],
    signer: ReportSigner,
) -> list[tuple[str, bytes]]:
    """Everything a run stores and delivers, in upload order: each file then its
    signature, the manifest's signature, the manifest last (a regulator that waits for the
    manifest finds everything else already there)."""
    manifest = build_manifest(
        market=market,
        period=period,
        revision=revision,
        generated_at=generated_at,
        files=files,
        signer=signer,
    )
    name = manifest_name(market, period, revision)
    out: list[tuple[str, bytes]] = []
    for file, content in files:
        out += [(file, content), (signature_name(file), signer.sign(content))]
    return [*out, (signature_name(name), signer.sign(manifest)), (name, manifest)]


# --- verifying (regulator side: every input is untrusted) --------------------------------


def _b64url_decode(text: object) -> bytes | None:
    if not isinstance(text, str) or len(text) > 1024 or not _B64URL.fullmatch(text):
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def _from_jwk(jwk: Mapping[Any, Any]) -> Ed25519PublicKey:
    kid = jwk.get("kid")
    who = f"key {kid!r}" if isinstance(kid, str) else "the key"
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise SignatureError(f"{who} is not an Ed25519 key (kty OKP, crv Ed25519)")
    if jwk.get("alg", JWK_ALG) not in (JWK_ALG, ALGORITHM):
        raise SignatureError(f"{who} is for algorithm {jwk.get('alg')!r}, not {ALGORITHM}")
    raw = _b64url_decode(jwk.get("x"))
    if raw is None or len(raw) != 32:
        raise SignatureError(f"{who}: 'x' is not a base64url Ed25519 public key")
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise SignatureError(f"{who}: 'x' is not an Ed25519 public key") from None


def _jwk_list(keys: object) -> list[Mapping[Any, Any]] | None:
    """The JWKs of a JWK Set (`{"keys": [...]}`) or a list of JWKs; None if neither."""
    if isinstance(keys, Mapping) and "keys" in keys:
        keys = keys["keys"]
        if not isinstance(keys, (list, tuple)):
            return []
    if isinstance(keys, (list, tuple)):
        return [k for k in keys if isinstance(k, Mapping)]
    return None


def resolve_key(keys: object, kid: str | None = None) -> Ed25519PublicKey:
    """The public key to check with: an `Ed25519PublicKey`, a JWK, or a JWK Set (or list
    of JWKs) from which `kid` picks one. `SignatureError` if there is none."""
    if isinstance(keys, Ed25519PublicKey):
        return keys
    found = _jwk_list(keys)
    if found is not None:
        if kid is None and len(found) == 1:
            return _from_jwk(found[0])
        for jwk in found:
            if jwk.get("kid") == kid:
                return _from_jwk(jwk)
        raise SignatureError(f"unknown key id {kid!r}")
    if isinstance(keys, Mapping):
        if kid is not None and keys.get("kid", kid) != kid:
            raise SignatureError(f"unknown key id {kid!r}")
        return _from_jwk(keys)
    raise SignatureError("no public key: give an Ed25519 public key, a JWK or a JWK Set")


def verify_file(
    public_key_or_jwk: object, content: object, signature: object, *, kid: str | None = None
) -> None:
    """Check a detached signature; `SignatureError` saying why if it does not verify.

    The key is an `Ed25519PublicKey`, a JWK, or a JWK Set (then `kid` picks the key)."""
    key = resolve_key(public_key_or_jwk, kid)
    if not isinstance(content, (bytes, bytearray, memoryview)):
        raise SignatureError("the content is not bytes")
    if not isinstance(signature, (bytes, bytearray, memoryview)):
        raise SignatureError("the signature is not bytes")
    if len(signature) != SIGNATURE_BYTES:
        raise SignatureError(f"signature is not {SIGNATURE_BYTES} bytes")
    try:
        key.verify(bytes(signature), bytes(content))
    except InvalidSignature:
        raise SignatureError("signature does not match the content") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("a key appears twice in one object")
    return dict(pairs)


def _parse(manifest: object) -> tuple[dict[str, Any], list[dict[str, Any]]] | str:
    """The manifest's fields and its file entries, or what is wrong with it."""
    if not isinstance(manifest, (bytes, bytearray, memoryview)):
        return "not bytes"
    try:
        doc = json.loads(bytes(manifest), object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as exc:
        return f"not JSON: {exc}"
    if not isinstance(doc, dict):
        return "not a JSON object"
    if doc.get("version") != MANIFEST_VERSION:
        return f"version {doc.get('version')!r} is not {MANIFEST_VERSION}"
    if doc.get("algorithm") != ALGORITHM:
        return f"algorithm {doc.get('algorithm')!r} is not {ALGORITHM}"
    for field in ("key_id", "manifest"):
        if not isinstance(doc.get(field), str):
            return f"{field} is missing"
    if not _NAME.fullmatch(doc["manifest"]):
        return f"manifest {doc['manifest']!r} is not a file name"
    entries = doc.get("files")
    if not isinstance(entries, list) or not entries:
        return "files is not a list of files"
    for i, e in enumerate(entries):
        ok = (
            isinstance(e, dict)
            and isinstance(e.get("name"), str)
            and _NAME.fullmatch(e["name"])
            and isinstance(e.get("signature"), str)
            and _NAME.fullmatch(e["signature"])
            and type(e.get("size")) is int
            and isinstance(e.get("sha256"), str)
            and _SHA256.fullmatch(e["sha256"])
        )
        if not ok:
            return f"files[{i}] is not a name, size, sha256 and signature"
    return doc, entries


def parse_manifest(manifest: object) -> tuple[dict[str, Any], list[dict[str, Any]]] | str:
    """A manifest's fields and file entries as `verify_manifest` reads them, or the first
    thing wrong with it (for validators, which must not pass what it refuses)."""
    return _parse(manifest)


def verify_manifest(
    manifest: bytes,
    files: Mapping[str, bytes],
    signatures: Mapping[str, bytes],
    jwks: object,
) -> list[str]:
    """Everything wrong with a delivered run, one line each; empty when all checks out.

    `files` maps file names to their bytes, `signatures` signature-file names (`<file>.sig`,
    and the manifest's own `<stem>.manifest.json.sig`) to theirs; `jwks` is the signing
    key (as `verify_file` takes it). Checks the manifest's signature, then for each file it
    lists: that it is there, its size, its SHA-256 and its signature. A file given but not
    listed is a problem too (nothing vouches for it); the manifest and the signature files
    may be among `files`, as when a whole delivered directory is given."""
    parsed = _parse(manifest)
    if isinstance(parsed, str):
        return [f"manifest: {parsed}"]
    doc, entries = parsed
    given: tuple[object, object] = (files, signatures)
    if not all(isinstance(m, Mapping) for m in given):
        return ["files and signatures must each map names to bytes"]
    problems: list[str] = []
    try:
        key: Ed25519PublicKey | None = resolve_key(jwks, doc["key_id"])
    except SignatureError as exc:
        key = None
        problems.append(f"manifest: {exc}")

    def check(name: str, content: bytes, sig_name: str) -> None:
        signature = signatures.get(sig_name)
        if signature is None:
            problems.append(f"{name}: signature file {sig_name} is missing")
        elif key is not None:
            try:
                verify_file(key, content, signature)
            except SignatureError as exc:
                problems.append(f"{name}: {exc}")

    check(doc["manifest"], bytes(manifest), signature_name(doc["manifest"]))
    listed: set[str] = set()
    for e in entries:
        name = e["name"]
        if name in listed:
            problems.append(f"{name}: listed twice in the manifest")
            continue
        listed.add(name)
        found: object = files.get(name)
        if found is None:
            problems.append(f"{name}: missing file")
            continue
        if not isinstance(found, (bytes, bytearray, memoryview)):
            problems.append(f"{name}: not bytes")
            continue
        content = bytes(found)
        if len(content) != e["size"]:
            problems.append(
                f"{name}: size mismatch ({len(content)} bytes, manifest says {e['size']})"
            )
        if hashlib.sha256(content).hexdigest() != e["sha256"]:
            problems.append(f"{name}: sha256 mismatch")
        check(name, content, e["signature"])
    # The manifest and the signatures may be given among the files (a whole directory).
    vouched = {*listed, doc["manifest"], signature_name(doc["manifest"])}
    vouched |= {e["signature"] for e in entries}
    for name in files:
        if name not in vouched:
            problems.append(f"{name}: not listed in the manifest")
    return problems
