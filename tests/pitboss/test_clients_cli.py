"""`pitboss clients create|list|disable` and `pitboss keys rotate|list|retire` against a
real, fresh PostgreSQL database (migrated by the command itself)."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from pitboss import cli
from tests.service.conftest import DEFAULT_URL, run_sql, with_database


async def _fetch(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
        return rows
    finally:
        await conn.close()


@pytest.fixture
def database_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """A new, empty database in DATABASE_URL (and a KEK file path of the test's own)."""
    server = os.environ.get("PITBOSS_TEST_DATABASE_URL", DEFAULT_URL)
    name = "pitboss_t_" + uuid.uuid4().hex[:12]
    asyncio.run(run_sql(server, f'CREATE DATABASE "{name}"'))
    url = with_database(server, name)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PITBOSS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PITBOSS_SIGNING_KEK_FILE", str(tmp_path / "secrets" / "signing.kek"))
    yield url
    asyncio.run(run_sql(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_create_prints_the_secret_once_and_stores_only_its_hash(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(
        capsys, "clients", "create", "--name", "MGA inspector", "--role", "regulator_read",
        "--role", "compliance_officer", "--role", "regulator_read", "--json",
    )  # fmt: skip
    assert status == 0
    made = json.loads(out)
    assert made["client_id"].startswith("pbc_")
    assert made["roles"] == ["regulator_read", "compliance_officer"]
    [row] = asyncio.run(_fetch(database_url, "SELECT * FROM auth_clients"))
    assert row["id"] == made["client_id"]
    assert row["name"] == "MGA inspector"
    assert row["secret_hash"].startswith("scrypt$")
    assert made["client_secret"] not in row["secret_hash"]

    status, out, err = run(capsys, "clients", "create", "--name", "desk", "--role", "analyst")
    assert status == 0
    lines = dict(line.split(":", 1) for line in out.strip().splitlines())
    assert lines["client_id"].strip().startswith("pbc_")
    assert len(lines["client_secret"].strip()) >= 43
    assert "shown this once" in err

    status, out, _ = run(capsys, "clients", "list")
    assert status == 0
    assert made["client_id"] in out
    assert "MGA inspector" in out
    assert made["client_secret"] not in out
    assert lines["client_secret"].strip() not in out


def test_bad_roles_and_names_are_refused(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["clients", "create", "--name", "x", "--role", "root"])
    assert exit_.value.code == 2
    assert "invalid choice: 'root'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["clients", "create", "--name", "x"])  # a role is required
    status, _, err = run(capsys, "clients", "create", "--name", "", "--role", "ops")
    assert status == 1
    assert "client name" in err


def test_disable(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "clients", "create", "--name", "desk", "--role", "ops", "--json")
    client_id = json.loads(out)["client_id"]
    status, out, _ = run(capsys, "clients", "disable", client_id)
    assert status == 0
    assert f"{client_id} disabled at" in out
    _, out, _ = run(capsys, "clients", "list", "--json")
    [listed] = [json.loads(line) for line in out.splitlines()]
    assert listed["disabled_at"] is not None
    status, _, err = run(capsys, "clients", "disable", "pbc_nobody")
    assert status == 1
    assert "no client 'pbc_nobody'" in err


def test_keys_rotate_list_and_retire(
    database_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    kek = tmp_path / "secrets" / "signing.kek"
    status, out, _ = run(capsys, "keys", "rotate")
    assert status == 0
    first = out.split("current: ")[1].split()[0]
    assert "superseded" not in out
    assert stat.S_IMODE(kek.stat().st_mode) == 0o600  # made by the first rotation

    status, out, _ = run(capsys, "keys", "rotate")
    second = out.split("current: ")[1].split()[0]
    assert f"superseded: {first}" in out

    def states() -> dict[str, str]:
        _, out, _ = run(capsys, "keys", "list", "--json")
        return {k["kid"]: k["state"] for k in map(json.loads, out.splitlines())}

    assert states() == {first: "superseded", second: "current"}
    status, out, _ = run(capsys, "keys", "retire", second)  # the current one
    assert status == 0
    third = out.split("current: ")[1].split()[0]
    assert states() == {first: "superseded", second: "retired", third: "current"}
    status, _, err = run(capsys, "keys", "retire", "k-nonesuch")
    assert status == 1
    assert "no key 'k-nonesuch'" in err

    # Without the key-encryption key nothing can be sealed: said, not crashed.
    kek.unlink()
    status, _, err = run(capsys, "keys", "rotate")
    assert status == 1
    assert "no key-encryption key" in err
    status, _, _ = run(capsys, "keys", "retire", first)  # a superseded key needs none
    assert status == 0
    status, _, err = run(capsys, "keys", "retire", third)
    assert status == 1
    assert "needs the KEK" in err
