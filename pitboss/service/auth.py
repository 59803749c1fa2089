"""Who may call what: bearer tokens and roles on every route, and for the regulator
paths also mutual TLS and an address allow-list.

One middleware decides before any handler runs, from the route's declared roles
(`Routes.add(..., roles=...)`): a public route passes; otherwise a valid token is needed
(401 with `WWW-Authenticate: Bearer`), and one of the route's roles (403). The regulator
paths first need an allowed address and a verified client certificate (403). Refusals
are problem+json bodies that say nothing but the status: not why, not what the route
would have answered, not whether the thing asked for exists. The reason is logged.

The signing keys and the disabled clients are read from the database at start and every
`REFRESH_S` seconds after, so that `pitboss keys rotate` and `pitboss clients disable`
reach a running service without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import asyncpg
import structlog
from aiohttp import web

from pitboss.service.http import Handler, ProblemError, Route
from pitboss.service.settings import Settings
from pitboss.service.state import SERVICE
from regapi.auth import keyring, keys, transport
from regapi.auth.principal import Principal
from regapi.auth.roles import SANDBOX_ONLY, SENSITIVE_READ
from regapi.auth.tokens import TokenError, TokenService
from regapi.store import auth as auth_store

log = structlog.get_logger("pitboss.auth")

PRINCIPAL = web.RequestKey("principal", Principal)
# Paths that are the regulator API, live and sandbox, and regulators' requests to it.
REGULATOR_PREFIXES = (
    "/regulator/",
    "/webhook/regulator/",
    "/sandbox/regulator/",
    "/sandbox/webhook/regulator/",
)
REFRESH_S = 30.0
_REALM = 'Bearer realm="pitboss"'


class StartupRefusedError(Exception):
    """The service must not start as configured; the message says what to do."""


def _unauthorized(invalid: bool) -> ProblemError:
    # RFC 6750 §3.1: no error code when no credentials came, `invalid_token` when they
    # did and failed (whatever the reason: expired, wrong audience, unknown key…).
    challenge = f'{_REALM}, error="invalid_token"' if invalid else _REALM
    return ProblemError(401, "Unauthorized", headers={"WWW-Authenticate": challenge})


def _forbidden(role: bool = False) -> ProblemError:
    headers = {"WWW-Authenticate": f'{_REALM}, error="insufficient_scope"'} if role else None
    return ProblemError(403, "Forbidden", headers=headers)


def is_regulator_path(path: str) -> bool:
    return path.startswith(REGULATOR_PREFIXES)


def _unmatched(path: str, regulator: bool) -> tuple[str, ...] | None:
    """The roles an unmatched path asks for: those of the mount it falls under."""
    if not regulator:
        return None
    return SANDBOX_ONLY if path.startswith("/sandbox/") else SENSITIVE_READ


class Access:
    """The service's access state: its token service, route roles and transport rules."""

    def __init__(self, settings: Settings, routes: Iterable[Route]) -> None:
        self.settings = settings
        self.tokens = TokenService(
            issuer=settings.token_issuer,
            audience=settings.token_audience,
            ttl_s=settings.token_ttl_s,
        )
        self._routes: dict[Callable[..., Any], Route] = {}
        for r in routes:
            known = self._routes.setdefault(r.handler, r)
            if known.roles != r.roles:
                raise ValueError(f"{r.handler.__name__}: one handler, two sets of roles")
        self._grace = keyring.grace_s(settings.token_ttl_s, REFRESH_S)
        self._pool: asyncpg.Pool | None = None
        self._kek = b""
        # Regulator paths need a client certificate only where TLS with a client CA is on;
        # a development run without it was warned about at start.
        self._mtls = settings.tls_client_ca is not None
        self._cert_names = frozenset(settings.regulator_cert_names)

    # --- lifetime --------------------------------------------------------------------

    async def start(self, pool: asyncpg.Pool) -> None:
        """Load the keys (in development, make the first one); refuse to start in
        production without a key-encryption key and a current signing key."""
        production = self.settings.env == "production"
        path = self.settings.kek_path
        try:
            self._kek = keys.read_kek(path, create=not production)
            async with pool.acquire() as conn:
                if not production and await keyring.ensure_current(conn, self._kek):
                    log.warning("signing_key_created", kek_file=str(path))
        except keys.SigningKeyError as exc:
            raise StartupRefusedError(str(exc)) from None
        self._pool = pool
        await self.refresh()
        if self.tokens.current is None:
            raise StartupRefusedError(
                "no current token signing key in the database: run `pitboss keys rotate` "
                "(with the same DATABASE_URL and PITBOSS_SIGNING_KEK_FILE) before starting"
            )

    async def refresh(self) -> None:
        """Read the keys that verify and the disabled clients again."""
        assert self._pool is not None
        async with self._pool.acquire() as conn:
            try:
                live = await keyring.live(conn, self._kek, self._grace)
            except keys.SigningKeyError as exc:
                raise StartupRefusedError(str(exc)) from None
            disabled = await auth_store.disabled_ids(conn)
        self.tokens.load(live, disabled)

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_S)
            try:
                await self.refresh()
            except (OSError, asyncpg.PostgresError, StartupRefusedError) as exc:
                # The keys already loaded go on working; the next round tries again.
                log.warning("access_refresh_failed", error=str(exc))

    async def lifetime(self, app: web.Application) -> AsyncIterator[None]:
        """A `cleanup_ctx` after the service's own (it needs the pool)."""
        await self.start(app[SERVICE].pool)
        task = asyncio.create_task(self._refresh_forever(), name="access-refresh")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- the middleware --------------------------------------------------------------

    def middleware(self) -> Callable[..., Awaitable[web.StreamResponse]]:
        @web.middleware
        async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            route = self._routes.get(request.match_info.handler)
            regulator = is_regulator_path(request.path)
            if regulator:
                self._check_transport(request)
            if route is not None and not route.roles:
                return await handler(request)
            principal = self._authenticate(request)
            # An unmatched path (404, 405) needs a token too, so that probing tells an
            # anonymous caller nothing about which routes exist; under the regulator
            # paths it needs a regulator's role, so that a 404 and a 403 look alike.
            allowed = route.roles if route is not None else _unmatched(request.path, regulator)
            if allowed is not None and not principal.may(allowed):
                log.warning(
                    "access_refused", reason="role", path=request.path,
                    client_id=principal.client_id, remote=request.remote,
                )  # fmt: skip
                raise _forbidden(role=True)
            request[PRINCIPAL] = principal
            return await handler(request)

        return access_middleware

    def _authenticate(self, request: web.Request) -> Principal:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _unauthorized(invalid=bool(scheme))
        try:
            return self.tokens.verify(token)
        except TokenError as exc:
            log.warning(
                "access_refused", reason=exc.reason, path=request.path, remote=request.remote
            )
            raise _unauthorized(invalid=True) from None

    def _check_transport(self, request: web.Request) -> None:
        settings = self.settings
        if settings.regulator_allow and not transport.address_allowed(
            request.remote, settings.regulator_allow
        ):
            log.warning("access_refused", reason="address", path=request.path,
                        remote=request.remote)  # fmt: skip
            raise _forbidden()
        if not self._mtls:
            return
        peercert = request.transport.get_extra_info("peercert") if request.transport else None
        names = transport.cert_names(peercert)
        if not names:
            log.warning("access_refused", reason="no_client_certificate", path=request.path,
                        remote=request.remote)  # fmt: skip
            raise _forbidden()
        if self._cert_names and not names & self._cert_names:
            log.warning("access_refused", reason="certificate_name", path=request.path,
                        remote=request.remote, names=sorted(names))  # fmt: skip
            raise _forbidden()


