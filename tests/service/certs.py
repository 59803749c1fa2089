"""Real certificates made for a test with `cryptography`: a CA, a server certificate for
127.0.0.1, client certificates (a good one, one whose name is not on the list, one from
another CA, an expired one), and TLS contexts to use them."""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

INSPECTOR = "inspector.mga.test"  # the name the good client certificate carries


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    ca: Path  # the CA that issues regulators' certificates (and the server's)
    server: Pair
    good: Pair  # from the CA, named INSPECTOR
    unlisted: Pair  # from the CA, another name
    foreign: Pair  # named INSPECTOR, from another CA
    expired: Pair  # from the CA, named INSPECTOR, expired yesterday

    def client_context(self, pair: Pair | None = None) -> ssl.SSLContext:
        """A client trusting the CA, presenting `pair` (or no certificate)."""
        ctx = ssl.create_default_context(cafile=str(self.ca))
        if pair is not None:
            ctx.load_cert_chain(pair.cert, pair.key)
        return ctx


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(
    folder: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> Pair:
    pair = Pair(folder / f"{stem}.crt", folder / f"{stem}.key")
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pair.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return pair


_CA_USAGE = x509.KeyUsage(
    digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
    key_encipherment=False, data_encipherment=False, key_agreement=False,
    encipher_only=False, decipher_only=False,
)  # fmt: skip


def _ca(common_name: str, now: datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_CA_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    common_name: str,
    *,
    server: bool,
    not_before: datetime,
    not_after: datetime,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(common_name)]
    if server:
        names = [x509.IPAddress(ipaddress.ip_address(common_name)), x509.DNSName("localhost")]
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def make_pki(folder: Path) -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    valid = {"not_before": now - timedelta(hours=1), "not_after": now + timedelta(days=7)}
    expired = {"not_before": now - timedelta(days=10), "not_after": now - timedelta(days=1)}
    ca = _ca("Pitboss Test Regulator CA", now)
    other = _ca("Somebody Else's CA", now)
    ca_path = folder / "ca.crt"
    ca_path.write_bytes(ca[0].public_bytes(serialization.Encoding.PEM))
    return Pki(
        ca=ca_path,
        server=_write(folder, "server", *_leaf(ca, "127.0.0.1", server=True, **valid)),
        good=_write(folder, "good", *_leaf(ca, INSPECTOR, server=False, **valid)),
        unlisted=_write(folder, "unlisted", *_leaf(ca, "intern.mga.test", server=False, **valid)),
        foreign=_write(folder, "foreign", *_leaf(other, INSPECTOR, server=False, **valid)),
        expired=_write(folder, "expired", *_leaf(ca, INSPECTOR, server=False, **expired)),
    )
