"""The audit log on a real PostgreSQL: the database refuses UPDATE, DELETE and TRUNCATE
even from the table owner; rows changed behind its back (triggers disabled by a
superuser) are named by verify; concurrent appends never fork the chain; sealing;
retention and the purge that is refused for anything younger than 7 years."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import msgspec
import pytest

from engine.store.migrate import migrate
from pitboss.service.database import _init_connection
from regapi import audit
from regapi.audit import trail
from regapi.audit.chain import canonical_text, entry_hash
from regapi.store import audit as store
from tests.service import conftest as service_fixtures

pg_server = service_fixtures.pg_server
database_url = service_fixtures.database_url

REFUSED = asyncpg.InsufficientPrivilegeError
GUARDS = ("audit_log_refuse", "audit_log_guard")


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    c = await asyncpg.connect(database_url)
    await migrate(c)
    yield c
    await c.close()


async def add(conn: asyncpg.Connection, n: int, entity_id: str = "123") -> list[audit.AuditEntry]:
    """`n` changes to one bonus rule."""
    out = []
    last = await audit.latest(conn, "bonusRule", entity_id)
    document = last.after if last is not None else None
    for _ in range(n):
        after = {"match_pct": 100 + len(out), "currency": "EUR"}
        out.append(
            await audit.record(
                conn,
                entity="bonusRule",
                entity_id=entity_id,
                action="update" if document else "create",
                actor="ann",
                before=document,
                after=after,
            )
        )
        document = after
    return out


async def tamper(conn: asyncpg.Connection, sql: str, *args: object) -> None:
    """Change the log as a superuser can: with its guard switched off for the moment."""
    for trigger in GUARDS:
        await conn.execute(f"ALTER TABLE audit_log DISABLE TRIGGER {trigger}")
    try:
        await conn.execute(sql, *args)
    finally:
        for trigger in GUARDS:
            await conn.execute(f"ALTER TABLE audit_log ENABLE ALWAYS TRIGGER {trigger}")


async def test_record_history_latest(conn: asyncpg.Connection) -> None:
    made = await add(conn, 3)
    await add(conn, 1, entity_id="other")
    history = await audit.history(conn, "bonusRule", "123")
    assert history == made
    assert [e.id for e in history] == [1, 2, 3]
    assert history[0].action == "create"
    assert history[0].before is None
    assert history[1].patch == [{"op": "replace", "path": "/match_pct", "value": 101}]
    assert history[1].before == history[0].after
    assert await audit.latest(conn, "bonusRule", "123") == made[-1]
    assert await audit.latest(conn, "bonusRule", "nothing") is None
    assert history[0].retain_until == history[0].at.replace(year=history[0].at.year + 7)
    report = await audit.verify(conn)
    assert report.ok
    assert (report.rows, report.first_id, report.last_id, report.head_id) == (4, 1, 4, 4)


async def test_the_service_codecs_read_the_same(
    conn: asyncpg.Connection, database_url: str
) -> None:
    # The service's connections decode json to text with a binary codec; hashes agree.
    service = await asyncpg.connect(database_url)
    try:
        await _init_connection(service)
        await audit.record(
            service,
            entity="flag",
            entity_id="f",
            action="create",
            actor="ann",
            before=None,
            after={"on": True, "x": 1.5},
        )
        await add(conn, 2)
        assert (await audit.verify(service)).ok
        assert (await audit.verify(conn)).ok
        assert await audit.history(service, "bonusRule", "123") == await audit.history(
            conn, "bonusRule", "123"
        )
    finally:
        await service.close()


# --- the database's refusals ------------------------------------------------------------

REFUSALS = [
    "UPDATE audit_log SET actor = 'mallory' WHERE id = 2",
    "UPDATE audit_log SET retain_until = at",
    "DELETE FROM audit_log WHERE id = 2",
    "DELETE FROM audit_log",
    "TRUNCATE audit_log",
    "TRUNCATE audit_log CASCADE",
    "UPDATE audit_head SET last_id = 1",
    "DELETE FROM audit_head",
    "INSERT INTO audit_head VALUES (false, 0, '')",
    "UPDATE audit_log SET actor = 'mallory' WHERE false",
    "TRUNCATE audit_head",
    "UPDATE audit_segments SET sealed_by = 'mallory'",
    "DELETE FROM audit_segments",
    "TRUNCATE audit_segments CASCADE",
    "DELETE FROM audit_exports",
    "TRUNCATE audit_purges CASCADE",
    "UPDATE config_versions SET actor = 'mallory'",
    "DELETE FROM config_versions",
    "TRUNCATE config_versions",
]


async def test_the_database_refuses_rewrites_even_from_the_owner(conn: asyncpg.Connection) -> None:
    await add(conn, 3)
    await audit.seal(conn, "ops")
    owner = await conn.fetchval(
        "SELECT tableowner = current_user FROM pg_tables WHERE tablename = 'audit_log'"
    )
    assert owner is True
    for sql in REFUSALS:
        with pytest.raises(REFUSED, match=r"append-only|moves only"):
            await conn.execute(sql)
    # Nor does a superuser's replication role skip the triggers: they fire ALWAYS.
    await conn.execute("SET session_replication_role = replica")
    for sql in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        with pytest.raises(REFUSED):
            await conn.execute(sql)
    await conn.execute("RESET session_replication_role")
    # Setting the purge's variable by hand opens nothing younger than its retention.
    async with conn.transaction():
        await conn.execute("SELECT set_config('pitboss.audit_purge_segment', '1', true)")
        with pytest.raises(REFUSED):
            await conn.execute("DELETE FROM audit_log WHERE id = 1")
    assert (await audit.verify(conn)).ok
    assert await conn.fetchval("SELECT count(*) FROM audit_log") == 3


async def test_public_holds_no_write_privilege(conn: asyncpg.Connection) -> None:
    for table in (
        "audit_log",
        "audit_head",
        "audit_segments",
        "audit_exports",
        "audit_purges",
        "config_versions",
    ):
        acl = await conn.fetchval("SELECT relacl::text[] FROM pg_class WHERE relname = $1", table)
        assert acl is not None, table  # revoked: no longer the default
        public = [item for item in acl if item.startswith("=")]
        assert not any(set(item.split("/")[0]) & set("wdD") for item in public), (table, acl)


async def test_a_row_must_continue_the_chain(conn: asyncpg.Connection) -> None:
    [first] = await add(conn, 1)
    for row_id, prev in ((3, first.hash), (2, "0" * 64), (1, "0" * 64)):
        pending = trail.build(
            id=row_id,
            prev_hash=prev,
            at=datetime.now(UTC),
            entity="flag",
            entity_id="f",
            action="create",
            actor="x",
            before=None,
            after={"on": True},
        )
        with pytest.raises(asyncpg.PostgresError, match=r"continue the chain|duplicate"):
            await trail.append(conn, pending)
    # A retention shorter than 7 years is refused whatever the hash says.
    at = datetime.now(UTC)
    with pytest.raises(asyncpg.CheckViolationError, match="retained_7_years"):
        await conn.execute(
            """INSERT INTO audit_log (id, at, actor, entity, entity_id, action, after, patch,
                   prev_hash, hash, retain_until)
               VALUES (2, $1, 'x', 'flag', 'f', 'create', '{}', '[]', $2, $3, $4)""",
            at,
            first.hash,
            "a" * 64,
            at + timedelta(days=365 * 7 - 3),
        )


async def test_a_rolled_back_record_leaves_no_trace(conn: asyncpg.Connection) -> None:
    await add(conn, 1)
    transaction = conn.transaction()
    await transaction.start()
    await add(conn, 2)
    await transaction.rollback()
    [again] = await add(conn, 1)
    assert again.id == 2
    assert (await audit.verify(conn)).ok


# --- tampering ----------------------------------------------------------------------------


async def test_a_row_changed_behind_the_databases_back_is_named(conn: asyncpg.Connection) -> None:
    await add(conn, 5)
    await tamper(
        conn,
        """UPDATE audit_log SET after = '{"match_pct": 500, "currency": "EUR"}'
                          WHERE id = 3""",
    )
    report = await audit.verify(conn)
    assert report.broken is not None
    assert report.broken.row_id == 3
    assert "content does not match its hash" in report.broken.what
    assert report.rows == 2


async def test_a_forger_who_rehashes_a_row_breaks_the_next_link(conn: asyncpg.Connection) -> None:
    entries = await add(conn, 5)
    forged = msgspec.structs.replace(entries[2], actor="mallory")
    await tamper(
        conn, "UPDATE audit_log SET actor = 'mallory', hash = $1 WHERE id = 3", entry_hash(forged)
    )
    report = await audit.verify(conn)
    assert report.broken is not None
    assert report.broken.row_id == 4
    assert "prev_hash" in report.broken.what


async def test_removed_rows_are_named(conn: asyncpg.Connection) -> None:
    await add(conn, 5)
    await tamper(conn, "DELETE FROM audit_log WHERE id = 2")
    report = await audit.verify(conn)
    assert report.broken is not None
    assert (report.broken.row_id, report.broken.what) == (
        3,
        "row 2 is missing (the log jumps to row 3)",
    )


async def test_rows_cut_off_the_end_are_found_by_the_head(conn: asyncpg.Connection) -> None:
    await add(conn, 5)
    await tamper(conn, "DELETE FROM audit_log WHERE id >= 4")
    report = await audit.verify(conn)
    assert report.broken is not None
    assert report.broken.row_id == 5
    assert "the chain head names row 5" in report.broken.what
    assert "ends at row 3" in report.broken.what


async def test_a_rewritten_chain_is_caught_by_its_seal(conn: asyncpg.Connection) -> None:
    """A forger who rewrites a row and every hash after it, head included, still leaves
    the sealed segment's hashes behind."""
    entries = await add(conn, 4)
    [segment] = await audit.seal(conn, "ops")
    await conn.execute("ALTER TABLE audit_head DISABLE TRIGGER audit_head_guard")
    prev = entries[1].hash
    for e in entries[2:]:
        forged = msgspec.structs.replace(
            e, prev_hash=prev, actor="mallory" if e.id == 3 else e.actor
        )
        new_hash = entry_hash(forged)
        await tamper(
            conn,
            "UPDATE audit_log SET actor = $1, prev_hash = $2, hash = $3 WHERE id = $4",
            forged.actor,
            prev,
            new_hash,
            e.id,
        )
        prev = new_hash
    await conn.execute("UPDATE audit_head SET last_hash = $1", prev)
    await conn.execute("ALTER TABLE audit_head ENABLE ALWAYS TRIGGER audit_head_guard")
    report = await audit.verify(conn)
    assert report.broken is not None
    assert report.broken.segment_id == segment.id
    assert "sealed with last hash" in report.broken.what


