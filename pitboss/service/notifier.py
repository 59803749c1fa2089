"""Sending incident notifications: the outbox rows a new P1 incident queues, by email
(SMTP) and by signed webhook, retried with backoff until they go or run out of attempts.

The outbox is written in the transaction that opened the incident, so a notification is
never lost; this task only has to drain it. It is woken when a commit queued something
and also polls, so rows queued by another process or left from before a restart are sent
too. Each row is claimed before it is sent (see `engine.store.incidents.claim_notifications`)
so two service processes never send the same notification twice; a process that dies
mid-send leaves its rows to be retried, which makes delivery at-least-once: receivers
dedupe on the notification id (the webhook's `Idempotency-Key`, the email's Message-ID).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import aiohttp
import aiosmtplib
import asyncpg
import msgspec
import structlog

from engine.store import incidents as store
from engine.store.incidents import Outgoing, Target
from pitboss.service import outbound
from pitboss.service.metrics import Metrics
from pitboss.service.outbound import SendError
from pitboss.service.settings import Settings

log = structlog.get_logger("pitboss.notifier")

_ENCODER = msgspec.json.Encoder()
# Rows claimed per round trip; the sends of one batch run concurrently.
_BATCH = 20


def notify_targets(settings: Settings) -> list[Target]:
    """Where a new P1 incident is announced: each incident email, and the webhook if set."""
    targets = [Target("email", address) for address in settings.incident_emails]
    if settings.incident_webhook_url:
        targets.append(Target("webhook", settings.incident_webhook_url))
    return targets


def incident_path(incident_id: object) -> str:
    return f"/v1/incidents/{incident_id}"


class Notifier(outbound.OutboxWorker):
    """Background task sending pending `notifications` rows."""

    name = "notifier"

    def __init__(self, pool: asyncpg.Pool, settings: Settings, metrics: Metrics) -> None:
        super().__init__(pool, timeout_s=settings.notify_timeout_s, poll_s=settings.notify_poll_s)
        self._settings = settings
        self._metrics = metrics

    async def _round(self) -> bool:
        return await self.send_due() == _BATCH

    async def _due_in(self, conn: asyncpg.Connection) -> float | None:
        return await store.next_due_in(conn)

    async def send_due(self) -> int:
        """Send one batch of the notifications that are due; returns how many were tried."""
        async with self._pool.acquire() as conn:
            rows = await store.claim_notifications(conn, limit=_BATCH, lease=self._lease)
        if not rows:
            return 0
        errors = await asyncio.gather(*(self._attempt(row) for row in rows))
        async with self._pool.acquire() as conn:
            for row, error in zip(rows, errors, strict=True):
                await self._record(conn, row, error)
        return len(rows)

    async def _record(self, conn: asyncpg.Connection, row: Outgoing, error: str | None) -> None:
        if error is None:
            await store.mark_sent(conn, row.id)
            outcome = "sent"
            log.info("notification_sent", id=row.id, channel=row.channel, attempts=row.attempts)
        else:
            state = await store.mark_failed(
                conn,
                row.id,
                error=error,
                retry_in=self.backoff(row.attempts),
                max_attempts=self._settings.notify_max_attempts,
            )
            outcome = "failed" if state == "failed" else "retry"
            (log.error if outcome == "failed" else log.warning)(
                "notification_" + outcome,
                id=row.id,
                channel=row.channel,
                attempts=row.attempts,
                error=error,
            )
        self._metrics.notifications.labels(row.channel, outcome).inc()

    def backoff(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failure: doubling, capped, with jitter."""
        s = self._settings
        return outbound.backoff(
            attempts, base_s=s.notify_backoff_s, max_s=s.notify_backoff_max_s, rng=self._random
        )

    async def _attempt(self, row: Outgoing) -> str | None:
        """Send once; None on success, else why it failed."""
        try:
            async with asyncio.timeout(self._settings.notify_timeout_s):
                if row.channel == "email":
                    await self._email(row)
                elif row.channel == "webhook":
                    await self._webhook(row)
                else:
                    raise SendError(f"unknown channel {row.channel!r}")
        except SendError as exc:
            return str(exc)
        except TimeoutError:
            return f"no answer within {self._settings.notify_timeout_s} s"
        except (OSError, aiosmtplib.SMTPException, aiohttp.ClientError) as exc:
            return f"{type(exc).__name__}: {exc}"
        except Exception as exc:
            # Anything else still counts as an attempt, so a row cannot retry forever.
            log.exception("notification_error", id=row.id)
            return f"{type(exc).__name__}: {exc}"
        return None

    # --- channels --------------------------------------------------------------------

    async def _email(self, row: Outgoing) -> None:
        s = self._settings
        if not s.smtp_host:
            raise SendError("smtp_host is not set")
        await aiosmtplib.send(
            email_message(row, s.mail_from),
            hostname=s.smtp_host,
            port=s.smtp_port,
            timeout=s.notify_timeout_s,
        )

    async def _webhook(self, row: Outgoing) -> None:
        secret = self._settings.incident_webhook_secret
        if not secret:
            raise SendError("incident_webhook_secret is not set")
        if self._session is None:
            raise SendError("the notifier is not started")
        # The idempotency key stays the same across attempts (each has its own nonce).
        await outbound.post_signed(
            self._session,
            row.target,
            webhook_body(row),
            secret=secret,
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": f"pitboss-notification-{row.id}",
            },
        )


def _one_line(text: object) -> str:
    # Subjects and summaries quote event fields, which may hold line breaks; a header must not.
    return " ".join(str(text).split())


def email_message(row: Outgoing, sender: str) -> EmailMessage:
    p: dict[str, Any] = row.payload
    incident_id = p.get("incident_id", row.incident_id)
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = row.target
    msg["Subject"] = _one_line(
        f"[Pitboss P{p.get('priority')}] {p.get('kind')}: {p.get('subject')}"
    )
    msg["Date"] = format_datetime(datetime.now(UTC))
    # The same id on every attempt, so a mail client shows a resent notice once.
    domain = sender.rpartition("@")[2] or "localhost"
    msg["Message-ID"] = f"<notification-{row.id}.incident-{incident_id}@{domain}>"
    lines = [
        f"Pitboss opened a P{p.get('priority')} incident.",
        "",
        f"Kind:     {p.get('kind')}",
        f"Priority: P{p.get('priority')}",
        f"Subject:  {p.get('subject')}",
        f"Summary:  {p.get('summary')}",
    ]
    if p.get("event_id"):
        lines.append(f"Event:    {p['event_id']}")
    if p.get("case_id") is not None:
        lines.append(f"Case:     {p['case_id']}")
    lines += ["", f"Incident: {incident_path(incident_id)}", ""]
    msg.set_content("\n".join(lines))
    return msg


def webhook_body(row: Outgoing) -> bytes:
    payload = dict(row.payload)
    payload["notification_id"] = row.id
    payload["link"] = incident_path(payload.get("incident_id", row.incident_id))
    return _ENCODER.encode(payload)
