"""The reports configuration file: a good one loads; each mistake names its dotted key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from regapi.reports import config
from regapi.reports.config import ReportsConfigError

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDx9wqZ4m0HhO0yUqk1Jt3JmS9XvJk4VvqO2mZ3r0xYz"


def document(tmp_path: Path, **market: Any) -> dict[str, Any]:
    (tmp_path / "sftp_key").write_text("key")
    (tmp_path / "hook_secret").write_text("s" * 32 + "\n")
    mga: dict[str, Any] = {
        "licence": "MGA/B2C/123/2019",
        "periods": ["monthly", "daily"],
        "sftp": {"host": "sftp.example.mt", "username": "casino", "key_file": "sftp_key",
                 "host_key": HOST_KEY, "directory": "/incoming/"},
        "emails": ["returns@example.mt"],
        "webhook_url": "https://regulator.example.mt/hooks",
        "webhook_secret_file": "hook_secret",
    }  # fmt: skip
    return {"operator": {"name": "Casino Ltd", "public_url": "https://pb.example.com/"},
            "markets": {"MGA": mga | market}}  # fmt: skip


def test_a_full_file_loads(tmp_path: Path) -> None:
    text = """
[operator]
name = "Casino Ltd"
public_url = "https://pb.example.com"

[markets.UKGC]
licence = "000123"
emails = ["returns@example.gov.uk"]
"""
    (tmp_path / "reports.toml").write_text(text)
    loaded = config.load(tmp_path / "reports.toml")
    ukgc = loaded.markets["UKGC"]
    assert ukgc.periods == ("daily", "weekly", "monthly")
    assert ukgc.formats == ("csv", "xml", "pdf")
    assert ukgc.sftp is None
    assert ukgc.webhook_url is None


def test_paths_are_read_beside_the_file_and_lists_keep_a_fixed_order(tmp_path: Path) -> None:
    loaded = config.parse(document(tmp_path), base=tmp_path)
    mga = loaded.markets["MGA"]
    assert mga.periods == ("daily", "monthly")
    assert mga.sftp is not None
    assert mga.sftp.key_file == tmp_path / "sftp_key"
    assert mga.sftp.directory == "/incoming"
    assert mga.webhook_secret == "s" * 32
    assert loaded.public_url == "https://pb.example.com"
    assert str(mga.sftp) == "sftp://casino@sftp.example.mt:22/incoming"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"licence": "MGA/XYZ/1/2019"}, "markets.MGA.licence", "e.g. MGA/B2C/123/2019"),
        ({"periods": ["hourly"]}, "markets.MGA.periods", "daily, weekly, monthly"),
        ({"periods": []}, "markets.MGA.periods", "without repeats"),
        ({"formats": ["csv", "csv"]}, "markets.MGA.formats", "without repeats"),
        ({"emails": ["nobody"]}, "markets.MGA.emails[0]", "not an email address"),
        ({"webhook_url": "ftp://x"}, "markets.MGA.webhook_url", "http:// or https://"),
        ({"webhook_secret_file": None}, "markets.MGA.webhook_secret_file", "needed with"),
        ({"webhook_secret_file": "missing"}, "markets.MGA.webhook_secret_file", "cannot read"),
        ({"fiu_entity_id": -1}, "markets.MGA.fiu_entity_id", "0 or more"),
        ({"colour": "red"}, "markets.MGA", "unknown field"),
    ],
)
def test_mistakes_name_their_key(
    tmp_path: Path, change: dict[str, Any], field: str, message: str
) -> None:
    doc = document(tmp_path, **change)
    if change.get("webhook_secret_file", 1) is None:
        del doc["markets"]["MGA"]["webhook_secret_file"]
    with pytest.raises(ReportsConfigError, match=message) as caught:
        config.parse(doc, base=tmp_path)
    assert caught.value.field.startswith(field)


@pytest.mark.parametrize(
    ("sftp", "field"),
    [
        ({"host": "bad host"}, "markets.MGA.sftp.host"),
        ({"port": 70000}, "markets.MGA.sftp.port"),
        ({"host_key": "not a key"}, "markets.MGA.sftp.host_key"),
        ({"directory": "relative"}, "markets.MGA.sftp.directory"),
        ({"key_file": "nope"}, "markets.MGA.sftp.key_file"),
    ],
)
def test_sftp_mistakes_name_their_key(tmp_path: Path, sftp: dict[str, Any], field: str) -> None:
    doc = document(tmp_path)
    doc["markets"]["MGA"]["sftp"] |= sftp
    with pytest.raises(ReportsConfigError) as caught:
        config.parse(doc, base=tmp_path)
    assert caught.value.field == field


def test_unknown_markets_and_bad_files(tmp_path: Path) -> None:
    doc = document(tmp_path)
    doc["markets"]["XX"] = doc["markets"]["MGA"]
    with pytest.raises(ReportsConfigError, match="known: CW, MGA, UKGC"):
        config.parse(doc, base=tmp_path)
    (tmp_path / "bad.toml").write_text("[operator\n")
    with pytest.raises(ReportsConfigError, match="not TOML") as caught:
        config.load(tmp_path / "bad.toml")
    assert caught.value.field == "file"
    with pytest.raises(ReportsConfigError, match="operator"):
        config.parse({"markets": {}}, base=tmp_path)


def test_development_defaults_cover_every_market() -> None:
    dev = config.development()
    assert set(dev.markets) == {"MGA", "UKGC", "CW"}
    assert all(m.sftp is None and not m.emails for m in dev.markets.values())
