"""`pitboss sandbox seed`: make and fill the regulator sandbox's database before a service
serves it (the service also seeds it at start when it is empty, which takes a few seconds
more there)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

EXIT_OK, EXIT_PROBLEMS = 0, 1


def add_parser(sub: Any) -> None:
    where = (
        "Uses the sandbox database in PITBOSS_SANDBOX_DATABASE_URL, or `<live database>_sandbox` "
        "beside DATABASE_URL's (or the embedded one's), seeded with PITBOSS_SANDBOX_SEED, "
        "PITBOSS_SANDBOX_PLAYERS and PITBOSS_SANDBOX_DAYS."
    )
    sandbox = sub.add_parser("sandbox", help="the regulator sandbox: seed", description=where)
    ssub = sandbox.add_subparsers(dest="action", required=True)
    seed = ssub.add_parser(
        "seed",
        help="make the sandbox database and fill it from the simulator",
        description="Fill the sandbox database with a synthetic casino: events decided by "
        "the standard pack, player profiles, a configuration history and signed reports. "
        "Does nothing if it already holds this seed. " + where,
    )
    seed.add_argument(
        "--reset", action="store_true",
        help="drop the sandbox database first (it holds another seed, or is broken)",
    )  # fmt: skip
    seed.set_defaults(run=cmd_seed)


def cmd_seed(args: argparse.Namespace) -> int:
    from pitboss.service import database, sandbox
    from pitboss.service.auth import StartupRefusedError
    from pitboss.service.settings import Settings, SettingsError

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"pitboss sandbox seed: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    live = os.environ.get("DATABASE_URL") or database.embedded_url(settings.data_dir)
    url = sandbox.sandbox_url(settings, live)

    async def work() -> Any:
        if args.reset:
            await _drop(url, live)
        async with sandbox.running(settings, live) as data, data.pool.acquire() as conn:
            return await conn.fetchrow("SELECT * FROM sandbox_seed")

    try:
        row = asyncio.run(work())
    except StartupRefusedError as exc:
        print(f"pitboss sandbox seed: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    print(f"sandbox seeded: seed {row['seed']}, {row['players']} players, {row['days']} days "
          f"from {row['start']}: {row['events']} events, {row['reports']} reports "
          f"(at {row['seeded_at']:%Y-%m-%d %H:%M:%S} UTC)")  # fmt: skip
    return EXIT_OK


async def _drop(url: str, live: str) -> None:
    from urllib.parse import urlsplit

    import asyncpg

    from pitboss.service.auth import StartupRefusedError

    if urlsplit(url)._replace(query="") == urlsplit(live)._replace(query=""):
        raise StartupRefusedError("PITBOSS_SANDBOX_DATABASE_URL: must not be the live database")
    name = urlsplit(url).path.lstrip("/")
    admin = await asyncpg.connect(live)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name.replace(chr(34), chr(34) * 2)}" '
                            "WITH (FORCE)")  # fmt: skip
    finally:
        await admin.close()
