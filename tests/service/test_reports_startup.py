"""A reports configuration or signing key that cannot be used stops the start, naming the
variable and the key to fix, before anything is opened."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pitboss.service.auth import StartupRefusedError
from pitboss.service.reports import prepare
from pitboss.service.settings import Settings


def test_a_bad_file_names_its_key(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "reports.toml"
    path.write_text('[operator]\nname = "X"\n[markets.MGA]\nlicence = "nope"\n')
    with pytest.raises(StartupRefusedError, match=r"PITBOSS_REPORTS_CONFIG: markets\.MGA\.licence"):
        prepare(replace(settings, reports_config=path))


def test_a_bad_signing_key_is_named(settings: Settings, tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("not a key")
    with pytest.raises(StartupRefusedError, match="PITBOSS_REPORT_SIGNING_KEY_FILE: "):
        prepare(replace(settings, report_signing_key_file=key))


def test_emails_need_an_smtp_server(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "reports.toml"
    path.write_text(
        '[operator]\nname = "X"\n[markets.UKGC]\nlicence = "000123"\nemails = ["a@b.example"]\n'
    )
    with pytest.raises(StartupRefusedError, match=r"PITBOSS_SMTP_HOST: .*markets\.UKGC\.emails"):
        prepare(replace(settings, reports_config=path))
    assert prepare(replace(settings, reports_config=path, smtp_host="127.0.0.1")).config


def test_development_makes_its_key_once(settings: Settings) -> None:
    first = prepare(settings).signer
    assert (settings.data_dir / "keys" / "report-signing.pem").exists()
    assert prepare(settings).signer.kid == first.kid
