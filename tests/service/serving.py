"""Starting the service with settings of a test's own, beside the `client` fixture."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from pitboss.service.app import make_app
from pitboss.service.auth import ACCESS
from pitboss.service.settings import Settings
from pitboss.service.state import SERVICE, Service
from regapi.auth import roles

Client = TestClient[Any, Any]
# What the `client` fixture's requests may do unless a test says otherwise: every
# operator role and the compliance officer's.
DEFAULT_ROLES = (*sorted(roles.OPERATOR), roles.COMPLIANCE_OFFICER)


@contextlib.asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[Client]:
    """The service built from `settings` on a real socket; closing it is a clean stop."""
    async with TestClient(TestServer(make_app(settings))) as client:
        authorize(client)
        yield client


def token_for(client: Client, *granted: str, client_id: str = "test-client") -> str:
    """A token signed by the running service's current key, for `granted` roles."""
    app: web.Application = client.app
    issued = app[ACCESS].tokens.issue(client_id=client_id, name=client_id, roles=granted)
    return issued.token


def authorize(client: Client, *granted: str) -> None:
    """Send a token with `granted` roles (default: DEFAULT_ROLES) on every request of
    `client` that does not carry an Authorization header of its own."""
    token = token_for(client, *(granted or DEFAULT_ROLES))
    client.session.headers["Authorization"] = f"Bearer {token}"


def service_of(client: Client) -> Service:
    app: web.Application = client.app
    return app[SERVICE]
