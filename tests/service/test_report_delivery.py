"""Delivering report runs end to end, against real servers on local ports: the run's files
uploaded to an SFTP server (asyncssh), then the regulator told by email (a real SMTP
server) and by signed webhook (a real HTTP receiver); retried with backoff, the notices
cancelled when the upload fails for good, every state kept in PostgreSQL."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import asyncpg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engine import webhooks
from pitboss.service import database
from pitboss.service.metrics import Metrics
from pitboss.service.report_delivery import DeliveryWorker
from pitboss.service.settings import Settings
from regapi import periods
from regapi.reports import signing
from regapi.reports.config import MarketReports, ReportsConfig, SftpTarget
from regapi.reports.signing import ReportSigner
from regapi.store import report_deliveries as store
from regapi.store import reports
from regapi.store.report_deliveries import Delivery
from tests.regapi.reports.sftp_server import SftpServer, new_host_key_line, running_sftp_server
from tests.service.receivers import Mailbox, Received, Receiver, eventually

SECRET = "mga-webhook-secret-0123456789"
EMAILS = ("returns@mga.test", "audit@mga.test")
PUBLIC_URL = "https://pitboss.example.test"
PERIOD = periods.parse("monthly/2026-01")
BASE = "/incoming/MGA/monthly/2026-01"
REPORTS = [
    ("MGA_monthly_2026-01.csv", b"market,ggr\r\nMGA,123456\r\n"),
    ("MGA_monthly_2026-01.xml", b"<MGAReturn><GGR>123456</GGR></MGAReturn>"),
]


@pytest.fixture
def settings(settings: Settings, mailbox: Mailbox) -> Settings:
    return dataclasses.replace(
        settings,
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        mail_from="pitboss@casino.test",
        notify_max_attempts=3,
        notify_backoff_s=0.05,
        notify_backoff_max_s=0.2,
        notify_timeout_s=2.0,
        notify_poll_s=0.5,
    )


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """The service's pool on a migrated database, without the service."""
    async with database.open_pool(database_url, size=4) as p:
        yield p


@pytest.fixture
def sftp_server(tmp_path: Path) -> Iterator[SftpServer]:
    with running_sftp_server(tmp_path / "sftp") as server:
        yield server


@pytest.fixture
def signer() -> ReportSigner:
    return ReportSigner(Ed25519PrivateKey.generate())


def config(*, sftp: SftpTarget | None, webhook_url: str | None) -> ReportsConfig:
    market = MarketReports(
        market="MGA",
        licence="MGA/B2C/123/2019",
        fiu_entity_id=0,
        periods=("monthly",),
        formats=("csv", "xml"),
        sftp=sftp,
        emails=EMAILS,
        webhook_url=webhook_url,
        webhook_secret=SECRET if webhook_url else None,
    )
    return ReportsConfig(
        operator_name="Example Casino Ltd",
        public_url=PUBLIC_URL,
        since=None,
        markets={"MGA": market},
    )


async def generated_run(
    pool: asyncpg.Pool,
    signer: ReportSigner,
    reports_config: ReportsConfig,
    *,
    store_files: bool = True,
) -> tuple[int, dict[str, bytes], list[Delivery]]:
    """A generated run with its signed files stored, its deliveries queued, as the report
    job leaves them; returns its id, its files and the queued deliveries."""
    bundle = signing.signed_bundle(
        market="MGA",
        period=PERIOD,
        revision=1,
        generated_at=datetime(2026, 2, 1, 0, 5, tzinfo=UTC),
        files=REPORTS,
        signer=signer,
    )
    market = reports_config.markets["MGA"]
    async with pool.acquire() as conn, conn.transaction():
        if store_files:
            for name, content in bundle:
                fmt = name.rpartition(".")[2]
                await reports.add_report_file(
                    conn, market="MGA", period=PERIOD, format=fmt, name=name, content=content
                )
        run_id = await conn.fetchval(
            """INSERT INTO report_runs
                   (market, period_kind, period_start, trigger, state, finished_at, files)
               VALUES ('MGA', $1, $2, 'schedule', 'generated', now(), $3) RETURNING id""",
            PERIOD.kind,
            PERIOD.start,
            [name for name, _ in bundle],
        )
        queued = await store.queue(
            conn,
            run_id,
            sftp=None if market.sftp is None else str(market.sftp),
            emails=market.emails,
            webhook=market.webhook_url,
        )
    return run_id, dict(bundle), queued


async def settled(pool: asyncpg.Pool, run_id: int) -> dict[str, Delivery] | None:
    """The run's deliveries by channel (emails by address) once none is still to go."""
    async with pool.acquire() as conn:
        found = await store.for_run(conn, run_id)
    if not found or any(d.state in ("waiting", "pending") for d in found):
        return None
    return {d.target if d.channel == "email" else d.channel: d for d in found}


