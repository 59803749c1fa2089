"""Incident notifications: sent by email to a real SMTP server and by signed webhook to a
real HTTP receiver, retried with backoff, given up after the last attempt, never sent
twice by two senders."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from aiohttp.test_utils import TestClient

from engine import webhooks
from engine.incidents import RNG_ANOMALY, IncidentCandidate
from engine.store import incidents as store
from engine.store.incidents import Target
from pitboss.service import database
from pitboss.service.metrics import Metrics
from pitboss.service.notifier import Notifier, notify_targets
from pitboss.service.settings import Settings, SettingsError
from tests.service.conftest import event
from tests.service.receivers import (
    Mailbox,
    Receiver,
    eventually,
    free_port,
)

Client = TestClient[Any, Any]
SECRET = "incident-secret-0123456789"
TO = "compliance@casino.test"


@pytest.fixture
def settings(settings: Settings, mailbox: Mailbox, receiver: Receiver) -> Settings:
    return dataclasses.replace(
        settings,
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        mail_from="pitboss@casino.test",
        incident_emails=(TO,),
        incident_webhook_url=receiver.url,
        incident_webhook_secret=SECRET,
        notify_max_attempts=3,
        notify_backoff_s=0.05,
        notify_backoff_max_s=0.2,
        notify_timeout_s=2.0,
        notify_poll_s=0.5,
    )


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """The service's pool on a migrated database, without the service (no policies)."""
    async with database.open_pool(database_url, size=4) as p:
        yield p


@pytest.fixture
async def notifier(pool: asyncpg.Pool, settings: Settings) -> AsyncIterator[Notifier]:
    n = Notifier(pool, settings, Metrics())
    yield n
    await n.stop()


async def queue_p1(pool: asyncpg.Pool, settings: Settings, game: str = "g-1") -> int:
    """Open a P1 incident as the ingest writer does; returns its id."""
    found = IncidentCandidate(
        kind=RNG_ANOMALY, priority=1, subject=f"game:{game}", summary=f"RNG on {game}"
    )
    async with pool.acquire() as conn, conn.transaction():
        [incident_id] = await store.open_incidents(conn, [found], notify_targets(settings))
    return incident_id


async def rows(pool: asyncpg.Pool, incident_id: int) -> dict[str, asyncpg.Record]:
    async with pool.acquire() as conn:
        found = await conn.fetch("SELECT * FROM notifications WHERE incident_id = $1", incident_id)
    return {r["channel"]: r for r in found}


async def settled_rows(pool: asyncpg.Pool, incident_id: int) -> dict[str, asyncpg.Record] | None:
    """The incident's notifications once none is pending any more, else None."""
    found = await rows(pool, incident_id)
    return found if found and all(r["state"] != "pending" for r in found.values()) else None


def verify(received: Any) -> int:
    return webhooks.verify(
        SECRET,
        timestamp=received.headers.get(webhooks.TIMESTAMP),
        nonce=received.headers.get(webhooks.NONCE),
        signature=received.headers.get(webhooks.SIGNATURE),
        body=received.body,
        now=time.time(),
        tolerance_s=60,
    )


