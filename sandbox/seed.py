"""Filling the sandbox's database: a synthetic casino from the simulator, run through the
same engine and stores as live events, so that every regulator route has something real
to answer with.

What a seed makes, the same for the same seed (event ids, decisions, alerts, reports'
figures; not wall-clock times such as when an incident was opened):

- the simulator's default casino with `players` players over `days` days from `start`,
  every event decided by the standard policy pack through an `Ingestor` (decisions,
  alerts, incidents);
- a case for each of the first five player alerts, one cleared, one escalated, one
  restricted, one under investigation and one open;
- a profile for every player (synthetic names and addresses, sealed under the sandbox's
  own personal-data keys);
- a short configuration history (a bonus rule created and changed, a limit), audited;
- signed reports of every market for each month and ISO week the data covers and for its
  last seven days, generated at a fixed time after each period (their bytes depend on
  nothing else).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Final

import asyncpg
import msgspec
import structlog

from engine.events import Event, decode_event
from engine.fx import RateTable
from engine.ingest import IngestLimits, Ingestor
from engine.policy_manager import PolicyManager
from engine.store import cases as case_store
from regapi import config as config_versions
from regapi import players as player_records
from regapi.keys import Keys
from regapi.periods import Period, PeriodKind
from regapi.reports import config as reports_config
from regapi.reports.due import next_period, period_containing
from regapi.reports.runs import Reporter, generate
from regapi.reports.signing import ReportSigner
from simulator.generate import contract_events, simulate_players
from simulator.scenario import Scenario, load_scenario

log = structlog.get_logger("sandbox.seed")

# Bump when what a seed makes changes: a sandbox seeded by another version is re-made.
VERSION: Final = 1
ACTOR: Final = "sandbox-seed"
_BATCH: Final = 1_000
_FIRST = [
    "Ada",
    "Ben",
    "Carla",
    "Dan",
    "Eva",
    "Finn",
    "Greta",
    "Hugo",
    "Ines",
    "Jon",
    "Kai",
    "Lena",
    "Marco",
    "Nora",
    "Olga",
    "Pablo",
]
_LAST = [
    "Abela",
    "Borg",
    "Camilleri",
    "Dalli",
    "Ellul",
    "Farrugia",
    "Grech",
    "Jones",
    "Moreau",
    "Novak",
    "Rossi",
    "Vella",
]


class SandboxSeedError(Exception):
    """The sandbox's database holds another seed; the message says how to re-make it."""


@dataclass(frozen=True, kw_only=True)
class SeedSpec:
    seed: int = 20260105
    players: int = 200
    days: int = 28
    start: date = date(2026, 1, 5)


@dataclass(frozen=True)
class Seeded:
    spec: SeedSpec
    events: int
    reports: int
    made_now: bool  # False: the database already held this seed


def scenario(spec: SeedSpec) -> Scenario:
    run = {"seed": spec.seed, "players": spec.players, "days": spec.days, "start": spec.start}
    return load_scenario(overrides={"scenario": run})


async def ensure_seeded(
    pool: asyncpg.Pool,
    spec: SeedSpec,
    *,
    keys: Keys,
    signer: ReportSigner,
    policy_dir: Path,
    data_dir: Path,
) -> Seeded:
    """Seed the sandbox's database unless it already holds `spec`; a database that holds
    anything else is a `SandboxSeedError` (its audit trail cannot be emptied: the database
    is dropped and made again, `pitboss sandbox seed --reset`)."""
    async with pool.acquire() as conn:
        # Two processes starting on one sandbox database: the second waits, then finds it done.
        await conn.execute("SELECT pg_advisory_lock(hashtext('pitboss sandbox seed'))")
        try:
            row = await conn.fetchrow("SELECT * FROM sandbox_seed")
            if row is not None and _same(row, spec):
                return Seeded(spec, row["events"], row["reports"], made_now=False)
            used = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM events)")
            if row is not None or used:
                raise SandboxSeedError(
                    "the sandbox database holds another seed or other data; drop and re-make "
                    "it with `pitboss sandbox seed --reset`"
                )
            events = await _events(pool, spec, policy_dir, data_dir)
            await _players(conn, spec, keys)
            await _cases(conn)
            await _configuration(conn)
            reports = await _reports(pool, spec, signer)
            await conn.execute(
                "INSERT INTO sandbox_seed (version, seed, players, days, start, events, reports) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7)",
                VERSION, spec.seed, spec.players, spec.days, spec.start, events, reports,
            )  # fmt: skip
            log.info("sandbox_seeded", seed=spec.seed, players=spec.players, days=spec.days,
                     events=events, reports=reports)  # fmt: skip
            return Seeded(spec, events, reports, made_now=True)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext('pitboss sandbox seed'))")


