"""Live regulator data for the regulator client's tests, made through the service's own API
and store functions: a regulator client, January 2026's events in MGA, a player with a
profile, an alert and a case, a bonus rule changed twice, MGA's monthly report.

Import the fixtures into a test module: `from tests.sandbox.live_data import settings`
(with `database_url` and `pg_server` from `tests.service.conftest`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from pitboss.service.settings import Settings
from regapi.auth import clients, roles
from tests.service.conftest import base_settings, event
from tests.service.serving import Client, service_of

CALLBACK_SECRET = "regulator-callback-secret-0123"
PERIOD = "monthly/2026-01"
MARKET = "MGA"
PLAYER = "p-reg-1"
OTHER_PLAYER = "p-reg-2"
UNKNOWN_PLAYER = "p-nobody"
ENTITY, ENTITY_ID = "bonusRule", "welcome"
LARGE = 1_500_000  # 15,000 EUR: fires aml_core's large_transaction on its own


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """The service's settings: as tests/service's, with a callback secret for every
    client and quick request delivery."""
    return dataclasses.replace(
        base_settings(database_url, tmp_path),
        regulator_callback_secrets={"*": CALLBACK_SECRET},
        regulator_callback_max_attempts=3,
        regulator_callback_backoff_s=0.05,
        regulator_callback_backoff_max_s=0.2,
        regulator_callback_timeout_s=2.0,
        regulator_request_poll_s=0.2,
    )


def with_callback_secret(settings: Settings, secret: str) -> Settings:
    return dataclasses.replace(settings, regulator_callback_secrets={"*": secret})


async def regulator_client(
    service: Client, name: str = "MGA inspector", role: str = roles.REGULATOR_READ
) -> tuple[str, str]:
    """A registered client with the role regulator_read (or `role`): its id and secret."""
    async with service_of(service).pool.acquire() as conn:
        made = await clients.create(conn, name=name, roles=[role])
    return made.client.id, made.secret


async def call(
    service: Client, method: str, path: str, body: Any = None, status: int = 200, **kw: Any
) -> Any:
    """A request as the operator (the `serve` client's roles); its JSON answer."""
    resp = await service.request(method, path, json=body, **kw)
    assert resp.status == status, f"{method} {path}: {resp.status} {await resp.text()}"
    return await resp.json() if resp.content_type.endswith("json") else await resp.read()


async def january(service: Client) -> None:
    """Money and play in MGA in January 2026: seven transactions, one of them large."""
    events = [
        event("deposit", player_id=PLAYER, amount=5_000, ts="2026-01-05T10:00:00Z"),
        event("bet", player_id=PLAYER, amount=1_000, ts="2026-01-05T10:05:00Z"),
        event("win", player_id=PLAYER, amount=2_500, ts="2026-01-05T10:06:00Z"),
        event("deposit", player_id=PLAYER, amount=LARGE, ts="2026-01-10T12:00:00Z"),
        event("withdrawal", player_id=PLAYER, amount=4_000, ts="2026-01-12T09:00:00Z"),
        event("deposit", player_id=OTHER_PLAYER, amount=2_000, ts="2026-01-07T18:00:00Z"),
        event("bet", player_id=OTHER_PLAYER, amount=500, ts="2026-01-07T18:10:00Z"),
    ]
    await call(service, "POST", "/v1/events/batch", {"events": events})


async def player_file(service: Client) -> None:
    """PLAYER's profile, and a case opened on their large deposit's alert (after
    `january`)."""
    profile = {"market": MARKET, "full_name": "Maria Borg", "email": "maria@example.mt",
               "date_of_birth": "1990-04-02", "phone": "+356 2123 4567"}  # fmt: skip
    await call(service, "PUT", f"/v1/players/{PLAYER}/profile", profile, 201)
    found = await call(service, "GET", "/v1/alerts", params={"player": PLAYER, "family": "aml"})
    alert_ids = [a["id"] for a in found["alerts"]]
    assert alert_ids, "the large deposit raised no AML alert"
    case = {"alert_ids": alert_ids, "by": "ana", "title": f"Large deposit {PLAYER}"}
    await call(service, "POST", "/v1/cases", case, 201)


async def bonus_rule_history(service: Client) -> None:
    """ENTITY_ID created, then changed: two entries in the audit trail."""
    path = f"/v1/config/{ENTITY}/{ENTITY_ID}"
    await call(service, "PUT", path, {"cap": 20_000, "wagering": 30}, 201)
    patch = [{"op": "replace", "path": "/cap", "value": 10_000}]
    await call(service, "PATCH", path, patch)


async def monthly_report(service: Client) -> dict[str, Any]:
    """MGA's January report generated, signed and stored (after `january`)."""
    run: dict[str, Any] = await call(
        service, "POST", "/v1/reports/runs", {"market": MARKET, "period": PERIOD}, 201
    )
    assert run["state"] == "generated", run
    return run


async def everything(service: Client) -> tuple[str, str]:
    """All of the above; the regulator client's id and secret."""
    await january(service)
    await player_file(service)
    await bonus_rule_history(service)
    await monthly_report(service)
    return await regulator_client(service)