async def test_a_p1_rng_check_is_mailed_and_posted_signed(
    client: Client, db: asyncpg.Connection, mailbox: Mailbox, receiver: Receiver
) -> None:
    e = event("rng_check", game_id="slot-7", p_value=0.0001)
    assert (await client.post("/v1/events", json=e)).status == 200

    async def mailed() -> bool:
        return bool(mailbox.mails) and bool(receiver.requests)

    await eventually(mailed)
    incident = await db.fetchrow("SELECT * FROM incidents")
    assert (incident["kind"], incident["priority"]) == (RNG_ANOMALY, 1)

    [mail] = mailbox.mails
    assert mail.recipients == [TO]
    assert mail.sender == "pitboss@casino.test"
    assert mail.message["Subject"] == "[Pitboss P1] RNG_anomaly: game:slot-7"
    body = mail.body
    assert "Kind:     RNG_anomaly" in body
    assert "Priority: P1" in body
    assert "Subject:  game:slot-7" in body
    assert "p = 0.0001" in body
    assert f"Event:    {e['event_id']}" in body
    assert f"/v1/incidents/{incident['id']}" in body

    [hook] = receiver.requests
    verify(hook)  # raises if the signature, timestamp or nonce is wrong
    assert hook.headers["Content-Type"] == "application/json"
    payload = msgspec.json.decode(hook.body)
    assert payload["incident_id"] == incident["id"]
    assert payload["kind"] == RNG_ANOMALY
    assert payload["priority"] == 1
    assert payload["event_id"] == e["event_id"]
    assert payload["link"] == f"/v1/incidents/{incident['id']}"
    assert hook.headers["Idempotency-Key"] == f"pitboss-notification-{payload['notification_id']}"

    async def sent() -> bool:
        states = await db.fetch("SELECT state, attempts, sent_at FROM notifications")
        return all(r["state"] == "sent" and r["sent_at"] for r in states)

    await eventually(sent)
    assert await db.fetchval("SELECT max(attempts) FROM notifications") == 1
    metrics = await (await client.get("/metrics")).text()
    assert 'pitboss_notifications_total{channel="email",outcome="sent"} 1.0' in metrics
    assert 'pitboss_notifications_total{channel="webhook",outcome="sent"} 1.0' in metrics


async def test_a_receiver_failing_twice_gets_it_on_the_third_attempt(
    pool: asyncpg.Pool, settings: Settings, notifier: Notifier, receiver: Receiver
) -> None:
    receiver.fail_first = 2
    incident_id = await queue_p1(pool, settings)
    await notifier.start()
    found = await eventually(partial(settled_rows, pool, incident_id))
    hook = found["webhook"]
    assert (hook["state"], hook["attempts"]) == ("sent", 3)
    assert hook["last_error"] == "HTTP 500: receiver down"  # kept from the last failure
    assert len(receiver.requests) == 3
    # A fresh nonce each time, so a receiver's replay check does not refuse the retry.
    assert len({r.headers[webhooks.NONCE] for r in receiver.requests}) == 3
    for r in receiver.requests:
        verify(r)
    assert (found["email"]["state"], found["email"]["attempts"]) == ("sent", 1)


async def test_a_receiver_that_always_fails_is_given_up_after_the_last_attempt(
    pool: asyncpg.Pool, settings: Settings, receiver: Receiver
) -> None:
    receiver.always_fail = True
    metrics = Metrics()
    notifier = Notifier(pool, settings, metrics)
    incident_id = await queue_p1(pool, settings)
    await notifier.start()
    try:
        found = await eventually(partial(settled_rows, pool, incident_id))
    finally:
        await notifier.stop()
    hook = found["webhook"]
    assert (hook["state"], hook["attempts"]) == ("failed", settings.notify_max_attempts)
    assert hook["last_error"] == "HTTP 500: receiver down"
    assert hook["sent_at"] is None
    assert len(receiver.requests) == settings.notify_max_attempts

    def count(outcome: str) -> float | None:
        labels = {"channel": "webhook", "outcome": outcome}
        return metrics.registry.get_sample_value("pitboss_notifications_total", labels)

    assert (count("retry"), count("failed")) == (settings.notify_max_attempts - 1, 1)


