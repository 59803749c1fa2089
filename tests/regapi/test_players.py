"""Player profiles and KYC records, the domain on a real database: validation,
normalised blind-index lookups, `profile_of` for the regulator view, paged rewrap."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import date

import asyncpg
import pytest

from engine.store.migrate import migrate
from pitboss.service.database import _init_connection
from regapi import players
from regapi.crypto import DecryptError, Key, KeyRing, header_of, with_new_key
from regapi.keys import Keys
from regapi.players import PlayerError, ProfileIn, check_profile
from tests.service import conftest as service_fixtures

pg_server = service_fixtures.pg_server
database_url = service_fixtures.database_url


def make_keys() -> Keys:
    return Keys(
        pii=KeyRing("pii", [Key("p1", os.urandom(32))], "p1"),
        kyc_media=KeyRing("kyc_media", [Key("m1", os.urandom(32))], "m1"),
    )


def profile(**change: object) -> ProfileIn:
    fields: dict[str, object] = {
        "market": "MGA",
        "full_name": "Alice Liddell",
        "email": "alice@example.com",
        "date_of_birth": date(1990, 5, 4),
    }
    return ProfileIn(**(fields | change))  # type: ignore[arg-type]


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    c = await asyncpg.connect(database_url)
    await _init_connection(c)
    await migrate(c)
    yield c
    await c.close()


def test_normalising() -> None:
    assert players.normalise_email("  Alice@EXAMPLE.com ") == "alice@example.com"
    assert (
        players.normalise_email("\uff41lice@example.com") == "alice@example.com"
    )  # NFKC: a fullwidth a
    assert players.normalise_document("xk-447 1902") == "XK4471902"
    assert players.normalise_document("ab.12/34") == "AB1234"


def test_checked_fields_are_what_is_stored() -> None:
    checked = check_profile(
        profile(phone="+44 (20) 7946-0958", document_number=" xk-4471902 ", full_name=" Al "),
        today=date(2026, 1, 1),
    )
    assert checked.fields["phone"] == "+442079460958"
    assert checked.fields["document_number"] == "xk-4471902"
    assert checked.fields["full_name"] == "Al"
    assert checked.fields["date_of_birth"] == "1990-05-04"
    assert checked.email_index == "alice@example.com"
    assert checked.document_index == "XK4471902"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "alice at example.com"}, "email"),
        ({"date_of_birth": date(2026, 1, 2)}, "date_of_birth"),
        ({"phone": "0044 20 7946 0958"}, "phone"),
        ({"document_number": "----"}, "document_number"),
        ({"full_name": "A\u200bB\tC"}, "full_name"),
    ],
)
def test_bad_fields_are_named(change: dict[str, object], field: str) -> None:
    with pytest.raises(PlayerError) as info:
        check_profile(profile(**change), today=date(2026, 1, 1))
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("kind", "content_type", "size", "error"),
    [
        (None, "image/png", 1, PlayerError),
        ("passport", "text/html", 1, players.MediaTypeError),
        ("passport", "image/png", players.MAX_DOCUMENT_BYTES + 1, players.TooLargeError),
        ("passport", "image/png", 0, PlayerError),
    ],
)
def test_document_checks(kind: str | None, content_type: str, size: int, error: type) -> None:
    with pytest.raises(error):
        players.check_document(kind, content_type, size)


async def test_profile_of_opens_a_profile_or_says_none(conn: asyncpg.Connection) -> None:
    keys = make_keys()
    assert await players.profile_of(conn, keys, "p-1") is None
    summary, created = await players.put_profile(
        conn, keys, "p-1", profile(address="1 Lane\nTown"), actor="tester"
    )
    assert created
    assert summary.kyc_status == "none"
    got = await players.profile_of(conn, keys, "p-1")
    assert got is not None
    assert (got.full_name, got.email, got.date_of_birth) == (
        "Alice Liddell",
        "alice@example.com",
        date(1990, 5, 4),
    )
    assert got.address == "1 Lane\nTown"
    assert got.phone is None
    # Another ring (another deployment's keys) cannot open it.
    with pytest.raises(DecryptError):
        await players.profile_of(conn, make_keys(), "p-1")
    summary_only = await players.summary_of(conn, "p-1")
    assert summary_only is not None
    assert summary_only.player_id == "p-1"


async def test_lookups_by_email_and_document_are_normalised(conn: asyncpg.Connection) -> None:
    keys = make_keys()
    await players.put_profile(conn, keys, "p-1", profile(document_number="XK 447"), actor="t")
    await players.put_profile(conn, keys, "p-2", profile(email="ALICE@example.com"), actor="t")
    await players.put_profile(conn, keys, "p-3", profile(email="bob@example.com"), actor="t")
    assert await players.find_by_email(conn, keys, "Alice@Example.COM") == ["p-1", "p-2"]
    assert await players.find_by_email(conn, keys, "carol@example.com") == []
    assert await players.find_by_document(conn, keys, "xk-447") == ["p-1"]
    hmacs = await conn.fetch("SELECT email_hmac FROM players ORDER BY player_id")
    assert hmacs[0]["email_hmac"] == hmacs[1]["email_hmac"] != hmacs[2]["email_hmac"]


async def test_rewrap_pages_through_everything(conn: asyncpg.Connection) -> None:
    keys = make_keys()
    for n in range(7):
        await players.put_profile(conn, keys, f"p-{n}", profile(phone="+35699123456"), actor="t")
        await players.add_document(conn, keys, f"p-{n}", kind="selfie", content_type="image/png",
                                   content=b"face %d" % n, actor="t")  # fmt: skip
    rotated = Keys(
        pii=with_new_key(keys.pii, "pii", Key("p2", os.urandom(32))),
        kyc_media=with_new_key(keys.kyc_media, "kyc_media", Key("m2", os.urandom(32))),
    )
    done = await players.rewrap(conn, rotated, page=2)
    assert done == players.Rewrapped(players=7, documents=7)
    for row in await conn.fetch("SELECT * FROM players"):
        assert header_of(row["email"])[0] == "p2"
        assert header_of(row["phone"])[0] == "p2"
    for row in await conn.fetch("SELECT id, player_id, content FROM kyc_documents"):
        assert header_of(row["content"])[0] == "m2"
        _, content = await players.document(conn, rotated, row["player_id"], row["id"])
        assert content == b"face %d" % int(row["player_id"][2:])
    assert await players.rewrap(conn, rotated, page=2) == players.Rewrapped(0, 0)


async def test_kyc_changes_go_to_the_audit_trail_in_the_same_transaction(
    conn: asyncpg.Connection,
) -> None:
    from regapi import audit

    keys = make_keys()
    await players.put_profile(conn, keys, "p-1", profile(), actor="onboarding")
    state = players.KycIn(kyc_level=2, kyc_status="approved")
    # Rolled back with its caller: neither the change nor its audit row remain.
    tx = conn.transaction()
    await tx.start()
    await players.set_kyc(conn, "p-1", state, actor="mlro")
    await tx.rollback()
    assert [e.action for e in await audit.history(conn, "kyc_state", "p-1")] == ["create"]
    summary = await players.set_kyc(conn, "p-1", state, actor="mlro")
    assert (summary.kyc_level, summary.kyc_status) == (2, "approved")
    entries = await audit.history(conn, "kyc_state", "p-1")
    assert [(e.action, e.actor) for e in entries] == [("create", "onboarding"), ("update", "mlro")]
    with pytest.raises(players.NotFoundError):
        await players.set_kyc(conn, "p-404", state, actor="mlro")
