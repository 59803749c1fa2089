"""Delivering generated reports to regulators: the SFTP upload of each run's files, then
its notices (email, signed webhook), retried with backoff until they go or run out of
attempts (`regapi.store.report_deliveries` holds the states).

The same outbox pattern as the incident notifier (`pitboss.service.notifier`): rows are
claimed with a lease, so several processes never work one row at once, and a row left by
a process that stopped is taken up after its lease. Delivery is at-least-once: an upload
done again writes the same files over themselves; receivers dedupe notices on the delivery
id (the email's Message-ID, the webhook's `Idempotency-Key`). Retries use the notifier's
settings (`notify_backoff_s`, `notify_backoff_max_s`, `notify_max_attempts`).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import aiosmtplib
import asyncpg
import structlog

from pitboss.service import outbound
from pitboss.service.metrics import Metrics
from pitboss.service.outbound import SendError
from pitboss.service.settings import Settings
from regapi.reports import notice, sftp
from regapi.reports.config import MarketReports, ReportsConfig
from regapi.reports.notice import Notice, NoticeFile
from regapi.reports.sftp import DeliveryError
from regapi.reports.signing import MANIFEST_SUFFIX
from regapi.store import report_deliveries as store
from regapi.store.report_deliveries import Claimed, RunFilesError

log = structlog.get_logger("pitboss.report_delivery")

# Rows claimed per round trip; the attempts of one batch run concurrently.
_BATCH = 8
_MANIFEST_LIMIT = 1 << 20


def _upload_order(files: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The manifest's signature, then the manifest, last: a regulator that waits for the
    manifest finds every file it lists already there."""

    def rank(item: tuple[str, bytes]) -> int:
        name = item[0]
        return 2 if name.endswith(MANIFEST_SUFFIX) else 1 if MANIFEST_SUFFIX in name else 0

    return sorted(files, key=rank)


def _key_id(manifest: bytes) -> str | None:
    try:
        doc = json.loads(manifest)
    except ValueError:
        return None
    kid = doc.get("key_id") if isinstance(doc, dict) else None
    return kid if isinstance(kid, str) else None


