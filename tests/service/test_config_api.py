"""Versioned config over HTTP: create, replace, patch (RFC 6902), delete; the versions
with operator, time and patch; every version rebuilt exactly; errors; roles; one
transaction with the audit record."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from regapi import audit
from regapi.audit.chain import canonical
from regapi.auth import roles
from tests.service.serving import token_for as token_as

Client = TestClient[Any, Any]
PATCH_JSON = {"Content-Type": "application/json-patch+json"}


def path(kind: str = "bonusRule", entity_id: str = "123") -> str:
    return f"/v1/config/{kind}/{entity_id}"


async def ok(resp: Any, status: int = 200) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/problem+json"
    body: dict[str, Any] = await resp.json()
    return body


def same(a: object, b: object) -> bool:
    """Equal as JSON, types included (1 is not 1.0, true is not 1)."""
    return canonical(a) == canonical(b)


async def test_a_bonus_rule_through_its_life(client: Client, db: asyncpg.Connection) -> None:
    first = {
        "name": "Welcome",
        "match_pct": 100,
        "max": {"amount": 20_000, "currency": "EUR"},
        "games": ["slot"],
        "wagering": 35.0,
    }
    created = await ok(await client.put(path(), json=first), 201)
    assert created["version"] == 1
    assert created["document"] == first
    assert created["updated_by"] == "test-client"
    assert created["deleted"] is False

    second = {**first, "match_pct": 50, "games": ["slot", "live"]}
    resp = await client.put(path(), json=second)
    assert (await ok(resp))["version"] == 2
    assert resp.headers["ETag"] == '"2"'

    ops = [
        {"op": "test", "path": "/match_pct", "value": 50},
        {"op": "replace", "path": "/wagering", "value": 40},
        {"op": "remove", "path": "/games/0"},
    ]
    patched = await ok(await client.patch(path(), data=json.dumps(ops), headers=PATCH_JSON))
    third = {**second, "wagering": 40, "games": ["live"]}
    assert patched["version"] == 3
    assert same(patched["document"], third)

    # The same document again is no change, and no version.
    assert (await ok(await client.put(path(), json=third)))["version"] == 3

    deleted = await ok(await client.delete(path()))
    assert deleted["version"] == 4
    assert deleted["deleted"] is True
    assert deleted["document"] is None
    gone = await problem(await client.get(path()), 404)
    assert "deleted" in gone["detail"]

    again = await ok(await client.put(path(), json={"name": "Reload"}), 201)
    assert again["version"] == 5

    listing = await ok(await client.get(path() + "/versions"))
    got = listing["versions"]
    assert [v["version"] for v in got] == [1, 2, 3, 4, 5]
    assert [v["action"] for v in got] == ["create", "update", "update", "delete", "create"]
    assert all(v["actor"] == "test-client" and v["at"] for v in got)
    assert sorted(got[1]["patch"], key=lambda op: op["path"]) == [
        {"op": "add", "path": "/games/1", "value": "live"},
        {"op": "replace", "path": "/match_pct", "value": 50},
    ]
    assert listing["next_cursor"] is None

    expected = [first, second, third, None, {"name": "Reload"}]
    for n, document in enumerate(expected, 1):
        rebuilt = await ok(await client.get(path() + f"/versions/{n}"))
        assert rebuilt["version"] == n
        assert rebuilt["deleted"] is (document is None)
        assert same(rebuilt["document"], document), n

    # Each version is an audit record with the same patch, in a chain that verifies.
    history = await audit.history(db, "bonusRule", "123")
    assert [e.action for e in history] == [v["action"] for v in got]
    assert [e.patch for e in history] == [v["patch"] for v in got]
    assert [e.id for e in history] == [v["audit_id"] for v in got]
    assert same(history[2].after, third)
    assert same(history[3].before, third)
    assert (await audit.verify(db)).ok


def _random_value(rng: random.Random, depth: int) -> Any:
    choice = rng.randrange(9 if depth < 4 else 6)
    if choice == 0:
        return rng.randrange(-(10**12), 10**12)
    if choice == 1:
        return rng.choice([0.5, 1.0, -2.25, 1e21, 3.141592653589793, 0.1])
    if choice == 2:
        return rng.choice(["", "é", "ünï ☃", "a/b~c", "0", "true"])
    if choice == 3:
        return rng.choice([True, False, None, 0, 1])
    if choice in (4, 5):
        return rng.choice(["x", 1, 1.0, False])
    if choice in (6, 7):
        return {
            rng.choice("abcde/~") + str(i): _random_value(rng, depth + 1)
            for i in range(rng.randrange(4))
        }
    return [_random_value(rng, depth + 1) for _ in range(rng.randrange(5))]


def _mutate(rng: random.Random, document: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(document))
    for _ in range(rng.randrange(1, 4)):
        key = rng.choice([*list(out), "k1", "k2", "a/b", "~0"]) if out else "k1"
        if rng.random() < 0.2 and key in out:
            del out[key]
        else:
            out[key] = _random_value(rng, 0)
    return out


async def test_every_version_of_a_random_history_rebuilds_exactly(client: Client) -> None:
    rng = random.Random(6)
    snapshots: list[dict[str, Any] | None] = []
    document: dict[str, Any] = {"k1": _random_value(rng, 0)}
    await ok(await client.put(path("limit", "deposit-daily"), json=document), 201)
    snapshots.append(document)
    while len(snapshots) < 25:
        if rng.random() < 0.1 and snapshots[-1] is not None:
            await ok(await client.delete(path("limit", "deposit-daily")))
            snapshots.append(None)
            continue
        new = _mutate(rng, snapshots[-1] or {})
        if snapshots[-1] is not None and same(new, snapshots[-1]):
            continue
        resp = await client.put(path("limit", "deposit-daily"), json=new)
        assert resp.status in (200, 201), await resp.text()
        snapshots.append(new)
    for n, expected in enumerate(snapshots, 1):
        rebuilt = await ok(await client.get(path("limit", "deposit-daily") + f"/versions/{n}"))
        assert same(rebuilt["document"], expected), (n, rebuilt["document"], expected)


async def test_versions_page_by_cursor(client: Client) -> None:
    for n in range(5):
        await client.put(path("flag", "withdrawals-paused"), json={"on": n % 2 == 0, "n": n})
    first = await ok(await client.get(path("flag", "withdrawals-paused") + "/versions?limit=2"))
    assert [v["version"] for v in first["versions"]] == [1, 2]
    assert first["next_cursor"] == 2
    rest = await ok(await client.get(path("flag", "withdrawals-paused") + "/versions?cursor=4"))
    assert [v["version"] for v in rest["versions"]] == [5]
    assert rest["next_cursor"] is None


# (method, url, body, status, the field the problem names)
BAD_REQUESTS: list[tuple[str, str, Any, int, str | None]] = [
    ("GET", "/v1/config/bonus_rule/1", None, 404, "kind"),
    ("PUT", "/v1/config/casino/1", {"a": 1}, 404, "kind"),
    ("PUT", "/v1/config/game/-bad", {"a": 1}, 422, "id"),
    ("PUT", "/v1/config/game/" + "x" * 129, {"a": 1}, 422, "id"),
    ("PUT", "/v1/config/game/g1", [1, 2], 422, None),
    ("PUT", "/v1/config/game/g1", "text", 422, None),
    ("PUT", "/v1/config/game/g1", {"a": "nul\x00"}, 422, "body"),
    ("GET", "/v1/config/game/nothing", None, 404, "id"),
    ("DELETE", "/v1/config/game/nothing", None, 404, "id"),
    ("GET", "/v1/config/game/nothing/versions", None, 404, "id"),
    ("PATCH", "/v1/config/game/nothing", [{"op": "add", "path": "/a", "value": 1}], 404, "id"),
]


async def test_bad_requests_name_what_is_wrong(client: Client, db: asyncpg.Connection) -> None:
    for method, url, body, status, field in BAD_REQUESTS:
        resp = (
            await client.request(method, url, json=body)
            if body is not None
            else (await client.request(method, url))
        )
        got = await problem(resp, status)
        assert field is None or got["field"] == field, (method, url, got)
    assert await db.fetchval("SELECT count(*) FROM config_entities") == 0


async def test_documents_are_bounded(client: Client) -> None:
    deep: Any = 1
    for _ in range(40):
        deep = {"d": deep}
    got = await problem(await client.put(path("game", "deep"), json=deep), 422)
    assert "deep" in got["detail"]
    big = {"blob": "x" * (70 * 1024)}
    got = await problem(await client.put(path("game", "big"), json=big), 422)
    assert "bytes" in got["detail"]
    huge = b'{"blob": "' + b"x" * (200 * 1024) + b'"}'
    headers = {"Content-Type": "application/json"}
    await problem(await client.put(path("game", "huge"), data=huge, headers=headers), 413)
    await problem(await client.put(path("game", "bad"), data=b"{nope", headers=headers), 400)
    await problem(await client.put(path("game", "bad"), data=b"", headers=headers), 400)
    text = {"Content-Type": "text/plain"}
    await problem(await client.put(path("game", "bad"), data=b"{}", headers=text), 415)


# (patch, status, the field the problem names)
BAD_PATCHES: list[tuple[Any, int, str | None]] = [
    ({"op": "add"}, 422, None),  # not an array
    ([{"op": "frob", "path": "/a"}], 422, None),
    ([{"op": "add", "path": "/a"}], 422, None),  # no value
    ([{"op": "add", "path": "a", "value": 1}], 422, "body[0].path"),
    ([{"op": "remove", "path": "/a~2"}], 422, "body[0].path"),
    ([{"op": "move", "path": "/b"}], 422, None),  # no from
    ([{"op": "test", "path": "/name", "value": "other"}], 409, "body"),
    ([{"op": "remove", "path": "/missing"}], 409, "body"),
    ([{"op": "replace", "path": "/list/9", "value": 1}], 409, "body"),
    ([{"op": "replace", "path": "", "value": [1, 2]}], 422, "body"),
    ([{"op": "add", "path": "/x", "value": "\x00"}], 422, "body"),
]


async def test_patches_that_cannot_apply(client: Client) -> None:
    await ok(await client.put(path("game", "g1"), json={"name": "Fruit", "list": [1]}), 201)
    for ops, status, field in BAD_PATCHES:
        resp = await client.patch(path("game", "g1"), data=json.dumps(ops), headers=PATCH_JSON)
        got = await problem(resp, status)
        assert field is None or got["field"] == field, (ops, got)
    # Nothing was changed by any of them.
    assert (await ok(await client.get(path("game", "g1"))))["version"] == 1


async def test_merge_patch_is_not_taken(client: Client) -> None:
    await ok(await client.put(path("game", "g1"), json={"name": "Fruit"}), 201)
    headers = {"Content-Type": "application/merge-patch+json"}
    resp = await client.patch(path("game", "g1"), data=b'{"name": "Veg"}', headers=headers)
    got = await problem(resp, 415)
    assert "json-patch" in got["detail"]


async def test_if_match_makes_changes_conditional(client: Client) -> None:
    created = await client.put(path("payment_method", "card"), json={"enabled": True})
    etag = created.headers["ETag"]
    assert etag == '"1"'
    stale = {"If-Match": '"7"'}
    await problem(
        await client.put(path("payment_method", "card"), json={"enabled": False}, headers=stale),
        412,
    )
    await problem(await client.delete(path("payment_method", "card"), headers=stale), 412)
    await problem(
        await client.put(path("payment_method", "new"), json={}, headers={"If-Match": "*"}), 412
    )
    await problem(
        await client.put(path("payment_method", "card"), json={}, headers={"If-Match": "soon"}), 422
    )
    changed = await ok(
        await client.put(
            path("payment_method", "card"), json={"enabled": False}, headers={"If-Match": etag}
        )
    )
    assert changed["version"] == 2
    resp = await client.patch(
        path("payment_method", "card"), headers={"If-Match": etag, **PATCH_JSON}, data=b"[]"
    )
    await problem(resp, 412)


async def test_unknown_versions_are_404(client: Client) -> None:
    await ok(await client.put(path("game", "g1"), json={"name": "Fruit"}), 201)
    for version in ("0", "2", "x", "99999999999"):
        got = await problem(await client.get(path("game", "g1") + f"/versions/{version}"), 404)
        assert got["field"] == "version"


async def test_bad_paging_is_422(client: Client) -> None:
    await ok(await client.put(path("game", "g1"), json={"name": "Fruit"}), 201)
    for query in ("limit=0", "limit=5000", "cursor=-1", "cursor=x"):
        got = await problem(await client.get(path("game", "g1") + f"/versions?{query}"), 422)
        assert got["field"] == query.partition("=")[0]


async def test_roles(client: Client) -> None:
    def as_(*granted: str) -> dict[str, str]:
        token = token_as(client, *granted, client_id="c-" + granted[0])
        return {"Authorization": f"Bearer {token}"}

    await ok(await client.put(path("flag", "f1"), json={"on": True}), 201)
    for role in (roles.ANALYST, roles.COMPLIANCE_OFFICER, roles.REGULATOR_READ):
        await ok(await client.get(path("flag", "f1"), headers=as_(role)))
    for role in (roles.POLICY_ADMIN, roles.INGEST, roles.PLAYER_FRONTEND, roles.OPS):
        await problem(await client.get(path("flag", "f1"), headers=as_(role)), 403)
    # The history is a sensitive route: compliance officers and regulators only.
    for role in (roles.COMPLIANCE_OFFICER, roles.REGULATOR_READ):
        await ok(await client.get(path("flag", "f1") + "/versions", headers=as_(role)))
        await ok(await client.get(path("flag", "f1") + "/versions/1", headers=as_(role)))
    for role in (roles.ANALYST, roles.POLICY_ADMIN):
        await problem(await client.get(path("flag", "f1") + "/versions", headers=as_(role)), 403)
        await problem(await client.get(path("flag", "f1") + "/versions/1", headers=as_(role)), 403)
    # Only a compliance officer changes config, flags included.
    for role in (roles.ANALYST, roles.POLICY_ADMIN, roles.REGULATOR_READ):
        await problem(
            await client.put(path("flag", "f1"), json={"on": False}, headers=as_(role)), 403
        )
        await problem(await client.delete(path("flag", "f1"), headers=as_(role)), 403)
        await problem(
            await client.patch(path("flag", "f1"), data=b"[]", headers={**as_(role), **PATCH_JSON}),
            403,
        )
    await problem(await client.get(path("flag", "f1"), headers={"Authorization": ""}), 401)
    changed = await ok(
        await client.put(
            path("flag", "f1"), json={"on": False}, headers=as_(roles.COMPLIANCE_OFFICER)
        )
    )
    # The audit trail names the authenticated client, not anything the body says.
    assert changed["updated_by"] == "c-compliance_officer"


async def test_a_change_and_its_audit_record_are_one_transaction(
    client: Client, db: asyncpg.Connection
) -> None:
    await db.execute(
        """CREATE FUNCTION fail() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN RAISE EXCEPTION 'disk full'; END $$;
           CREATE TRIGGER fail BEFORE INSERT ON config_versions
               FOR EACH ROW EXECUTE FUNCTION fail();"""
    )
    resp = await client.put(path("game", "g1"), json={"name": "Fruit"})
    assert resp.status == 500
    assert await db.fetchval("SELECT count(*) FROM config_entities") == 0
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE entity = 'game'") == 0
    await db.execute("DROP TRIGGER fail ON config_versions")
    await ok(await client.put(path("game", "g1"), json={"name": "Fruit"}), 201)
    assert (await audit.verify(db)).ok


async def test_concurrent_patches_all_land_in_order(client: Client, db: asyncpg.Connection) -> None:
    await ok(await client.put(path("limit", "l1"), json={"n": 0}), 201)

    async def add(i: int) -> None:
        ops = [{"op": "add", "path": f"/k{i}", "value": i}]
        await ok(await client.patch(path("limit", "l1"), data=json.dumps(ops), headers=PATCH_JSON))

    await asyncio.gather(*(add(i) for i in range(12)))
    now = await ok(await client.get(path("limit", "l1")))
    assert now["version"] == 13
    assert now["document"] == {"n": 0, **{f"k{i}": i for i in range(12)}}
    for n in range(1, 14):
        rebuilt = await ok(await client.get(path("limit", "l1") + f"/versions/{n}"))
        assert len(rebuilt["document"]) == n
    report = await audit.verify(db)
    assert report.ok
    assert report.rows == await db.fetchval("SELECT count(*) FROM audit_log")
