"""The audit chain, pure: canonical JSON, row and segment hashes, RFC 6902 patches, the
walk that names the first broken link, and an exported segment checked on its own."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regapi.audit import chain
from regapi.audit.chain import GENESIS, AuditEntry, CanonicalError, ChainWalk, Segment
from regapi.audit.export import check_export, manifest
from regapi.audit.trail import AuditError, Pending, build

T0 = datetime(2026, 11, 1, 10, 0, 0, 123456, tzinfo=UTC)


# --- canonical JSON ----------------------------------------------------------------------


def test_canonical_json_is_sorted_compact_utf8() -> None:
    value = {"b": [1, 2.5, True, None], "a": {"z": "é☃", "y": -0.0}, "Z": 10**30, "é": ""}
    assert (
        chain.canonical(value)
        == (
            '{"Z":1000000000000000000000000000000,"a":{"y":-0.0,"z":"é☃"},'
            '"b":[1,2.5,true,null],"é":""}'
        ).encode()
    )
    # Floats keep their shortest round-trip form: 1.0 is not 1, and 1e21 stays a float.
    assert chain.canonical([1.0, 1, 1e21, 0.1, 1e-7]) == b"[1.0,1,1e+21,0.1,1e-07]"
    # Control characters are escaped, everything else is UTF-8 as is.
    assert chain.canonical({"k": '\x00\n"\\'}) == b'{"k":"\\u0000\\n\\"\\\\"}'


@pytest.mark.parametrize(
    ("value", "where"),
    [
        (math.nan, "/"),
        ({"a": [1, math.inf]}, "/a/1"),
        ({1: "x"}, "/"),
        ({"a": {1, 2}}, "/a"),
        ({"a": b"x"}, "/a"),
        ({"a/b": {"c~d": datetime(2026, 1, 1)}}, "/a~1b/c~0d"),
        ({"a": "\ud800"}, "/a"),
    ],
)
def test_values_without_a_canonical_form_are_refused(value: object, where: str) -> None:
    with pytest.raises(CanonicalError) as caught:
        chain.canonical(value)
    assert caught.value.path in (where, where.rstrip("/"))


def test_nesting_and_nul_limits() -> None:
    deep: Any = 0
    for _ in range(10):
        deep = [deep]
    chain.check_json(deep, max_depth=10)
    with pytest.raises(CanonicalError, match="nested more than 9 deep"):
        chain.check_json(deep, max_depth=9)
    chain.check_json({"a": "\x00"})
    with pytest.raises(CanonicalError, match="NUL"):
        chain.check_json({"a": "\x00"}, nul=False)
    with pytest.raises(CanonicalError, match="NUL"):
        chain.check_json({"\x00": 1}, nul=False)


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=("Cs",)), max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(st.sampled_from("ab/~0é"), max_size=3), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_JSON)
def test_canonical_json_survives_a_round_trip(value: object) -> None:
    # What the database hands back (the exact text) decodes to the same canonical bytes.
    text = chain.canonical(value)
    assert chain.canonical(json.loads(text)) == text


# --- times -------------------------------------------------------------------------------


def test_times_are_utc_with_microseconds() -> None:
    malta = timezone(timedelta(hours=2))
    assert chain.timestamp(datetime(2026, 7, 1, 12, 0, tzinfo=malta)) == (
        "2026-07-01T10:00:00.000000Z"
    )
    assert chain.timestamp(T0) == "2026-11-01T10:00:00.123456Z"
    with pytest.raises(ValueError, match="timezone"):
        chain.timestamp(datetime(2026, 1, 1))


def test_retention_is_seven_calendar_years_never_short() -> None:
    assert chain.retained_until(T0) == T0.replace(year=2033)
    leap = datetime(2028, 2, 29, 23, 30, tzinfo=UTC)
    assert chain.retained_until(leap) == datetime(2035, 3, 1, 23, 30, tzinfo=UTC)
    local = datetime(2026, 3, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    assert chain.retained_until(local) == datetime(2033, 2, 28, 23, 30, tzinfo=UTC)


# --- rows --------------------------------------------------------------------------------


def make_chain(n: int, start: int = 1, prev: str = GENESIS) -> list[AuditEntry]:
    entries = []
    document: dict[str, Any] | None = None
    for i in range(start, start + n):
        after = {"limit": i * 100, "currency": "EUR"}
        pending = build(
            id=i,
            prev_hash=prev,
            at=T0 + timedelta(seconds=i),
            entity="limit",
            entity_id="deposit-daily",
            action="update" if document else "create",
            actor="ann",
            before=document,
            after=after,
        )
        entries.append(pending.entry)
        prev, document = pending.entry.hash, after
    return entries


def test_a_row_hash_is_sha256_of_its_canonical_content() -> None:
    pending = build(
        id=1,
        prev_hash=GENESIS,
        at=T0,
        entity="bonusRule",
        entity_id="123",
        action="create",
        actor="ann",
        before=None,
        after={"match_pct": 100, "max": 20_000},
    )
    entry = pending.entry
    expected = (
        '{"action":"create","actor":"ann","after":{"match_pct":100,"max":20000},'
        '"at":"2026-11-01T10:00:00.123456Z","before":null,"entity":"bonusRule",'
        '"entity_id":"123","id":1,"patch":[{"op":"add","path":"/match_pct","value":100},'
        '{"op":"add","path":"/max","value":20000}],"prev_hash":"' + GENESIS + '",'
        '"retain_until":"2033-11-01T10:00:00.123456Z","v":1}'
    )
    assert chain.canonical(chain.entry_content(entry)).decode() == expected
    assert entry.hash == hashlib.sha256(expected.encode()).hexdigest()
    # Pinned: a change to the canonical form would orphan every stored hash.
    assert entry.hash == "31649fa591aaa1949b8833f11e0f9445df01b83f2b9557156520fda339607460"
    assert pending.after == '{"match_pct":100,"max":20000}'
    assert pending.before is None


@pytest.mark.parametrize(
    "change",
    [
        {"id": 2},
        {"at": T0 + timedelta(microseconds=1)},
        {"actor": "bob"},
        {"entity": "flag"},
        {"entity_id": "124"},
        {"action": "update"},
        {"before": {}},
        {"after": {"match_pct": 101, "max": 20_000}},
        {"after": {"match_pct": 100.0, "max": 20_000}},
        {"patch": []},
        {"prev_hash": "1" * 64},
        {"retain_until": T0.replace(year=2040)},
    ],
)
def test_every_field_is_covered_by_the_hash(change: dict[str, Any]) -> None:
    entry = build(
        id=1,
        prev_hash=GENESIS,
        at=T0,
        entity="bonusRule",
        entity_id="123",
        action="create",
        actor="ann",
        before=None,
        after={"match_pct": 100, "max": 20_000},
    ).entry
    assert chain.entry_hash(msgspec.structs.replace(entry, **change)) != entry.hash


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"action": "upsert"}, "action must be one of"),
        ({"entity": "bonus-rule"}, "entity 'bonus-rule'"),
        ({"entity_id": ""}, "entity_id must be"),
        ({"entity_id": "x" * 257}, "entity_id must be"),
        ({"actor": ""}, "actor must be"),
        ({"before": {"a": 1}}, "a create has no `before`"),
        ({"after": None}, "a create has no `before`"),
        ({"after": {"a": math.nan}}, "after: /a: not a finite number"),
        ({"after": [1]}, "after must be a JSON object"),
    ],
)
def test_bad_records_are_refused(change: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {
        "id": 1,
        "prev_hash": GENESIS,
        "at": T0,
        "entity": "bonusRule",
        "entity_id": "1",
        "action": "create",
        "actor": "ann",
        "before": None,
        "after": {"a": 1},
    } | change
    with pytest.raises(AuditError, match=message):
        build(**args)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.text(max_size=3), _JSON, max_size=5),
    st.dictionaries(st.text(max_size=3), _JSON, max_size=5),
)
def test_a_patch_rebuilds_its_target_exactly(before: dict[str, Any], after: dict[str, Any]) -> None:
    patch = chain.make_patch(before, after)
    assert chain.canonical(chain.apply_patch(before, patch)) == chain.canonical(after)
    # What the database keeps is the canonical text; it must apply the same way.
    stored = json.loads(chain.canonical(patch))
    assert chain.canonical(chain.apply_patch(before, stored)) == chain.canonical(after)


def test_create_and_delete_patches_start_and_end_at_an_empty_object() -> None:
    assert chain.make_patch(None, {"a": 1}) == [{"op": "add", "path": "/a", "value": 1}]
    assert chain.make_patch({"a": 1}, None) == [{"op": "remove", "path": "/a"}]
    assert chain.make_patch({"a": 1}, {"a": 1}) == []


# --- the walk ----------------------------------------------------------------------------


def walk(entries: list[AuditEntry], start: int = 1, prev: str = GENESIS) -> chain.Break | None:
    w = ChainWalk(start, prev)
    for e in entries:
        broken = w.feed(e)
        if broken is not None:
            return broken
    return None


def test_an_intact_chain_walks_to_the_end() -> None:
    entries = make_chain(5)
    w = ChainWalk()
    assert all(w.feed(e) is None for e in entries)
    assert (w.rows, w.next_id, w.last_hash) == (5, 6, entries[-1].hash)


def test_a_changed_row_is_named() -> None:
    entries = make_chain(5)
    entries[2] = msgspec.structs.replace(entries[2], after={"limit": 999_999, "currency": "EUR"})
    broken = walk(entries)
    assert broken is not None
    assert broken.row_id == 3
    assert "content does not match its hash" in broken.what
    assert str(broken).startswith("row 3: ")


def test_a_rehashed_row_breaks_the_next_link() -> None:
    entries = make_chain(5)
    forged = msgspec.structs.replace(entries[2], actor="mallory")
    entries[2] = msgspec.structs.replace(forged, hash=chain.entry_hash(forged))
    broken = walk(entries)
    assert broken is not None
    assert broken.row_id == 4
    assert "prev_hash" in broken.what


def test_missing_rows_are_named() -> None:
    entries = make_chain(6)
    broken = walk(entries[:2] + entries[4:])
    assert broken is not None
    assert (broken.row_id, broken.what) == (5, "rows 3 to 4 are missing (the log jumps to row 5)")
    broken = walk(entries[1:])
    assert broken is not None
    assert broken.what.startswith("row 1 is missing")
    # Anchored after a purge, the walk starts where the purged segment ended.
    assert walk(entries[3:], start=4, prev=entries[2].hash) is None


# --- segments and exports ---------------------------------------------------------------


def seal(entries: list[AuditEntry], prev: Segment | None = None) -> tuple[Segment, bytes]:
    data = b"".join(chain.line(e) for e in entries)
    segment = Segment(
        id=prev.id + 1 if prev else 1,
        first_id=entries[0].id,
        last_id=entries[-1].id,
        rows=len(entries),
        prev_hash=entries[0].prev_hash,
        first_hash=entries[0].hash,
        last_hash=entries[-1].hash,
        lines_sha256=hashlib.sha256(data).hexdigest(),
        prev_segment_hash=prev.hash if prev else GENESIS,
        hash="",
        sealed_at=T0,
        sealed_by="ops",
        retain_until=max(e.retain_until for e in entries),
    )
    return msgspec.structs.replace(segment, hash=chain.segment_hash(segment)), data


def test_segments_chain_and_check_their_lines() -> None:
    entries = make_chain(6)
    first, _ = seal(entries[:3])
    second, _ = seal(entries[3:], first)
    assert chain.check_segment(first, chain.lines_sha256(entries[:3]), None) is None
    assert chain.check_segment(second, chain.lines_sha256(entries[3:]), first) is None
    assert chain.check_segment(second, None, first) is None  # purged rows: the record only
    broken = chain.check_segment(second, chain.lines_sha256(entries[2:]), first)
    assert broken is not None
    assert "no longer match the sealed lines" in broken.what
    assert chain.check_segment(second, None, None) is not None
    altered = msgspec.structs.replace(second, sealed_by="mallory")
    broken = chain.check_segment(altered, None, first)
    assert broken is not None
    assert broken.what == "its record does not match its hash"


def test_an_exported_segment_checks_on_its_own() -> None:
    entries = make_chain(4)
    segment, data = seal(entries)
    man = manifest(segment, "audit/segment-000000000001.jsonl", data)
    assert check_export(data, man) is None
    lines = data.splitlines(keepends=True)
    row = json.loads(lines[1])
    row["actor"] = "mallory"
    forged = b"".join([lines[0], json.dumps(row).encode() + b"\n", *lines[2:]])
    broken = check_export(forged, man)
    assert broken is not None
    assert "does not match the manifest" in broken.what
    info = json.loads(man)
    info["segment"]["lines_sha256"] = info["object"]["sha256"] = hashlib.sha256(forged).hexdigest()
    broken = check_export(forged, json.dumps(info).encode())
    assert broken is not None
    assert broken.what == "the manifest's segment record is altered"


def test_pending_rows_carry_the_texts_the_database_stores() -> None:
    pending = build(
        id=1,
        prev_hash=GENESIS,
        at=T0,
        entity="game",
        entity_id="g",
        action="create",
        actor="a",
        before=None,
        after={"b": 1.0, "a": "é"},
    )
    assert isinstance(pending, Pending)
    assert pending.after == '{"a":"é","b":1.0}'
    assert pending.patch == chain.canonical_text(pending.entry.patch)
