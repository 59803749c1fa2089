"""What every outbox sender shares: the wait before a retry, and a signed webhook POST.

Used by the incident notifier and by regulator request callbacks. A signed POST carries
`Pitboss-Timestamp`, `Pitboss-Nonce` and `Pitboss-Signature` as `engine.webhooks` verifies
them, so a receiver checks ours as we check theirs.
"""

from __future__ import annotations

import base64
import hashlib
import random
import time
import uuid
from collections.abc import Mapping
from datetime import timedelta

import aiohttp

from engine import webhooks


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
    async with session.post(url, data=body, headers=sent, allow_redirects=False) as resp:
        if not 200 <= resp.status < 300:
            said = _one_line((await resp.content.read(200)).decode(errors="replace"))
            raise SendError(f"HTTP {resp.status}" + (f": {said}" if said else ""))
