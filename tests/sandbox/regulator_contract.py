"""The regulator client's contract with Pitboss, as Pact interactions: what
`RegulatorClient` sends and relies on in each answer, written with matchers
(`test_pact_consumer.py` exercises the client against them and writes the contract).

Which report run, player and entity an interaction is about is the provider's to say (the
live service and the sandbox hold different ones), and so are the client's credentials, a
token, a callback URL and a request id: requests take them from provider states
(`fromProviderState`), whose names and the values they give are below."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

from pact import Pact, generate, match
from pact.match.matcher import AbstractMatcher, GenericMatcher

from tests.sandbox.example_run import (
    CSV_HEADER,
    CSV_NAME,
    FILES,
    MANIFEST_NAME,
    MARKET,
    PERIOD,
    SIGNER,
    STEM,
)

CONSUMER, PROVIDER = "regulator-client", "pitboss"
CONTRACT = Path(__file__).parent / "pacts" / f"{CONSUMER}-{PROVIDER}.json"

# Example values: fixed, so the contract is the same file on every run.
TOKEN = "eyJhbGciOiJFZDI1NTE5Iiwia2lkIjoiazEifQ.eyJzdWIiOiJwYmNfZXhhbXBsZSJ9.c2lnbmF0dXJl"
CLIENT_ID, CLIENT_SECRET = "pbc_example", "example-secret"
PLAYER, UNKNOWN_PLAYER = "p-reg-1", "p-nobody"
REQUEST_ID = "6c1e4a52-9d0f-4b8e-a0b7-3f2d1c0e9a84"
FROM, TO = "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"

# --- matchers -------------------------------------------------------------------------------

TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
HEX64 = r"^[0-9a-f]{64}$"
B64URL_32 = r"^[A-Za-z0-9_-]{43}$"
PEM = r"^-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\n]+-----END PUBLIC KEY-----\n$"
UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
# The regulator paths, live or in the sandbox (the verifier prefixes `/sandbox` for it).
MOUNT = r"^(/sandbox)?"
PERIOD_RE = r"(daily/\d{4}-\d{2}-\d{2}|weekly/\d{4}-W\d{2}|monthly/\d{4}-\d{2})"
# A report file's name: market, kind, label, a revision after the first, the format.
STEM_RE = r"[A-Z]+_(daily|weekly|monthly)_[0-9W-]+(_r[0-9]+)?"
FILE_RE = STEM_RE + r"\.(csv|xml|pdf|manifest\.json)(\.sig)?"
DATE = r"^\d{4}-\d{2}-\d{2}$"
ID = r"^[^/?#\s]{1,256}$"


def at(example: str = "2026-02-01T04:00:07Z") -> AbstractMatcher[Any]:
    return match.regex(example, regex=TIME)


def exactly(value: object) -> AbstractMatcher[Any]:
    """Equal to `value`, also inside `like`/`each_like`, whose type matching would
    otherwise reach every value under them."""
    return GenericMatcher("equality", value)


def rule(*matchers: dict[str, Any]) -> dict[str, Any]:
    return {"combine": "AND", "matchers": list(matchers)}


def injected(example: str, regex: str, expression: str) -> AbstractMatcher[Any]:
    """A value the provider state gives when the contract is verified (`${name}` in
    `expression`), `example` in the consumer's test."""
    return GenericMatcher(
        "regex", example, regex=regex, generator=generate.provider_state(expression)
    )


BEARER = injected(f"Bearer {TOKEN}", r"^Bearer [A-Za-z0-9._~+/-]+=*$", "Bearer ${access_token}")

# --- provider states ------------------------------------------------------------------------

CLIENT_STATE = "a regulator client"  # gives client_credentials: base64 of id:secret
TOKEN_STATE = "a regulator with a token"  # gives access_token
# Which run, player and entity is the provider's to say (the live service and the
# sandbox hold different ones): the requests take them from these states.
REPORT_STATE = "a market's report for a period"  # gives market, period, stem
PLAYER_STATE = "a player with a profile, transactions, an alert and a case"  # gives player_id
NO_PLAYER_STATE = "no such player"
HISTORY_STATE = "an entity changed twice"  # gives entity, id
LOG_STATE = "transactions in a month"
CALLBACK_STATE = "a callback receiver"  # gives callback_url
DELIVERED_STATE = "a file request delivered"  # gives request_id
State = tuple[str, dict[str, Any]]  # a provider state and its parameters


# --- the interactions -------------------------------------------------------------------------


