"""Schemathesis against the service's own `/openapi.json`, over the whole API as it is
mounted (events, cases, policies, the regulator API, the sandbox; no operation is listed
here): no 5xx, every answer with a documented status, content type, headers and body, and
every operation that declares roles refusing whoever holds none of them.

Bounded to stay in the suite: `EXAMPLES` valid and `NEGATIVE_EXAMPLES` invalid cases per
operation, derandomized (the same cases every run). `load/fuzz.py` is the longer run.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
import schemathesis

from load import fuzz
from regapi.auth import roles
from tests.contract.conftest import Served

EXAMPLES = 30
NEGATIVE_EXAMPLES = 12


@pytest.fixture(scope="module")
def run(served: Served) -> Iterator[fuzz.Run]:
    with requests.Session() as session:
        tokens = fuzz.Tokens(session, served.url, served.client_id, served.client_secret)
        yield fuzz.Run(
            url=served.url,
            session=session,
            tokens=tokens,
            examples=EXAMPLES,
            negative_examples=NEGATIVE_EXAMPLES,
        )


@pytest.fixture(scope="module")
def schema(served: Served) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{served.url}/openapi.json")


def _failed(outcomes: list[fuzz.Outcome], served: Served) -> str:
    text = fuzz.summary(outcomes)
    if any(f.title == "Server error" for f in fuzz.findings(outcomes)):
        text += f"\n\nThe service's log:\n{served.log_tail()}"
    return text


def test_the_document_holds_every_mounted_api_and_the_client_every_role(
    schema: schemathesis.BaseSchema, run: fuzz.Run
) -> None:
    assert run.tokens.held == roles.ALL
    paths = {op.path for op in fuzz.operations(schema)}
    prefixes = ["/v1/events", "/regulator/", "/webhook/regulator/"]
    if "sandbox" in roles.ALL:
        prefixes += ["/sandbox/regulator/", "/sandbox/webhook/regulator/"]
    for prefix in prefixes:
        assert any(p.startswith(prefix) for p in paths), prefix
    for op in fuzz.operations(schema):
        assert set(fuzz.declared_roles(op)) <= roles.ALL, op.label


def test_every_operation_answers_as_documented(
    schema: schemathesis.BaseSchema, run: fuzz.Run, served: Served
) -> None:
    outcomes = fuzz.fuzz(run, schema)
    assert not fuzz.findings(outcomes), _failed(outcomes, served)
    # Every operation was called, each with a token of its own roles.
    called = {o.operation for o in outcomes if sum(o.statuses.values())}
    assert called == {op.label for op in fuzz.operations(schema)}


def test_every_operation_with_roles_refuses_a_caller_without_one(
    schema: schemathesis.BaseSchema, run: fuzz.Run, served: Served
) -> None:
    outcomes = fuzz.refusals(run, schema)
    assert not fuzz.findings(outcomes), _failed(outcomes, served)
    guarded = {op.label for op in fuzz.operations(schema) if fuzz.declared_roles(op)}
    asked = {(o.operation, o.mode) for o in outcomes}
    for label in guarded:
        assert {(label, m) for m in ("no token", "not a token", "forged token")} <= asked
    # Only an operation open to every role has no "other roles" to try.
    assert {label for label, mode in asked if mode == "other roles"} == guarded
