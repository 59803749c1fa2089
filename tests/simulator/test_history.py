"""Reading a user's history: rows checked against the event contract, bad rows reported
with their row and field, good rows sorted by time and turned into the engine's columns."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.fx import RateTable
from engine.layout import EVENT_CODES
from simulator.columns import engine_columns
from simulator.history import BadRow, labels_of, load_history, read_table

D0 = 1_767_571_200_000  # 2026-01-05T00:00:00Z
HOUR = 3_600_000
# Reference rates in force on 2026-01-05 (engine/data/fx_rates.csv, from 2025-07-01).
GBP_PER_EUR, JPY_PER_EUR, USD_PER_EUR = 0.8555, 169.17, 1.172

HEADER = "type,event_id,player_id,ts,market,amount,currency,method,label_typology"


def write(tmp_path: Path, *rows: str, header: str = HEADER, name: str = "history.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_good_rows_are_sorted_by_time_stably_with_their_labels(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "deposit,e1,p1,2026-01-05T10:00:00Z,MGA,150000,EUR,card,structuring",
        "login,e2,p2,2026-01-05T09:00:00Z,MGA,,,,",
        "deposit,e3,p2,2026-01-05T09:00:00Z,MGA,5000,GBP,card,mule",
        f"withdrawal,e4,p1,{D0},MGA,2000,EUR,ewallet,",
        # 11:00 in UTC+2 is 09:00Z: the same time as e2 and e3, and after them in the file.
        "bet,e5,p3,2026-01-05T11:00:00+02:00,UKGC,100,GBP,,",
    )
    loaded = load_history(path)
    assert loaded.bad == 0
    assert loaded.samples == []
    events = loaded.events
    assert events.column("event_id").to_pylist() == ["e4", "e2", "e3", "e5", "e1"]
    assert events.column("ts").to_pylist() == [
        D0,
        D0 + 9 * HOUR,
        D0 + 9 * HOUR,
        D0 + 9 * HOUR,
        D0 + 10 * HOUR,
    ]
    assert events.column("type").to_pylist() == ["withdrawal", "login", "deposit", "bet", "deposit"]
    assert events.column("amount").to_pylist() == [2000, None, 5000, 100, 150000]
    assert events.column("currency").to_pylist() == ["EUR", None, "GBP", "GBP", "EUR"]
    assert events.column("method").to_pylist() == ["ewallet", None, "card", None, "card"]
    assert events.column("market").to_pylist() == ["MGA", "MGA", "MGA", "UKGC", "MGA"]
    assert loaded.labels is not None
    assert loaded.labels.to_pylist() == [None, None, "mule", None, "structuring"]
    assert "label_typology" not in events.column_names


def test_a_history_without_labels(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "deposit,e1,p1,2026-01-05T10:00:00Z,MGA,150000,EUR,card",
        header="type,event_id,player_id,ts,market,amount,currency,method",
    )
    loaded = load_history(path)
    assert loaded.labels is None
    assert loaded.events.num_rows == 1


# Each bad row: its cells, the field named and a piece of the reason.
T = "2026-01-05T10:00:00Z"
BAD_ROWS = [
    (f"teleport,b2,p1,{T},MGA,100,EUR,card,", "type", "unknown event type 'teleport'"),
    (f"deposit,b4,,{T},MGA,100,EUR,card,", "player_id", "missing required field `player_id`"),
    (f"deposit,b5,p1,{T},MGA,-5,EUR,card,", "amount", "Expected `int` >= 0"),
    (f"deposit,b7,p1,{T},MGA,100,ABC,card,", "currency", "'ABC' is not an ISO 4217 currency code"),
    ("deposit,b8,p1,yesterday,MGA,100,EUR,card,", "ts", "RFC3339"),
    ("deposit,b9,p1,2026-01-05T10:00:00,MGA,100,EUR,card,", "ts", "timezone"),
    (f"deposit,b10,p1,{T},XX,100,EUR,card,", "market", "'XX' is not a known market"),
    (f"deposit,b12,p1,{T},MGA,12.5,EUR,card,", "amount", "Expected `int`, got `float`"),
]


def test_bad_rows_are_reported_with_row_and_field_and_counted(tmp_path: Path) -> None:
    good = {
        1: "deposit,g1,p1,2026-01-05T12:00:00Z,MGA,100,EUR,card,structuring",
        3: "login,g3,p2,2026-01-05T08:00:00Z,MGA,,,,mule",
        6: "deposit,g6,p3,2026-01-05T10:30:00Z,MGA,100,EUR,card,",
        11: "deposit,g11,p4,2026-01-05T09:00:00Z,MGA,100,EUR,card,smurfing",
    }
    bad_at = [2, 4, 5, 7, 8, 9, 10, 12]
    rows = dict(good) | {at: cells for at, (cells, _, _) in zip(bad_at, BAD_ROWS, strict=True)}
    loaded = load_history(write(tmp_path, *(rows[k] for k in sorted(rows))))

    assert loaded.bad == len(BAD_ROWS)
    assert loaded.bad + loaded.events.num_rows == len(rows)  # none dropped silently
    assert [s.row for s in loaded.samples] == bad_at
    for sample, (_, field, reason) in zip(loaded.samples, BAD_ROWS, strict=True):
        assert isinstance(sample, BadRow)
        assert sample.field == field, sample
        assert reason in sample.reason, sample
    # The good rows, by time, each still with its own label.
    assert loaded.events.column("event_id").to_pylist() == ["g3", "g11", "g6", "g1"]
    assert loaded.labels is not None
    assert loaded.labels.to_pylist() == ["mule", "smurfing", None, "structuring"]


def test_unknown_column_fails_the_rows_that_fill_it(tmp_path: Path) -> None:
    """A column outside the contract is checked like the API checks a field: a row that
    leaves it empty is fine, a row with a value in it is rejected naming the column."""
    header = "type,event_id,player_id,ts,market,amount,currency,colour"
    loaded = load_history(
        write(
            tmp_path,
            "deposit,e1,p1,2026-01-05T10:00:00Z,MGA,100,EUR,",
            "deposit,e2,p1,2026-01-05T11:00:00Z,MGA,100,EUR,red",
            "deposit,e3,p1,2026-01-05T12:00:00Z,MGA,100,EUR,",
            header=header,
        )
    )
    assert loaded.bad == 1
    assert loaded.samples == [BadRow(2, "colour", "Object contains unknown field `colour`")]
    assert loaded.events.column("event_id").to_pylist() == ["e1", "e3"]
    assert "colour" not in loaded.events.column_names


def test_samples_are_capped_but_every_bad_row_is_counted(tmp_path: Path) -> None:
    rows = [f"deposit,e{k},p1,2026-01-05T10:00:00Z,MGA,-1,EUR,card," for k in range(60)]
    rows.append("deposit,ok,p1,2026-01-05T10:00:00Z,MGA,1,EUR,card,")
    loaded = load_history(write(tmp_path, *rows))
    assert loaded.bad == 60
    assert len(loaded.samples) == 50
    assert [s.row for s in loaded.samples] == list(range(1, 51))
    assert loaded.events.num_rows == 1


def test_every_row_bad_leaves_an_empty_history(tmp_path: Path) -> None:
    loaded = load_history(write(tmp_path, "deposit,e1,p1,yesterday,MGA,1,EUR,card,"))
    assert loaded.bad == 1
    assert loaded.events.num_rows == 0
    assert loaded.labels is not None
    assert len(loaded.labels) == 0


def test_csv_cells_are_typed_like_json(tmp_path: Path) -> None:
    """Numbers, booleans and dates in a CSV reach the decoder as JSON would carry them;
    the table holds them as the simulator writes them (a date of birth as a date)."""
    header = "type,event_id,player_id,ts,market,kyc_level,dob,doc_match,doc_country"
    loaded = load_history(
        write(
            tmp_path,
            "kyc_update,k1,p1,2026-01-05T10:00:00Z,MGA,2,1990-01-02,true,MT",
            "kyc_update,k2,p2,2026-01-05T11:00:00Z,MGA,3,2000-02-29,false,DE",
            header=header,
        )
    )
    assert loaded.bad == 0, loaded.samples
    rows = loaded.events.to_pylist()
    assert rows[0]["dob"] == date(1990, 1, 2)
    assert rows[1]["dob"] == date(2000, 2, 29)
    # 1970-01-01 to 1990-01-01 is 20 years with 5 leap days: 7305 days.
    cols = engine_columns(loaded.events)
    assert cols["dob"].tolist() == [7306 * 86_400_000, (30 * 365 + 7 + 59) * 86_400_000]
    assert [r["kyc_level"] for r in rows] == [2, 3]
    assert [r["doc_match"] for r in rows] == [True, False]
    assert [r["doc_country"] for r in rows] == ["MT", "DE"]


def test_limit_until_becomes_epoch_ms(tmp_path: Path) -> None:
    header = "type,event_id,player_id,ts,market,limit_kind,value,until"
    loaded = load_history(
        write(
            tmp_path,
            "limit_change,l1,p1,2026-01-05T10:00:00Z,MGA,deposit,5000,2026-01-06T00:00:00+01:00",
            header=header,
        )
    )
    assert loaded.bad == 0, loaded.samples
    (row,) = loaded.events.to_pylist()
    assert row["until"] == D0 + 23 * HOUR
    assert row["value"] == 5000


def test_parquet_history(tmp_path: Path) -> None:
    table = pa.table(
        {
            "type": ["deposit", "deposit", "login", "deposit"],
            "event_id": ["e1", "e2", "e3", "e4"],
            "player_id": ["p1", "p2", "p1", "p2"],
            "ts": pa.array(
                [
                    datetime(2026, 1, 5, 12, tzinfo=UTC),
                    datetime(2026, 1, 5, 10, tzinfo=UTC),
                    datetime(2026, 1, 5, 11, tzinfo=UTC),
                    datetime(2026, 1, 5, 9, tzinfo=UTC),
                ],
                pa.timestamp("ms", tz="UTC"),
            ),
            "market": ["MGA", "MGA", "MGA", "MGA"],
            "amount": pa.array([100, -1, None, 300], pa.int64()),
            "currency": ["EUR", "EUR", None, "GBP"],
            "label_typology": ["mule", "mule", None, "structuring"],
        }
    )
    path = tmp_path / "history.parquet"
    pq.write_table(table, path)
    loaded = load_history(path)
    assert loaded.bad == 1
    assert [(s.row, s.field) for s in loaded.samples] == [(2, "amount")]
    assert loaded.events.column("event_id").to_pylist() == ["e4", "e3", "e1"]
    assert loaded.events.column("ts").to_pylist() == [D0 + 9 * HOUR, D0 + 11 * HOUR, D0 + 12 * HOUR]
    assert loaded.events.column("amount").to_pylist() == [300, None, 100]
    assert loaded.labels is not None
    assert loaded.labels.to_pylist() == ["structuring", None, "mule"]


def test_other_file_kinds_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text("{}\n")
    with pytest.raises(ValueError, match=r"history.jsonl: a history is a \.csv or \.parquet file"):
        read_table(path)


def test_csv_cells_are_read_as_text(tmp_path: Path) -> None:
    path = write(tmp_path, "deposit,e1,p1,1767571200000,MGA,100,EUR,card,")
    table = read_table(path)
    assert all(pa.types.is_string(t) for t in table.schema.types)
    assert table.column("label_typology").to_pylist() == [None]


def test_columns_do_not_depend_on_the_first_row(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "login,e1,p1,2026-01-05T08:00:00Z,MGA,,,,",
        "deposit,e2,p1,2026-01-05T09:00:00Z,MGA,5000,EUR,card,",
    )
    loaded = load_history(path)
    assert loaded.bad == 0
    assert loaded.events.column("amount").to_pylist() == [None, 5000]
    assert loaded.events.column("method").to_pylist() == [None, "card"]


def test_numeric_ids_in_csv_are_ids(tmp_path: Path) -> None:
    header = "type,event_id,player_id,ts,market,amount,currency,device_id"
    loaded = load_history(
        write(tmp_path, "deposit,1001,12345,2026-01-05T09:00:00Z,MGA,5000,EUR,777", header=header)
    )
    assert loaded.samples == []
    assert loaded.events.column("player_id").to_pylist() == ["12345"]


def test_namibia_is_not_a_missing_value(tmp_path: Path) -> None:
    header = "type,event_id,player_id,ts,market,amount,currency,card_country"
    loaded = load_history(
        write(tmp_path, "deposit,e1,p1,2026-01-05T09:00:00Z,MGA,5000,EUR,NA", header=header)
    )
    assert loaded.events.column("card_country").to_pylist() == ["NA"]


# --- engine columns -------------------------------------------------------------------------


def test_engine_columns_convert_amounts_to_the_market_currency() -> None:
    ts = D0 + 10 * HOUR
    events = pa.table(
        {
            "type": ["deposit", "deposit", "login", "deposit", "bet", "deposit", "kyc_update"],
            "event_id": [f"e{k}" for k in range(7)],
            "player_id": ["p1"] * 7,
            "ts": pa.array([ts] * 7, pa.int64()),
            "market": ["MGA", "MGA", "MGA", "UKGC", "UKGC", "CW", "MGA"],
            "amount": pa.array([10_000, 5_000, None, 2_000, 100, 1_000, None], pa.int64()),
            "currency": ["GBP", "EUR", None, "GBP", "JPY", "EUR", None],
            "dob": pa.array([None] * 6 + [date(1990, 1, 2)], pa.date32()),
            "until": pa.array([D0 + 24 * HOUR] + [None] * 6, pa.int64()),
            "doc_match": pa.array([None] * 6 + [True], pa.bool_()),
            "asn": pa.array([64500] + [None] * 6, pa.int64()),
            "label_typology": ["mule"] * 7,
        }
    )
    fx = RateTable.default()
    cols = engine_columns(events, fx)
    assert "currency" not in cols
    assert "label_typology" not in cols
    assert cols["ts"].dtype == np.int64
    assert cols["ts"].tolist() == [ts] * 7
    amount = cols["amount"]
    # 100 GBP in EUR cents; 1 JPY (no minor unit) in pence; 10 EUR in US cents.
    expected = [
        round(10_000 / GBP_PER_EUR),  # 11689.06…
        5_000,
        np.nan,
        2_000,
        round(100 * GBP_PER_EUR / JPY_PER_EUR * 100),  # 50.57…
        round(1_000 * USD_PER_EUR),
        np.nan,
    ]
    np.testing.assert_array_equal(amount, np.array(expected, dtype=np.float64))
    assert amount[0] == 11_689
    assert amount[0] == fx.convert_minor(10_000, "GBP", "EUR", ts)
    # Dates at UTC midnight and times as epoch ms; booleans as 0/1 with NaN for missing.
    np.testing.assert_array_equal(cols["dob"], [np.nan] * 6 + [7306 * 86_400_000])
    np.testing.assert_array_equal(cols["until"], [D0 + 24 * HOUR] + [np.nan] * 6)
    np.testing.assert_array_equal(cols["doc_match"], [np.nan] * 6 + [1.0])
    assert cols["asn"][0] == 64500
    assert cols["type"].tolist() == [EVENT_CODES[t] for t in events.column("type").to_pylist()]


def test_engine_columns_without_amounts() -> None:
    events = pa.table(
        {
            "type": ["login"],
            "event_id": ["e1"],
            "player_id": ["p1"],
            "ts": pa.array([D0], pa.int64()),
            "market": ["MGA"],
        }
    )
    cols = engine_columns(events, RateTable.default())
    assert "amount" not in cols
    assert cols["ts"].tolist() == [D0]


def test_labels_of() -> None:
    assert labels_of(pa.table({"ts": [1]})) is None
    labels = labels_of(pa.table({"ts": [1, 2], "label_typology": ["mule", None]}))
    assert labels is not None
    assert labels.to_pylist() == ["mule", ""]
