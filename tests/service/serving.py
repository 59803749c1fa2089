"""Starting the service with settings of a test's own, beside the `client` fixture."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from pitboss.service.app import make_app
from pitboss.service.settings import Settings
from pitboss.service.state import SERVICE, Service

Client = TestClient[Any, Any]


@contextlib.asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[Client]:
    """The service built from `settings` on a real socket; closing it is a clean stop."""
    async with TestClient(TestServer(make_app(settings))) as client:
        yield client


def service_of(client: Client) -> Service:
    app: web.Application = client.app
    return app[SERVICE]
