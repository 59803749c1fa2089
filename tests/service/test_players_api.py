"""Player profiles and KYC records over HTTP, and the point of it: no personal data in
PostgreSQL, anywhere, in clear; the keys live apart from the data."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from pitboss.service.app import make_app
from pitboss.service.auth import StartupRefusedError
from pitboss.service.settings import Settings
from regapi import audit
from regapi.crypto import header_of
from regapi.keys import add_key, dev_key_path
from regapi.store.players import SEALED_COLUMNS
from tests.service.serving import Client, serve, service_of

ALICE = {
    "market": "MGA",
    "full_name": "Alice Wonderland-Liddell",
    "email": "Alice.Liddell@Example.com",
    "phone": "+356 9912 3456",
    "address": "12 Rabbit Hole Lane\nOxford OX1 1AA",
    "date_of_birth": "1990-05-04",
    "document_number": "XK-4471902",
}
BOB = {
    "market": "UKGC",
    "full_name": "Bob Builder",
    "email": "bob@example.org",
    "date_of_birth": "1985-01-31",
}
# What must never be found in the database: every personal value as sent and stored.
SECRETS = [
    "Alice Wonderland-Liddell",
    "Wonderland",
    "Alice.Liddell@Example.com",
    "alice.liddell@example.com",
    "+35699123456",
    "9912 3456",
    "Rabbit Hole Lane",
    "1990-05-04",
    "XK-4471902",
    "XK4471902",
    "4471902",
]
# A document whose bytes are recognisable wherever they land.
PASSPORT = b"\x89PNG\r\n\x1a\n" + b"PASSPORT-OF-ALICE-LIDDELL " * 400


async def put_profile(client: Client, player: str, body: dict[str, Any], status: int) -> Any:
    resp = await client.put(f"/v1/players/{player}/profile", json=body)
    assert resp.status == status, await resp.text()
    return await resp.json()


async def upload(
    client: Client, player: str, content: bytes, *, kind: str = "passport",
    content_type: str = "image/png", status: int = 201,
) -> Any:  # fmt: skip
    resp = await client.post(
        f"/v1/players/{player}/kyc/documents",
        params={"kind": kind},
        data=io.BytesIO(content),  # raw bytes this large would block the loop (and warn)
        headers={"Content-Type": content_type},
    )
    assert resp.status == status, await resp.text()
    return await resp.json()


async def find_anywhere(db: asyncpg.Connection, needle: bytes) -> list[str]:
    """Every table holding `needle`, as text or as bytes (bytea prints as hex in a row's
    text, so both spellings are looked for), in any column of any row."""
    tables = await db.fetch(
        "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) AS t "
        "FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
    )
    try:
        text: str | None = needle.decode("utf-8").lower()
    except UnicodeDecodeError:  # bytes only (a key): looked for as bytea's hex
        text = None
    if text is not None and "\x00" in text:
        text = None
    hexed = needle.hex()
    found = []
    for r in tables:
        hit = await db.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM {r['t']} AS x "
            "WHERE strpos(lower(x::text), $1::text) > 0 OR strpos(x::text, $2) > 0)",
            text,
            hexed,
        )
        if hit:
            found.append(r["t"])
    return found


# --- profiles ---------------------------------------------------------------------------


async def test_a_profile_is_stored_sealed_and_read_back_whole(
    client: Client, db: asyncpg.Connection
) -> None:
    created = await put_profile(client, "p-alice", ALICE, 201)
    assert created["player_id"] == "p-alice"
    assert created["kyc_status"] == "none"
    assert created["kyc_level"] == 0
    # A write answers with the record's state, never the personal data it carried.
    assert not any(s.lower() in json.dumps(created).lower() for s in SECRETS)

    resp = await client.get("/v1/players/p-alice/profile")
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "no-store"
    got = await resp.json()
    assert got["full_name"] == ALICE["full_name"]
    assert got["email"] == ALICE["email"]
    assert got["phone"] == "+35699123456"  # E.164, separators dropped
    assert got["address"] == ALICE["address"]
    assert got["date_of_birth"] == "1990-05-04"
    assert got["document_number"] == "XK-4471902"
    assert got["market"] == "MGA"

    # Replaced whole: optional fields left out are gone; KYC state is kept.
    replaced = await put_profile(client, "p-alice", {**BOB, "market": "MGA"}, 200)
    assert replaced["created_at"] == created["created_at"]
    assert replaced["updated_at"] > created["updated_at"]
    got = await (await client.get("/v1/players/p-alice/profile")).json()
    assert got["full_name"] == "Bob Builder"
    assert got["phone"] is None
    assert got["document_number"] is None


async def test_no_personal_data_is_in_postgresql_in_clear(
    client: Client, db: asyncpg.Connection, settings: Settings
) -> None:
    await put_profile(client, "p-alice", ALICE, 201)
    await put_profile(client, "p-bob", BOB, 201)
    resp = await client.put(
        "/v1/players/p-alice/kyc", json={"kyc_level": 2, "kyc_status": "approved"}
    )
    assert resp.status == 200
    doc = await upload(client, "p-alice", PASSPORT)

    # The raw rows: ciphertext, each under a key id of its purpose's ring.
    keys = service_of(client).keys
    row = await db.fetchrow("SELECT * FROM players WHERE player_id = 'p-alice'")
    for column in ("full_name", "email", "phone", "address", "date_of_birth", "document_number"):
        value = row[column]
        assert isinstance(value, bytes)
        assert header_of(value)[0] in keys.pii.keys
        for secret in SECRETS:
            assert secret.encode() not in value
            assert secret.lower().encode() not in value.lower()
    assert len(row["email_hmac"]) == 32
    for value in row.values():
        if isinstance(value, str):
            assert not any(s.lower() in value.lower() for s in SECRETS)
    media = await db.fetchval("SELECT content FROM kyc_documents WHERE id = $1", doc["id"])
    assert header_of(media)[0] in keys.kyc_media.keys
    assert header_of(media)[0] not in keys.pii.keys
    assert b"PASSPORT-OF-ALICE" not in media

    # Nowhere in the database: not in these tables, not in the audit trail, not anywhere.
    for secret in [*SECRETS, "Bob Builder", "bob@example.org", "1985-01-31"]:
        assert await find_anywhere(db, secret.encode()) == [], secret
    assert await find_anywhere(db, b"PASSPORT-OF-ALICE") == []
    # The check itself finds what is there, in text and in bytes.
    assert await find_anywhere(db, b"p-alice")
    assert await find_anywhere(db, media[:24])

    # The keys are not in the database either, and their files are not in its folder.
    for ring in (keys.pii, keys.kyc_media):
        for key in ring.keys.values():
            assert await find_anywhere(db, key.secret) == []
            assert await find_anywhere(db, base64.b64encode(key.secret)) == []
    data_directory = Path(await db.fetchval("SHOW data_directory")).resolve()
    for purpose in ("pii", "kyc_media"):
        path = dev_key_path(settings.data_dir, purpose).resolve()
        assert path.is_file()
        assert not path.is_relative_to(data_directory)
        assert oct(path.stat().st_mode & 0o777) == "0o600"


async def test_a_value_moved_to_another_row_does_not_open(
    client: Client, db: asyncpg.Connection
) -> None:
    await put_profile(client, "p-alice", ALICE, 201)
    await put_profile(client, "p-bob", BOB, 201)
    # Behind the service's back: Alice's sealed email copied over Bob's.
    await db.execute(
        "UPDATE players SET email = (SELECT email FROM players WHERE player_id = 'p-alice') "
        "WHERE player_id = 'p-bob'"
    )
    with capture_logs() as logs:
        resp = await client.get("/v1/players/p-bob/profile")
    assert resp.status == 500
    body = await resp.text()
    assert "alice" not in body.lower()
    assert "Wonderland" not in body
    assert any(e["event"] == "sealed_value_unopenable" for e in logs)
    assert (await client.get("/v1/players/p-alice/profile")).status == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@b"}, "email"),
        ({"email": "two@@example.com"}, "email"),
        ({"email": 7}, "email"),
        ({"date_of_birth": "1990-13-01"}, "date_of_birth"),
        ({"date_of_birth": "04/05/1990"}, "date_of_birth"),
        ({"date_of_birth": "2999-01-01"}, "date_of_birth"),
        ({"date_of_birth": "1850-01-01"}, "date_of_birth"),
        ({"phone": "12345"}, "phone"),
        ({"phone": "+0 123 4567"}, "phone"),
        ({"market": "XX"}, "market"),
        ({"full_name": ""}, "full_name"),
        ({"full_name": "   "}, "full_name"),
        ({"full_name": "Al\x00ice"}, "full_name"),
        ({"full_name": "x" * 201}, "full_name"),
        ({"address": "a\x07b"}, "address"),
        ({"document_number": "!!"}, "document_number"),
        ({"document_number": "AB"}, "document_number"),
        ({"nickname": "al"}, "nickname"),
    ],
)
async def test_bad_profiles_are_refused_naming_the_field(
    client: Client, change: dict[str, Any], field: str
) -> None:
    body = await put_profile(client, "p-alice", {**ALICE, **change}, 422)
    assert body["field"] == field
    assert (await client.get("/v1/players/p-alice/profile")).status == 404


@pytest.mark.parametrize("missing", ["market", "full_name", "email", "date_of_birth"])
async def test_required_fields_are_named(client: Client, missing: str) -> None:
    body = {k: v for k, v in ALICE.items() if k != missing}
    assert (await put_profile(client, "p-alice", body, 422))["field"] == missing


async def test_malformed_requests(client: Client) -> None:
    resp = await client.put("/v1/players/p-1/profile", data=b"{",
                            headers={"Content-Type": "application/json"})  # fmt: skip
    assert resp.status == 400
    resp = await client.put("/v1/players/p-1/profile", data=b"{}",
                            headers={"Content-Type": "text/plain"})  # fmt: skip
    assert resp.status == 415
    resp = await client.put("/v1/players/" + "x" * 201 + "/profile", json=ALICE)
    assert resp.status == 404
    assert (await client.get("/v1/players/nobody/profile")).status == 404


# --- KYC state ---------------------------------------------------------------------------


async def test_kyc_state_changes_are_audited_with_the_state_only(
    client: Client, db: asyncpg.Connection
) -> None:
    resp = await client.put(
        "/v1/players/p-alice/kyc", json={"kyc_level": 1, "kyc_status": "pending"}
    )
    assert resp.status == 404
    await put_profile(client, "p-alice", ALICE, 201)
    for level, status in ((1, "pending"), (1, "pending"), (2, "approved")):
        resp = await client.put(
            "/v1/players/p-alice/kyc", json={"kyc_level": level, "kyc_status": status}
        )
        assert resp.status == 200, await resp.text()
        got = await resp.json()
        assert (got["kyc_level"], got["kyc_status"]) == (level, status)
    profile = await (await client.get("/v1/players/p-alice/profile")).json()
    assert (profile["kyc_level"], profile["kyc_status"]) == (2, "approved")

    history = await audit.history(db, "kyc_state", "p-alice")
    # Created with the profile, then two changes; the repeated state wrote nothing.
    assert [e.action for e in history] == ["create", "update", "update"]
    assert history[0].after == {"kyc_level": 0, "kyc_status": "none"}
    assert history[-1].before == {"kyc_level": 1, "kyc_status": "pending"}
    assert history[-1].after == {"kyc_level": 2, "kyc_status": "approved"}
    text = msgspec.json.encode(history).decode()
    assert "approved" in text
    assert not any(s.lower() in text.lower() for s in SECRETS)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kyc_level": 10, "kyc_status": "approved"}, "kyc_level"),
        ({"kyc_level": -1, "kyc_status": "approved"}, "kyc_level"),
        ({"kyc_level": 1, "kyc_status": "great"}, "kyc_status"),
        ({"kyc_level": 1}, "kyc_status"),
        ({"kyc_level": 1, "kyc_status": "pending", "by": "me"}, "by"),
    ],
)
async def test_bad_kyc_states_are_refused(client: Client, body: dict[str, Any], field: str) -> None:
    await put_profile(client, "p-alice", ALICE, 201)
    resp = await client.put("/v1/players/p-alice/kyc", json=body)
    assert resp.status == 422
    assert (await resp.json())["field"] == field


# --- KYC documents ------------------------------------------------------------------------


async def test_documents_are_sealed_under_their_own_key_and_come_back_whole(
    client: Client, db: asyncpg.Connection
) -> None:
    await put_profile(client, "p-alice", ALICE, 201)
    meta = await upload(client, "p-alice", PASSPORT)
    assert meta["kind"] == "passport"
    assert meta["content_type"] == "image/png"
    assert meta["size"] == len(PASSPORT)
    assert meta["sha256"] == hashlib.sha256(PASSPORT).hexdigest()
    selfie = await upload(client, "p-alice", b"%PDF-1.7 selfie", kind="selfie",
                          content_type="application/pdf")  # fmt: skip

    resp = await client.get("/v1/players/p-alice/kyc/documents")
    assert resp.status == 200
    listed = (await resp.json())["documents"]
    assert [d["id"] for d in listed] == [meta["id"], selfie["id"]]

    resp = await client.get(f"/v1/players/p-alice/kyc/documents/{meta['id']}")
    assert resp.status == 200
    assert await resp.read() == PASSPORT
    assert resp.headers["Content-Type"] == "image/png"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Content-Disposition"].startswith("attachment")
    assert resp.headers["Cache-Control"] == "no-store"

    # Not another player's, even with the right id.
    await put_profile(client, "p-bob", BOB, 201)
    assert (await client.get(f"/v1/players/p-bob/kyc/documents/{meta['id']}")).status == 404
    assert (await client.get("/v1/players/p-alice/kyc/documents/999999")).status == 404
    assert (await client.get("/v1/players/p-alice/kyc/documents/x1")).status == 404

    # A document's ciphertext moved onto another document does not open.
    await db.execute(
        "UPDATE kyc_documents SET content = (SELECT content FROM kyc_documents WHERE id = $1) "
        "WHERE id = $2",
        meta["id"],
        selfie["id"],
    )
    with capture_logs():
        resp = await client.get(f"/v1/players/p-alice/kyc/documents/{selfie['id']}")
    assert resp.status == 500
    assert b"PASSPORT" not in await resp.read()


async def test_bad_uploads_are_refused(client: Client) -> None:
    await upload(client, "p-nobody", PASSPORT, status=404)
    await put_profile(client, "p-alice", ALICE, 201)
    got = await upload(client, "p-alice", PASSPORT, kind="tax_return", status=422)
    assert got["field"] == "kind"
    resp = await client.post("/v1/players/p-alice/kyc/documents", data=PASSPORT,
                             headers={"Content-Type": "image/png"})  # fmt: skip
    assert (await resp.json())["field"] == "kind"
    got = await upload(client, "p-alice", PASSPORT, content_type="text/html", status=415)
    assert got["field"] == "Content-Type"
    got = await upload(client, "p-alice", b"", status=422)
    assert got["field"] == "body"
    too_big = os.urandom(1024) * (10 * 1024 + 1)
    got = await upload(client, "p-alice", too_big, status=413)
    assert got["field"] == "body"
    assert (await (await client.get("/v1/players/p-alice/kyc/documents")).json()) == {
        "documents": []
    }
    # Exactly the limit is taken.
    limit = os.urandom(1024) * (10 * 1024)
    meta = await upload(client, "p-alice", limit)
    assert meta["size"] == 10 * 1024 * 1024


async def test_a_chunked_upload_over_the_limit_is_refused(client: Client) -> None:
    await put_profile(client, "p-alice", ALICE, 201)

    async def chunks() -> Any:
        for _ in range(11):
            yield b"x" * (1024 * 1024)

    resp = await client.post("/v1/players/p-alice/kyc/documents", params={"kind": "passport"},
                             data=chunks(), headers={"Content-Type": "image/png"})  # fmt: skip
    assert resp.status == 413


# --- keys configured, rotated, re-encrypted ----------------------------------------------


async def test_configured_key_files_rotation_and_rewrap(
    settings: Settings, tmp_path: Path, database_url: str
) -> None:
    from regapi import players

    secrets_dir = tmp_path / "secrets"
    pii_file, media_file = secrets_dir / "pii.json", secrets_dir / "kyc_media.json"
    add_key(pii_file, "pii")
    add_key(media_file, "kyc_media")
    configured = dataclasses.replace(settings, pii_key_file=pii_file, kyc_media_key_file=media_file)
    async with serve(configured) as client:
        await put_profile(client, "p-alice", ALICE, 201)
        doc = await upload(client, "p-alice", PASSPORT)
        first = service_of(client).keys
    assert not (settings.data_dir / "keys" / "pii.json").exists()  # nothing generated

    rotated_pii, rotated_media = add_key(pii_file, "pii"), add_key(media_file, "kyc_media")
    async with serve(configured) as client:
        # Old rows open under the old key; new writes take the new one.
        got = await (await client.get("/v1/players/p-alice/profile")).json()
        assert got["email"] == ALICE["email"]
        await put_profile(client, "p-bob", BOB, 201)
        keys = service_of(client).keys
        assert keys.pii.current == rotated_pii.current != first.pii.current

    db = await asyncpg.connect(database_url)
    try:
        bob = await db.fetchval("SELECT email FROM players WHERE player_id = 'p-bob'")
        assert header_of(bob)[0] == rotated_pii.current
        alice = await db.fetchval("SELECT email FROM players WHERE player_id = 'p-alice'")
        assert header_of(alice)[0] == first.pii.current
        hmac_before = await db.fetchval(
            "SELECT email_hmac FROM players WHERE player_id = 'p-alice'"
        )

        done = await players.rewrap(db, keys)
        assert (done.players, done.documents) == (1, 1)  # Bob was current already
        assert (await players.rewrap(db, keys)) == players.Rewrapped(players=0, documents=0)
        rows = await db.fetch("SELECT * FROM players")
        for row in rows:
            for column in SEALED_COLUMNS:
                if row[column] is not None:
                    assert header_of(row[column])[0] == rotated_pii.current
        content = await db.fetchval("SELECT content FROM kyc_documents")
        assert header_of(content)[0] == rotated_media.current
        # The blind index did not move: lookups keep working across rotation.
        assert (
            await db.fetchval("SELECT email_hmac FROM players WHERE player_id = 'p-alice'")
            == hmac_before
        )
        assert await players.find_by_email(db, keys, " alice.liddell@EXAMPLE.com ") == ["p-alice"]
        assert await players.find_by_document(db, keys, "xk 4471902") == ["p-alice"]
    finally:
        await db.close()

    # The old keys retired from the files. The first key was also the index key, so the
    # new one is named the index and the indexes are rebuilt (rewrap does both).
    for path, ring in ((pii_file, rotated_pii), (media_file, rotated_media)):
        doc_json = json.loads(path.read_text())
        doc_json["keys"] = [k for k in doc_json["keys"] if k["id"] == ring.current]
        doc_json["index"] = ring.current
        path.write_text(json.dumps(doc_json))
    async with serve(configured) as client:
        db = await asyncpg.connect(database_url)
        try:
            keys = service_of(client).keys
            assert (await players.rewrap(db, keys)).players == 2  # indexes rebuilt
            assert await players.find_by_email(db, keys, ALICE["email"]) == ["p-alice"]
        finally:
            await db.close()
        got = await (await client.get("/v1/players/p-alice/profile")).json()
        assert got["full_name"] == ALICE["full_name"]
        resp = await client.get(f"/v1/players/p-alice/kyc/documents/{doc['id']}")
        assert await resp.read() == PASSPORT


# --- who may do what ----------------------------------------------------------------------

ROLES = ("compliance_officer", "regulator_read", "ingest", "analyst", "policy_admin",
         "player_frontend", "ops")  # fmt: skip
# route → the roles it admits
MATRIX = {
    ("PUT", "profile"): {"compliance_officer", "ingest"},
    ("GET", "profile"): {"compliance_officer", "regulator_read"},
    ("PUT", "kyc"): {"compliance_officer"},
    ("POST", "kyc/documents"): {"compliance_officer", "ingest"},
    ("GET", "kyc/documents"): {"compliance_officer", "regulator_read"},
    ("GET", "kyc/documents/{doc}"): {"compliance_officer", "regulator_read"},
}


async def _call(client: Client, method: str, route: str, doc: int, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}" if token else ""}
    path = "/v1/players/p-alice/" + route.replace("{doc}", str(doc))
    if route == "profile" and method == "PUT":
        return await client.put(path, json=ALICE, headers=headers)
    if route == "kyc":
        return await client.put(path, json={"kyc_level": 1, "kyc_status": "pending"},
                                headers=headers)  # fmt: skip
    if method == "POST":
        return await client.post(path, params={"kind": "selfie"}, data=b"face",
                                 headers={**headers, "Content-Type": "image/png"})  # fmt: skip
    return await client.get(path, headers=headers)


async def test_only_the_entitled_roles_reach_personal_data(client: Client, token_for: Any) -> None:
    await put_profile(client, "p-alice", ALICE, 201)
    doc = (await upload(client, "p-alice", PASSPORT))["id"]
    for (method, route), allowed in MATRIX.items():
        resp = await _call(client, method, route, doc, None)
        assert resp.status == 401, (method, route)
        body = await resp.read()
        assert b"Alice" not in body
        assert b"PASSPORT" not in body
        for role in ROLES:
            resp = await _call(client, method, route, doc, token_for(role))
            expected = {200, 201} if role in allowed else {403}
            assert resp.status in expected, (method, route, role, await resp.text())
            if role not in allowed:
                body = await resp.read()
                assert b"Alice" not in body
                assert b"PASSPORT" not in body


async def test_the_caller_is_who_is_recorded(
    client: Client, db: asyncpg.Connection, token_for: Any
) -> None:
    from tests.service.serving import token_for as token_named

    await put_profile(client, "p-alice", ALICE, 201)
    mlro = token_named(client, "compliance_officer", client_id="mlro-anna")
    state = {"kyc_level": 2, "kyc_status": "approved"}
    resp = await client.put("/v1/players/p-alice/kyc", json=state,
                            headers={"Authorization": f"Bearer {mlro}"})  # fmt: skip
    assert resp.status == 200
    resp = await client.post("/v1/players/p-alice/kyc/documents", params={"kind": "selfie"},
                             data=b"face", headers={"Authorization": f"Bearer {mlro}",
                                                    "Content-Type": "image/jpeg"})  # fmt: skip
    assert (await resp.json())["uploaded_by"] == "mlro-anna"
    history = await audit.history(db, "kyc_state", "p-alice")
    assert [e.actor for e in history] == ["test-client", "mlro-anna"]


async def test_the_service_does_not_start_on_a_broken_key_file(
    settings: Settings, tmp_path: Path
) -> None:
    broken = tmp_path / "pii.json"
    broken.write_text('{"keys": [], "current": "a"}')
    server = TestServer(make_app(dataclasses.replace(settings, pii_key_file=broken)))
    with pytest.raises(StartupRefusedError, match=r"pii\.json: keys must be a non-empty list"):
        await server.start_server()
    await server.close()
