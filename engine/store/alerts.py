"""Alerts in PostgreSQL: dedup on write, queue, labels and rule quality."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg
import msgspec

from engine.alerts import AlertCandidate

# One statement per candidate: repeat the open alert of the same subject and family whose
# last hit is within the window, or open a new one. The ingest writer is the only writer
# of new alerts, so there is no race between the look-up and the insert.
_RAISE = """
WITH found AS (
    SELECT id FROM alerts
    WHERE state = 'open' AND subject_kind = $1 AND subject_id = $2 AND family = $3
      AND label IS NULL  -- an alert its case has judged takes no new hits
      AND last_seen >= $9::timestamptz - $15::interval
    ORDER BY last_seen DESC
    LIMIT 1
), repeated AS (
    UPDATE alerts a SET
        repeats = a.repeats + $12,
        rules = ARRAY(SELECT DISTINCT r FROM unnest(a.rules || $5::text[]) AS r ORDER BY r),
        severity = CASE WHEN $7 < a.priority THEN $6 ELSE a.severity END,
        priority = least(a.priority, $7),
        score = greatest(a.score, $8),
        last_seen = greatest(a.last_seen, $10),
        last_event = $11,
        player_id = $4,
        evidence = $13::jsonb,
        updated_at = now()
    FROM found WHERE a.id = found.id AND a.state = 'open' AND a.label IS NULL
    RETURNING a.id
)
INSERT INTO alerts (subject_kind, subject_id, player_id, family, rules, severity, priority,
                    score, first_seen, last_seen, first_event, last_event, evidence, repeats)
SELECT $1, $2, $4, $3, $5, $6, $7, $8, $9, $10, $14, $11, $13::jsonb, $12
WHERE NOT EXISTS (SELECT 1 FROM repeated)
"""

_ENCODER = msgspec.json.Encoder()


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


async def raise_alerts(
    conn: asyncpg.Connection, candidates: Sequence[AlertCandidate], window_s: int
) -> None:
    """Record a group commit's alert candidates (already merged per subject and family)."""
    if not candidates:
        return
    window = timedelta(seconds=window_s)
    await conn.executemany(
        _RAISE,
        [
            (
                c.subject_kind,
                c.subject_id,
                c.family,
                c.player_id,
                c.rules,
                c.severity,
                c.priority,
                c.score,
                _time(c.first_ts_ms),
                _time(c.ts_ms),
                c.event_id,
                c.repeats,
                _ENCODER.encode(c.evidence).decode(),
                c.first_event,
                window,
            )
            for c in candidates
        ],
    )


async def open_count(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM alerts WHERE state = 'open'"))