def verified(received: Received) -> dict[str, object]:
    """The webhook's JSON, once its signature checks out as the regulator checks it."""
    h = received.headers
    webhooks.verify(
        SECRET,
        timestamp=h.get(webhooks.TIMESTAMP),
        nonce=h.get(webhooks.NONCE),
        signature=h.get(webhooks.SIGNATURE),
        body=received.body,
        now=time.time(),
        tolerance_s=60,
    )
    body: dict[str, object] = json.loads(received.body)
    return body


def count(metrics: Metrics, channel: str, outcome: str) -> float:
    labels = {"market": "MGA", "channel": channel, "outcome": outcome}
    return metrics.registry.get_sample_value("report_deliveries_total", labels) or 0.0


async def work(worker: DeliveryWorker, pool: asyncpg.Pool, run_id: int) -> dict[str, Delivery]:
    await worker.start()
    worker.wake()
    try:
        return await eventually(partial(settled, pool, run_id), timeout=15)
    finally:
        await worker.stop()


async def test_a_run_is_uploaded_then_mailed_and_posted_signed(
    pool: asyncpg.Pool,
    settings: Settings,
    sftp_server: SftpServer,
    mailbox: Mailbox,
    receiver: Receiver,
    signer: ReportSigner,
) -> None:
    cfg = config(sftp=sftp_server.target(), webhook_url=receiver.url)
    run_id, files, queued = await generated_run(pool, signer, cfg)
    # The notices wait for the upload.
    assert [(d.channel, d.state) for d in queued] == [
        ("sftp", "pending"),
        ("email", "waiting"),
        ("email", "waiting"),
        ("webhook", "waiting"),
    ]
    metrics = Metrics()
    done = await work(DeliveryWorker(pool, settings, metrics, cfg), pool, run_id)

    # Every file arrived whole, the manifest last, and checks out as a regulator checks it.
    assert sftp_server.files() == {f"{BASE}/{name}": content for name, content in files.items()}
    renamed = [path for op, path in sftp_server.ops if op == "posix_rename"]
    assert renamed[-1].endswith("-> " + f"{BASE}/MGA_monthly_2026-01.manifest.json")
    manifest = files["MGA_monthly_2026-01.manifest.json"]
    reports_only = {n: c for n, c in files.items() if not n.endswith((".sig", ".json"))}
    signatures = {n: c for n, c in files.items() if n.endswith(".sig")}
    assert signing.verify_manifest(manifest, reports_only, signatures, signer.jwks()) == []

    upload = done["sftp"]
    assert (upload.state, upload.attempts, upload.last_error) == ("sent", 1, None)
    assert upload.detail == {
        "location": f"sftp://casino@127.0.0.1:{sftp_server.port}{BASE}",
        "paths": [f"{BASE}/{name}" for name in files],
    }
    assert upload.sent_at is not None
    assert upload.next_attempt is None

    # One email per address, sent after the upload, naming every file and where it is.
    assert sorted(m.recipients[0] for m in mailbox.mails) == sorted(EMAILS)
    mail = next(m for m in mailbox.mails if m.recipients == ["returns@mga.test"])
    email_row = done["returns@mga.test"]
    assert email_row.state == "sent"
    assert email_row.sent_at is not None
    assert email_row.sent_at >= upload.sent_at
    assert mail.sender == "pitboss@casino.test"
    assert mail.message["Subject"] == "[Pitboss] MGA monthly report 2026-01 ready"
    assert mail.message["Message-ID"] == email_row.detail["message_id"]
    assert mail.message["Message-ID"].startswith(f"<report-delivery-{email_row.id}.run-{run_id}@")
    assert mail.message["Content-Transfer-Encoding"] == "7bit"  # links stay whole
    body = mail.body.replace("\r\n", "\n")
    assert "Period:   monthly/2026-01 (2026-01-01 to 2026-01-31)" in body
    assert f"Uploaded: sftp://casino@127.0.0.1:{sftp_server.port}{BASE}" in body
    for name, content in files.items():
        stored = hashlib.sha256(content).hexdigest()
        assert f"  {name} ({len(content)} bytes)\n    sha256 {stored}\n" in body
        assert f"{PUBLIC_URL}/regulator/reports/monthly/2026-01/{name}" in body
    assert f"Signing key id: {signer.kid}" in body

    # The webhook, signed with the market's secret, keyed by the delivery.
    [hook] = receiver.requests
    payload = verified(hook)
    hook_row = done["webhook"]
    assert hook.headers["Idempotency-Key"] == f"pitboss-report-delivery-{hook_row.id}"
    assert hook_row.detail == {"idempotency_key": f"pitboss-report-delivery-{hook_row.id}"}
    assert payload["delivery_id"] == hook_row.id
    assert (payload["run_id"], payload["market"], payload["period"]) == (
        run_id,
        "MGA",
        "monthly/2026-01",
    )
    assert payload["revision"] == 1
    assert payload["manifest"] == "MGA_monthly_2026-01.manifest.json"
    assert payload["signature"] == {"algorithm": "Ed25519", "key_id": signer.kid}
    assert payload["sftp"] == upload.detail
    assert payload["files"] == [
        {
            "name": name,
            "sha256": hashlib.sha256(content).hexdigest(),
            "size": len(content),
            "url": f"{PUBLIC_URL}/regulator/reports/monthly/2026-01/{name}",
        }
        for name, content in files.items()
    ]

    assert [count(metrics, c, "sent") for c in ("sftp", "email", "webhook")] == [1, 2, 1]
    async with pool.acquire() as conn:
        assert [d.id for d in await store.recent(conn, market="MGA", limit=10)] == sorted(
            (d.id for d in queued), reverse=True
        )
        assert await store.recent(conn, market="UKGC", limit=10) == []


