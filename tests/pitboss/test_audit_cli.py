"""`pitboss audit verify | seal | export | purge` against a real PostgreSQL, and export to
a real S3-compatible server (moto in server mode) with Object Lock: the objects are there,
locked in COMPLIANCE mode for 7 years, and deleting them is refused."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import asyncpg
import pytest

from engine.store.migrate import migrate
from regapi import audit
from regapi.audit.export import check_export
from tests.service import conftest as service_fixtures

pg_server = service_fixtures.pg_server
database_url = service_fixtures.database_url


@pytest.fixture
async def conn(database_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    c = await asyncpg.connect(database_url)
    await migrate(c)
    yield c
    await c.close()


class Ran(NamedTuple):
    status: int
    out: str
    err: str


async def pitboss(*argv: str) -> Ran:
    """The command in a process of its own, as from a shell (it sets up logging for a
    terminal, which must not outlive it in this one)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pitboss.cli", *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return Ran(proc.returncode, out.decode(), err.decode())


async def add(conn: Any, n: int) -> None:
    for i in range(n):
        await audit.record(
            conn,
            entity="flag",
            entity_id=f"f{i}",
            action="create",
            actor="ann",
            before=None,
            after={"on": True, "i": i},
        )


async def test_verify_says_whole_or_names_the_broken_row(conn: Any) -> None:
    ran = await pitboss("audit", "verify")
    assert ran.status == 0, ran
    assert "audit log intact: no rows" in ran.out
    await add(conn, 4)
    ran = await pitboss("audit", "verify")
    assert ran.status == 0, ran
    assert "audit log intact: rows 1 to 4 (4)" in ran.out

    await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_refuse")
    await conn.execute("""UPDATE audit_log SET after = '{"on": false, "i": 2}' WHERE id = 3""")
    await conn.execute("ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_refuse")
    ran = await pitboss("audit", "verify")
    assert ran.status == 1, ran
    assert "audit log BROKEN at row 3: content does not match its hash" in ran.out
    ran = await pitboss("audit", "verify", "--json")
    assert ran.status == 1, ran
    report = json.loads(ran.out)
    assert report["ok"] is False
    assert report["broken"]["row_id"] == 3
    assert report["rows"] == 2


async def test_seal(conn: Any) -> None:
    ran = await pitboss("audit", "seal")
    assert ran.status == 0, ran
    assert "nothing to seal" in ran.out
    await add(conn, 5)
    ran = await pitboss("audit", "seal", "--max-rows", "3", "--by", "ops")
    assert ran.status == 0, ran
    out = ran.out
    assert "segment 1: rows 1 to 3 (3)" in out
    assert "segment 2: rows 4 to 5 (2)" in out
    assert [s.sealed_by for s in await audit_segments(conn)] == ["ops", "ops"]
    ran = await pitboss("audit", "seal", "--max-rows", "0")
    assert ran.status == 2, ran
    assert "max_rows must be at least 1" in ran.err

    await add(conn, 2)
    await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_refuse")
    await conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE id = 7")
    await conn.execute("ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_refuse")
    ran = await pitboss("audit", "seal")
    assert ran.status == 1, ran
    assert "refused, the chain is broken at row 7" in ran.err
    assert len(await audit_segments(conn)) == 2


async def audit_segments(conn: Any) -> list[audit.Segment]:
    from regapi.store import audit as store

    return await store.segments(conn)


async def test_purge_is_refused_for_young_segments(conn: Any) -> None:
    await add(conn, 2)
    await audit.seal(conn, "ops")
    ran = await pitboss("audit", "purge", "1")
    assert ran.status == 1, ran
    assert "audit segment 1 is retained until" in ran.err
    assert await conn.fetchval("SELECT count(*) FROM audit_log") == 2


# --- export to S3 Object Lock (moto server) ----------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A real S3-compatible HTTP server (moto) on a free port."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    import boto3

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return boto3.client("s3", endpoint_url=s3_endpoint)