# --- concurrency --------------------------------------------------------------------------


async def test_concurrent_appends_never_fork_the_chain(database_url: str) -> None:
    conns = [await asyncpg.connect(database_url) for _ in range(6)]
    try:
        await migrate(conns[0])
        started = asyncio.Event()

        async def writer(c: asyncpg.Connection, w: int) -> None:
            await started.wait()
            for i in range(8):
                async with c.transaction():
                    await audit.record(
                        c,
                        entity="limit",
                        entity_id=f"w{w}-{i}",
                        action="create",
                        actor=f"writer-{w}",
                        before=None,
                        after={"n": i},
                    )
                    # Hold the transaction open so the others queue on the head.
                    await asyncio.sleep(0.002)

        tasks = [asyncio.create_task(writer(c, w)) for w, c in enumerate(conns)]
        started.set()
        await asyncio.gather(*tasks)
        rows = await conns[0].fetch("SELECT id, prev_hash, hash FROM audit_log ORDER BY id")
        assert [r["id"] for r in rows] == list(range(1, 49))
        assert len({r["prev_hash"] for r in rows}) == 48  # no two rows share a parent
        report = await audit.verify(conns[0])
        assert report.ok
        assert report.rows == 48
        writers = await conns[0].fetch("SELECT actor FROM audit_log ORDER BY id")
        # They interleaved: the log is not six runs one after another.
        assert sum(a["actor"] != b["actor"] for a, b in itertools.pairwise(writers)) > 5
    finally:
        for c in conns:
            await c.close()


