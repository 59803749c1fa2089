"""Tokens, signing keys, client secrets and the transport rules, without a server."""

from __future__ import annotations

import base64
import ipaddress
import json
import stat
import time
from pathlib import Path

import pytest
from joserfc import jws, jwt
from joserfc.jwk import OctKey

from regapi.auth import hashing, keys, roles, transport
from regapi.auth.keys import SigningKey, SigningKeyError
from regapi.auth.tokens import NoSigningKeyError, TokenError, TokenService

NOW = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def signing_key(kid: str = "k-1", *, superseded: bool = False) -> SigningKey:
    from datetime import UTC, datetime

    at = datetime.fromtimestamp(NOW, UTC)
    return SigningKey(
        kid=kid, alg=keys.ALG, key=keys.generate(kid), created_at=at,
        superseded_at=at if superseded else None,
    )  # fmt: skip


def service(clock: Clock, *loaded: SigningKey, audience: str = "pitboss") -> TokenService:
    tokens = TokenService(issuer="pitboss", audience=audience, ttl_s=900, clock=clock)
    tokens.load(loaded or [signing_key()])
    return tokens


def issue(tokens: TokenService, *granted: str) -> str:
    return tokens.issue(client_id="pbc_1", name="desk", roles=granted or (roles.ANALYST,)).token


# --- tokens ---------------------------------------------------------------------------


def test_a_token_names_its_client_and_roles() -> None:
    tokens = service(Clock())
    principal = tokens.verify(issue(tokens, roles.ANALYST, roles.OPS))
    assert principal.client_id == "pbc_1"
    assert principal.name == "desk"
    assert principal.roles == {roles.ANALYST, roles.OPS}
    assert principal.may(roles.ANALYSIS)
    assert not principal.may(roles.SENSITIVE_READ)


def test_a_token_expires_even_once_verified() -> None:
    clock = Clock()
    tokens = service(clock)
    token = issue(tokens)
    tokens.verify(token)  # kept
    clock.now += 899
    tokens.verify(token)
    clock.now += 1
    with pytest.raises(TokenError, match="expired"):
        tokens.verify(token)
    fresh = service(clock, *[])
    with pytest.raises(TokenError):
        fresh.verify(token)


@pytest.mark.parametrize(
    ("issuer", "audience", "reason"),
    [("pitboss", "another-api", "invalid_claim"), ("elsewhere", "pitboss", "invalid_claim")],
)
def test_another_issuer_or_audience_is_refused(issuer: str, audience: str, reason: str) -> None:
    clock = Clock()
    key = signing_key()
    theirs = TokenService(issuer=issuer, audience=audience, ttl_s=900, clock=clock)
    theirs.load([key])
    with pytest.raises(TokenError, match=reason):
        service(clock, key).verify(issue(theirs))


def test_a_list_audience_passes_only_if_it_names_this_service() -> None:
    clock = Clock()
    key = signing_key()
    header = {"alg": keys.ALG, "kid": key.kid}
    claims = {"iss": "pitboss", "sub": "c", "iat": int(NOW), "exp": int(NOW) + 60, "jti": "j",
              "roles": ["analyst"]}  # fmt: skip
    tokens = service(clock, key)
    ok = jwt.encode(header, claims | {"aud": ["other", "pitboss"]}, key.key, algorithms=[keys.ALG])
    assert tokens.verify(ok).roles == {"analyst"}
    bad = jwt.encode(header, claims | {"aud": ["other"]}, key.key, algorithms=[keys.ALG])
    with pytest.raises(TokenError):
        tokens.verify(bad)


@pytest.mark.parametrize("missing", ["iss", "aud", "sub", "exp", "iat", "jti", "roles"])
def test_a_token_without_a_claim_is_refused(missing: str) -> None:
    key = signing_key()
    claims = {"iss": "pitboss", "aud": "pitboss", "sub": "c", "iat": int(NOW),
              "exp": int(NOW) + 60, "jti": "j", "roles": ["analyst"]}  # fmt: skip
    del claims[missing]
    token = jwt.encode({"alg": keys.ALG, "kid": key.kid}, claims, key.key, algorithms=[keys.ALG])
    with pytest.raises(TokenError):
        service(Clock(), key).verify(token)


