"""The generator: deterministic by seed, time-ordered, the same however it is chunked,
valid under the event contract, with every typology labelled."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from engine.events import EVENT_TYPES, EventError, decode_event
from simulator.generate import contract_events, simulate
from simulator.render import LABEL_COLUMNS, SCHEMA
from simulator.vocab import TRAITS, TYPOLOGIES
from tests.simulator.simulated import TINY, events, players, scenario

# Contract field names of the Parquet columns (the frame's are codes with other names).
_COMMON = {"event_id", "type", "player_id", "ts", "market", "session_id", "device_id", "ip"}
_COMMON |= {"asn", "ip_country"}


def test_schema_is_the_contract_plus_the_label() -> None:
    contract = set().union(*(cls.__struct_fields__ for cls in EVENT_TYPES.values()))
    assert set(SCHEMA.names) == contract | {"type", *LABEL_COLUMNS}


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    first = events()
    again = pa.Table.from_batches(list(simulate(scenario(TINY))))
    assert again.equals(first)
    other = events(seed=12345)
    assert not other.equals(first)


def test_events_are_sorted_by_time_across_batches() -> None:
    batches = list(simulate(scenario(TINY)))
    assert len(batches) > 1
    ts = np.concatenate([b.column("ts").to_numpy() for b in batches])
    assert np.all(np.diff(ts) >= 0)


def test_many_small_chunks_give_the_same_rows_as_one(tmp_path: Path) -> None:
    scn = scenario(TINY)
    one = pa.Table.from_batches(list(simulate(scn, chunk_players=10_000)))
    spilled = list(simulate(scn, chunk_players=200, spill_dir=tmp_path))
    assert pa.Table.from_batches(spilled).equals(one)
    assert [b.num_rows for b in spilled] == [b.num_rows for b in one.to_batches()]
    assert list(tmp_path.iterdir()) == []  # the sorted runs are removed


# Python 3.12 warns when forking a process that has threads (Arrow's pool); the workers
# only generate and write their runs, which is safe.
@pytest.mark.filterwarnings("ignore:.*multi-threaded.*:DeprecationWarning")
def test_worker_processes_give_the_same_rows() -> None:
    scn = scenario(TINY)
    alone = pa.Table.from_batches(list(simulate(scn, chunk_players=200)))
    shared = pa.Table.from_batches(list(simulate(scn, chunk_players=200, workers=2)))
    assert shared.equals(alone)


def test_event_ids_are_unique_and_references_resolve() -> None:
    table = events()
    ids = table.column("event_id")
    assert pc.count_distinct(ids).as_py() == table.num_rows
    refs = pc.drop_null(table.column("ref_event_id"))
    assert len(refs) > 0
    assert pc.all(pc.is_in(refs, value_set=ids)).as_py()


def test_each_type_carries_only_its_own_fields() -> None:
    table = events()
    types = table.column("type").to_pylist()
    kinds = np.array(types, dtype=object)
    for name in SCHEMA.names:
        if name in _COMMON or name in LABEL_COLUMNS:
            continue
        present = ~np.asarray(table.column(name).is_null().to_numpy(zero_copy_only=False))
        for kind in set(kinds[present]):
            assert name in EVENT_TYPES[kind].__struct_fields__, (kind, name)


def _json(row: dict[str, object]) -> bytes:
    body = {k: v for k, v in row.items() if v is not None and k not in LABEL_COLUMNS}
    if isinstance(body.get("dob"), date):
        body["dob"] = body["dob"].isoformat()  # type: ignore[union-attr]
    return msgspec.json.encode(body)


def test_every_sampled_event_decodes_under_the_contract() -> None:
    table = events()
    rows = table.take(np.arange(0, table.num_rows, 11)).to_pylist()
    # ...and every row of the rarer types.
    rare = table.filter(pc.invert(pc.is_in(table.column("type"), pa.array(["bet", "win"]))))
    for row in [*rows, *rare.to_pylist()]:
        try:
            decode_event(_json(row))
        except EventError as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"{row['event_id']} ({row['type']}): {exc}")


def test_every_typology_is_present_and_labelled_per_player_and_event() -> None:
    table = events("small")
    people = players("small")
    label = table.column("label_typology")
    for name in TYPOLOGIES:
        who = people.filter(pc.equal(people.column("typology"), name))
        assert who.num_rows > 0, name
        assert pc.sum(pc.equal(label, name)).as_py() > 0, name
    # A labelled event belongs to a player of that typology.
    labelled = table.filter(pc.is_valid(label))
    typology = dict(
        zip(
            people.column("player_id").to_pylist(),
            people.column("typology").to_pylist(),
            strict=True,
        )
    )
    pairs = set(
        zip(
            labelled.column("player_id").to_pylist(),
            labelled.column("label_typology").to_pylist(),
            strict=True,
        )
    )
    assert all(typology[p] == t for p, t in pairs)


def test_farms_and_rings_are_groups_and_honest_players_look_suspicious_too() -> None:
    people = players("small")
    for name in ("multi_accounting", "collusion"):
        grouped = people.filter(pc.equal(people.column("typology"), name))
        sizes = pc.value_counts(grouped.column("group_id")).field("counts").to_pylist()
        assert min(sizes) >= 2, name
    traits = pc.drop_null(people.column("traits")).to_pylist()
    seen = {t for text in traits for t in text.split(",")}
    assert {"household", "traveller", "expat"} <= seen <= set(TRAITS)


def test_rings_bet_on_the_same_round_within_seconds() -> None:
    table = events("small")
    ring = table.filter(
        pc.and_(
            pc.equal(table.column("label_typology"), "collusion"),
            pc.equal(table.column("type"), "bet"),
        )
    )
    rounds: dict[str, list[int]] = {}
    for r, ts in zip(
        ring.column("round_id").to_pylist(), ring.column("ts").to_pylist(), strict=True
    ):
        rounds.setdefault(r, []).append(ts)
    together = [max(t) - min(t) for t in rounds.values() if len(t) >= 2]
    assert together
    assert max(together) < 15_000


def test_amounts_are_positive_minor_units_in_the_players_currency() -> None:
    table = events()
    amount = pc.drop_null(table.column("amount"))
    assert pc.min(amount).as_py() >= 1
    money = table.filter(pc.is_valid(table.column("amount")))
    assert money.column("currency").null_count == 0
    uk = money.filter(pc.equal(money.column("market"), "UKGC"))
    assert set(uk.column("currency").to_pylist()) == {"GBP"}


def test_contract_events_are_what_the_service_accepts() -> None:
    made = list(contract_events(scenario(TINY)))
    assert len(made) == events().num_rows
    for e in made[:5_000]:
        assert "label_typology" not in e
        decode_event(msgspec.json.encode(e))  # raises on anything outside the contract