def _same(row: asyncpg.Record, spec: SeedSpec) -> bool:
    return (row["version"], row["seed"], row["players"], row["days"], row["start"]) == (
        VERSION, spec.seed, spec.players, spec.days, spec.start
    )  # fmt: skip


async def _events(pool: asyncpg.Pool, spec: SeedSpec, policy_dir: Path, data_dir: Path) -> int:
    manager = PolicyManager(pool, data_dir)
    pack, version, shadows = await manager.bootstrap(policy_dir)
    ingestor = Ingestor(pool, pack, version, limits=IngestLimits(), shadows=shadows)
    await ingestor.start()
    count = 0
    try:
        for batch in _batches(spec):
            await ingestor.decide(batch, batch=True)
            count += len(batch)
        await ingestor.flush()
    finally:
        await ingestor.stop()
    return count


def _batches(spec: SeedSpec) -> Iterator[list[Event]]:
    encode = msgspec.json.Encoder().encode
    batch: list[Event] = []
    for event in contract_events(scenario(spec)):
        batch.append(decode_event(encode(event)))
        if len(batch) == _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


async def _players(conn: asyncpg.Connection, spec: SeedSpec, keys: Keys) -> None:
    table = simulate_players(scenario(spec)).to_pylist()
    rng = random.Random(spec.seed)
    for p in table:
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        profile = player_records.ProfileIn(
            market=p["market"],
            full_name=f"{first} {last}",
            email=f"{first}.{last}.{p['player_id']}@sandbox.pitboss.test".lower(),
            date_of_birth=p["dob"],
            address=f"{rng.randint(1, 200)} Sandbox Street, {p['country']}",
            document_number=f"SBX{rng.randrange(10**8):08d}",
        )
        await player_records.put_profile(conn, keys, p["player_id"], profile, actor=ACTOR)


# What the first alerts' cases come to, in alert order: one of each outcome, one still
# being investigated, one still open.
_CASE_PATHS: Final = (
    ("investigating", "cleared"),
    ("investigating", "escalated"),
    ("investigating", "restricted"),
    ("investigating",),
    (),
)


async def _cases(conn: asyncpg.Connection) -> None:
    """A case for each of the first player alerts (in id order, so the same seed opens the
    same cases), taken along `_CASE_PATHS`, so that players, logs and reports show cases
    in every state."""
    alert_ids = await conn.fetch(
        "SELECT id FROM alerts WHERE subject_kind = 'player' ORDER BY id LIMIT $1",
        len(_CASE_PATHS),
    )
    for (alert_id,), path in zip(alert_ids, _CASE_PATHS, strict=False):
        async with conn.transaction():
            case = await case_store.create_case(conn, [alert_id], by=ACTOR)
            for state in path:
                await case_store.transition(conn, case.id, state, by=ACTOR,
                                            note=f"sandbox: {state}")  # fmt: skip


async def _configuration(conn: asyncpg.Connection) -> None:
    """A little history for `/audit`: a bonus rule made and changed, a deposit limit."""
    changes = [
        ("bonusRule", "welcome-100", {"match_percent": 100, "max_eur": 200, "wagering": 35}),
        ("bonusRule", "welcome-100", {"match_percent": 100, "max_eur": 100, "wagering": 30}),
        ("limit", "default-deposit", {"daily_eur": 1000, "monthly_eur": 5000}),
    ]
    for kind, entity_id, document in changes:
        await config_versions.put(conn, kind, entity_id, document, actor=ACTOR)


def periods(spec: SeedSpec) -> list[Period]:
    """Each month and ISO week the data covers (whole or not), and its last seven days."""
    last = spec.start + timedelta(days=spec.days - 1)
    found: list[Period] = []
    kinds: tuple[PeriodKind, ...] = ("monthly", "weekly")
    for kind in kinds:
        period = period_containing(kind, spec.start)
        while period.start <= last:
            found.append(period)
            period = next_period(period)
    found += [Period("daily", last - timedelta(days=n)) for n in range(6, -1, -1)]
    return found


async def _reports(pool: asyncpg.Pool, spec: SeedSpec, signer: ReportSigner) -> int:
    reporter = Reporter(config=sandbox_reports(), signer=signer, fx=RateTable.default())
    made = 0
    for period in periods(spec):
        # Generated two hours after the period, as the schedule would: a fixed time, so the
        # same seed gives the same files.
        at = datetime.combine(period.end, time(2), UTC)
        for market in reporter.config.markets:
            await generate(pool, reporter, market, period, trigger="manual", now=at)
            made += 1
    return made


def sandbox_reports() -> reports_config.ReportsConfig:
    """The development defaults, named as the sandbox's, delivered nowhere."""
    dev = reports_config.development()
    return reports_config.ReportsConfig(
        operator_name="Pitboss sandbox casino",
        public_url=dev.public_url,
        since=None,
        markets=dev.markets,
    )