async def test_export_writes_locked_segments(conn: Any, s3: Any, s3_endpoint: str) -> None:
    bucket = f"audit-{os.urandom(4).hex()}"
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    await add(conn, 5)
    await audit.seal(conn, "ops", max_rows=3)
    ran = await pitboss("audit", "export", "--bucket", bucket, "--endpoint", s3_endpoint)
    assert ran.status == 0, ran
    out = ran.out
    assert f"segment 1: s3://{bucket}/audit/segment-000000000001.jsonl" in out
    assert "segment 2:" in out

    exports = await conn.fetch("SELECT * FROM audit_exports ORDER BY segment_id")
    assert [e["segment_id"] for e in exports] == [1, 2]
    seven_years = datetime.now(UTC).replace(year=datetime.now(UTC).year + 7) - timedelta(days=1)
    for e in exports:
        assert (e["bucket"], e["endpoint"], e["lock_mode"]) == (bucket, s3_endpoint, "COMPLIANCE")
        head = s3.head_object(Bucket=bucket, Key=e["key"], VersionId=e["version_id"])
        assert head["ObjectLockMode"] == "COMPLIANCE"
        assert head["ObjectLockRetainUntilDate"] >= seven_years
        assert head["ObjectLockRetainUntilDate"] == e["retain_until"]
        assert head["ETag"] == e["etag"]
        data = s3.get_object(Bucket=bucket, Key=e["key"])["Body"].read()
        man = s3.get_object(
            Bucket=bucket, Key=e["manifest_key"], VersionId=e["manifest_version_id"]
        )
        assert check_export(data, man["Body"].read()) is None
        assert man["ObjectLockMode"] == "COMPLIANCE"
        # WORM: neither the version nor the manifest can be deleted.
        from botocore.exceptions import ClientError

        for key, version in (
            (e["key"], e["version_id"]),
            (e["manifest_key"], e["manifest_version_id"]),
        ):
            with pytest.raises(ClientError, match="AccessDenied"):
                s3.delete_object(Bucket=bucket, Key=key, VersionId=version)
        assert s3.head_object(Bucket=bucket, Key=e["key"], VersionId=e["version_id"])
    lines = s3.get_object(Bucket=bucket, Key=exports[0]["key"])["Body"].read().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [1, 2, 3]

    # Exported once: a second run uploads nothing; a new segment goes up alone.
    ran = await pitboss("audit", "export", "--bucket", bucket, "--endpoint", s3_endpoint)
    assert ran.status == 0, ran
    assert "nothing to export" in ran.out
    await add(conn, 1)
    await audit.seal(conn, "ops")
    ran = await pitboss("audit", "export", "--bucket", bucket, "--endpoint", s3_endpoint)
    assert ran.status == 0, ran
    out = ran.out
    assert "segment 3:" in out
    assert "segment 1:" not in out


async def test_export_needs_object_lock(conn: Any, s3: Any, s3_endpoint: str) -> None:
    bucket = f"plain-{os.urandom(4).hex()}"
    s3.create_bucket(Bucket=bucket)
    await add(conn, 1)
    await audit.seal(conn, "ops")
    ran = await pitboss("audit", "export", "--bucket", bucket, "--endpoint", s3_endpoint)
    assert ran.status == 1, ran
    assert "has no Object Lock" in ran.err
    assert await conn.fetchval("SELECT count(*) FROM audit_exports") == 0
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


async def test_export_refuses_rows_changed_since_their_seal(
    conn: Any, s3: Any, s3_endpoint: str
) -> None:
    bucket = f"audit-{os.urandom(4).hex()}"
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    await add(conn, 2)
    await audit.seal(conn, "ops")
    await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_refuse")
    await conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE id = 1")
    await conn.execute("ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_refuse")
    ran = await pitboss("audit", "export", "--bucket", bucket, "--endpoint", s3_endpoint)
    assert ran.status == 1, ran
    assert "no longer match their seal" in ran.err
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
