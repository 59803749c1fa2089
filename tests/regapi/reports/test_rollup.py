"""The daily roll-up over a real PostgreSQL: market-local days, breakdowns, and incremental
refreshes that recompute exactly the days late events fall on."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import pytest

from engine.incidents import RNG_P1
from engine.store.events import Partitions
from pitboss.service import database
from regapi.periods import Period
from regapi.reports import collect, rollup
from regapi.reports.model import Operator
from tests.service import conftest as service_fixtures

pg_server = service_fixtures.pg_server
database_url = service_fixtures.database_url

_seq = itertools.count(1)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with database.open_pool(database_url, size=4) as p:
        yield p


async def store(conn: asyncpg.Connection, *events: dict[str, Any]) -> None:
    """Write events as the ingest writer does (same table, same columns)."""
    rows = []
    for e in events:
        ts = datetime.fromisoformat(e["ts"])
        rows.append(
            (
                next(_seq),
                e["event_id"],
                e["player_id"],
                e["type"],
                e["market"],
                ts,
                json.dumps(e).encode(),
            )
        )
    await Partitions().ensure(conn, {(r[5].year, r[5].month) for r in rows})
    await conn.copy_records_to_table(
        "events",
        records=rows,
        columns=("seq", "event_id", "player_id", "type", "market", "ts", "body"),
    )


def ev(
    kind: str, ts: str, market: str = "MGA", player: str = "p-1", **fields: Any
) -> dict[str, Any]:
    e = {
        "event_id": f"e{next(_seq)}",
        "type": kind,
        "player_id": player,
        "ts": ts,
        "market": market,
    }
    return e | fields


def deposit(ts: str, amount: int, **kw: Any) -> dict[str, Any]:
    fields = {"amount": amount, "currency": "EUR", "method": "card", "status": "approved"}
    return ev("deposit", ts, **(fields | kw))


async def test_days_are_the_markets_days(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await store(
            conn,
            # 23:30 UTC on 19 Nov is 00:30 on 20 Nov in Malta.
            deposit("2026-11-19T23:30:00+00:00", 1_000),
            deposit("2026-11-20T22:59:59+00:00", 2_000),
            # 23:00 UTC on 20 Nov is 00:00 on 21 Nov in Malta: the next day.
            deposit("2026-11-20T23:00:00+00:00", 4_000),
            # Curaçao is UTC-4: 02:00 UTC on 21 Nov is still 20 Nov there.
            deposit("2026-11-21T02:00:00+00:00", 8_000, market="CW", currency="USD"),
        )
        done = await rollup.refresh(pool, anomaly_p=RNG_P1)
        assert done.days == 3
        mga = await rollup.rows(conn, "MGA", date(2026, 11, 20), date(2026, 11, 22))
        assert [(r.day, r.events, r.amount) for r in mga] == [
            (date(2026, 11, 20), 2, 3_000),
            (date(2026, 11, 21), 1, 4_000),
        ]
        cw = await rollup.rows(conn, "CW", date(2026, 11, 20), date(2026, 11, 21))
        assert [(r.day, r.currency, r.amount) for r in cw] == [(date(2026, 11, 20), "USD", 8_000)]


async def test_breakdowns_by_type(pool: asyncpg.Pool) -> None:
    day = "2026-11-20T10:00:00+00:00"
    async with pool.acquire() as conn:
        await store(
            conn,
            deposit(day, 1_000, method="ewallet"),
            deposit(day, 500, status="declined"),
            ev("bet", day, amount=300, currency="EUR", game_kind="live", game_id="g"),
            ev("win", day, amount=100, currency="EUR", game_kind="live", game_id="g"),
            ev("rng_check", day, game_id="slot-7", statistic="chi2", p_value=0.0001),
            ev("rng_check", day, game_id="slot-7", statistic="chi2", p_value=0.4),
            ev("kyc_update", day, kyc_level=2, status="approved"),
            ev("limit_change", day, limit_kind="deposit", value=100),
            ev("self_exclusion", day, limit_kind="self_exclusion"),
            ev("login", day),
        )
        await rollup.refresh(pool, anomaly_p=RNG_P1)
        got = {
            (r.type, r.kind, r.currency, r.status): (r.events, r.amount)
            for r in await rollup.rows(conn, "MGA", date(2026, 11, 20), date(2026, 11, 21))
        }
    assert got == {
        ("deposit", "ewallet", "EUR", "approved"): (1, 1_000),
        ("deposit", "card", "EUR", "declined"): (1, 500),
        ("bet", "live", "EUR", ""): (1, 300),
        ("win", "live", "EUR", ""): (1, 100),
        ("rng_check", "slot-7", "", "anomaly"): (1, 0),
        ("rng_check", "slot-7", "", "ok"): (1, 0),
        ("kyc_update", "2", "", "approved"): (1, 0),
        ("limit_change", "deposit", "", ""): (1, 0),
        ("self_exclusion", "self_exclusion", "", ""): (1, 0),
        ("login", "", "", ""): (1, 0),
    }


async def test_a_refresh_recomputes_only_the_days_new_events_fall_on(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await store(
            conn,
            deposit("2026-11-01T10:00:00+00:00", 1_000),
            deposit("2026-11-02T10:00:00+00:00", 1_000),
        )
        await rollup.refresh(pool, anomaly_p=RNG_P1)
        assert (await rollup.refresh(pool, anomaly_p=RNG_P1)).days == 0  # nothing new
        # A late event for 1 November, stored after the refresh.
        await store(conn, deposit("2026-11-01T11:00:00+00:00", 250))
        again = await rollup.refresh(pool, anomaly_p=RNG_P1)
        assert again.days == 1
        rows = await rollup.rows(conn, "MGA", date(2026, 11, 1), date(2026, 11, 3))
        assert [(r.day, r.events, r.amount) for r in rows] == [
            (date(2026, 11, 1), 2, 1_250),
            (date(2026, 11, 2), 1, 1_000),
        ]
        # The roll-up equals a recomputation from nothing.
        await conn.execute("DELETE FROM report_rollup")
        await conn.execute("UPDATE report_rollup_state SET through = 0")
        await rollup.refresh(pool, anomaly_p=RNG_P1)
        assert await rollup.rows(conn, "MGA", date(2026, 11, 1), date(2026, 11, 3)) == rows


async def test_collect_sums_days_into_the_period_in_base_currency(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await store(
            conn,
            deposit("2026-10-31T23:30:00+00:00", 10_000),  # 1 Nov in Malta
            deposit("2026-11-15T12:00:00+00:00", 5_000, currency="SEK", method="bank_transfer"),
            deposit("2026-11-15T12:00:00+00:00", 7_000, status="declined"),
            ev(
                "withdrawal",
                "2026-11-16T12:00:00+00:00",
                amount=3_000,
                currency="EUR",
                method="card",
                status="approved",
            ),
            ev(
                "bet",
                "2026-11-17T12:00:00+00:00",
                amount=2_000,
                currency="EUR",
                game_kind="slot",
                game_id="g",
            ),
            ev(
                "win",
                "2026-11-17T12:00:00+00:00",
                amount=500,
                currency="EUR",
                game_kind="slot",
                game_id="g",
            ),
            ev(
                "bet",
                "2026-11-30T23:30:00+00:00",
                amount=999,
                currency="EUR",
                game_kind="slot",
                game_id="g",
            ),  # 1 Dec in Malta: not November's
        )
        await rollup.refresh(pool, anomaly_p=RNG_P1)
        data = await collect.collect(
            conn,
            market="MGA",
            period=Period("monthly", date(2026, 11, 1)),
            operator=Operator(name="Casino", licence="MGA/B2C/123/2019"),
            revision=1,
            generated_at=datetime(2026, 12, 1, 4, tzinfo=UTC),
        )
    totals = data.financial.totals
    sek = next(p for p in data.financial.payments if p.currency == "SEK")
    assert 0 < sek.amount_base < sek.amount  # about a tenth of a euro per krona
    assert totals.deposits == 10_000 + sek.amount_base  # the declined deposit moved nothing
    assert totals.withdrawals == 3_000
    assert (totals.stakes, totals.wins, totals.ggr) == (2_000, 500, 1_500)
    assert len(data.financial.daily) == 30
    assert sum(d.ggr_base for d in data.financial.daily) == 1_500
    assert data.events == 6
    assert data.kyc_aml.active_players == 1
    assert [c.outcome for c in data.kyc_aml.cases] == ["cleared", "escalated", "restricted"]


async def test_a_long_history_is_recomputed_in_chunks_without_losing_a_day(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn:
        await store(
            conn,
            *(
                deposit(f"2026-10-{day:02d}T23:30:00+00:00", day, market=market)
                for day in range(1, 31)
                for market in ("MGA", "CW")
            ),
        )
        done = await rollup.refresh(pool, anomaly_p=RNG_P1)
        assert done.days == 60
        mga = await rollup.rows(conn, "MGA", date(2026, 10, 1), date(2026, 11, 2))
        cw = await rollup.rows(conn, "CW", date(2026, 10, 1), date(2026, 11, 2))
    # 23:30 UTC is the next day in Malta, the same day in Curaçao.
    assert [(r.day.day, r.amount) for r in mga] == [(d % 31 + 1, d) for d in range(1, 31)]
    assert [(r.day.day, r.amount) for r in cw] == [(d, d) for d in range(1, 31)]