async def test_a_receiver_failing_twice_gets_it_on_the_third_attempt(
    pool: asyncpg.Pool,
    settings: Settings,
    sftp_server: SftpServer,
    receiver: Receiver,
    signer: ReportSigner,
) -> None:
    receiver.fail_first = 2
    cfg = config(sftp=sftp_server.target(), webhook_url=receiver.url)
    run_id, _, _ = await generated_run(pool, signer, cfg)
    metrics = Metrics()
    done = await work(DeliveryWorker(pool, settings, metrics, cfg), pool, run_id)
    hook = done["webhook"]
    assert (hook.state, hook.attempts) == ("sent", 3)
    assert hook.last_error == "HTTP 500: receiver down"  # kept from the last failure
    assert len(receiver.requests) == 3
    for r in receiver.requests:
        verified(r)
    # A fresh nonce each time (a receiver refuses a nonce it has seen), the same key.
    assert len({r.headers[webhooks.NONCE] for r in receiver.requests}) == 3
    assert {r.headers["Idempotency-Key"] for r in receiver.requests} == {
        f"pitboss-report-delivery-{hook.id}"
    }
    assert (count(metrics, "webhook", "retry"), count(metrics, "webhook", "sent")) == (2, 1)


@pytest.mark.parametrize("failure", ["host-key", "stopped", "missing-file"])
async def test_a_failed_upload_is_retried_then_given_up_and_cancels_the_notices(
    pool: asyncpg.Pool,
    settings: Settings,
    sftp_server: SftpServer,
    mailbox: Mailbox,
    receiver: Receiver,
    signer: ReportSigner,
    failure: str,
) -> None:
    target = sftp_server.target()
    if failure == "host-key":
        target = sftp_server.target(host_key=new_host_key_line())
    elif failure == "stopped":
        sftp_server.stop()
    cfg = config(sftp=target, webhook_url=receiver.url)
    run_id, _, _ = await generated_run(pool, signer, cfg, store_files=failure != "missing-file")
    metrics = Metrics()
    done = await work(DeliveryWorker(pool, settings, metrics, cfg), pool, run_id)

    upload = done["sftp"]
    assert (upload.state, upload.attempts) == ("failed", settings.notify_max_attempts)
    assert upload.sent_at is None
    assert upload.next_attempt is None
    assert (
        upload.last_error
        == {
            "host-key": f"sftp casino@127.0.0.1:{target.port}: the server's host key is not the "
            "configured host_key (refused)",
            "stopped": f"sftp casino@127.0.0.1:{target.port}: connection refused",
            "missing-file": f"report run {run_id}: not stored: MGA_monthly_2026-01.csv, "
            "MGA_monthly_2026-01.csv.sig, MGA_monthly_2026-01.xml, MGA_monthly_2026-01.xml.sig, "
            "MGA_monthly_2026-01.manifest.json.sig, MGA_monthly_2026-01.manifest.json",
        }[failure]
    )
    for notice in ("webhook", *EMAILS):
        assert (done[notice].state, done[notice].attempts) == ("cancelled", 0)
        assert done[notice].last_error == "not sent: the SFTP upload failed"
    assert mailbox.mails == []
    assert receiver.requests == []
    assert sftp_server.files() == {}
    retries = settings.notify_max_attempts - 1
    assert (count(metrics, "sftp", "retry"), count(metrics, "sftp", "failed")) == (retries, 1)