ACCESS = web.AppKey("access", Access)


def insecure(settings: Settings) -> list[str]:
    """What a development configuration leaves open (production refuses all of it)."""
    gaps = []
    if not settings.tls:
        gaps.append(
            "no TLS (PITBOSS_TLS_CERT, PITBOSS_TLS_KEY): tokens and data cross the network "
            "in the clear"
        )
    if settings.tls_client_ca is None:
        gaps.append("no client CA (PITBOSS_TLS_CLIENT_CA): /regulator/* is not behind mutual TLS")
    if not settings.regulator_allow:
        gaps.append("no allow-list (PITBOSS_REGULATOR_ALLOW): /regulator/* answers any address")
    return gaps


def announce(settings: Settings) -> None:
    """Say loudly, in the log and on stderr, what a development run leaves open.
    Tokens are required all the same."""
    gaps = insecure(settings)
    if not gaps:
        return
    log.warning("insecure_configuration", env=settings.env, gaps=gaps)
    lines = "\n".join(f"  - {gap}" for gap in gaps)
    print(
        f"WARNING: pitboss is running in {settings.env} mode without the protections "
        f"production requires:\n{lines}\n  (tokens are still required on every route; "
        "PITBOSS_ENV=production refuses to start like this)",
        file=sys.stderr,
        flush=True,
    )


def actor_of(request: web.Request, on_behalf_of: str | None = None) -> str:
    """Who an audit record names: the authenticated client, and the person it says it acts
    for when the request names one (the client is what was proven; the name is not)."""
    principal: Principal | None = request.get(PRINCIPAL)
    if principal is None:  # only on a public route, where nothing is audited
        who = "system"
    elif principal.name and principal.name != principal.client_id:
        who = f"{principal.name} ({principal.client_id})"
    else:
        who = principal.client_id
    if on_behalf_of and on_behalf_of != "api":
        who += f" for {on_behalf_of}"
    return who
