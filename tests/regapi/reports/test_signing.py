"""Report signing: the key file, detached signatures, the manifest, and checking them as a
regulator would (in Python, and with the openssl command the module documents)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from regapi import periods
from regapi.reports import signing
from regapi.reports.signing import (
    ManifestError,
    ReportKeyError,
    ReportSigner,
    SignatureError,
    verify_file,
    verify_manifest,
)

PERIOD = periods.parse("monthly/2026-01")
AT = datetime(2026, 2, 1, 0, 5, tzinfo=UTC)
FILES = [
    ("MGA_monthly_2026-01.csv", b"market,ggr\r\nMGA,123456\r\n"),
    ("MGA_monthly_2026-01.xml", b"<MGAReturn><GGR>123456</GGR></MGAReturn>"),
    ("MGA_monthly_2026-01.pdf", b"%PDF-1.7 " + bytes(range(256)) * 40),
]
MANIFEST = "MGA_monthly_2026-01.manifest.json"


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture
def signer() -> ReportSigner:
    return ReportSigner(Ed25519PrivateKey.generate())


def bundle(signer: ReportSigner, files: list[tuple[str, bytes]] = FILES) -> dict[str, bytes]:
    return dict(
        signing.signed_bundle(
            market="MGA", period=PERIOD, revision=1, generated_at=AT, files=files, signer=signer
        )
    )


def split(delivered: dict[str, bytes]) -> tuple[bytes, dict[str, bytes], dict[str, bytes]]:
    """As a regulator sorts a delivered directory: manifest, files, signatures."""
    files = {n: c for n, c in delivered.items() if not n.endswith(".sig") and n != MANIFEST}
    sigs = {n: c for n, c in delivered.items() if n.endswith(".sig")}
    return delivered[MANIFEST], files, sigs


# --- the key --------------------------------------------------------------------------


def test_the_key_id_is_the_rfc_7638_thumbprint() -> None:
    # RFC 8037 appendix A.1 and A.3: the Ed25519 example key and its JWK thumbprint.
    d = _b64url_decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
    signer = ReportSigner(Ed25519PrivateKey.from_private_bytes(d))
    assert signer.kid == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    assert signer.public_jwk() == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
        "kid": signer.kid,
        "use": "sig",
        "alg": "EdDSA",
    }
    assert signer.jwks() == {"keys": [signer.public_jwk()]}
    # RFC 8032 test 1 (empty message), the same key.
    assert signer.sign(b"").hex().startswith("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974")
    assert "nWGx" not in repr(signer)


def test_a_created_key_file_is_owner_only_pkcs8_and_loads_again(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "reports.pem"
    first = signing.load_or_create(path, create=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----\n")
    assert [p.name for p in path.parent.iterdir()] == ["reports.pem"]  # no temporary left
    again = signing.load_or_create(path, create=True)
    assert again.kid == first.kid
    assert signing.load_or_create(path, create=False).kid == first.kid
    verify_file(first.public_key, b"x", again.sign(b"x"))


def test_a_missing_key_file_is_an_error_without_create(tmp_path: Path) -> None:
    path = tmp_path / "reports.pem"
    with pytest.raises(ReportKeyError, match=f"{path}: no such report-signing key file"):
        signing.load_or_create(path, create=False)
    assert not path.exists()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda p: _write(
                p,
                ec.generate_private_key(ec.SECP256R1()).private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ),
            ),
            "must be Ed25519, not",
        ),
        (lambda p: _write(p, b"not a key\n"), "not a PEM private key"),
        (
            lambda p: _write(
                p,
                Ed25519PrivateKey.generate().private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.BestAvailableEncryption(b"secret"),
                ),
            ),
            "is encrypted",
        ),
        (lambda p: p.mkdir(), "cannot read the report-signing key file"),
    ],
    ids=["ec-key", "garbage", "encrypted", "a-directory"],
)
def test_an_unusable_key_file_is_refused_naming_it(tmp_path: Path, make: Any, message: str) -> None:
    path = tmp_path / "reports.pem"
    make(path)
    with pytest.raises(ReportKeyError, match=message) as caught:
        signing.load_or_create(path, create=True)
    assert str(caught.value).startswith(f"{path}: ")


# --- files ----------------------------------------------------------------------------


def test_a_signature_verifies_with_the_key_its_jwk_or_the_key_set(signer: ReportSigner) -> None:
    signature = signer.sign(b"report")
    assert len(signature) == 64
    verify_file(signer.public_key, b"report", signature)
    verify_file(signer.public_jwk(), b"report", signature)
    verify_file(signer.jwks(), b"report", signature, kid=signer.kid)
    verify_file([signer.public_jwk()], b"report", signature, kid=signer.kid)


@pytest.mark.parametrize(
    ("key", "content", "signature", "message"),
    [
        ("own", b"report!", "good", "signature does not match the content"),
        ("own", b"report", "short", "signature is not 64 bytes"),
        ("own", b"report", "text", "the signature is not bytes"),
        ("own", "report", "good", "the content is not bytes"),
        ("other", b"report", "good", "signature does not match the content"),
        ("other-set", b"report", "good", "unknown key id"),
        ("rsa-jwk", b"report", "good", "not an Ed25519 key"),
        ("bad-x", b"report", "good", "'x' is not a base64url Ed25519 public key"),
        ("number", b"report", "good", "no public key"),
        ("es256-alg", b"report", "good", "is for algorithm 'ES256'"),
    ],
)
def test_a_bad_signature_says_why(
    signer: ReportSigner, key: str, content: object, signature: str, message: str
) -> None:
    other = ReportSigner(Ed25519PrivateKey.generate())
    keys: dict[str, object] = {
        "own": signer.public_jwk(),
        "other": other.public_key,
        "other-set": other.jwks(),
        "rsa-jwk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
        "bad-x": signer.public_jwk() | {"x": "not base64!"},
        "number": 42,
        "es256-alg": signer.public_jwk() | {"alg": "ES256"},
    }
    signatures: dict[str, object] = {
        "good": signer.sign(b"report"),
        "short": signer.sign(b"report")[:63],
        "text": "not bytes",
    }
    with pytest.raises(SignatureError, match=message):
        verify_file(keys[key], content, signatures[signature], kid=signer.kid)


# --- manifests ------------------------------------------------------------------------


def test_the_manifest_is_canonical_and_lists_every_file(signer: ReportSigner) -> None:
    manifest = signing.build_manifest(
        market="MGA", period=PERIOD, revision=1, generated_at=AT, files=FILES, signer=signer
    )
    again = signing.build_manifest(
        market="MGA", period=PERIOD, revision=1, generated_at=AT, files=FILES, signer=signer
    )
    assert manifest == again
    doc = json.loads(manifest)
    assert manifest == json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    assert doc["manifest"] == MANIFEST
    assert (doc["market"], doc["period"], doc["revision"]) == ("MGA", "monthly/2026-01", 1)
    assert doc["generated_at"] == "2026-02-01T00:05:00Z"
    assert (doc["algorithm"], doc["key_id"], doc["version"]) == ("Ed25519", signer.kid, 1)
    assert [f["name"] for f in doc["files"]] == [n for n, _ in FILES]
    pdf = doc["files"][2]
    assert pdf["size"] == len(FILES[2][1])
    assert pdf["signature"] == "MGA_monthly_2026-01.pdf.sig"
    assert len(pdf["sha256"]) == 64


def test_a_bundle_is_files_signatures_and_the_manifest_last(signer: ReportSigner) -> None:
    names = list(bundle(signer))
    assert names == [
        "MGA_monthly_2026-01.csv",
        "MGA_monthly_2026-01.csv.sig",
        "MGA_monthly_2026-01.xml",
        "MGA_monthly_2026-01.xml.sig",
        "MGA_monthly_2026-01.pdf",
        "MGA_monthly_2026-01.pdf.sig",
        "MGA_monthly_2026-01.manifest.json.sig",
        "MGA_monthly_2026-01.manifest.json",
    ]
    revised = signing.signed_bundle(
        market="MGA", period=PERIOD, revision=2, generated_at=AT, files=FILES[:1], signer=signer
    )
    assert revised[-1][0] == "MGA_monthly_2026-01_r2.manifest.json"


def test_a_delivered_run_verifies(signer: ReportSigner) -> None:
    manifest, files, sigs = split(bundle(signer))
    assert verify_manifest(manifest, files, sigs, signer.jwks()) == []
    assert verify_manifest(manifest, files, sigs, signer.public_key) == []
    # A whole delivered directory given as the files.
    everything = {**files, **sigs, MANIFEST: manifest}
    assert verify_manifest(manifest, everything, sigs, signer.jwks()) == []


def test_tampering_is_found_file_by_file(signer: ReportSigner) -> None:
    manifest, files, sigs = split(bundle(signer))
    files["MGA_monthly_2026-01.xml"] += b"<!-- changed -->"
    del files["MGA_monthly_2026-01.pdf"]
    sigs["MGA_monthly_2026-01.csv.sig"] = sigs["MGA_monthly_2026-01.manifest.json.sig"]
    files["extra.csv"] = b"not listed"
    assert verify_manifest(manifest, files, sigs, signer.jwks()) == [
        "MGA_monthly_2026-01.csv: signature does not match the content",
        "MGA_monthly_2026-01.xml: size mismatch (56 bytes, manifest says 40)",
        "MGA_monthly_2026-01.xml: sha256 mismatch",
        "MGA_monthly_2026-01.xml: signature does not match the content",
        "MGA_monthly_2026-01.pdf: missing file",
        "extra.csv: not listed in the manifest",
    ]


def test_a_same_size_change_is_a_sha256_mismatch(signer: ReportSigner) -> None:
    manifest, files, sigs = split(bundle(signer))
    files["MGA_monthly_2026-01.csv"] = files["MGA_monthly_2026-01.csv"].replace(b"6", b"7")
    assert verify_manifest(manifest, files, sigs, signer.jwks()) == [
        "MGA_monthly_2026-01.csv: sha256 mismatch",
        "MGA_monthly_2026-01.csv: signature does not match the content",
    ]


def test_a_changed_or_unsigned_manifest_is_found(signer: ReportSigner) -> None:
    manifest, files, sigs = split(bundle(signer))
    doc = json.loads(manifest)
    doc["files"][0]["sha256"] = "0" * 64
    forged = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    problems = verify_manifest(forged, files, sigs, signer.jwks())
    assert problems == [
        f"{MANIFEST}: signature does not match the content",
        "MGA_monthly_2026-01.csv: sha256 mismatch",
    ]
    del sigs[f"{MANIFEST}.sig"]
    assert verify_manifest(manifest, files, sigs, signer.jwks()) == [
        f"{MANIFEST}: signature file {MANIFEST}.sig is missing"
    ]


def test_a_run_signed_by_another_key_is_refused(signer: ReportSigner) -> None:
    manifest, files, sigs = split(bundle(signer))
    other = ReportSigner(Ed25519PrivateKey.generate())
    assert verify_manifest(manifest, files, sigs, other.jwks()) == [
        f"manifest: unknown key id {signer.kid!r}"
    ]
    # A key set that claims the signer's key id but holds another key.
    impostor = {"keys": [other.public_jwk() | {"kid": signer.kid}]}
    problems = verify_manifest(manifest, files, sigs, impostor)
    assert len(problems) == 4
    assert all(p.endswith(": signature does not match the content") for p in problems)


@pytest.mark.parametrize(
    ("manifest", "problem"),
    [
        (b"", "manifest: not JSON"),
        ("{}", "manifest: not bytes"),
        (b"{", "manifest: not JSON"),
        (b"\xff\xfe", "manifest: not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "manifest: not"),
        (b"[]", "manifest: not a JSON object"),
        (b'{"version":2}', "manifest: version 2 is not 1"),
        (b'{"version":1,"algorithm":"RS256"}', "manifest: algorithm 'RS256' is not Ed25519"),
        (b'{"version":1,"version":1}', "manifest: not JSON: a key appears twice"),
        (b'{"version":1,"algorithm":"Ed25519","manifest":"m.json"}', "manifest: key_id is"),
    ],
)
def test_a_hostile_manifest_is_a_problem_not_an_exception(
    signer: ReportSigner, manifest: Any, problem: str
) -> None:
    problems = verify_manifest(manifest, {}, {}, signer.jwks())
    assert len(problems) == 1
    assert problems[0].startswith(problem)


@pytest.mark.parametrize(
    "entry",
    [
        {"name": "../../etc/passwd", "size": 1, "sha256": "0" * 64, "signature": "x.sig"},
        {"name": "a.csv", "size": "1", "sha256": "0" * 64, "signature": "a.csv.sig"},
        {"name": "a.csv", "size": True, "sha256": "0" * 64, "signature": "a.csv.sig"},
        {"name": "a.csv", "size": 1, "sha256": "ZZ", "signature": "a.csv.sig"},
        {"name": "a.csv", "size": 1, "sha256": "0" * 64, "signature": "/a.csv.sig"},
        "a.csv",
    ],
)
def test_a_hostile_file_entry_is_a_problem(signer: ReportSigner, entry: object) -> None:
    doc = {
        "version": 1,
        "algorithm": "Ed25519",
        "key_id": signer.kid,
        "manifest": MANIFEST,
        "files": [entry],
    }
    manifest = json.dumps(doc).encode()
    assert verify_manifest(manifest, {}, {}, signer.jwks()) == [
        "manifest: files[0] is not a name, size, sha256 and signature"
    ]


def test_hostile_mappings_and_keys_are_problems(signer: ReportSigner) -> None:
    manifest, files, sigs = split(bundle(signer))
    assert verify_manifest(manifest, "files", sigs, signer.jwks()) == [  # type: ignore[arg-type]
        "files and signatures must each map names to bytes"
    ]
    files["MGA_monthly_2026-01.csv"] = "text"  # type: ignore[assignment]
    sigs["MGA_monthly_2026-01.xml.sig"] = b"short"
    problems = verify_manifest(manifest, files, sigs, {"keys": "none"})
    assert problems == [
        "manifest: unknown key id " + repr(signer.kid),
        "MGA_monthly_2026-01.csv: not bytes",
    ]
    problems = verify_manifest(manifest, files, sigs, signer.jwks())
    assert problems == [
        "MGA_monthly_2026-01.csv: not bytes",
        "MGA_monthly_2026-01.xml: signature is not 64 bytes",
    ]


@pytest.mark.parametrize(
    ("files", "at", "message"),
    [
        ([("a.csv", b"1"), ("a.csv", b"2")], AT, "a.csv: listed twice"),
        ([("a.csv.sig", b"1")], AT, "a signature or the manifest is not listed"),
        ([("../a.csv", b"1")], AT, "'../a.csv': not a report file name"),
        ([], AT, "a manifest lists at least one file"),
        ([("a.csv", b"1")], datetime(2026, 2, 1), "generated_at: a time with a time zone"),
    ],
)
def test_a_manifest_of_bad_files_is_refused(
    signer: ReportSigner, files: list[tuple[str, bytes]], at: datetime, message: str
) -> None:
    with pytest.raises(ManifestError, match=message):
        signing.build_manifest(
            market="MGA", period=PERIOD, revision=1, generated_at=at, files=files, signer=signer
        )


# --- the regulator's openssl command ----------------------------------------------------


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not on PATH")
def test_the_documented_openssl_command_verifies_each_file(
    signer: ReportSigner, tmp_path: Path
) -> None:
    delivered = bundle(signer)
    for name, content in delivered.items():
        (tmp_path / name).write_bytes(content)
    (tmp_path / "key.pem").write_bytes(signer.public_pem())

    def openssl_verify(name: str) -> subprocess.CompletedProcess[str]:
        # Exactly as the module's docstring gives it.
        command = (
            f"openssl pkeyutl -verify -pubin -inkey key.pem -rawin -in {name} -sigfile {name}.sig"
        )
        assert command.split()[:7] == [
            "openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "key.pem", "-rawin"
        ]  # fmt: skip
        return subprocess.run(
            command.split(),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "LC_ALL": "C"},
            check=False,
        )

    for name in [n for n in delivered if not n.endswith(".sig")]:
        done = openssl_verify(name)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Signature Verified Successfully" in done.stdout

    (tmp_path / "MGA_monthly_2026-01.csv").write_bytes(b"market,ggr\r\nMGA,999999\r\n")
    done = openssl_verify("MGA_monthly_2026-01.csv")
    assert done.returncode != 0
    assert "Signature Verification Failure" in done.stdout + done.stderr
