"""Real receivers for incident notifications: an SMTP server (aiosmtpd) and an HTTP
endpoint (aiohttp), each on a free local port, keeping what they were sent."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, TypeVar, cast

from aiohttp import web
from aiosmtpd.controller import Controller

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class Mail:
    sender: str
    recipients: list[str]
    message: EmailMessage

    @property
    def body(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None
        return cast(str, cast(EmailMessage, part).get_content())


class Mailbox:
    """An aiosmtpd handler: every message accepted is kept (the server runs in a thread)."""

    def __init__(self) -> None:
        self.mails: list[Mail] = []
        self.port = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.content, policy=policy.default)
        mail = Mail(envelope.mail_from, list(envelope.rcpt_tos), message)
        self.mails.append(mail)
        return "250 Message accepted for delivery"


@contextlib.contextmanager
def smtp_server() -> Iterator[Mailbox]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    box.port = controller.port
    try:
        yield box
    finally:
        controller.stop()


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An HTTP endpoint that records each POST; it answers 500 to the first `fail_first`
    requests (or to all, with `always_fail`)."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    fail_first: int = 0
    always_fail: bool = False

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(Received(dict(request.headers), await request.read()))
        if self.always_fail or len(self.requests) <= self.fail_first:
            return web.Response(status=500, text="receiver down")
        return web.Response(status=204)


@contextlib.asynccontextmanager
async def http_receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hooks/incidents", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    receiver.url = f"http://{host}:{port}/hooks/incidents"
    try:
        yield receiver
    finally:
        await runner.cleanup()


async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float = 5.0) -> T:
    """The first truthy value of `check()`, polled until `timeout` seconds have passed."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not so after {timeout} s: {check}")
        await asyncio.sleep(0.02)
