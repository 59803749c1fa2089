"""Schemathesis over the whole API (issue 8), driven by the service's own `/openapi.json`:
no 5xx, every response as documented, and every route that declares roles refusing whoever
does not hold one. The test suite runs the same, bounded and deterministic
(`tests/contract/test_openapi_fuzz.py`); this is the longer run, against a URL.

    .venv/bin/python load/fuzz.py --url http://127.0.0.1:8080 \\
        --client-id pbc_… --client-secret …              # 100 + 30 cases per operation
    PITBOSS_FUZZ_CLIENT_ID=pbc_… PITBOSS_FUZZ_CLIENT_SECRET=… \\
        .venv/bin/python load/fuzz.py --url … --examples 1000 --seed 7 --operation /regulator/

The client (`pitboss clients create --name fuzz --role …`, one `--role` for every role,
sandbox included) gets a token per operation from `POST /oauth2/token`, scoped to the
roles the operation declares (its OpenAPI `security`): an operation whose roles the client
holds none of is skipped and said so. It writes: run it against a service on a database of
its own, never against one that matters.

What it does, per operation of the document (none is listed here):

1. Cases generated from the schema (schemathesis, Hypothesis underneath): `--examples`
   valid ones and `--negative-examples` invalid ones, each sent with the operation's token
   and its answer checked: not a server error, a documented status, a documented content
   type, the documented headers, a body matching the documented schema; and not refused
   (401 / 403) although the token holds the operation's roles. Streamed answers (NDJSON,
   `format=ndjson` or `Accept: application/x-ndjson`) are not asked for: the document
   describes the paged JSON only.
2. For operations that declare roles: the request with no token, a token that is not one,
   a real token with its signature changed (each 401), and a token holding every role the
   client has but the operation's (403), each answer also checked against the document.

It prints each operation's cases and statuses, then every distinct failure with the
request that shows it (curl), and exits 1 if there is any.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import checks
from schemathesis.core.result import Err
from schemathesis.errors import FailureGroup

# Every response check the issue names.
CHECKS = (
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
)
# A refusal is a documented status with a documented body (it cannot be a server error
# and be one of 401 / 403).
REFUSAL_CHECKS = CHECKS[1:]
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
NDJSON = "application/x-ndjson"
TIMEOUT_S = 30.0
Operation: TypeAlias = schemathesis.APIOperation[Any, Any, Any, Any]
Case: TypeAlias = schemathesis.Case[Any]


@dataclass(frozen=True)
class Finding:
    """One way an operation failed, with the first request that showed it."""

    operation: str
    mode: str  # positive, negative, or the refusal asked for
    title: str
    detail: str
    request: str  # as a curl command, the token filtered out

    def describe(self) -> str:
        return f"{self.operation} [{self.mode}] {self.title}\n  {self.detail}\n  {self.request}"


@dataclass
class Outcome:
    """What one operation answered to the cases of one generation mode."""

    operation: str
    mode: str
    statuses: Counter[int] = field(default_factory=Counter)
    findings: dict[tuple[str, str], Finding] = field(default_factory=dict)
    skipped: str | None = None

    def add(self, finding: Finding) -> None:
        self.findings.setdefault((finding.title, finding.detail[:200]), finding)


def declared_roles(operation: Operation) -> tuple[str, ...]:
    """The roles an operation admits, from its OpenAPI `security` (empty: public)."""
    security = operation.definition.raw.get("security") or []
    return tuple(dict.fromkeys(r for need in security for r in need.get("oauth2", [])))


class Tokens:
    """Bearer tokens from the service's token endpoint for one client, one per set of
    roles (the OAuth2 `scope`), made when first asked for and again at half their life."""

    def __init__(self, session: requests.Session, url: str, client_id: str, secret: str) -> None:
        self._session, self._url = session, url.rstrip("/")
        self._client = {"client_id": client_id, "client_secret": secret}
        self._issued: dict[frozenset[str], tuple[str, float]] = {}  # → token, renew after
        full = self._request(None)
        self.held = frozenset(full["scope"].split())

    def _request(self, scope: str | None) -> dict[str, Any]:
        form = {"grant_type": "client_credentials", **self._client}
        if scope is not None:
            form["scope"] = scope
        resp = self._session.post(f"{self._url}/oauth2/token", data=form, timeout=TIMEOUT_S)
        if resp.status_code != 200:
            raise RuntimeError(f"POST /oauth2/token: {resp.status_code} {resp.text}")
        body: dict[str, Any] = resp.json()
        return body

    def bearer(self, roles: Iterable[str]) -> str | None:
        """A token holding those of `roles` the client holds; None if it holds none."""
        wanted = frozenset(roles) & self.held
        if not wanted:
            return None
        token, renew = self._issued.get(wanted, ("", 0.0))
        if time.monotonic() >= renew:
            body = self._request(" ".join(sorted(wanted)))
            token = body["access_token"]
            self._issued[wanted] = (token, time.monotonic() + body["expires_in"] / 2)
        return token


def _streams(case: Case) -> bool:
    query: dict[str, Any] = case.query or {}
    headers: dict[str, Any] = dict(case.headers or {})
    accept = " ".join(str(v) for k, v in headers.items() if k.lower() == "accept")
    return query.get("format") == "ndjson" or NDJSON in accept


def _negatable(operation: Operation) -> bool:
    # Hypothesis would try hundreds of cases before giving up (Unsatisfiable).
    raw = operation.definition.raw
    return "requestBody" in raw or any(p.get("in") != "path" for p in raw.get("parameters", []))


def _curl(case: Case, headers: dict[str, str]) -> str:
    try:
        return case.as_curl_command(headers=headers)
    except Exception as exc:  # a case too odd to print must not hide its finding
        return f"({case.method} {case.formatted_path}: no curl: {exc})"


@dataclass(frozen=True)
class Run:
    """Where and how hard to fuzz."""

    url: str
    session: requests.Session
    tokens: Tokens
    examples: int = 100
    negative_examples: int = 30
    seed: int | None = None  # None: derandomized, the same cases every run


def fuzz_operation(run: Run, operation: Operation, mode: schemathesis.GenerationMode) -> Outcome:
    """Send `operation` the cases generated in `mode` and check every answer."""
    label = operation.label
    outcome = Outcome(label, mode.value)
    roles = declared_roles(operation)
    headers: dict[str, str] = {}
    if roles:
        token = run.tokens.bearer(roles)
        if token is None:
            outcome.skipped = f"the client holds none of its roles ({', '.join(roles)})"
            return outcome
        headers["Authorization"] = f"Bearer {token}"
    examples = run.examples if mode is MODES[0] else run.negative_examples
    if examples <= 0:
        outcome.skipped = "no cases asked for"
        return outcome
    if mode is not MODES[0] and not _negatable(operation):
        outcome.skipped = "nothing to make invalid but path parameters, any string"
        return outcome

    def check(case: Case) -> None:
        try:
            response = case.call(
                base_url=run.url, session=run.session, headers=headers, timeout=TIMEOUT_S
            )
        except requests.RequestException as exc:
            outcome.add(Finding(label, mode.value, "No answer", repr(exc), _curl(case, headers)))
            return
        outcome.statuses[response.status_code] += 1
        if roles and response.status_code in (401, 403):
            outcome.add(Finding(
                label, mode.value, "Refused a token with the operation's roles",
                f"{response.status_code}: {response.text[:300]}", _curl(case, headers),
            ))  # fmt: skip
        try:
            case.validate_response(response, checks=list(CHECKS), headers=headers)
        except FailureGroup as group:
            for failure in group.exceptions:
                outcome.add(Finding(
                    label, mode.value, failure.title, failure.message.strip()[:2000],
                    _curl(case, headers),
                ))  # fmt: skip

    test = given(operation.as_strategy(mode).filter(lambda c: not _streams(c)))(check)
    test = hypothesis_settings(
        max_examples=examples,
        derandomize=run.seed is None,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )(test)
    if run.seed is not None:
        test = hypothesis.seed(run.seed)(test)
    try:
        test()
    except Unsatisfiable:
        # Only path parameters of any string, say: nothing can be made invalid.
        outcome.skipped = f"no {mode.value} case can be made"
    return outcome


def operations(schema: schemathesis.BaseSchema) -> Iterator[Operation]:
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        yield result.ok()


def fuzz(
    run: Run,
    schema: schemathesis.BaseSchema,
    *,
    only: Callable[[str], bool] = lambda label: True,
    progress: Callable[[Outcome], None] = lambda outcome: None,
) -> list[Outcome]:
    """Every operation of `schema` (those `only` keeps), in every generation mode."""
    outcomes = []
    for operation in operations(schema):
        if only(operation.label):
            for mode in MODES:
                outcomes.append(fuzz_operation(run, operation, mode))
                progress(outcomes[-1])
    return outcomes


def _forged(token: str) -> str:
    head, payload, signature = token.split(".")
    return f"{head}.{payload}.{signature[::-1] if signature[::-1] != signature else 'AAAA'}"


def refusals(
    run: Run,
    schema: schemathesis.BaseSchema,
    *,
    only: Callable[[str], bool] = lambda label: True,
) -> list[Outcome]:
    """Every operation that declares roles, called without them: no token, a token that
    is not one and a forged one (401), a token with every other role the client holds
    (403). Path parameters are "1": the access check answers before any handler."""
    outcomes = []
    someone = run.tokens.bearer(run.tokens.held)
    assert someone is not None
    for operation in operations(schema):
        roles = declared_roles(operation)
        if not roles or not only(operation.label):
            continue
        attempts: list[tuple[str, dict[str, str], int]] = [
            ("no token", {}, 401),
            ("not a token", {"Authorization": "Bearer not-a-token"}, 401),
            ("forged token", {"Authorization": f"Bearer {_forged(someone)}"}, 401),
        ]
        other = run.tokens.bearer(run.tokens.held - set(roles))
        if other is not None:
            attempts.append(("other roles", {"Authorization": f"Bearer {other}"}, 403))
        for name, headers, expected in attempts:
            outcomes.append(_refusal(run, operation, name, headers, expected))
    return outcomes


def _refusal(
    run: Run,
    operation: Operation,
    name: str,
    headers: dict[str, str],
    expected: int,
) -> Outcome:
    label = operation.label
    outcome = Outcome(label, name)
    params = {p.name: "1" for p in operation.path_parameters}
    case = operation.Case(path_parameters=params)
    try:
        response = case.call(
            base_url=run.url, session=run.session, headers=headers, timeout=TIMEOUT_S
        )
    except requests.RequestException as exc:
        outcome.add(Finding(label, name, "No answer", repr(exc), _curl(case, headers)))
        return outcome
    outcome.statuses[response.status_code] += 1
    if response.status_code != expected:
        outcome.add(Finding(
            label, name, f"Expected {expected}", f"{response.status_code}: {response.text[:300]}",
            _curl(case, headers),
        ))  # fmt: skip
    try:
        case.validate_response(response, checks=list(REFUSAL_CHECKS), headers=headers)
    except FailureGroup as group:
        for failure in group.exceptions:
            outcome.add(Finding(label, name, failure.title, failure.message.strip()[:2000],
                                _curl(case, headers)))  # fmt: skip
    return outcome


def findings(outcomes: Iterable[Outcome]) -> list[Finding]:
    return [f for o in outcomes for f in o.findings.values()]


def summary(outcomes: list[Outcome]) -> str:
    """A line per operation and mode (cases, statuses), then every distinct failure."""
    lines = []
    for o in outcomes:
        if o.skipped:
            lines.append(f"{o.operation:<60} {o.mode:<12} skipped: {o.skipped}")
            continue
        statuses = " ".join(f"{s}×{n}" for s, n in sorted(o.statuses.items()))
        flag = f"  {len(o.findings)} FAILED" if o.findings else ""
        lines.append(f"{o.operation:<60} {o.mode:<12} {statuses}{flag}")
    found = findings(outcomes)
    cases = sum(sum(o.statuses.values()) for o in outcomes)
    lines.append(f"\n{cases} requests, {len(found)} distinct failures")
    lines.extend(f"\n{f.describe()}" for f in found)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--url", required=True, help="the service, e.g. http://127.0.0.1:8080")
    p.add_argument("--client-id", default=os.environ.get("PITBOSS_FUZZ_CLIENT_ID"))
    p.add_argument("--client-secret", default=os.environ.get("PITBOSS_FUZZ_CLIENT_SECRET"))
    p.add_argument("--examples", type=int, default=100, help="valid cases per operation")
    p.add_argument("--negative-examples", type=int, default=30,
                   help="invalid cases per operation")  # fmt: skip
    p.add_argument("--seed", type=int, help="another set of cases (default: the same each run)")
    p.add_argument("--operation", default="", help="only operations whose label has this")
    p.add_argument("--no-refusals", action="store_true", help="skip the access checks")
    args = p.parse_args(argv)
    if not args.client_id or not args.client_secret:
        p.error("--client-id and --client-secret (or PITBOSS_FUZZ_CLIENT_ID / _SECRET)")
    url = args.url.rstrip("/")
    started = time.perf_counter()
    with requests.Session() as session:
        run = Run(
            url=url,
            session=session,
            tokens=Tokens(session, url, args.client_id, args.client_secret),
            examples=args.examples,
            negative_examples=args.negative_examples,
            seed=args.seed,
        )
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json", timeout=TIMEOUT_S)

        def only(label: str) -> bool:
            return args.operation in label

        def progress(o: Outcome) -> None:
            print(f"  {o.operation} [{o.mode}]: {sum(o.statuses.values())} cases", flush=True)

        outcomes = fuzz(run, schema, only=only, progress=progress)
        if not args.no_refusals:
            outcomes += refusals(run, schema, only=only)
    print(summary(outcomes))
    held = " ".join(sorted(run.tokens.held))
    print(f"\n{time.perf_counter() - started:.1f} s; the client's roles: {held}")
    return 1 if findings(outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
