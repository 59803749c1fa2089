"""Policy changes in the audit trail: every upload, activation, rollback and shadow switch
is a record (entity "policy": the version's id, or "live"), written with the change."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from regapi import audit
from tests.service.test_policies_api import VARIANT, VERSIONS, upload

Client = TestClient[Any, Any]


async def test_policy_changes_are_audited(client: Client, db: asyncpg.Connection) -> None:
    # Installing the shipped pack at start: version 1 created and made live by "system".
    [installed] = await audit.history(db, "policy", "1")
    assert (installed.action, installed.actor) == ("create", "system")
    assert installed.after is not None
    assert installed.after["shadow"] is False
    assert set(installed.after["files"]) == set(VARIANT)
    [first_live] = await audit.history(db, "policy", "live")
    assert first_live.action == "create"
    assert first_live.after == {"version": 1, "kind": "activate"}

    v2 = await upload(client, VARIANT, note="lower large_single")
    [created] = await audit.history(db, "policy", str(v2["id"]))
    assert created.actor == "test-client for alice"  # the proven client, and whom it names
    assert created.after is not None
    assert created.after["digest"] == v2["digest"]
    assert created.after["note"] == "lower large_single"

    assert (await client.put(f"{VERSIONS}/2/shadow")).status == 200
    assert (await client.put(f"{VERSIONS}/2/shadow")).status == 200  # no change, no record
    assert (await client.delete(f"{VERSIONS}/2/shadow")).status == 200
    resp = await client.post(f"{VERSIONS}/2/activate", json={"by": "bob"})
    assert resp.status == 200, await resp.text()
    resp = await client.post("/v1/policies/rollback", json={"by": "carol"})
    assert resp.status == 200, await resp.text()

    v2_history = await audit.history(db, "policy", "2")
    assert [e.action for e in v2_history] == ["create", "update", "update"]
    assert [e.patch for e in v2_history[1:]] == [
        [{"op": "replace", "path": "/shadow", "value": True}],
        [{"op": "replace", "path": "/shadow", "value": False}],
    ]
    live = await audit.history(db, "policy", "live")
    v1, v2 = {"version": 1, "kind": "activate"}, {"version": 2, "kind": "activate"}
    assert [(e.actor, e.before, e.after) for e in live[1:]] == [
        ("test-client for bob", v1, v2),
        ("test-client for carol", v2, {"version": 1, "kind": "rollback"}),
    ]
    assert sorted(live[2].patch, key=lambda op: op["path"]) == [
        {"op": "replace", "path": "/kind", "value": "rollback"},
        {"op": "replace", "path": "/version", "value": 1},
    ]
    report = await audit.verify(db)
    assert report.ok, report.broken
    assert report.rows == 7


async def test_a_refused_activation_records_nothing(client: Client, db: asyncpg.Connection) -> None:
    before = await db.fetchval("SELECT count(*) FROM audit_log")
    resp = await client.post(f"{VERSIONS}/99/activate", json={"by": "bob"})
    assert resp.status == 404
    resp = await client.post("/v1/policies/rollback", json={"by": "bob"})
    assert resp.status == 409
    assert await db.fetchval("SELECT count(*) FROM audit_log") == before
