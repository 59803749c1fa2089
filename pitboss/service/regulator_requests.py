"""Working regulators' requests in the background: prepare each file, then POST it to the
request's callback, signed, retried with backoff until it is taken or the attempts run out.

The same outbox pattern as the incident notifier (`pitboss.service.notifier`): rows are
claimed with a lease, so several processes never work one request twice, and rows left by
a process that stopped are picked up after their lease. Delivery is at-least-once: a
receiver dedupes on `Idempotency-Key` (the request id).
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
import structlog
from aiohttp import web

from pitboss.service import outbound
from pitboss.service.outbound import SendError
from pitboss.service.settings import Settings
from regapi import player, requests
from regapi.keys import Keys
from regapi.player import PlayerView
from regapi.store import requests as store
from regapi.store.requests import Outgoing

log = structlog.get_logger("pitboss.regulator_requests")

_BATCH = 8
# Preparing a file reads a range of a log; a claimed request is someone's for this long.
_PREPARE_LEASE = timedelta(minutes=10)


def callback_secret(settings: Settings, client_id: str) -> str | None:
    """The secret a client's callbacks are signed with (its own, or the `*` one)."""
    secrets = settings.regulator_callback_secrets
    return secrets.get(client_id) or secrets.get("*")


class RequestWorker(outbound.OutboxWorker):
    """Background task preparing and delivering `regulator_requests` rows."""

    name = "regulator-requests"

    def __init__(self, pool: asyncpg.Pool, settings: Settings, keys: Keys) -> None:
        super().__init__(
            pool,
            timeout_s=settings.regulator_callback_timeout_s,
            poll_s=settings.regulator_request_poll_s,
        )
        self._settings = settings
        self._keys = keys

    async def _round(self) -> bool:
        return await self.prepare_due() + await self.deliver_due() > 0

    async def _due_in(self, conn: asyncpg.Connection) -> float | None:
        return await store.next_due_in(conn)

    def backoff(self, attempts: int) -> timedelta:
        s = self._settings
        return outbound.backoff(
            attempts,
            base_s=s.regulator_callback_backoff_s,
            max_s=s.regulator_callback_backoff_max_s,
            rng=self._random,
        )

    # --- preparing -------------------------------------------------------------------

    async def _view(self, conn: asyncpg.Connection, player_id: str) -> PlayerView | None:
        return await player.view(conn, self._keys, player_id, now=datetime.now(UTC))

    async def prepare_due(self) -> int:
        """Prepare the files of queued requests; returns how many were tried."""
        async with self._pool.acquire() as conn:
            due = await store.claim_queued(conn, limit=_BATCH, lease=_PREPARE_LEASE)
        for item in due:
            try:
                async with self._pool.acquire() as conn:
                    made = await requests.prepare(
                        conn,
                        request_id=item.id,
                        kind=item.type,
                        given=item.parameters,
                        fmt=item.format,
                        now=datetime.now(UTC),
                        max_rows=self._settings.regulator_request_max_rows,
                        view=self._view,
                    )
                    await store.prepared(
                        conn,
                        item.id,
                        name=made.name,
                        content=made.content,
                        sha256=hashlib.sha256(made.content).hexdigest(),
                        rows=made.rows,
                    )
                log.info("regulator_request_prepared", id=item.id, rows=made.rows)
            except (requests.TooLargeError, requests.RequestError) as exc:
                # Asking again will not help: the request itself is at fault.
                await self._not_prepared(item.id, str(exc), None)
            except Exception as exc:
                log.exception("regulator_request_prepare_failed", id=item.id)
                await self._not_prepared(item.id, f"{type(exc).__name__}: {exc}", self.backoff(1))
        return len(due)

    async def _not_prepared(self, request_id: str, error: str, retry_in: timedelta | None) -> None:
        async with self._pool.acquire() as conn:
            await store.not_prepared(conn, request_id, error=error, retry_in=retry_in)

    # --- delivering ------------------------------------------------------------------

    async def deliver_due(self) -> int:
        """Deliver one batch of prepared files that are due; returns how many were tried."""
        async with self._pool.acquire() as conn:
            rows = await store.claim_deliveries(conn, limit=_BATCH, lease=self._lease)
        if not rows:
            return 0
        errors = await asyncio.gather(*(self._attempt(row) for row in rows))
        async with self._pool.acquire() as conn:
            for row, error in zip(rows, errors, strict=True):
                if error is None:
                    await store.delivered(conn, row.id)
                    log.info("regulator_request_delivered", id=row.id, attempts=row.attempts)
                    continue
                state = await store.not_delivered(
                    conn,
                    row.id,
                    error=error,
                    retry_in=self.backoff(row.attempts),
                    max_attempts=self._settings.regulator_callback_max_attempts,
                )
                (log.error if state == "failed" else log.warning)(
                    "regulator_request_" + ("failed" if state == "failed" else "retry"),
                    id=row.id,
                    attempts=row.attempts,
                    error=error,
                )
        return len(rows)

    async def _attempt(self, row: Outgoing) -> str | None:
        """Send once; None on success, else why it failed."""
        try:
            async with asyncio.timeout(self._settings.regulator_callback_timeout_s):
                await self._send(row)
        except SendError as exc:
            return str(exc)
        except TimeoutError:
            return f"no answer within {self._settings.regulator_callback_timeout_s} s"
        except (OSError, aiohttp.ClientError) as exc:
            return f"{type(exc).__name__}: {exc}"
        except Exception as exc:
            # Still an attempt, so a request cannot be retried forever.
            log.exception("regulator_request_send_error", id=row.id)
            return f"{type(exc).__name__}: {exc}"
        return None

    async def _send(self, row: Outgoing) -> None:
        secret = callback_secret(self._settings, row.client_id)
        if secret is None:
            raise SendError(f"no callback secret is configured for client {row.client_id!r}")
        if self._session is None:
            raise SendError("the request worker is not started")
        await outbound.post_signed(
            self._session,
            row.callback_url,
            row.file,
            secret=secret,
            headers={
                "Content-Type": requests.media_type(row.format),
                "Content-Digest": outbound.content_digest(row.file),
                "Content-Disposition": f'attachment; filename="{row.file_name}"',
                "Pitboss-Request-Id": row.id,
                "Idempotency-Key": f"pitboss-regulator-request-{row.id}",
            },
        )


# Where the running worker is kept, on the main app.
WORKER = web.AppKey("regulator_requests", RequestWorker)