def token_interaction(pact: Pact) -> None:
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    (
        pact.upon_receiving("a token request with client credentials")
        .given(CLIENT_STATE)
        .with_request("POST", "/oauth2/token")
        .with_header(
            "Authorization",
            injected(f"Basic {basic}", r"^Basic [A-Za-z0-9+/]+=*$", "Basic ${client_credentials}"),
        )
        .with_body("grant_type=client_credentials", "application/x-www-form-urlencoded")
        .will_respond_with(200)
        .with_header("Cache-Control", "no-store")
        .with_body(
            {
                "access_token": match.str(TOKEN),
                "token_type": "Bearer",
                "expires_in": match.int(900),
                # regulator_read live, sandbox in the sandbox
                "scope": match.regex("regulator_read", regex=r"(^| )(regulator_read|sandbox)( |$)"),
            },
            "application/json",
        )
    )


def authorized(pact: Pact, description: str, *states: State) -> Any:
    """An interaction with a regulator's bearer token (and `states`)."""
    interaction = pact.upon_receiving(description).given(TOKEN_STATE)
    for name, params in states:
        interaction = interaction.given(name, params) if params else interaction.given(name)
    return interaction


REPORT: State = (REPORT_STATE, {})


def report_path(suffix: str | None = None) -> AbstractMatcher[Any]:
    """`/regulator/reports/<period>`, or a file of the run: `…/<stem><suffix>`; the period
    and the stem from REPORT_STATE. Each suffix has a pattern of its own, so that the mock
    server tells the downloads apart."""
    path = "/regulator/reports/"
    if suffix is None:
        return injected(path + PERIOD, rf"^{path}{PERIOD_RE}$", path + "${period}")
    tail = re.escape(suffix)
    return injected(f"{path}{PERIOD}/{STEM}{suffix}", rf"^{path}{PERIOD_RE}/{STEM_RE}{tail}$",
                    path + "${period}/${stem}" + suffix)  # fmt: skip


def report_interactions(pact: Pact) -> None:
    jwk = SIGNER.public_jwk()
    (
        authorized(pact, "a request for the report-signing keys")
        .with_request("GET", "/regulator/signing-keys")
        .with_header("Authorization", BEARER)
        .will_respond_with(200)
        .with_body(
            {
                "keys": match.each_like(
                    {
                        "kty": exactly("OKP"),
                        "crv": exactly("Ed25519"),
                        "x": match.regex(jwk["x"], regex=B64URL_32),
                        "kid": match.regex(jwk["kid"], regex=B64URL_32),
                        "use": exactly("sig"),
                        "alg": exactly("EdDSA"),
                    },
                    min=1,
                ),
                "pem": match.regex(
                    SIGNER.public_pem().decode(),
                    regex=PEM,
                ),
            },
            "application/json",
        )
    )
    manifest = FILES[MANIFEST_NAME]
    (
        authorized(pact, "a request for a period's report files", REPORT)
        .with_request("GET", report_path())
        .with_query_parameter("market", injected(MARKET, r"^[A-Z]{2,16}$", "${market}"))
        .with_header("Authorization", BEARER)
        .will_respond_with(200)
        .with_body(
            {
                "period": match.regex(PERIOD, regex=f"^{PERIOD_RE}$"),
                "start": match.regex("2026-01-01", regex=DATE),
                "end": match.regex("2026-02-01", regex=DATE),
                # Listed here: the manifest, the root the client fetches a run from.
                "files": match.each_like(
                    {
                        "id": match.int(41),
                        "name": match.regex(MANIFEST_NAME, regex=f"^{FILE_RE}$"),
                        "market": match.regex(MARKET, regex=r"^[A-Z]{2,16}$"),
                        "period": match.regex(PERIOD, regex=f"^{PERIOD_RE}$"),
                        "format": match.regex("manifest", regex=r"^(csv|xml|pdf|sig|manifest)$"),
                        "size": match.int(len(manifest)),
                        "sha256": match.regex(hashlib.sha256(manifest).hexdigest(), regex=HEX64),
                        "generated_at": at(),
                        "url": match.regex(
                            f"/regulator/reports/{PERIOD}/{MANIFEST_NAME}",
                            regex=rf"{MOUNT}/regulator/reports/{PERIOD_RE}/{FILE_RE}$",
                        ),
                    },
                    min=1,
                ),
            },
            "application/json",
        )
    )
    kinds = {
        CSV_NAME: ("a report file", "text/csv; charset=utf-8"),
        CSV_NAME + ".sig": ("a report file's signature", "application/octet-stream"),
        MANIFEST_NAME: ("a run's manifest", "application/json"),
        MANIFEST_NAME + ".sig": ("a manifest's signature", "application/octet-stream"),
    }
    for name, (what, media_type) in kinds.items():
        download_interaction(pact, f"a download of {what}", name, media_type)


