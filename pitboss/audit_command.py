"""`pitboss audit …`: verify the audit log's hash chain, seal it into segments, export the
sealed segments to WORM object storage, purge segments past their retention.

Each talks to the service's database (`DATABASE_URL`, or the embedded PostgreSQL in
`PITBOSS_DATA_DIR`), migrating it first as the other commands do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

EXIT_OK, EXIT_BROKEN, EXIT_USAGE = 0, 1, 2
T = TypeVar("T")

_WHERE = (
    "Uses the database in DATABASE_URL, or the embedded one in PITBOSS_DATA_DIR (default .pitboss)."
)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "audit",
        help="the audit trail: verify, seal, export, purge",
        description="The append-only, hash-chained audit log. " + _WHERE,
    )
    asub = p.add_subparsers(dest="audit_command", required=True)
    verify = asub.add_parser(
        "verify",
        help="walk the chain; name the first broken link (exit 1)",
        description="Recompute every row's hash from its content and the previous row's "
        "hash, check each sealed segment and the chain head. Exit status 0: whole; 1: "
        "broken (the first broken link is named). " + _WHERE,
    )
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(run=cmd_verify)

    seal = asub.add_parser(
        "seal",
        help="close the rows so far into sealed segments",
        description="Close every row not yet sealed into segments (id range, first and last "
        "hash, SHA-256 of the rows as JSON lines, segment hash chained to the previous "
        "segment). Refused (exit 1) if those rows do not verify. " + _WHERE,
    )
    seal.add_argument("--max-rows", type=int, default=None, help="rows per segment at most")
    seal.add_argument("--by", default=None, help="who seals (default: $USER)")
    seal.set_defaults(run=cmd_seal)

    export = asub.add_parser(
        "export",
        help="upload sealed segments to S3 with Object Lock (COMPLIANCE, 7 years)",
        description="Upload each sealed segment not yet in the bucket: its rows as "
        "canonical JSON lines and a manifest with the hashes, both under Object Lock in "
        "COMPLIANCE mode retained 7 years, and record each upload. The bucket must have "
        "Object Lock enabled. Credentials come from the usual AWS sources (environment, "
        "profile, instance role). " + _WHERE,
    )
    export.add_argument("--bucket", required=True, help="an S3 bucket with Object Lock enabled")
    export.add_argument("--endpoint", help="an S3-compatible endpoint URL (default: AWS)")
    export.add_argument("--prefix", default="audit/", help="key prefix (default: audit/)")
    export.add_argument("--region", help="the bucket's region (default: from the environment)")
    export.set_defaults(run=cmd_export)

    purge = asub.add_parser(
        "purge",
        help="remove a sealed segment's rows once their 7-year retention has passed",
        description="The database refuses a segment any row of which is younger than its "
        "retention, and any but the oldest segment left. " + _WHERE,
    )
    purge.add_argument("segment", type=int, help="the segment's id")
    purge.set_defaults(run=cmd_purge)


def _with_database(work: Callable[[Any], Awaitable[T]]) -> T:
    """Run `work(conn)` on the migrated database."""
    from pitboss.service import database
    from pitboss.service.logging import configure

    # Logs (the embedded server starting, migrations) go to stderr; stdout is the answer.
    configure(json=False, level="warning")
    url = os.environ.get("DATABASE_URL") or database.embedded_url(
        Path(os.environ.get("PITBOSS_DATA_DIR") or ".pitboss")
    )

    async def run() -> T:
        async with database.open_pool(url, size=1) as pool, pool.acquire() as conn:
            return await work(conn)

    return asyncio.run(run())


def cmd_verify(args: argparse.Namespace) -> int:
    from regapi import audit

    report: audit.Report = _with_database(audit.verify)
    if args.json:
        print(json.dumps({"ok": report.ok, "rows": report.rows, "first_id": report.first_id,
                          "last_id": report.last_id, "segments": report.segments,
                          "purged_segments": report.purged_segments,
                          "head_id": report.head_id, "head_hash": report.head_hash,
                          "broken": None if report.broken is None else {
                              "row_id": report.broken.row_id,
                              "segment_id": report.broken.segment_id,
                              "what": report.broken.what}}))  # fmt: skip
    elif report.broken is not None:
        print(f"audit log BROKEN at {report.broken}")
        print(f"checked {report.rows} rows before it", file=sys.stderr)
    else:
        span = f"rows {report.first_id} to {report.last_id}" if report.rows else "no rows"
        print(
            f"audit log intact: {span} ({report.rows}), {report.segments} sealed segments "
            f"checked, {report.purged_segments} purged; head {report.head_hash}"
        )
    return EXIT_OK if report.ok else EXIT_BROKEN


def cmd_seal(args: argparse.Namespace) -> int:
    from regapi import audit
    from regapi.audit.trail import SEGMENT_ROWS

    by = args.by or os.environ.get("USER") or "pitboss audit seal"
    max_rows = SEGMENT_ROWS if args.max_rows is None else args.max_rows

    async def work(conn: Any) -> list[audit.Segment]:
        return await audit.seal(conn, by, max_rows=max_rows)

    try:
        sealed = _with_database(work)
    except audit.AuditError as exc:
        print(f"pitboss audit seal: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except audit.ChainBrokenError as exc:
        print(f"pitboss audit seal: refused, the chain is broken at {exc.broken}", file=sys.stderr)
        return EXIT_BROKEN
    if not sealed:
        print("nothing to seal: every row is in a sealed segment")
    for s in sealed:
        print(f"segment {s.id}: rows {s.first_id} to {s.last_id} ({s.rows}), hash {s.hash}")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    import boto3

    from regapi.audit.export import Exported, ExportError, export

    s3 = boto3.client("s3", endpoint_url=args.endpoint, region_name=args.region)

    async def work(conn: Any) -> list[Exported]:
        return await export(
            conn, s3, bucket=args.bucket, prefix=args.prefix, endpoint=args.endpoint
        )

    try:
        done = _with_database(work)
    except ExportError as exc:
        print(f"pitboss audit export: {exc}", file=sys.stderr)
        return EXIT_BROKEN
    if not done:
        print(f"nothing to export: every sealed segment is in {args.bucket} already")
    for e in done:
        print(
            f"segment {e.segment_id}: s3://{e.bucket}/{e.key} version {e.version_id}, "
            f"locked (COMPLIANCE) until {e.retain_until.isoformat()}"
        )
    return EXIT_OK


def cmd_purge(args: argparse.Namespace) -> int:
    import asyncpg

    from regapi import audit

    async def work(conn: Any) -> int:
        return await audit.purge(conn, args.segment)

    try:
        removed = _with_database(work)
    except asyncpg.PostgresError as exc:
        print(f"pitboss audit purge: refused: {exc}", file=sys.stderr)
        return EXIT_BROKEN
    print(f"segment {args.segment}: {removed} rows removed")
    return EXIT_OK
