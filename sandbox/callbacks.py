"""A receiver for the files the regulator API delivers by callback, checking each as a
regulator's endpoint must (docs/regulator.md): the HMAC signature under the client's
callback secret, the timestamp within a few minutes, a nonce never seen before, the
`Content-Digest` against the body; repeats under one `Idempotency-Key` are taken once.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from engine import webhooks
from sandbox.client import sha256_of_digest_header

# How far a callback's timestamp may be from this machine's clock ("a few minutes").
TOLERANCE_S: Final = 300


@dataclass(frozen=True)
class Callback:
    """A delivery as the receiver took it, and everything wrong with it (empty: its
    signature, timestamp, nonce and digest check out)."""

    request_id: str
    headers: dict[str, str]
    body: bytes
    problems: list[str]
    skew_s: float  # the callback's timestamp minus this machine's clock


class CallbackReceiver:
    """An HTTP endpoint on `host:port` (0: any free port) taking the signed callbacks.

    A delivery that checks out is answered 204; one that does not is answered 401 with its
    problems (so the service tries again) and kept, so the inspection can report it. A
    repeat under an `Idempotency-Key` already taken is answered 204 and dropped."""

    def __init__(self, secret: str, host: str, port: int = 0) -> None:
        self._secret = secret
        self._host, self._port = host, port
        self._path = f"/pitboss-inspect/{secrets.token_urlsafe(9)}"
        self._runner: web.AppRunner | None = None
        self._nonces: set[str] = set()
        self._taken: set[str] = set()
        self._received: dict[str, Callback] = {}
        self._arrived = asyncio.Condition()
        self.url = ""

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post(self._path, self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        try:
            await site.start()
        except OSError:
            await self.stop()
            raise
        host, port = self._runner.addresses[0][:2]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{port}{self._path}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_for(self, request_id: str, timeout_s: float) -> Callback:
        """The first delivery for `request_id`; TimeoutError if none comes in time."""
        async with asyncio.timeout(timeout_s), self._arrived:
            await self._arrived.wait_for(lambda: request_id in self._received)
            return self._received[request_id]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers)
        key = headers.get("Idempotency-Key", "")
        if key and key in self._taken:
            return web.Response(status=204)  # at-least-once delivery: a repeat
        callback = self._check(headers, body)
        async with self._arrived:
            self._received.setdefault(callback.request_id, callback)
            self._arrived.notify_all()
        if callback.problems:
            return web.Response(status=401, text="; ".join(callback.problems))
        if key:
            self._taken.add(key)
        return web.Response(status=204)

    def _check(self, headers: dict[str, str], body: bytes) -> Callback:
        problems: list[str] = []
        now = time.time()
        stamp = headers.get(webhooks.TIMESTAMP, "")
        skew = float(stamp) - now if stamp.isdigit() else 0.0
        try:
            webhooks.verify(
                self._secret,
                timestamp=headers.get(webhooks.TIMESTAMP),
                nonce=headers.get(webhooks.NONCE),
                signature=headers.get(webhooks.SIGNATURE),
                body=body,
                now=now,
                tolerance_s=TOLERANCE_S,
            )
        except webhooks.SignatureError as exc:
            problems.append(f"signature: {exc}")
        nonce = headers.get(webhooks.NONCE, "")
        if nonce in self._nonces:
            problems.append(f"{webhooks.NONCE} {nonce!r} was seen before (a replay)")
        self._nonces.add(nonce)
        announced = sha256_of_digest_header(headers.get("Content-Digest", ""))
        if announced is None:
            problems.append("no sha-256 Content-Digest")
        elif announced != hashlib.sha256(body).digest():
            problems.append("Content-Digest does not match the body")
        request_id = headers.get("Pitboss-Request-Id", "")
        if not request_id:
            problems.append("no Pitboss-Request-Id")
        return Callback(request_id, headers, body, problems, skew)