def download_interaction(pact: Pact, description: str, name: str, media_type: str) -> None:
    content = FILES[name]
    digest = hashlib.sha256(content)
    if name.endswith(".sig"):
        body = {"$": rule({"match": "type"})}  # 64 bytes: the signature of other bytes
    elif name.endswith(".csv"):
        # The header row: the columns a regulator's import reads.
        # Pact's regex matches the whole body.
        header = CSV_HEADER.decode().removesuffix("\r\n")
        body = {"$": rule({"match": "regex", "regex": rf"^{header}\r\n[\s\S]*$"})}
    else:
        body = {
            "$.version": rule({"match": "integer"}),
            "$.manifest": rule({"match": "regex", "regex": f"^{FILE_RE}$"}),
            "$.market": rule({"match": "regex", "regex": r"^[A-Z]{2,16}$"}),
            "$.period": rule({"match": "regex", "regex": f"^{PERIOD_RE}$"}),
            "$.revision": rule({"match": "integer"}),
            "$.generated_at": rule({"match": "regex", "regex": TIME}),
            "$.key_id": rule({"match": "regex", "regex": B64URL_32}),
            "$.files": rule({"match": "type", "min": 1}),
            "$.files[*].name": rule({"match": "regex", "regex": f"^{FILE_RE}$"}),
            "$.files[*].size": rule({"match": "integer"}),
            "$.files[*].sha256": rule({"match": "regex", "regex": HEX64}),
            "$.files[*].signature": rule({"match": "regex", "regex": r"^[A-Za-z0-9._-]+\.sig$"}),
        }
    (
        authorized(pact, description, REPORT)
        .with_request("GET", report_path(name.removeprefix(STEM)))
        .with_header("Authorization", BEARER)
        .will_respond_with(200)
        .with_header("Content-Type", media_type)
        .with_header(
            "Content-Digest",
            match.regex(
                f"sha-256=:{base64.b64encode(digest.digest()).decode()}:",
                regex=r"^sha-256=:[A-Za-z0-9+/]{43}=:$",
            ),
        )
        .with_header("ETag", match.regex(f'"{digest.hexdigest()}"', regex=r'^"[0-9a-f]{64}"$'))
        .with_header(
            "Content-Disposition",
            match.regex(
                f'attachment; filename="{name}"', regex=f'^attachment; filename="{FILE_RE}"$'
            ),
        )
        # The bytes exactly: the client checks digests and signatures over them.
        .with_binary_body(content, media_type)
        .with_matching_rules({"body": body})
    )


def transaction(player: AbstractMatcher[Any]) -> dict[str, Any]:
    """A row of the transactions log, about `player`."""
    return {
        "seq": match.int(1),
        "event_id": match.str("ev-1"),
        "type": match.regex("deposit", regex=r"^[a-z_]+$"),
        "player_id": player,
        "market": match.str(MARKET),
        "ts": at("2026-01-05T10:00:00Z"),
        "received_at": at("2026-01-05T10:00:01.204Z"),
        "event": match.like({"event_id": "ev-1", "type": "deposit"}),
    }


def player_interaction(pact: Pact) -> None:
    (
        authorized(pact, "a request for a player's file", (PLAYER_STATE, {}))
        .with_request(
            "GET",
            injected(
                f"/regulator/player/{PLAYER}",
                r"^/regulator/player/[^/?#\s]+$",
                "/regulator/player/${player_id}",
            ),
        )
        .with_header("Authorization", BEARER)
        .will_respond_with(200)
        .with_body(
            {
                "player_id": match.regex(PLAYER, regex=ID),
                "profile": match.like(
                    {
                        "player_id": match.regex(PLAYER, regex=ID),
                        "market": "MGA",
                        "full_name": "Maria Borg",
                        "email": "maria@example.mt",
                        "date_of_birth": match.regex("1990-04-02", regex=r"^\d{4}-\d{2}-\d{2}$"),
                        "kyc_level": 0,
                        "kyc_status": "none",
                    }
                ),
                "kyc": match.like(
                    {
                        "level": 0,
                        "status": "none",
                        "source": match.regex("profile", regex=r"^(profile|events)$"),
                    }
                ),
                "transactions": {
                    "recent": match.each_like(transaction(match.regex(PLAYER, regex=ID)), min=1),
                    "log": match.regex(
                        f"/regulator/logs/transactions?player={PLAYER}",
                        regex=rf"{MOUNT}/regulator/logs/transactions\?player=\S+$",
                    ),
                },
                "alerts": match.each_like(
                    {
                        "id": match.int(7),
                        "player_id": match.regex(PLAYER, regex=ID),
                        "family": match.str("aml"),
                        "severity": match.str("high"),
                        "first_seen": at(),
                    },
                    min=1,
                ),
                "cases": match.each_like(
                    {"id": match.int(3), "state": match.str("open"), "opened_at": at()}, min=1
                ),
            },
            "application/json",
        )
    )


