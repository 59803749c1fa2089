"""`pitboss keys`: the personal-data key files (`regapi.keys`) and rotation."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_PROBLEMS = 0, 1


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "keys",
        help="keys: personal-data encryption (pii-new, rewrap), token signing",
        description="Key files hold the AES-256 keys that seal player profiles (purpose "
        "pii) and KYC documents (purpose kyc_media). Keep them apart from the database and "
        "its backups; the service reads them from PITBOSS_PII_KEY_FILE and "
        "PITBOSS_KYC_MEDIA_KEY_FILE.",
    )
    keys = p.add_subparsers(dest="keys_command", required=True)
    new = keys.add_parser(
        "pii-new",
        help="create a personal-data key file, or add a new current key to one (rotation)",
        description="Create the key file with one key, or add a fresh key to it and make it "
        "current: new values are sealed under it, older ones still open under theirs. Then "
        "restart the service and run `pitboss keys rewrap` to move old values on.",
    )
    new.add_argument("--purpose", choices=("pii", "kyc_media"), required=True)
    new.add_argument("--file", type=Path, required=True, help="the key file (written 0600)")
    new.set_defaults(run=run_new)
    rewrap = keys.add_parser(
        "rewrap",
        help="re-encrypt stored personal data under the current pii and kyc_media keys",
        description="Seal every profile field and KYC document again under its ring's "
        "current key (DATABASE_URL, PITBOSS_DATA_DIR and the key settings as for `pitboss "
        "serve`). Once it has run, keys no longer current can be removed from the files.",
    )
    rewrap.set_defaults(run=run_rewrap)


def run_new(args: argparse.Namespace) -> int:
    from regapi.crypto import CryptoError
    from regapi.keys import add_key

    try:
        ring = add_key(args.file, args.purpose)
    except (CryptoError, OSError) as exc:
        print(f"pitboss keys pii-new: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    print(
        f"{args.file}: {args.purpose} key {ring.current} added and made current "
        f"({len(ring.keys)} key{'s' if len(ring.keys) > 1 else ''} in the file)"
    )
    return EXIT_OK


async def _rewrap() -> str:
    from pitboss.service import database
    from pitboss.service.pii import pii_keys
    from pitboss.service.settings import Settings
    from regapi import players

    settings = Settings.from_env()
    keys = pii_keys(settings)
    url = settings.database_url or database.embedded_url(settings.data_dir)
    async with database.open_pool(url, size=1) as pool, pool.acquire() as conn:
        done = await players.rewrap(conn, keys)
    return (
        f"re-encrypted {done.players} player profile(s) under pii key {keys.pii.current} and "
        f"{done.documents} KYC document(s) under kyc_media key {keys.kyc_media.current}"
    )


def run_rewrap(args: argparse.Namespace) -> int:
    from pitboss.service.auth import StartupRefusedError
    from pitboss.service.settings import SettingsError

    try:
        print(asyncio.run(_rewrap()))
    except (SettingsError, StartupRefusedError) as exc:
        print(f"pitboss keys rewrap: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    return EXIT_OK
