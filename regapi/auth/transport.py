"""What the regulator API asks of a connection, beside a token: TLS 1.2 or later, a client
certificate issued by the configured CA (optionally one of named subjects), and an address
on the allow-list.

The server asks every client for a certificate but does not insist (CERT_OPTIONAL), so
that operator clients without one still reach their routes; the regulator paths then
refuse a connection that presented none. A certificate the CA did not issue, or an
expired one, fails the TLS handshake itself: such a client never gets an HTTP answer.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Iterable
from pathlib import Path
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def server_context(cert: Path, key: Path, client_ca: Path | None) -> ssl.SSLContext:
    """The listening socket's TLS: 1.2 at least, and client certificates checked against
    `client_ca` (only that CA: the system's trust store is not loaded)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    if client_ca is not None:
        ctx.load_verify_locations(cafile=client_ca)
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


def cert_names(peercert: dict[str, Any] | None) -> set[str]:
    """The names a verified peer certificate carries: its subject's common name and its
    subjectAltName values (DNS, email, URI, IP)."""
    if not peercert:
        return set()
    names = {
        value for rdn in peercert.get("subject", ()) for attr, value in rdn if attr == "commonName"
    }
    names.update(value for _kind, value in peercert.get("subjectAltName", ()))
    return names


def address_allowed(remote: str | None, allowed: Iterable[Network]) -> bool:
    """True if `remote` lies in one of the networks (an IPv4 address reached over IPv6,
    `::ffff:a.b.c.d`, counts as itself)."""
    if remote is None:
        return False
    try:
        address = ipaddress.ip_address(remote.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in allowed)