def unknown_player_interaction(pact: Pact) -> None:
    (
        authorized(
            pact,
            "a request for a player the service does not know",
            (NO_PLAYER_STATE, {"player_id": UNKNOWN_PLAYER}),
        )
        .with_request("GET", f"/regulator/player/{UNKNOWN_PLAYER}")
        .with_header("Authorization", BEARER)
        .will_respond_with(404)
        .with_body(
            {
                "title": match.str("Not found"),
                "status": 404,
                "detail": match.str(f"no player '{UNKNOWN_PLAYER}'"),
                "field": "id",
            },
            "application/problem+json",
        )
    )


def history_interaction(pact: Pact) -> None:
    state: State = (HISTORY_STATE, {})
    (
        authorized(pact, "a request for an entity's change history", state)
        .with_request("GET", "/regulator/audit")
        .with_query_parameter("entity", injected("bonusRule", r"^[A-Za-z_]+$", "${entity}"))
        .with_query_parameter("id", injected("welcome", ID, "${id}"))
        .with_header("Authorization", BEARER)
        .will_respond_with(200)
        .with_body(
            {
                "entity": match.regex("bonusRule", regex=r"^[A-Za-z_]+$"),
                "id": match.regex("welcome", regex=ID),
                "changes": match.each_like(
                    {
                        "version": match.int(1),
                        "at": at(),
                        "operator": match.str("ops-console"),
                        "action": match.regex("create", regex=r"^(create|update|delete)$"),
                        "diff": match.each_like(
                            {
                                "op": match.regex("add", regex=r"^(add|remove|replace|move|copy)$"),
                                "path": match.str("/cap"),
                            },
                            min=1,
                        ),
                        "hash": match.regex("5d1e" + "0" * 60, regex=HEX64),
                    },
                    min=1,
                ),
            },
            "application/json",
        )
    )


def log_interaction(pact: Pact) -> None:
    state = (LOG_STATE, {"month": "2026-01", "at_least": 3})
    (
        authorized(pact, "a request for a page of the transactions log", state)
        .with_request("GET", "/regulator/logs/transactions")
        .with_query_parameters({"from": FROM, "to": TO, "limit": "2"})
        .with_header("Authorization", BEARER)
        .will_respond_with(200)
        .with_body(
            {
                "type": "transactions",
                "items": match.each_like(transaction(match.str(PLAYER)), min=1, max=2),
                "next_cursor": match.str("eyJ0IjoiMjAyNi0wMS0wNSJ9"),
            },
            "application/json",
        )
    )


def request_interactions(pact: Pact) -> None:
    (
        authorized(pact, "a request for a file by callback", (CALLBACK_STATE, {}))
        .with_request("POST", "/webhook/regulator/request")
        .with_header("Authorization", BEARER)
        .with_body(
            {
                "type": "transactions",
                "parameters": {"from": FROM, "to": TO},
                "callback_url": injected(
                    "http://127.0.0.1:8999/pitboss", r"^https?://\S+$", "${callback_url}"
                ),
                "format": "json",
            },
            "application/json",
        )
        .will_respond_with(202)
        .with_header(
            "Location",
            match.regex(
                f"/webhook/regulator/request/{REQUEST_ID}",
                regex=rf"{MOUNT}/webhook/regulator/request/[0-9a-f-]{{36}}$",
            ),
        )
        .with_body(
            {
                "id": match.regex(REQUEST_ID, regex=UUID),
                "state": "queued",
                "status_url": match.regex(
                    f"/webhook/regulator/request/{REQUEST_ID}",
                    regex=rf"{MOUNT}/webhook/regulator/request/[0-9a-f-]{{36}}$",
                ),
                "created_at": at(),
            },
            "application/json",
        )
    )
    (
        authorized(pact, "a request for a delivered file request's state", (DELIVERED_STATE, {}))
        .with_request(
            "GET",
            injected(
                f"/webhook/regulator/request/{REQUEST_ID}",
                r"^/webhook/regulator/request/[0-9a-f-]{36}$",
                "/webhook/regulator/request/${request_id}",
            ),
        )
        .with_header("Authorization", BEARER)
        .will_respond_with(200)
        .with_body(
            {
                "id": match.regex(REQUEST_ID, regex=UUID),
                "type": "transactions",
                "format": "json",
                "state": "delivered",
                "attempts": match.int(1),
                "file": match.like(
                    {
                        "name": match.regex(
                            f"transactions-{REQUEST_ID}.json",
                            regex=r"^transactions-[0-9a-f-]{36}\.json$",
                        ),
                        "format": exactly("json"),
                        "size": match.int(2113),
                        "sha256": match.regex("9f2c" + "0" * 60, regex=HEX64),
                        "rows": match.int(3),
                    }
                ),
                "created_at": at(),
                "delivered_at": at(),
            },
            "application/json",
        )
    )