# --- seal ---------------------------------------------------------------------------------


async def test_seal_closes_segments_that_chain(conn: asyncpg.Connection) -> None:
    assert await audit.seal(conn, "ops") == []
    await add(conn, 5)
    segments = await audit.seal(conn, "ops", max_rows=2)
    assert [(s.first_id, s.last_id) for s in segments] == [(1, 2), (3, 4), (5, 5)]
    assert segments[1].prev_segment_hash == segments[0].hash
    assert segments[2].prev_hash == segments[1].last_hash
    assert await audit.seal(conn, "ops") == []
    await add(conn, 2)
    [fourth] = await audit.seal(conn, "ops")
    assert (fourth.id, fourth.first_id, fourth.last_id) == (4, 6, 7)
    report = await audit.verify(conn)
    assert report.ok
    assert report.segments == 4
    # The database checks a segment against the rows it names.
    forged = msgspec.structs.replace(
        fourth, id=5, first_id=8, last_id=8, rows=1, prev_segment_hash=fourth.hash
    )
    with pytest.raises(asyncpg.CheckViolationError, match="does not match rows"):
        await store.insert_segment(conn, forged)


async def test_seal_is_refused_over_a_broken_chain(conn: asyncpg.Connection) -> None:
    await add(conn, 3)
    await tamper(conn, "UPDATE audit_log SET actor = 'mallory' WHERE id = 2")
    with pytest.raises(audit.ChainBrokenError, match="row 2: content does not match"):
        await audit.seal(conn, "ops")
    assert await store.segments(conn) == []