class DeliveryWorker(outbound.OutboxWorker):
    """Background task working `report_deliveries` rows."""

    name = "report-delivery"

    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        metrics: Metrics,
        reports: ReportsConfig,
        *,
        upload_timeout_s: float = 300.0,
    ) -> None:
        super().__init__(pool, timeout_s=settings.notify_timeout_s, poll_s=settings.notify_poll_s)
        if upload_timeout_s <= 0:
            raise ValueError(f"upload_timeout_s: must be positive, got {upload_timeout_s}")
        self._settings = settings
        self._metrics = metrics
        self._reports = reports
        self._upload_timeout_s = upload_timeout_s
        # An upload may take longer than a notice: a claimed row stays ours until it ends.
        self._lease = timedelta(seconds=2 * max(upload_timeout_s, settings.notify_timeout_s) + 60)

    async def _round(self) -> bool:
        return await self.send_due() == _BATCH

    async def _due_in(self, conn: asyncpg.Connection) -> float | None:
        return await store.due_in(conn)

    def backoff(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failure: doubling, capped, with jitter."""
        s = self._settings
        return outbound.backoff(
            attempts, base_s=s.notify_backoff_s, max_s=s.notify_backoff_max_s, rng=self._random
        )

    async def send_due(self) -> int:
        """Attempt one batch of the deliveries that are due; returns how many were tried."""
        async with self._pool.acquire() as conn:
            rows = await store.claim(conn, limit=_BATCH, lease=self._lease)
        if not rows:
            return 0
        outcomes = await asyncio.gather(*(self._attempt(row) for row in rows))
        async with self._pool.acquire() as conn:
            for row, (error, detail) in zip(rows, outcomes, strict=True):
                await self._record(conn, row, error, detail)
        return len(rows)

    async def _record(
        self, conn: asyncpg.Connection, row: Claimed, error: str | None, detail: dict[str, Any]
    ) -> None:
        where = {"id": row.id, "run_id": row.run_id, "market": row.market, "channel": row.channel}
        if error is None:
            await store.mark_sent(conn, row.id, detail)
            outcome = "sent"
            log.info("report_delivery_sent", attempts=row.attempts, **where)
        else:
            last = row.attempts >= self._settings.notify_max_attempts
            retry_at = None if last else datetime.now(UTC) + self.backoff(row.attempts)
            state = await store.mark_failed(conn, row.id, error, retry_at=retry_at)
            outcome = "failed" if state == "failed" else "retry"
            (log.error if outcome == "failed" else log.warning)(
                "report_delivery_" + outcome, attempts=row.attempts, error=error, **where
            )
        self._metrics.report_deliveries.labels(row.market, row.channel, outcome).inc()

    async def _attempt(self, row: Claimed) -> tuple[str | None, dict[str, Any]]:
        """Deliver once: (None, where it went) on success, else (why it failed, {})."""
        timeout = (
            self._upload_timeout_s if row.channel == "sftp" else self._settings.notify_timeout_s
        )
        try:
            async with asyncio.timeout(timeout):
                market = self._market(row)
                if row.channel == "sftp":
                    return None, await self._upload(row, market)
                if row.channel == "email":
                    return None, await self._email(row)
                if row.channel == "webhook":
                    return None, await self._webhook(row, market)
                raise SendError(f"unknown channel {row.channel!r}")
        except (SendError, DeliveryError, RunFilesError) as exc:
            return str(exc), {}
        except TimeoutError:
            return f"not done within {timeout:g} s", {}
        except (OSError, aiosmtplib.SMTPException, aiohttp.ClientError) as exc:
            return f"{type(exc).__name__}: {exc}", {}
        except Exception as exc:
            # Anything else still counts as an attempt, so a row cannot retry forever.
            log.exception("report_delivery_error", id=row.id, run_id=row.run_id)
            return f"{type(exc).__name__}: {exc}", {}

    def _market(self, row: Claimed) -> MarketReports:
        market = self._reports.markets.get(row.market)
        if market is None:
            raise SendError(f"market {row.market} is not in the reports configuration")
        return market

    # --- channels --------------------------------------------------------------------

    async def _upload(self, row: Claimed, market: MarketReports) -> dict[str, Any]:
        target = market.sftp
        if target is None:
            raise SendError(f"markets.{row.market}.sftp is not configured")
        async with self._pool.acquire() as conn:
            files = await store.contents_of(conn, row.run_id)
        directory = f"{row.market}/{row.period.kind}/{row.period.label}"
        paths = await sftp.upload(
            target, directory, _upload_order(files), timeout_s=self._upload_timeout_s
        )
        remote = sftp.remote_directory(target, directory)
        return {
            "location": f"sftp://{target.username}@{target.host}:{target.port}{remote}",
            "paths": paths,
        }

    async def _notice(self, row: Claimed) -> Notice:
        async with self._pool.acquire() as conn:
            files = await store.files_of(conn, row.run_id)
            manifests = [f.name for f in files if f.name.endswith(MANIFEST_SUFFIX)]
            contents = await store.contents_of(conn, row.run_id, only=manifests[:1])
        key_id = None
        if contents and len(contents[0][1]) <= _MANIFEST_LIMIT:
            key_id = _key_id(contents[0][1])
        location = row.uploaded.get("location")
        paths = row.uploaded.get("paths")
        return Notice(
            run_id=row.run_id,
            market=row.market,
            period=row.period,
            revision=row.revision,
            files=[NoticeFile(name=f.name, size=f.size, sha256=f.sha256) for f in files],
            public_url=self._reports.public_url,
            sftp_location=location if isinstance(location, str) else None,
            sftp_paths=[p for p in paths if isinstance(p, str)] if isinstance(paths, list) else [],
            key_id=key_id,
        )

    async def _email(self, row: Claimed) -> dict[str, Any]:
        s = self._settings
        if not s.smtp_host:
            raise SendError("smtp_host is not set")
        message = notice.email_message(
            await self._notice(row), delivery_id=row.id, to=row.target, sender=s.mail_from
        )
        await aiosmtplib.send(
            message, hostname=s.smtp_host, port=s.smtp_port, timeout=s.notify_timeout_s
        )
        return {"message_id": str(message["Message-ID"])}

    async def _webhook(self, row: Claimed, market: MarketReports) -> dict[str, Any]:
        if not market.webhook_secret:
            raise SendError(f"markets.{row.market}.webhook_secret_file is not configured")
        if self._session is None:
            raise SendError("the report delivery worker is not started")
        body = notice.webhook_body(await self._notice(row), delivery_id=row.id)
        key = f"pitboss-report-delivery-{row.id}"
        # The idempotency key stays the same across attempts (each has its own nonce).
        await outbound.post_signed(
            self._session,
            row.target,
            body,
            secret=market.webhook_secret,
            headers={
                "Content-Type": "application/json",
                "Content-Digest": outbound.content_digest(body),
                "Idempotency-Key": key,
            },
        )
        return {"idempotency_key": key}