def test_unknown_roles_grant_nothing() -> None:
    tokens = service(Clock())
    assert tokens.verify(issue(tokens, "superuser", roles.OPS)).roles == {roles.OPS}


def test_forged_and_tampered_tokens_are_refused() -> None:
    clock = Clock()
    key = signing_key()
    tokens = service(clock, key)
    good = issue(tokens)
    head, payload, sig = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["roles"] = [roles.COMPLIANCE_OFFICER]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    with pytest.raises(TokenError, match="bad_signature"):
        tokens.verify(f"{head}.{forged}.{sig}")
    # Another key under the same kid.
    impostor = service(clock, signing_key(key.kid))
    with pytest.raises(TokenError, match="bad_signature"):
        tokens.verify(issue(impostor))
    # An unknown kid.
    with pytest.raises(TokenError, match="unknown_key"):
        tokens.verify(issue(service(clock, signing_key("k-other"))))


def _b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_other_algorithms_are_refused(alg: str) -> None:
    """No `none`, and no HMAC keyed with the public key (algorithm confusion)."""
    key = signing_key()
    header = {"alg": alg, "kid": key.kid}
    claims = {"iss": "pitboss", "aud": "pitboss", "sub": "c", "iat": int(NOW),
              "exp": int(NOW) + 60, "jti": "j", "roles": ["analyst"]}  # fmt: skip
    if alg == "none":
        token = f"{_b64(header)}.{_b64(claims)}."
    else:
        secret = OctKey.import_key(json.dumps(key.public_jwk()).encode())
        token = jwt.encode(header, claims, secret, registry=jws.JWSRegistry(algorithms=[alg]))
    with pytest.raises(TokenError):
        service(Clock(), key).verify(token)


@pytest.mark.parametrize("junk", ["", "a.b", "a.b.c", "ééé.b.c", "x" * 5000, "...."])
def test_junk_is_refused(junk: str) -> None:
    with pytest.raises(TokenError):
        service(Clock()).verify(junk)


def test_new_keys_or_disabled_clients_empty_the_kept_tokens() -> None:
    clock = Clock()
    old, new = signing_key("k-old", superseded=True), signing_key("k-new")
    tokens = service(clock, new, old)
    assert tokens.current is not None
    assert tokens.current.kid == "k-new"  # the superseded key verifies but never signs
    signed_by_old = issue(service(clock, signing_key("k-old")))
    with pytest.raises(TokenError):  # another key under that kid: not this one
        tokens.verify(signed_by_old)
    token = issue(tokens)
    tokens.verify(token)
    tokens.load([new, old], disabled={"pbc_1"})
    with pytest.raises(TokenError, match="disabled"):
        tokens.verify(token)
    tokens.load([old])  # k-new retired
    with pytest.raises(TokenError, match="unknown_key"):
        tokens.verify(token)
    assert tokens.current is None
    with pytest.raises(NoSigningKeyError):
        issue(tokens)


def test_jwks_holds_public_halves_only() -> None:
    a, b = signing_key("k-a"), signing_key("k-b", superseded=True)
    published = json.loads(service(Clock(), a, b).jwks())
    assert [k["kid"] for k in published["keys"]] == ["k-a", "k-b"]
    for k in published["keys"]:
        assert "d" not in k
        assert (k["alg"], k["use"], k["crv"]) == (keys.ALG, "sig", "Ed25519")


def test_verifying_a_kept_token_is_cheap() -> None:
    tokens = service(Clock())
    token = issue(tokens)
    tokens.verify(token)
    started = time.perf_counter()
    for _ in range(10_000):
        tokens.verify(token)
    assert (time.perf_counter() - started) / 10_000 < 20e-6


