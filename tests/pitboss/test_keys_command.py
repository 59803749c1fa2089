"""`pitboss keys` and the personal-data key settings."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import stat
from datetime import date
from pathlib import Path

import asyncpg
import pytest

from engine.store.migrate import migrate
from pitboss.cli import main
from pitboss.service.auth import StartupRefusedError
from pitboss.service.pii import pii_keys
from pitboss.service.settings import Settings, SettingsError
from regapi import players
from regapi.crypto import header_of
from regapi.keys import Keys, add_key
from tests.service import conftest as service_fixtures


def test_pii_new_creates_then_rotates_an_owner_only_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "keys" / "pii.json"
    assert main(["keys", "pii-new", "--purpose", "pii", "--file", str(path)]) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = json.loads(path.read_text())
    assert first["purpose"] == "pii"
    assert len(first["keys"]) == 1
    out = capsys.readouterr().out
    assert first["current"] in out
    assert first["keys"][0]["key"] not in out  # the key itself is never printed

    assert main(["keys", "pii-new", "--purpose", "pii", "--file", str(path)]) == 0
    second = json.loads(path.read_text())
    assert [k["id"] for k in second["keys"]][:1] == [first["current"]]
    assert second["current"] == second["keys"][1]["id"] != first["current"]
    assert "2 keys in the file" in capsys.readouterr().out


def test_pii_new_refuses_a_file_of_the_other_purpose(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "media.json"
    assert main(["keys", "pii-new", "--purpose", "kyc_media", "--file", str(path)]) == 0
    assert main(["keys", "pii-new", "--purpose", "pii", "--file", str(path)]) == 1
    assert "holds 'kyc_media' keys, not 'pii' keys" in capsys.readouterr().err


def test_pii_new_needs_a_purpose(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["keys", "pii-new", "--purpose", "ssn", "--file", "x.json"])
    assert "invalid choice" in capsys.readouterr().err


# --- settings -------------------------------------------------------------------------


def test_key_settings_are_read_from_the_environment(tmp_path: Path) -> None:
    add_key(tmp_path / "pii.json", "pii")
    s = Settings.from_env(
        {"PITBOSS_PII_KEY_FILE": str(tmp_path / "pii.json"), "PITBOSS_KYC_MEDIA_KEYS": "{}"}
    )
    assert s.pii_key_file == tmp_path / "pii.json"
    assert s.kyc_media_keys == "{}"
    secret = Settings(pii_keys='{"keys": [{"id": "a", "key": "SECRET-MATERIAL"}]}')
    assert "SECRET-MATERIAL" not in repr(secret)  # a settings dump in a log leaks nothing


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PITBOSS_PII_KEY_FILE": "/nonexistent/pii.json"},
         "PITBOSS_PII_KEY_FILE: pii_key_file: no such file"),
        ({"PITBOSS_KYC_MEDIA_KEY_FILE": "/nonexistent/m.json"}, "PITBOSS_KYC_MEDIA_KEY_FILE: "),
        ({"PITBOSS_PII_KEY_FILE": "{file}", "PITBOSS_PII_KEYS": "{}"},
         "PITBOSS_PII_KEYS: pii_keys: give"),
    ],
)  # fmt: skip
def test_bad_key_settings_name_the_variable(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    add_key(tmp_path / "pii.json", "pii")
    env = {k: v.replace("{file}", str(tmp_path / "pii.json")) for k, v in env.items()}
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def _production(tmp_path: Path, **keys: object) -> Settings:
    # What production needs besides the keys (engineer A's settings, the reports' files):
    # files that exist.
    for name in ("cert.pem", "key.pem", "ca.pem", "reports.toml", "report-signing.pem"):
        (tmp_path / name).write_text("x")
    return Settings(
        env="production",
        tls_cert=tmp_path / "cert.pem",
        tls_key=tmp_path / "key.pem",
        tls_client_ca=tmp_path / "ca.pem",
        regulator_allow=(ipaddress.ip_network("10.0.0.0/8"),),
        reports_config=tmp_path / "reports.toml",
        report_signing_key_file=tmp_path / "report-signing.pem",
        data_dir=tmp_path / "data",
        **keys,  # type: ignore[arg-type]
    )


def test_production_refuses_to_start_without_keys(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="pii_key_file: production refuses"):
        _production(tmp_path)
    add_key(tmp_path / "pii.json", "pii")
    with pytest.raises(SettingsError, match="kyc_media_key_file: production refuses"):
        _production(tmp_path, pii_key_file=tmp_path / "pii.json")


def test_production_runs_on_configured_keys_and_generates_none(tmp_path: Path) -> None:
    add_key(tmp_path / "pii.json", "pii")
    add_key(tmp_path / "media.json", "kyc_media")
    s = _production(
        tmp_path, pii_key_file=tmp_path / "pii.json", kyc_media_key_file=tmp_path / "media.json"
    )
    keys = pii_keys(s)
    assert keys.pii.current != keys.kyc_media.current
    assert not (tmp_path / "data").exists()


def test_a_broken_key_file_stops_the_start(tmp_path: Path) -> None:
    (tmp_path / "pii.json").write_text("{")
    s = Settings(data_dir=tmp_path / "data", pii_key_file=tmp_path / "pii.json")
    with pytest.raises(StartupRefusedError, match=r"pii\.json: not JSON"):
        pii_keys(s)


# --- rewrap -----------------------------------------------------------------------------

pg_server = service_fixtures.pg_server
database_url = service_fixtures.database_url


async def test_rewrap_moves_stored_values_to_the_current_keys(
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pii_file, media_file = tmp_path / "pii.json", tmp_path / "media.json"
    first = Keys(pii=add_key(pii_file, "pii"), kyc_media=add_key(media_file, "kyc_media"))
    conn = await asyncpg.connect(database_url)
    try:
        await migrate(conn)
        profile = players.ProfileIn(
            market="MGA", full_name="Alice", email="a@example.com", date_of_birth=date(1990, 1, 1)
        )
        await players.put_profile(conn, first, "p-1", profile, actor="t")
        await players.add_document(conn, first, "p-1", kind="selfie", content_type="image/png",
                                   content=b"face", actor="t")  # fmt: skip
        pii, media = add_key(pii_file, "pii"), add_key(media_file, "kyc_media")
        for key, value in {
            "DATABASE_URL": database_url,
            "PITBOSS_DATA_DIR": str(tmp_path / "data"),
            "PITBOSS_PII_KEY_FILE": str(pii_file),
            "PITBOSS_KYC_MEDIA_KEY_FILE": str(media_file),
        }.items():
            monkeypatch.setenv(key, value)
        # Its own event loop, as from a shell.
        assert await asyncio.to_thread(main, ["keys", "rewrap"]) == 0
        out = capsys.readouterr().out
        assert f"1 player profile(s) under pii key {pii.current}" in out
        assert f"1 KYC document(s) under kyc_media key {media.current}" in out
        assert header_of(await conn.fetchval("SELECT email FROM players"))[0] == pii.current
        content = await conn.fetchval("SELECT content FROM kyc_documents")
        assert header_of(content)[0] == media.current
    finally:
        await conn.close()


def test_rewrap_without_usable_settings_says_why(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PITBOSS_PII_KEY_FILE", "/nonexistent/pii.json")
    assert main(["keys", "rewrap"]) == 1
    assert "PITBOSS_PII_KEY_FILE: pii_key_file: no such file" in capsys.readouterr().err
