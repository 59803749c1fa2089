"""Scheduled reports end to end: a simulated month goes through the real service, each
market's monthly report is generated, signed and stored, uploaded to a real SFTP server,
and announced by email (a real SMTP server) and by a signed webhook (a real HTTP
receiver). The files are then checked as a regulator would: XSD, signatures against the
published key, the PDF's text read back, and the figures against the events themselves.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pypdf
import pytest

from dsl.vocabulary import MARKETS
from engine import webhooks
from pitboss.service.settings import Settings
from regapi.reports import signing
from regapi.reports.render_xml import validate_xml
from simulator.generate import contract_events
from simulator.scenario import load_scenario
from tests.regapi.reports.sftp_server import SftpServer, running_sftp_server
from tests.service.receivers import Mailbox, Receiver, eventually
from tests.service.serving import Client, serve

SECRET = "report-hook-secret-0123456789"
MONTH = "monthly/2026-01"
PLAYERS = 150


def simulated_month() -> list[dict[str, Any]]:
    """The default scenario, small, over January 2026, as contract events in time order."""
    run = {"players": PLAYERS, "days": 31, "start": date(2026, 1, 1)}
    return list(contract_events(load_scenario(overrides={"scenario": run})))


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    return simulated_month()


@pytest.fixture
def sftp(tmp_path: Path) -> Any:
    with running_sftp_server(tmp_path / "sftp") as server:
        yield server


def reports_toml(tmp_path: Path, sftp: SftpServer, mailbox: Mailbox, receiver: Receiver) -> Path:
    (tmp_path / "hook.secret").write_text(SECRET)
    licences = {"MGA": "MGA/B2C/123/2019", "UKGC": "000123", "CW": "OGL/2024/123/0456"}
    text = '[operator]\nname = "Casino Ltd"\npublic_url = "https://pb.example.com"\n'
    for market, licence in licences.items():
        text += f"""
[markets.{market}]
licence = "{licence}"
periods = ["monthly"]
emails = ["returns@{market.lower()}.example"]
webhook_url = "{receiver.url}"
webhook_secret_file = "hook.secret"

