"""Export of sealed audit segments to WORM object storage: S3 Object Lock, COMPLIANCE
mode, retained 7 years (no one, the account's root included, can delete or shorten it).

Each segment becomes two objects under the prefix:

    segment-000000000001.jsonl          the rows, one canonical JSON line each (with hash)
    segment-000000000001.manifest.json  the segment record, the SHA-256 of the lines
                                        object, the rules to check it

The bucket must have been created with Object Lock enabled. Every upload is recorded in
`audit_exports` (segment, key, version id, ETag); a segment exported to a bucket once is
not uploaded there again. boto3 is synchronous: its calls run in a worker thread.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import asyncpg
import msgspec

from regapi.audit.chain import (
    AuditEntry,
    Break,
    Segment,
    canonical,
    line,
    retained_until,
    segment_content,
    sha256,
)
from regapi.store import audit as store

MANIFEST_FORMAT: Final = "pitboss-audit-segment/1"
LOCK_MODE: Final = "COMPLIANCE"
HASH_RULE: Final = (
    "each line is canonical JSON (keys sorted, no whitespace, UTF-8); its `hash` is the "
    "SHA-256 (hex) of the line without `hash`; each `prev_hash` is the previous line's "
    "`hash`; `lines_sha256` is the SHA-256 of the whole object; the segment's `hash` is "
    "the SHA-256 of the canonical JSON of `segment` without `hash`"
)


class ExportError(Exception):
    """An export that could not be made, or would not be what it claims."""


class Exported(msgspec.Struct, frozen=True, kw_only=True):
    segment_id: int
    bucket: str
    key: str
    version_id: str | None
    etag: str
    manifest_key: str
    manifest_version_id: str | None
    retain_until: datetime


def keys(prefix: str, segment_id: int) -> tuple[str, str]:
    """The object keys of a segment's lines and manifest."""
    base = f"{prefix}segment-{segment_id:012d}"
    return base + ".jsonl", base + ".manifest.json"


def manifest(segment: Segment, key: str, data: bytes) -> bytes:
    return canonical(
        {
            "format": MANIFEST_FORMAT,
            "segment": {**segment_content(segment), "hash": segment.hash},
            "object": {"key": key, "bytes": len(data), "sha256": sha256(data)},
            "hash_rule": HASH_RULE,
        }
    )


def check_export(data: bytes, manifest_bytes: bytes) -> Break | None:
    """Check an exported segment on its own, with nothing but the two objects: each line's
    hash, the links between lines, the lines' SHA-256 and the segment hash."""
    info = json.loads(manifest_bytes)
    seg = info["segment"]
    if sha256(data) != seg["lines_sha256"] or sha256(data) != info["object"]["sha256"]:
        return Break(segment_id=seg["id"], what="the lines object does not match the manifest")
    without_hash = {k: v for k, v in seg.items() if k != "hash"}
    if sha256(canonical(without_hash)) != seg["hash"]:
        return Break(segment_id=seg["id"], what="the manifest's segment record is altered")
    prev, expected_id = seg["prev_hash"], seg["first_id"]
    for raw in data.splitlines():
        row = json.loads(raw)
        stored = row.pop("hash")
        if row["id"] != expected_id or row["prev_hash"] != prev:
            return Break(row_id=row["id"], what="does not follow the line before it")
        if sha256(canonical(row)) != stored:
            return Break(row_id=row["id"], what="content does not match its hash")
        prev, expected_id = stored, expected_id + 1
    if prev != seg["last_hash"] or expected_id != seg["last_id"] + 1:
        return Break(segment_id=seg["id"], what="the lines end before the sealed last row")
    return None


def _retention(segment: Segment, now: datetime) -> datetime:
    # Seven years from the upload, and never less than the rows' own retention; rounded up
    # to a whole second, the precision of the S3 header.
    until = max(retained_until(now), segment.retain_until)
    if until.microsecond:
        until = until.replace(microsecond=0) + timedelta(seconds=1)
    return until


