"""What a regulator is told when a run's files are delivered: an email, and a webhook's
JSON body. Both name every file with its SHA-256 and where to fetch it (the regulator API,
`/regulator/reports/{period}/{name}`), where the SFTP upload put it, and the key that
signed it.

A notice may be sent more than once (delivery is at-least-once), so each carries the
delivery's id: the email's Message-ID and the webhook's `delivery_id` stay the same on
every attempt, for the receiver to drop repeats.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import quote

import msgspec

from regapi.periods import Period
from regapi.reports.signing import ALGORITHM, MANIFEST_SUFFIX, SIGNATURE_SUFFIX

_ENCODER = msgspec.json.Encoder()


@dataclass(frozen=True, kw_only=True)
class NoticeFile:
    name: str
    size: int
    sha256: str


@dataclass(frozen=True, kw_only=True)
class Notice:
    """A delivered run, as its notices describe it."""

    run_id: int
    market: str
    period: Period
    revision: int
    files: Sequence[NoticeFile]  # every file: reports, signatures, the manifest
    public_url: str  # where the regulator API is reached, without a trailing slash
    sftp_location: str | None = None  # sftp://user@host:port/dir/…, if uploaded
    sftp_paths: Sequence[str] = ()
    key_id: str | None = None  # the report-signing key (from the manifest)

    @property
    def manifest(self) -> str | None:
        for f in self.files:
            if f.name.endswith(MANIFEST_SUFFIX):
                return f.name
        return None


def file_url(public_url: str, period: Period, name: str) -> str:
    """Where the regulator API serves a report file."""
    return f"{public_url.rstrip('/')}/regulator/reports/{period}/{quote(name)}"


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def subject(notice: Notice) -> str:
    """`[Pitboss] MGA monthly report 2026-01 ready` (`, revision 2` for a correction)."""
    p = notice.period
    revision = f" (revision {notice.revision})" if notice.revision > 1 else ""
    return _one_line(f"[Pitboss] {notice.market} {p.kind} report {p.label}{revision} ready")


def email_message(notice: Notice, *, delivery_id: int, to: str, sender: str) -> EmailMessage:
    """The email to one address of the market's regulator."""
    p = notice.period
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject(notice)
    msg["Date"] = format_datetime(datetime.now(UTC))
    # The same id on every attempt, so a resent notice shows once.
    domain = sender.rpartition("@")[2] or "localhost"
    msg["Message-ID"] = f"<report-delivery-{delivery_id}.run-{notice.run_id}@{domain}>"
    last_day = p.end - timedelta(days=1)
    lines = [
        f"The {p.kind} report of {notice.market} for {p.label} is ready.",
        "",
        f"Market:   {notice.market}",
        f"Period:   {p} ({p.start.isoformat()} to {last_day.isoformat()})",
        f"Revision: {notice.revision}"
        + (" (corrects the earlier files, which keep their names)" if notice.revision > 1 else ""),
    ]
    if notice.sftp_location:
        lines.append(f"Uploaded: {notice.sftp_location}")
    lines += ["", "Files (SHA-256, then where to download it):", ""]
    for f in notice.files:
        lines += [
            f"  {f.name} ({f.size} bytes)",
            f"    sha256 {f.sha256}",
            f"    {file_url(notice.public_url, p, f.name)}",
        ]
    lines.append("")
    if notice.manifest:
        lines.append(
            f"Each file is signed with {ALGORITHM} (the detached signature is "
            f"<file>{SIGNATURE_SUFFIX}); {notice.manifest} lists every file's size and "
            "SHA-256 and is signed too."
        )
        if notice.key_id:
            lines.append(f"Signing key id: {notice.key_id}")
        lines.append("")
    text = "\n".join(lines)
    if text.isascii():
        # Plain 7bit keeps each link whole on its line (quoted-printable would fold it).
        msg.set_content(text, cte="7bit")
    else:
        msg.set_content(text)
    return msg


def webhook_body(notice: Notice, *, delivery_id: int) -> bytes:
    """The webhook's JSON body."""
    p = notice.period
    return _ENCODER.encode(
        {
            "event": "report.delivered",
            "delivery_id": delivery_id,
            "run_id": notice.run_id,
            "market": notice.market,
            "period": str(p),
            "period_start": p.start.isoformat(),
            "period_end": p.end.isoformat(),  # the first day after the period
            "revision": notice.revision,
            "files": [
                {
                    "name": f.name,
                    "sha256": f.sha256,
                    "size": f.size,
                    "url": file_url(notice.public_url, p, f.name),
                }
                for f in notice.files
            ],
            "manifest": notice.manifest,
            "sftp": (
                None
                if notice.sftp_location is None
                else {"location": notice.sftp_location, "paths": list(notice.sftp_paths)}
            ),
            "signature": {"algorithm": ALGORITHM, "key_id": notice.key_id},
        }
    )
