"""What every outbox sender shares: the background loop, the wait before a retry, and a
signed webhook POST.

Used by the incident notifier and by regulator request callbacks. A signed POST carries
`Pitboss-Timestamp`, `Pitboss-Nonce` and `Pitboss-Signature` as `engine.webhooks` verifies
them, so a receiver checks ours as we check theirs.
"""

from __future__ import annotations

import abc
import asyncio
import base64
import contextlib
import hashlib
import io
import random
import time
import uuid
from collections.abc import Mapping
from datetime import timedelta

import aiohttp
import asyncpg
import structlog

import pitboss
from engine import webhooks

log = structlog.get_logger("pitboss.outbound")


class SendError(Exception):
    """One attempt failed; the message is kept as the row's `last_error`."""


def backoff(attempts: int, *, base_s: float, max_s: float, rng: random.Random) -> timedelta:
    """The wait after the `attempts`-th failure: doubling from `base_s`, capped at `max_s`."""
    ceiling = min(max_s, base_s * 2 ** min(attempts - 1, 60))
    # Somewhere in the upper half, so senders that failed together do not retry together.
    return timedelta(seconds=ceiling * rng.uniform(0.5, 1.0))


def content_digest(body: bytes) -> str:
    """RFC 9530 `Content-Digest` of a body, with SHA-256."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"


def signed_headers(secret: str, body: bytes, *, at: int | None = None) -> dict[str, str]:
    """The signature headers for one request. A new nonce each time: a receiver refuses a
    nonce it has seen, and a retry is a new request."""
    at = int(time.time()) if at is None else at
    nonce = uuid.uuid4().hex
    return {
        webhooks.TIMESTAMP: str(at),
        webhooks.NONCE: nonce,
        webhooks.SIGNATURE: webhooks.sign(secret, at, nonce, body),
    }


def _one_line(text: str) -> str:
    return " ".join(text.split())


async def post_signed(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    *,
    secret: str,
    headers: Mapping[str, str],
) -> None:
    """POST `body` signed under `secret`; `SendError` unless the answer is 2xx.

    Redirects are not followed: the signature was made for this receiver."""
    sent = {**headers, **signed_headers(secret, body)}
    # As a stream: aiohttp warns that a large bytes body blocks the loop while it is sent.
    payload = io.BytesIO(body)
    async with session.post(url, data=payload, headers=sent, allow_redirects=False) as resp:
        if not 200 <= resp.status < 300:
            said = _one_line((await resp.content.read(200)).decode(errors="replace"))
            raise SendError(f"HTTP {resp.status}" + (f": {said}" if said else ""))


class OutboxWorker(abc.ABC):
    """A background task working an outbox table: woken when something is queued, polling
    anyway (rows queued by another process, or left from before a restart), with one HTTP
    session for its sends. Subclasses say what one round does and when a row is next due."""

    name = "outbox"

    def __init__(self, pool: asyncpg.Pool, *, timeout_s: float, poll_s: float) -> None:
        self._pool = pool
        self._timeout_s = timeout_s
        self._poll_s = poll_s
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._random = random.Random()
        # A claimed row is someone's until its send has had time to end, with room to spare
        # for recording the outcome.
        self._lease = timedelta(seconds=2 * timeout_s + 60)

    async def start(self) -> None:
        self._stopping = False
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._timeout_s),
            headers={"User-Agent": f"pitboss/{pitboss.__version__}"},
        )
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Finish the work under way (for at most the send timeout), then stop."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            done, _ = await asyncio.wait({self._task}, timeout=self._timeout_s)
            if not done:
                # Its claimed rows are retried once their lease runs out.
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def wake(self) -> None:
        """Look at the outbox now (something was just queued)."""
        self._wake.set()

    @abc.abstractmethod
    async def _round(self) -> bool:
        """Work one batch; True if there may be more due right now."""

    @abc.abstractmethod
    async def _due_in(self, conn: asyncpg.Connection) -> float | None:
        """Seconds until the next row is due, None if none waits."""

    async def _run(self) -> None:
        poll = self._poll_s
        while True:
            self._wake.clear()
            try:
                while not self._stopping and await self._round():
                    pass
                async with self._pool.acquire() as conn:
                    due_in = await self._due_in(conn)
                delay = poll if due_in is None else min(poll, max(due_in, 0.0))
            except Exception:
                # The database may be away for a while; the rows wait for it.
                log.exception("outbox_round_failed", worker=self.name)
                delay = poll
            if self._stopping:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