async def test_an_upload_that_failed_part_way_completes_on_the_next_attempt(
    pool: asyncpg.Pool,
    settings: Settings,
    sftp_server: SftpServer,
    mailbox: Mailbox,
    signer: ReportSigner,
) -> None:
    sftp_server.fail_open_after = 2  # the disk fills up after two files
    cfg = config(sftp=sftp_server.target(), webhook_url=None)
    run_id, files, _ = await generated_run(pool, signer, cfg)
    slow = dataclasses.replace(settings, notify_backoff_s=1.0, notify_backoff_max_s=1.0)
    worker = DeliveryWorker(pool, slow, Metrics(), cfg)
    await worker.start()
    try:

        async def failed_once() -> Delivery | None:
            async with pool.acquire() as conn:
                upload = (await store.for_run(conn, run_id))[0]
            return upload if upload.last_error else None

        first = await eventually(failed_once)
        assert (first.state, first.attempts) == ("pending", 1)
        assert first.last_error is not None
        assert "no space left on device" in first.last_error
        assert first.next_attempt is not None
        assert len(sftp_server.files()) == 2
        sftp_server.fail_open_after = None  # space is freed before the retry
        done = await eventually(partial(settled, pool, run_id), timeout=15)
    finally:
        await worker.stop()
    assert (done["sftp"].state, done["sftp"].attempts) == ("sent", 2)
    assert sftp_server.files() == {f"{BASE}/{name}": content for name, content in files.items()}
    assert not any(path.endswith(".part") for path in sftp_server.files())
    assert len(mailbox.mails) == 2


async def test_without_sftp_the_notices_go_at_once(
    pool: asyncpg.Pool,
    settings: Settings,
    mailbox: Mailbox,
    receiver: Receiver,
    signer: ReportSigner,
) -> None:
    cfg = config(sftp=None, webhook_url=receiver.url)
    run_id, _, queued = await generated_run(pool, signer, cfg)
    assert [(d.channel, d.state) for d in queued] == [
        ("email", "pending"),
        ("email", "pending"),
        ("webhook", "pending"),
    ]
    done = await work(DeliveryWorker(pool, settings, Metrics(), cfg), pool, run_id)
    assert {d.state for d in done.values()} == {"sent"}
    assert "Uploaded:" not in mailbox.mails[0].body
    assert verified(receiver.requests[0])["sftp"] is None


async def test_two_workers_never_deliver_the_same_row(
    pool: asyncpg.Pool,
    settings: Settings,
    sftp_server: SftpServer,
    mailbox: Mailbox,
    receiver: Receiver,
    signer: ReportSigner,
) -> None:
    cfg = config(sftp=sftp_server.target(), webhook_url=receiver.url)
    run_id, _, _ = await generated_run(pool, signer, cfg)
    first = DeliveryWorker(pool, settings, Metrics(), cfg)
    second = DeliveryWorker(pool, settings, Metrics(), cfg)
    await first.start()
    try:
        done = await work(second, pool, run_id)
    finally:
        await first.stop()
    assert {(d.state, d.attempts) for d in done.values()} == {("sent", 1)}
    assert len(mailbox.mails) == 2
    assert len(receiver.requests) == 1
    assert sum(op == "posix_rename" for op, _ in sftp_server.ops) == 6


async def test_recording_an_outcome_twice_changes_nothing(
    pool: asyncpg.Pool, signer: ReportSigner, sftp_server: SftpServer
) -> None:
    cfg = config(sftp=sftp_server.target(), webhook_url=None)
    run_id, _, queued = await generated_run(pool, signer, cfg)
    async with pool.acquire() as conn:
        [claimed] = await store.claim(conn, limit=1, lease=timedelta(minutes=1))
        assert (claimed.id, claimed.channel, claimed.attempts) == (queued[0].id, "sftp", 1)
        assert (claimed.market, claimed.period, claimed.revision) == ("MGA", PERIOD, 1)
        # Claimed: not due again until the lease runs out.
        assert await store.claim(conn, limit=5, lease=timedelta(minutes=1)) == []
        assert await store.mark_sent(conn, claimed.id, {"paths": []}) is True
        assert await store.mark_sent(conn, claimed.id, {"paths": ["other"]}) is False
        assert await store.mark_failed(conn, claimed.id, "late", retry_at=None) is None
        rows = await store.for_run(conn, run_id)
    assert [(d.channel, d.state) for d in rows] == [
        ("sftp", "sent"),
        ("email", "pending"),
        ("email", "pending"),
    ]
    assert rows[0].detail == {"paths": []}
    assert rows[0].last_error is None