async def test_an_smtp_server_that_does_not_answer_is_a_failure(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    closed = dataclasses.replace(settings, smtp_port=free_port(), notify_max_attempts=2)
    notifier = Notifier(pool, closed, Metrics())
    incident_id = await queue_p1(pool, closed)
    await notifier.start()
    try:
        found = await eventually(partial(settled_rows, pool, incident_id))
    finally:
        await notifier.stop()
    mail = found["email"]
    assert (mail["state"], mail["attempts"]) == ("failed", 2)
    assert "SMTPConnect" in mail["last_error"]
    assert found["webhook"]["state"] == "sent"


async def test_two_senders_never_send_the_same_notification(
    pool: asyncpg.Pool, settings: Settings, mailbox: Mailbox, receiver: Receiver
) -> None:
    ids = [await queue_p1(pool, settings, game=f"g-{i}") for i in range(30)]
    metrics = Metrics(), Metrics()
    first, second = Notifier(pool, settings, metrics[0]), Notifier(pool, settings, metrics[1])
    # Both drain the same outbox at the same time, as two service processes would.
    await first.start()
    await second.start()
    try:
        await asyncio.gather(first.send_due(), second.send_due())
        for incident_id in ids:
            await eventually(partial(settled_rows, pool, incident_id))
    finally:
        await first.stop()
        await second.stop()
    keys = [r.headers["Idempotency-Key"] for r in receiver.requests]
    assert len(keys) == len(set(keys)) == len(ids)
    subjects = [m.message["Subject"] for m in mailbox.mails]
    assert len(subjects) == len(set(subjects)) == len(ids)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM notifications WHERE attempts <> 1") == 0
    sent = [
        m.registry.get_sample_value(
            "pitboss_notifications_total", {"channel": "webhook", "outcome": "sent"}
        )
        for m in metrics
    ]
    assert all(sent), sent  # both took a share


async def test_rows_queued_elsewhere_are_found_without_a_wake(
    pool: asyncpg.Pool, settings: Settings, notifier: Notifier, receiver: Receiver
) -> None:
    before = await queue_p1(pool, settings, game="g-before")  # left from before a restart
    await notifier.start()
    await eventually(partial(settled_rows, pool, before))
    # Queued by another process: nobody calls wake(), the poll finds it.
    later = await queue_p1(pool, settings, game="g-later")
    found = await eventually(partial(settled_rows, pool, later), timeout=3)
    assert found["webhook"]["state"] == "sent"
    assert len(receiver.requests) == 2


async def test_backoff_doubles_up_to_the_ceiling_with_jitter(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    s = dataclasses.replace(settings, notify_backoff_s=1.0, notify_backoff_max_s=10.0)
    notifier = Notifier(pool, s, Metrics())
    for attempts, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (80, 10.0)]:
        waits = [notifier.backoff(attempts) for _ in range(50)]
        assert all(timedelta(seconds=ceiling / 2) <= w <= timedelta(seconds=ceiling) for w in waits)
        assert len(set(waits)) > 1


def test_targets_are_each_address_and_the_webhook(tmp_path: Path) -> None:
    s = Settings(
        data_dir=tmp_path,
        smtp_host="mail.test",
        incident_emails=("a@x.test", "b@x.test"),
        incident_webhook_url="https://hooks.test/pitboss",
        incident_webhook_secret=SECRET,
    )
    assert notify_targets(s) == [
        Target("email", "a@x.test"),
        Target("email", "b@x.test"),
        Target("webhook", "https://hooks.test/pitboss"),
    ]
    assert notify_targets(Settings(data_dir=tmp_path)) == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"notify_backoff_s": 0}, "notify_backoff_s: must be positive"),
        ({"notify_poll_s": -1.0}, "notify_poll_s: must be positive"),
        ({"notify_timeout_s": 0}, "notify_timeout_s: must be positive"),
        ({"notify_backoff_s": 10.0, "notify_backoff_max_s": 5.0}, "notify_backoff_max_s"),
        ({"incident_emails": ("a@x.test",)}, "smtp_host: needed with incident_emails"),
        (
            {"incident_webhook_url": "ftp://x", "incident_webhook_secret": SECRET},
            "incident_webhook_url: must be an http",
        ),
    ],
)
def test_bad_notification_settings_are_named(
    tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings(data_dir=tmp_path, **overrides)