# --- retention ----------------------------------------------------------------------------


async def add_old(conn: asyncpg.Connection, at: datetime, n: int) -> None:
    """Rows dated `at` (imported history), appended as `record` appends."""
    for i in range(n):
        async with conn.transaction():
            last_id, last_hash = await store.lock_head(conn)
            pending = trail.build(
                id=last_id + 1,
                prev_hash=last_hash,
                at=at + timedelta(i),
                entity="game",
                entity_id=f"old-{last_id}",
                action="create",
                actor="import",
                before=None,
                after={"n": i},
            )
            await trail.append(conn, pending)


async def test_purge_removes_only_sealed_segments_past_retention(conn: asyncpg.Connection) -> None:
    old = datetime(2010, 1, 1, tzinfo=UTC)
    await add_old(conn, old, 3)
    [first] = await audit.seal(conn, "ops")
    await add_old(conn, old.replace(year=2012), 2)
    [second] = await audit.seal(conn, "ops")
    await add(conn, 2)  # today's rows: retained to 2033 or so
    [young] = await audit.seal(conn, "ops")
    await add(conn, 1)  # not sealed at all

    with pytest.raises(REFUSED, match="purge the segments before audit segment 2 first"):
        await audit.purge(conn, second.id)
    with pytest.raises(REFUSED, match=f"audit segment {young.id} is retained until"):
        await audit.purge(conn, young.id)
    with pytest.raises(asyncpg.PostgresError, match="no sealed audit segment 99"):
        await audit.purge(conn, 99)

    assert await audit.purge(conn, first.id) == 3
    with pytest.raises(asyncpg.UniqueViolationError, match="purged already"):
        await audit.purge(conn, first.id)
    assert await audit.purge(conn, second.id) == 2
    with pytest.raises(REFUSED):
        await audit.purge(conn, young.id)
    assert await conn.fetchval("SELECT min(id) FROM audit_log") == 6

    # What remains verifies from the last purged segment's hash, and grows on.
    await add(conn, 1)
    report = await audit.verify(conn)
    assert report.ok, report.broken
    assert (report.rows, report.first_id, report.purged_segments) == (4, 6, 2)


async def test_canonical_text_is_what_the_database_keeps(conn: asyncpg.Connection) -> None:
    after = {"b": [1.0, 1e21, "é☃"], "a": {"\x00": None}, "n": 10**30}
    entry = await audit.record(
        conn, entity="game", entity_id="g", action="create", actor="ann", before=None, after=after
    )
    stored = await conn.fetchval("SELECT after::text FROM audit_log WHERE id = $1", entry.id)
    assert stored == canonical_text(after)
    assert (await audit.verify(conn)).ok