[markets.{market}.sftp]
host = "{sftp.host}"
port = {sftp.port}
username = "casino"
key_file = "{sftp.client_key}"
host_key = "{sftp.host_key}"
directory = "/incoming"
"""
    path = tmp_path / "reports.toml"
    path.write_text(text)
    return path


@pytest.fixture
async def service(
    settings: Settings, tmp_path: Path, sftp: SftpServer, mailbox: Mailbox, receiver: Receiver
) -> AsyncIterator[Client]:
    configured = replace(
        settings,
        reports_config=reports_toml(tmp_path, sftp, mailbox, receiver),
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        notify_backoff_s=0.05,
        notify_poll_s=0.1,
    )
    async with serve(configured) as client:
        yield client


async def ingest(client: Client, events: list[dict[str, Any]]) -> None:
    for i in range(0, len(events), 2_000):
        resp = await client.post("/v1/events/batch", json={"events": events[i : i + 2_000]})
        assert resp.status == 200, await resp.text()


def expected_payments(
    events: list[dict[str, Any]], market: str
) -> dict[tuple[str, ...], list[int]]:
    """Payments per (direction, method, currency, status) in the market's January, summed
    here from the events: what the report must say."""
    zone = ZoneInfo(MARKETS[market].timezone)
    lo = datetime.combine(date(2026, 1, 1), dtime(), zone)
    hi = datetime.combine(date(2026, 2, 1), dtime(), zone)
    found: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0, 0])
    for e in events:
        if e["market"] != market or e["type"] not in ("deposit", "withdrawal", "chargeback"):
            continue
        ts = e["ts"]
        at = (datetime.fromtimestamp(ts / 1000, UTC) if isinstance(ts, int)
              else datetime.fromisoformat(ts))  # fmt: skip
        if lo <= at < hi:
            key = (e["type"], e.get("method", ""), e["currency"], e.get("status", ""))
            found[key][0] += 1
            found[key][1] += e["amount"]
    return found


def csv_payments(content: bytes) -> dict[tuple[str, ...], list[int]]:
    rows = list(csv.DictReader(io.StringIO(content.decode())))
    return {
        (r["item"], r["label"], r["currency"], r["detail"]): [
            int(r["count"]),
            int(r["amount_minor"]),
        ]
        for r in rows
        if r["section"] == "payments"
    }


async def test_each_markets_monthly_report_reaches_the_regulator(
    service: Client,
    events: list[dict[str, Any]],
    sftp: SftpServer,
    mailbox: Mailbox,
    receiver: Receiver,
) -> None:
    await ingest(service, events)
    runs = {}
    for market in ("MGA", "UKGC", "CW"):
        started = time.perf_counter()
        resp = await service.post("/v1/reports/runs", json={"market": market, "period": MONTH})
        assert resp.status == 201, await resp.text()
        runs[market] = await resp.json()
        assert time.perf_counter() - started < 30

    # Every delivery of every run is sent: 3 uploads, 3 emails, 3 webhooks.
    async def all_sent() -> list[Any] | None:
        found = []
        for run in runs.values():
            got = await (await service.get(f"/v1/reports/runs/{run['id']}")).json()
            if any(d["state"] != "sent" for d in got["deliveries"]):
                return None
            found.append(got)
        return found

    done = await eventually(all_sent, timeout=30)
    assert {d["channel"] for run in done for d in run["deliveries"]} == {"sftp", "email", "webhook"}

    keys = await (await service.get("/regulator/signing-keys")).json()
    uploaded = sftp.files()
    for market, run in runs.items():
        assert run["state"] == "generated"
        assert run["events"] > 0
        stem = f"{market}_monthly_2026-01"
        where = f"/incoming/{market}/monthly/2026-01"
        files = {path.rsplit("/", 1)[1]: content for path, content in uploaded.items()
                 if path.startswith(where + "/")}  # fmt: skip
        assert set(files) == set(run["files"])
        assert not [p for p in uploaded if p.endswith(".part")]

        # The XML passes its market's schema; the signatures verify with the published key.
        assert validate_xml(market, files[f"{stem}.xml"]) == []
        manifest = files[f"{stem}.manifest.json"]
        sigs = {n: c for n, c in files.items() if n.endswith(".sig")}
        reports = {
            n: c for n, c in files.items() if not n.endswith(".sig") and not n.endswith(".json")
        }
        assert signing.verify_manifest(manifest, reports, sigs, keys) == []
        tampered = dict(reports, **{f"{stem}.csv": files[f"{stem}.csv"] + b"\n"})
        assert signing.verify_manifest(manifest, tampered, sigs, keys)

        # The same files can be downloaded from the regulator API, byte for byte.
        got = await service.get(f"/regulator/reports/{MONTH}/{stem}.pdf")
        assert got.status == 200
        assert await got.read() == files[f"{stem}.pdf"]

        # The payments are exactly the events' payments.
        assert csv_payments(files[f"{stem}.csv"]) == expected_payments(events, market)

        # The PDF is a real document whose text says what the CSV says.
        pdf = pypdf.PdfReader(io.BytesIO(files[f"{stem}.pdf"]))
        text = " ".join(page.extract_text() for page in pdf.pages)
        assert MARKETS[market].name.split(":")[0].split()[0] in text
        assert "2026-01" in text
        licence = {"MGA": "MGA/B2C/123/2019", "UKGC": "000123", "CW": "OGL/2024/123/0456"}[market]
        assert licence in text
        totals = {r["item"]: int(r["amount_base_minor"]) for r in csv.DictReader(
            io.StringIO(files[f"{stem}.csv"].decode())) if r["section"] == "totals"}  # fmt: skip
        deposits = totals["deposits"]
        assert f"{deposits // 100:,}.{deposits % 100:02d}" in text

    # One email per market, with the link to each file.
    assert sorted(m.recipients[0] for m in mailbox.mails) == [
        "returns@cw.example",
        "returns@mga.example",
        "returns@ukgc.example",
    ]
    for mail in mailbox.mails:
        market = mail.recipients[0].split("@")[1].split(".")[0].upper()
        assert (
            f"https://pb.example.com/regulator/reports/{MONTH}/{market}_monthly_2026-01.pdf"
            in mail.body
        )

    # One webhook per market, signed with the market's secret.
    assert len(receiver.requests) == 3
    for req in receiver.requests:
        webhooks.verify(SECRET, timestamp=req.headers[webhooks.TIMESTAMP],
                        nonce=req.headers[webhooks.NONCE],
                        signature=req.headers[webhooks.SIGNATURE], body=req.body,
                        now=time.time(), tolerance_s=300)  # fmt: skip
        note = json.loads(req.body)
        assert note["period"] == MONTH
        assert {f["name"] for f in note["files"]} <= set(runs[note["market"]]["files"])

    # A second run of the period is refused; a revision gets new names.
    again = await service.post("/v1/reports/runs", json={"market": "MGA", "period": MONTH})
    assert again.status == 409
    assert (await again.json())["field"] == "revise"
    revised = await service.post(
        "/v1/reports/runs", json={"market": "MGA", "period": MONTH, "revise": True}
    )
    assert revised.status == 201
    assert "MGA_monthly_2026-01_r2.pdf" in (await revised.json())["files"]

    metrics = (await (await service.get("/metrics")).read()).decode()
    assert 'report_generation_duration_seconds_count{market="MGA",period="monthly"} 2.0' in metrics
    assert 'report_deliveries_total{channel="sftp",market="CW",outcome="sent"} 1.0' in metrics


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"market": "XX", "period": MONTH}, "market"),
        ({"market": "MGA", "period": "monthly/2026-13"}, "period"),
        ({"market": "MGA", "period": MONTH, "colour": 1}, "colour"),
        ({"period": MONTH}, "market"),
    ],
)
async def test_a_bad_run_request_names_its_field(
    service: Client, body: dict[str, Any], field: str
) -> None:
    resp = await service.post("/v1/reports/runs", json=body)
    assert resp.status == 422
    assert field in msgspec.json.encode(await resp.json()).decode()


async def test_a_run_request_that_is_not_json_gets_a_documented_status(client: Client) -> None:
    doc = await (await client.get("/openapi.json")).json()
    documented = doc["paths"]["/v1/reports/runs"]["post"]["responses"]
    for data, content_type, status in [
        (b"{", "application/json", 400),
        (b"market=MGA", "text/plain", 415),
    ]:
        resp = await client.post(
            "/v1/reports/runs", data=data, headers={"Content-Type": content_type}
        )
        assert resp.status == status, await resp.text()
        assert str(status) in documented
