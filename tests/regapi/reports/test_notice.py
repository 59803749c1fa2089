"""The email and webhook that tell a regulator a run was delivered."""

from __future__ import annotations

import json

from regapi import periods
from regapi.reports.notice import Notice, NoticeFile, email_message, file_url, webhook_body

NOTICE = Notice(
    run_id=7,
    market="UKGC",
    period=periods.parse("weekly/2026-W47"),
    revision=2,
    files=[
        NoticeFile(name="UKGC_weekly_2026-W47_r2.csv", size=24, sha256="ab" * 32),
        NoticeFile(name="UKGC_weekly_2026-W47_r2.manifest.json", size=300, sha256="cd" * 32),
    ],
    public_url="https://pitboss.example.com",
    key_id="kid-1",
)


def test_the_email_names_the_revision_the_week_and_each_file() -> None:
    msg = email_message(NOTICE, delivery_id=12, to="returns@ukgc.test", sender="pb@casino.test")
    assert msg["Subject"] == "[Pitboss] UKGC weekly report 2026-W47 (revision 2) ready"
    assert msg["Message-ID"] == "<report-delivery-12.run-7@casino.test>"
    # The same id on every attempt, for the receiver's dedupe.
    again = email_message(NOTICE, delivery_id=12, to="returns@ukgc.test", sender="pb@casino.test")
    assert again["Message-ID"] == msg["Message-ID"]
    body = msg.get_content()
    assert "Period:   weekly/2026-W47 (2026-11-16 to 2026-11-22)" in body
    assert "Uploaded:" not in body
    assert (
        "  UKGC_weekly_2026-W47_r2.csv (24 bytes)\n"
        f"    sha256 {'ab' * 32}\n"
        "    https://pitboss.example.com/regulator/reports/weekly/2026-W47/"
        "UKGC_weekly_2026-W47_r2.csv\n"
    ) in body
    assert "UKGC_weekly_2026-W47_r2.manifest.json lists every file's size" in body
    assert "Signing key id: kid-1" in body


def test_the_webhook_body_without_an_upload() -> None:
    body = json.loads(webhook_body(NOTICE, delivery_id=12))
    assert body["sftp"] is None
    assert body["manifest"] == "UKGC_weekly_2026-W47_r2.manifest.json"
    assert (body["period_start"], body["period_end"]) == ("2026-11-16", "2026-11-23")
    assert body["files"][0]["url"] == file_url(
        "https://pitboss.example.com/", NOTICE.period, "UKGC_weekly_2026-W47_r2.csv"
    )
