"""`pitboss clients …` and `pitboss keys …`: OAuth2 clients and token signing keys.

Both talk to the service's database (`DATABASE_URL`, or the embedded PostgreSQL in
`PITBOSS_DATA_DIR`), migrating it first, so they work before the service first starts.
A running service sees their changes within its refresh interval (30 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

EXIT_OK, EXIT_PROBLEMS = 0, 1
T = TypeVar("T")


def add_parser(sub: Any) -> None:
    from regapi.auth import roles

    where = (
        "Uses the database in DATABASE_URL, or the embedded one in PITBOSS_DATA_DIR "
        "(default .pitboss), migrating it first."
    )
    clients = sub.add_parser(
        "clients", help="OAuth2 clients: create, list, disable", description=where
    )
    csub = clients.add_subparsers(dest="action", required=True)
    create = csub.add_parser(
        "create",
        help="register a client; prints its id and secret, once",
        description="Register a client with roles. The secret is printed once and only its "
        "hash is stored: keep it now. " + where,
    )
    create.add_argument("--name", required=True, help="who the client is (in logs, the audit)")
    create.add_argument(
        "--role", dest="roles", action="append", required=True, choices=sorted(roles.ALL),
        help="a role it may ask tokens for (repeat for several)",
    )  # fmt: skip
    create.add_argument("--json", action="store_true", help="print JSON")
    create.set_defaults(run=cmd_create)
    listing = csub.add_parser("list", help="every client (never a secret)", description=where)
    listing.add_argument("--json", action="store_true", help="one JSON object per client")
    listing.set_defaults(run=cmd_list)
    disable = csub.add_parser(
        "disable",
        help="refuse a client new tokens, and its current ones",
        description="Disable a client: the token endpoint refuses it at once, and a running "
        "service refuses its tokens within 30 s. " + where,
    )
    disable.add_argument("client_id")
    disable.set_defaults(run=cmd_disable)

    kek = (
        " The private keys are sealed under the key-encryption key in "
        "PITBOSS_SIGNING_KEK_FILE (default <data dir>/keys/signing.kek), which every "
        "service process must share."
    )
    ksub = _keys_subcommands(sub, where + kek)
    rotate = ksub.add_parser(
        "rotate",
        help="make a new signing key current",
        description="Make a new key current. The one it replaces signs no more, but tokens "
        "it signed are accepted until they expire. " + where + kek,
    )
    rotate.set_defaults(run=cmd_rotate)
    klist = ksub.add_parser("list", help="every signing key and its state", description=where)
    klist.add_argument("--json", action="store_true", help="one JSON object per key")
    klist.set_defaults(run=cmd_keys)
    retire = ksub.add_parser(
        "retire",
        help="stop a key verifying now (a compromised key)",
        description="Tokens signed by the key are refused within 30 s. Retiring the current "
        "key makes a new one current first. " + where + kek,
    )
    retire.add_argument("kid")
    retire.set_defaults(run=cmd_retire)


def _keys_subcommands(sub: Any, description: str) -> Any:
    """The subcommands of `pitboss keys`, which the personal-data keys
    (`pitboss.keys_command`) share: joined if that command is already registered."""
    parser = sub.choices.get("keys")
    if parser is None:
        parser = sub.add_parser("keys", help="keys: token signing", description=description)
        return parser.add_subparsers(dest="keys_command", required=True)
    parser.description = f"{parser.description}\n\nToken signing keys: {description}"
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


# --- the database, as the service finds it ------------------------------------------


def _data_dir(env: Mapping[str, str]) -> Path:
    return Path(env.get("PITBOSS_DATA_DIR") or ".pitboss")


def _kek_path(env: Mapping[str, str]) -> Path:
    from regapi.auth.keys import default_kek_path

    given = env.get("PITBOSS_SIGNING_KEK_FILE")
    return Path(given) if given else default_kek_path(_data_dir(env))


def _with_database(work: Callable[[Any], Awaitable[T]]) -> T:
    """Run `work(pool)` on the migrated database."""
    import structlog

    from pitboss.service import database
    from pitboss.service.logging import STDERR

    # Logs (the embedded server starting, migrations) go to stderr; stdout is the answer.
    # Only the destination is set, and only if nothing else configured logging first.
    if not structlog.is_configured():
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=STDERR))
    env = os.environ
    url = env.get("DATABASE_URL") or database.embedded_url(_data_dir(env))

    async def run() -> T:
        async with database.open_pool(url, size=2) as pool:
            return await work(pool)

    return asyncio.run(run())


def _when(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat(timespec="seconds")


# --- clients ------------------------------------------------------------------------


def cmd_create(args: argparse.Namespace) -> int:
    from regapi.auth import clients

    async def work(pool: Any) -> clients.NewClient:
        async with pool.acquire() as conn:
            return await clients.create(conn, name=args.name, roles=args.roles)

    try:
        made = _with_database(work)
    except clients.ClientError as exc:
        print(f"pitboss clients create: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    c = made.client
    if args.json:
        print(json.dumps({"client_id": c.id, "client_secret": made.secret, "name": c.name,
                          "roles": list(c.roles)}))  # fmt: skip
    else:
        print(f"client_id:     {c.id}")
        print(f"client_secret: {made.secret}")
        print(f"name:          {c.name}")
        print(f"roles:         {' '.join(c.roles)}")
        print("The secret is shown this once; only its hash is stored.", file=sys.stderr)
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    from regapi.auth import clients
    from regapi.store.auth import ClientRow

    async def work(pool: Any) -> list[ClientRow]:
        async with pool.acquire() as conn:
            return await clients.listing(conn)

    for c in _with_database(work):
        state = "disabled" if c.disabled_at else "enabled"
        if args.json:
            print(json.dumps({"client_id": c.id, "name": c.name, "roles": list(c.roles),
                              "created_at": _when(c.created_at),
                              "disabled_at": _when(c.disabled_at)}))  # fmt: skip
        else:
            print(f"{c.id}  {state:<8}  {_when(c.created_at)}  {' '.join(c.roles)}  {c.name}")
    return EXIT_OK


def cmd_disable(args: argparse.Namespace) -> int:
    from regapi.auth import clients
    from regapi.store.auth import ClientRow

    async def work(pool: Any) -> ClientRow | None:
        async with pool.acquire() as conn:
            return await clients.disable(conn, args.client_id)

    row = _with_database(work)
    if row is None:
        print(f"pitboss clients disable: no client {args.client_id!r}", file=sys.stderr)
        return EXIT_PROBLEMS
    print(f"{row.id} disabled at {_when(row.disabled_at)}")
    return EXIT_OK


# --- keys ---------------------------------------------------------------------------


def _kek(create: bool) -> bytes:
    from regapi.auth.keys import read_kek

    return read_kek(_kek_path(os.environ), create=create)


def cmd_rotate(args: argparse.Namespace) -> int:
    from regapi.auth import keyring
    from regapi.auth.keys import SigningKeyError

    async def work(pool: Any) -> keyring.Rotation:
        async with pool.acquire() as conn:
            # The first rotation of a new installation makes the key-encryption key.
            has_keys = bool(await keyring.listing(conn))
            return await keyring.rotate(conn, _kek(create=not has_keys))

    try:
        rotation = _with_database(work)
    except SigningKeyError as exc:
        print(f"pitboss keys rotate: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    print(f"current: {rotation.current.kid}")
    if rotation.superseded:
        print(f"superseded: {rotation.superseded} (its tokens are accepted until they expire)")
    return EXIT_OK


def cmd_keys(args: argparse.Namespace) -> int:
    from regapi.auth import keyring
    from regapi.store.auth import KeyRow

    async def work(pool: Any) -> list[KeyRow]:
        async with pool.acquire() as conn:
            return await keyring.listing(conn)

    for k in _with_database(work):
        state = "retired" if k.retired_at else "superseded" if k.superseded_at else "current"
        if args.json:
            print(json.dumps({"kid": k.kid, "alg": k.alg, "state": state,
                              "created_at": _when(k.created_at),
                              "superseded_at": _when(k.superseded_at),
                              "retired_at": _when(k.retired_at)}))  # fmt: skip
        else:
            print(f"{k.kid}  {state:<10}  {k.alg}  created {_when(k.created_at)}")
    return EXIT_OK


def cmd_retire(args: argparse.Namespace) -> int:
    from regapi.auth import keyring
    from regapi.auth.keys import SigningKeyError

    async def work(pool: Any) -> keyring.Rotation | None:
        try:
            kek = _kek(create=False)
        except SigningKeyError:
            kek = None  # enough to retire a superseded key; the current one needs it
        async with pool.acquire() as conn:
            return await keyring.retire(conn, kek, args.kid)

    try:
        rotation = _with_database(work)
    except SigningKeyError as exc:
        print(f"pitboss keys retire: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    if rotation is None:
        print(f"pitboss keys retire: no key {args.kid!r}", file=sys.stderr)
        return EXIT_PROBLEMS
    print(f"retired: {args.kid}")
    if rotation.superseded == args.kid:
        print(f"current: {rotation.current.kid}")
    return EXIT_OK
