"""Simulated events through the real encoder of the standard pack, in bulk and one by one."""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path

import msgspec
import numpy as np
import pyarrow.compute as pc

from engine.events import decode_event
from engine.fx import RateTable
from engine.layout import EVENT_CODES, MARKET_CODES
from engine.runtime import BatchEngine, CompiledPack, load_pack
from simulator.columns import engine_columns
from simulator.render import LABEL_COLUMNS
from tests.simulator.simulated import events

POLICIES = Path(__file__).resolve().parents[2] / "policies"


@cache
def _pack() -> CompiledPack:
    return load_pack([POLICIES])


def test_bulk_encoding_matches_the_event_by_event_encoder() -> None:
    table = events()
    engine = BatchEngine(_pack())
    encoder = engine.encoder
    ints, floats = encoder.encode_columns(engine_columns(table))
    assert ints.shape[0] == table.num_rows
    types = table.column("type").to_pylist()
    assert ints[:, 0].tolist() == [EVENT_CODES[t] for t in types]
    assert ints[:, 1].tolist() == [MARKET_CODES[m] for m in table.column("market").to_pylist()]
    # The same encoder, row by row, from the decoded events: same ids, same numbers.
    rows = np.r_[np.arange(0, table.num_rows, 97), np.flatnonzero(~np.isin(types, ["bet", "win"]))]
    sample = table.take(rows).to_pylist()
    decoded = []
    for row in sample:
        body = {k: v for k, v in row.items() if v is not None and k not in LABEL_COLUMNS}
        if isinstance(body.get("dob"), date):
            body["dob"] = body["dob"].isoformat()
        decoded.append(decode_event(msgspec.json.encode(body)))
    single_ints, single_floats = encoder.encode(decoded)
    np.testing.assert_array_equal(single_ints, ints[rows])
    np.testing.assert_array_equal(single_floats, floats[rows])
    result = engine.run_encoded(ints, floats)
    assert len(result.actions) == table.num_rows


def test_amounts_are_in_the_markets_base_currency_at_the_events_time() -> None:
    table = events()
    cols = engine_columns(table)
    fx = RateTable.default()
    foreign = table.filter(
        pc.and_(
            pc.equal(table.column("market"), "CW"), pc.not_equal(table.column("currency"), "USD")
        )
    )
    assert foreign.num_rows > 0
    row = foreign.slice(0, 1).to_pylist()[0]
    index = table.column("event_id").to_pylist().index(row["event_id"])
    expected = fx.convert_minor(row["amount"], row["currency"], "USD", row["ts"])
    assert cols["amount"][index] == expected
    login = table.column("type").to_pylist().index("login")
    assert np.isnan(cols["amount"][login])
