"""`/regulator/reports/{period}`: the files generated for a period, listed and downloaded,
over real rows written through `regapi.store.reports.add_report_file`."""

from __future__ import annotations

import base64
import hashlib
from datetime import date
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from regapi import periods
from regapi.periods import Period
from regapi.store import reports
from regapi.store.reports import ReportFileError
from tests.service.serving import token_for

Client = TestClient[Any, Any]
WEEK = periods.parse("weekly/2026-W47")
DAY = periods.parse("daily/2026-11-20")


def regulator(client: Client) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(client, 'regulator_read', client_id='mga')}"}


async def add(db: asyncpg.Connection, period: Period, name: str, content: bytes,
              market: str = "MGA", fmt: str = "csv") -> reports.ReportFile:  # fmt: skip
    return await reports.add_report_file(
        db, market=market, period=period, format=fmt, name=name, content=content
    )


async def test_a_period_lists_its_files_and_each_downloads(
    client: Client, db: asyncpg.Connection
) -> None:
    csv = b"player_id,amount\r\np-1,5000\r\n"
    big = bytes(range(256)) * 12_000  # 3 MB: more than one slice of the download
    await add(db, WEEK, "MGA-weekly-2026-W47.csv", csv)
    await add(db, WEEK, "UKGC-weekly-2026-W47.xml", b"<report/>", market="UKGC", fmt="xml")
    await add(db, WEEK, "MGA-weekly-2026-W47-players.bin", big, fmt="bin")
    await add(db, DAY, "MGA-daily-2026-11-20.csv", b"other period")
    headers = regulator(client)

    resp = await client.get("/regulator/reports/weekly/2026-W47", headers=headers)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert (body["period"], body["start"], body["end"]) == (
        "weekly/2026-W47",
        "2026-11-16",
        "2026-11-23",
    )
    files = {f["name"]: f for f in body["files"]}
    assert list(files) == [
        "MGA-weekly-2026-W47-players.bin",
        "MGA-weekly-2026-W47.csv",
        "UKGC-weekly-2026-W47.xml",
    ]  # by market, then name
    listed = files["MGA-weekly-2026-W47.csv"]
    assert listed["market"] == "MGA"
    assert listed["format"] == "csv"
    assert listed["size"] == len(csv)
    assert listed["sha256"] == hashlib.sha256(csv).hexdigest()
    assert listed["generated_at"]
    assert listed["url"] == "/regulator/reports/weekly/2026-W47/MGA-weekly-2026-W47.csv"

    resp = await client.get(listed["url"], headers=headers)
    assert resp.status == 200
    assert await resp.read() == csv
    assert resp.headers["Content-Type"].startswith("text/csv")
    assert resp.headers["Content-Length"] == str(len(csv))
    assert 'filename="MGA-weekly-2026-W47.csv"' in resp.headers["Content-Disposition"]
    digest = base64.b64encode(hashlib.sha256(csv).digest()).decode()
    assert resp.headers["Content-Digest"] == f"sha-256=:{digest}:"

    resp = await client.get(files["MGA-weekly-2026-W47-players.bin"]["url"], headers=headers)
    assert resp.status == 200
    got = await resp.read()
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(big).hexdigest()
    assert resp.headers["Content-Type"] == "application/octet-stream"

    resp = await client.get("/regulator/reports/weekly/2026-W47?market=UKGC", headers=headers)
    assert [f["name"] for f in (await resp.json())["files"]] == ["UKGC-weekly-2026-W47.xml"]


async def test_a_period_without_reports_lists_none(client: Client) -> None:
    resp = await client.get("/regulator/reports/monthly/2026-11", headers=regulator(client))
    assert resp.status == 200
    assert (await resp.json())["files"] == []


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/regulator/reports/yearly/2026", "'yearly' is not a period kind"),
        ("/regulator/reports/daily/2026-02-30", "not a date"),
        ("/regulator/reports/weekly/2026-47", "not an ISO week"),
        ("/regulator/reports/monthly/2026-13", "not a month"),
        ("/regulator/reports/2026-11-20", "is not a period"),
        ("/regulator/reports/daily/2026-13-01/x.csv", "not a date"),
    ],
)
async def test_a_bad_period_is_422_naming_period(client: Client, path: str, message: str) -> None:
    resp = await client.get(path, headers=regulator(client))
    assert resp.status == 422, await resp.text()
    assert resp.content_type == "application/problem+json"
    body = await resp.json()
    assert body["field"] == "period"
    assert message in body["detail"]


async def test_an_unknown_file_is_404(client: Client, db: asyncpg.Connection) -> None:
    await add(db, DAY, "MGA-daily-2026-11-20.csv", b"x")
    headers = regulator(client)
    resp = await client.get("/regulator/reports/daily/2026-11-21/MGA-daily-2026-11-20.csv",
                            headers=headers)  # fmt: skip
    assert resp.status == 404
    assert (await resp.json())["field"] == "file"
    resp = await client.get("/regulator/reports/daily/2026-11-20", headers=headers,
                            params={"market": "MGA; DROP"})  # fmt: skip
    assert resp.status == 422
    assert (await resp.json())["field"] == "market"


async def test_a_report_name_is_written_once(db: asyncpg.Connection, client: Client) -> None:
    first = await add(db, DAY, "MGA-daily.csv", b"v1")
    # The same file again (a retried job) is the same file.
    assert await add(db, DAY, "MGA-daily.csv", b"v1") == first
    # Other content under the same name is refused: a regulator may have the first.
    with pytest.raises(ReportFileError, match="new name") as caught:
        await add(db, DAY, "MGA-daily.csv", b"v2")
    assert caught.value.field == "name"
    # The same name in another period is another file.
    other = await add(db, periods.parse("daily/2026-11-21"), "MGA-daily.csv", b"v2")
    assert other.id != first.id


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "../etc/passwd"}, "name"),
        ({"name": ".hidden"}, "name"),
        ({"name": "a" * 201}, "name"),
        ({"name": "a b.csv"}, "name"),
        ({"format": "CSV"}, "format"),
        ({"market": ""}, "market"),
    ],
)
async def test_report_files_are_checked(
    db: asyncpg.Connection, kwargs: dict[str, str], field: str
) -> None:
    given: dict[str, Any] = {
        "market": "MGA", "period": DAY, "format": "csv", "name": "ok.csv", "content": b"",
    } | kwargs  # fmt: skip
    with pytest.raises(ReportFileError) as caught:
        await reports.add_report_file(db, **given)
    assert caught.value.field == field


def test_the_period_of_a_day() -> None:
    assert periods.of("daily", date(2026, 11, 20)) == DAY