# --- signing keys ------------------------------------------------------------------------


def test_a_sealed_key_opens_only_with_its_kek_and_under_its_kid() -> None:
    kek, other = bytes(range(32)), bytes(32)
    key = keys.generate("k-1")
    envelope = keys.seal(kek, "k-1", key)
    assert keys.private_pem(key) not in envelope
    assert keys.unseal(kek, "k-1", envelope).as_dict(private=True) == key.as_dict(private=True)
    with pytest.raises(SigningKeyError, match="PITBOSS_SIGNING_KEK_FILE"):
        keys.unseal(other, "k-1", envelope)
    with pytest.raises(SigningKeyError):
        keys.unseal(kek, "k-2", envelope)  # copied onto another key's row
    with pytest.raises(SigningKeyError):
        keys.unseal(kek, "k-1", b"\x02" + envelope[1:])


def test_the_kek_file_is_made_once_and_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signing.kek"
    with pytest.raises(SigningKeyError, match="no key-encryption key"):
        keys.read_kek(path, create=False)
    made = keys.read_kek(path, create=True)
    assert len(made) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.read_kek(path, create=True) == made
    assert list(path.parent.iterdir()) == [path]  # no temporary file left
    path.write_text("not a key\n")
    with pytest.raises(SigningKeyError, match="not a key-encryption key"):
        keys.read_kek(path, create=False)


# --- client secrets --------------------------------------------------------------------


def test_secrets_are_hashed_with_a_salt_and_compared_whole() -> None:
    secret = hashing.new_secret()
    assert len(secret) >= 43
    one, two = hashing.hash_secret(secret, n=2**10), hashing.hash_secret(secret, n=2**10)
    assert one != two  # own salt each time
    assert secret not in one
    assert hashing.verify_secret(secret, one)
    assert hashing.verify_secret(secret, two)
    assert not hashing.verify_secret(secret[:-1], one)
    assert not hashing.verify_secret(secret, hashing.decoy())
    for broken in ("", "scrypt$1", "bcrypt$1$1$1$aa$bb", "scrypt$x$8$1$aa$bb"):
        assert not hashing.verify_secret(secret, broken)
    assert hashing.new_client_id() != hashing.new_client_id()


# --- transport ----------------------------------------------------------------------------


def test_certificate_names_are_the_common_name_and_alternative_names() -> None:
    peer = {
        "subject": ((("countryName", "MT"),), (("commonName", "inspector.mga.test"),)),
        "subjectAltName": (("DNS", "api.mga.test"), ("email", "inspector@mga.test")),
    }
    assert transport.cert_names(peer) == {
        "inspector.mga.test", "api.mga.test", "inspector@mga.test",
    }  # fmt: skip
    assert transport.cert_names(None) == set()
    assert transport.cert_names({}) == set()


@pytest.mark.parametrize(
    ("remote", "allowed"),
    [
        ("203.0.113.7", True),
        ("::ffff:203.0.113.9", True),
        ("2001:db8::1", True),
        ("203.0.114.1", False),
        ("127.0.0.1", False),
        ("fe80::1%eth0", False),
        ("not an address", False),
        (None, False),
    ],
)
def test_the_allow_list(remote: str | None, allowed: bool) -> None:
    networks = [ipaddress.ip_network("203.0.113.0/24"), ipaddress.ip_network("2001:db8::/32")]
    assert transport.address_allowed(remote, networks) is allowed


def test_roles() -> None:
    assert roles.unknown(["analyst", "root", "ops", "admin"]) == ["root", "admin"]
    assert set(roles.SENSITIVE_READ) == {roles.COMPLIANCE_OFFICER, roles.REGULATOR_READ}
    assert roles.REGULATOR_READ not in roles.OPERATOR
    # The compliance officer does what analysts and policy admins do.
    assert roles.COMPLIANCE_OFFICER in roles.ANALYSIS
    assert roles.COMPLIANCE_OFFICER in roles.POLICY