def _check_bucket(s3: Any, bucket: str) -> None:
    from botocore.exceptions import ClientError

    try:
        got = s3.get_object_lock_configuration(Bucket=bucket)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ObjectLockConfigurationNotFoundError":
            raise ExportError(
                f"bucket {bucket} has no Object Lock; create it with Object Lock enabled"
            ) from None
        raise ExportError(f"bucket {bucket}: {code or exc}") from None
    if got.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") != "Enabled":
        raise ExportError(f"bucket {bucket} does not have Object Lock enabled")


def _upload(s3: Any, bucket: str, key: str, body: bytes, kind: str, retain: datetime,
            meta: dict[str, str]) -> dict[str, Any]:  # fmt: skip
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        put: dict[str, Any] = s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType=kind,
            ChecksumAlgorithm="SHA256",
            ObjectLockMode=LOCK_MODE,
            ObjectLockRetainUntilDate=retain,
            Metadata=meta,
        )
        # A store that ignored the lock headers must not pass for WORM storage.
        head = s3.head_object(Bucket=bucket, Key=key, VersionId=put["VersionId"])
    except (ClientError, BotoCoreError, KeyError) as exc:
        raise ExportError(f"upload of {key} to {bucket} failed: {exc}") from None
    until = head.get("ObjectLockRetainUntilDate")
    if head.get("ObjectLockMode") != LOCK_MODE or until is None or until < retain:
        raise ExportError(f"{bucket}/{key} was stored without a {LOCK_MODE} lock to {retain}")
    return put


async def _segment_lines(conn: asyncpg.Connection, segment: Segment) -> bytes:
    entries: list[AuditEntry] = [e async for e in store.rows(conn, segment.first_id,
                                                            segment.last_id)]  # fmt: skip
    data = b"".join(line(e) for e in entries)
    if len(entries) != segment.rows or sha256(data) != segment.lines_sha256:
        raise ExportError(
            f"segment {segment.id}: rows {segment.first_id} to {segment.last_id} no longer "
            "match their seal; run `pitboss audit verify`"
        )
    return data


async def export(
    conn: asyncpg.Connection,
    s3: Any,
    *,
    bucket: str,
    prefix: str = "audit/",
    endpoint: str | None = None,
) -> list[Exported]:
    """Upload every sealed segment not yet exported to `bucket` (a boto3 S3 client `s3`),
    under Object Lock, and record each upload. Returns what was uploaded."""
    await asyncio.to_thread(_check_bucket, s3, bucket)
    segments = await store.segments(conn)
    purged = await store.purged(conn)
    done = await store.exported_segments(conn, bucket)
    out = []
    for segment in segments:
        if segment.id in done or segment.id in purged:
            continue
        data = await _segment_lines(conn, segment)
        key, manifest_key = keys(prefix, segment.id)
        retain = _retention(segment, datetime.now(UTC))
        meta = {"segment-id": str(segment.id), "segment-hash": segment.hash,
                "lines-sha256": segment.lines_sha256}  # fmt: skip
        put = await asyncio.to_thread(
            _upload, s3, bucket, key, data, "application/x-ndjson", retain, meta
        )
        put_manifest = await asyncio.to_thread(
            _upload, s3, bucket, manifest_key, manifest(segment, key, data),
            "application/json", retain, meta,
        )  # fmt: skip
        await store.insert_export(
            conn,
            segment_id=segment.id,
            endpoint=endpoint,
            bucket=bucket,
            key=key,
            version_id=put.get("VersionId"),
            etag=put["ETag"],
            manifest_key=manifest_key,
            manifest_version_id=put_manifest.get("VersionId"),
            manifest_etag=put_manifest["ETag"],
            lock_mode=LOCK_MODE,
            retain_until=retain,
        )
        out.append(
            Exported(
                segment_id=segment.id,
                bucket=bucket,
                key=key,
                version_id=put.get("VersionId"),
                etag=put["ETag"],
                manifest_key=manifest_key,
                manifest_version_id=put_manifest.get("VersionId"),
                retain_until=retain,
            )
        )
    return out
