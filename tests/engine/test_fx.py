"""FX conversion: step functions of time, cross rates, minor units, rounding, errors."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from engine.fx import PIVOT, FxError, RateTable

DAY = 86_400_000
JAN_2024 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
JUL_2024 = 1_719_792_000_000  # 2024-07-01T00:00:00Z


@pytest.fixture
def table() -> RateTable:
    return RateTable.from_rows(
        [
            ("2024-01-01", "GBP", 0.8),
            ("2024-07-01", "GBP", 0.9),
            ("2024-01-01", "USD", 1.25),
            # Out of order on purpose: rows need not be sorted.
            ("2024-07-01", "USD", 1.5),
            (date(2024, 1, 1), "JPY", 160.0),
            (JAN_2024, "KWD", 0.4),
            ("2024-01-01", "CHF", 1.0),
        ]
    )


# -- the step function ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at_ms", "expected"),
    [
        (JAN_2024, 0.8),  # in force from its first millisecond
        (JAN_2024 + DAY, 0.8),
        (JUL_2024 - 1, 0.8),  # the last millisecond before the next rate
        (JUL_2024, 0.9),
        (JUL_2024 + 365 * DAY, 0.9),  # the last rate stays in force
    ],
)
def test_rate_in_force_is_the_last_effective_one(
    table: RateTable, at_ms: int, expected: float
) -> None:
    assert table.rate("EUR", "GBP", at_ms) == expected


def test_cross_rates_go_through_the_pivot(table: RateTable) -> None:
    assert table.rate("GBP", "USD", JAN_2024) == pytest.approx(1.25 / 0.8)
    assert table.rate("USD", "GBP", JUL_2024) == pytest.approx(0.9 / 1.5)
    assert table.rate("GBP", "EUR", JAN_2024) == pytest.approx(1.25)
    assert table.rate("GBP", "GBP", JAN_2024) == 1.0


def test_the_pivot_needs_no_rows(table: RateTable) -> None:
    assert table.rate(PIVOT, PIVOT, 0) == 1.0
    assert PIVOT in table.currencies


# -- converting minor units -------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "from_cur", "to_cur", "expected"),
    [
        (10_000, "EUR", "GBP", 8_000),  # 100.00 EUR -> 80.00 GBP
        (8_000, "GBP", "EUR", 10_000),
        (10_000, "GBP", "USD", 15_625),  # cross rate 1.5625
        (10_000, "EUR", "JPY", 16_000),  # 100.00 EUR -> 16,000 JPY (no minor unit)
        (16_000, "JPY", "EUR", 10_000),
        (1, "JPY", "EUR", 1),  # 0.625 cent rounds to 1
        (10_000, "EUR", "KWD", 40_000),  # 100.00 EUR -> 40.000 KWD (three places)
        (40_000, "KWD", "JPY", 16_000),
        (0, "EUR", "GBP", 0),
        (-10_000, "EUR", "GBP", -8_000),
    ],
)
def test_convert_minor(
    table: RateTable, amount: int, from_cur: str, to_cur: str, expected: int
) -> None:
    assert table.convert_minor(amount, from_cur, to_cur, JAN_2024) == expected


@pytest.mark.parametrize(
    ("amount", "expected"),
    [(1, 0), (3, 2), (5, 2), (7, 4), (-1, 0), (-3, -2)],
)
def test_convert_minor_rounds_half_to_even(amount: int, expected: int) -> None:
    # At 0.5 every odd amount lands exactly on .5, which float arithmetic holds exactly.
    half = RateTable.from_rows([("2024-01-01", "GBP", 0.5)])
    assert half.convert_minor(amount, "EUR", "GBP", JAN_2024) == expected


@pytest.mark.parametrize(("amount", "expected"), [(50, 0), (150, 2), (250, 2), (350, 4)])
def test_rounding_to_a_currency_without_minor_units(amount: int, expected: int) -> None:
    # 0.50 EUR is half a yen at one yen per euro.
    one_yen = RateTable.from_rows([("2024-01-01", "JPY", 1.0)])
    assert one_yen.convert_minor(amount, "EUR", "JPY", JAN_2024) == expected


def test_same_currency_is_unchanged(table: RateTable) -> None:
    # Even where the table has no rate: nothing to convert.
    assert table.convert_minor(12_345, "SEK", "SEK", 0) == 12_345
    assert table.convert_minor(12_345, "GBP", "GBP", 0) == 12_345


def test_too_large_a_result_is_an_error(table: RateTable) -> None:
    with pytest.raises(FxError, match="64-bit"):
        table.convert_minor(2**62, "EUR", "KWD", JAN_2024)


# -- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("from_cur", "to_cur", "at_ms", "match"),
    [
        ("GBP", "EUR", JAN_2024 - 1, r"no FX rate for GBP at 2023-12-31T23:59:59\.999Z: its "),
        ("EUR", "USD", 0, r"first rate takes effect at 2024-01-01T00:00:00Z"),
        ("SEK", "EUR", JAN_2024, r"no FX rate for 'SEK': the table has none for it"),
        ("EUR", "SEK", JAN_2024, r"'SEK'"),
    ],
)
def test_no_rate_is_an_fx_error(
    table: RateTable, from_cur: str, to_cur: str, at_ms: int, match: str
) -> None:
    with pytest.raises(FxError, match=match):
        table.convert_minor(100, from_cur, to_cur, at_ms)
    with pytest.raises(FxError, match=match):
        table.convert_minor_many(
            np.array([100], dtype=np.int64), [from_cur], to_cur, np.array([at_ms], np.int64)
        )


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ([("2024-01-01", "XYZ", 1.0)], r"'XYZ' is not an ISO 4217"),
        ([("2024-01-01", "GBP", 0.0)], r"GBP rate at 2024-01-01T00:00:00Z is 0.0"),
        ([("2024-01-01", "GBP", float("nan"))], r"is nan"),
        ([("2024-01-01", "GBP", 0.8), ("2024-01-01", "GBP", 0.9)], r"two GBP rates"),
        ([("2024-01-01", "EUR", 1.1)], r"pivot; its rate must be 1"),
    ],
)
def test_bad_rows_are_rejected(rows: list[tuple[str, str, float]], match: str) -> None:
    with pytest.raises(FxError, match=match):
        RateTable.from_rows(rows)


# -- loading ----------------------------------------------------------------------------


def test_from_csv_skips_comments_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "rates.csv"
    path.write_text(
        "# a comment before the header\n"
        "date,currency,per_eur\n"
        "\n"
        "2024-01-01,GBP,0.8\n"
        "# a comment between rows\n"
        "2024-07-01,GBP,0.9\r\n"
        "2024-01-01,EUR,1\n"
    )
    table = RateTable.from_csv(path)
    assert table.rate("EUR", "GBP", JUL_2024 - 1) == 0.8
    assert table.rate("EUR", "GBP", JUL_2024) == 0.9
    assert table.currencies == {"EUR", "GBP"}


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("day,currency,rate\n", r"rates.csv:1: expected header date,currency,per_eur"),
        ("# only a comment\n", r"rates.csv: empty rate table"),
        ("date,currency,per_eur\n2024-01-01,GBP\n", r"rates.csv:2: expected 3 columns"),
        ("date,currency,per_eur\n2024-13-01,GBP,0.8\n", r"rates.csv:2: .*month"),
        ("date,currency,per_eur\n2024-01-01,GBP,abc\n", r"rates.csv:2: .*'abc'"),
        ("date,currency,per_eur\n2024-01-01,GBP,-1\n", r"rates.csv: GBP rate .* is -1.0"),
    ],
)
def test_from_csv_errors_give_the_place(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "rates.csv"
    path.write_text(text)
    with pytest.raises(FxError, match=match):
        RateTable.from_csv(path)


def test_default_table_covers_the_required_currencies() -> None:
    table = RateTable.default()
    required = {
        *("EUR", "GBP", "USD", "CHF", "SEK", "NOK", "DKK", "PLN", "CAD", "AUD"),
        *("JPY", "BRL", "TRY", "MXN", "INR", "CNY", "ZAR", "NZD", "HUF", "CZK"),
    }
    assert required <= table.currencies
    jan_2020 = 1_577_836_800_000
    for currency in required - {PIVOT}:
        assert table.rate("EUR", currency, jan_2020) > 0
        with pytest.raises(FxError, match="first rate takes effect at 2020-01-01T00:00:00Z"):
            table.rate("EUR", currency, jan_2020 - 1)
    # A sanity check on magnitudes: a pound is worth more than a euro, a yen far less.
    assert table.rate("GBP", "EUR", JAN_2024) > 1
    assert 100 < table.rate("EUR", "JPY", JAN_2024) < 200
    assert RateTable.default() is table  # loaded once


# -- the batch path agrees with the scalar one ------------------------------------------


def test_convert_minor_many_matches_scalar_on_random_data() -> None:
    table = RateTable.default()
    rng = np.random.default_rng(20240101)
    n = 5_000
    pool = ["EUR", "GBP", "USD", "JPY", "SEK", "TRY", "HUF", "CHF"]
    from_codes = [pool[i] for i in rng.integers(0, len(pool), n)]
    # Amounts up to 10^12 minor units, times from 2020 to 2026.
    amounts = rng.integers(0, 10**12, n, dtype=np.int64)
    amounts[:50] = rng.integers(0, 10, 50)  # small amounts, where rounding matters most
    at_ms = rng.integers(1_577_836_800_000, 1_767_225_600_000, n, dtype=np.int64)
    for to_cur in ("EUR", "GBP", "JPY", "TRY"):
        batch = table.convert_minor_many(amounts, from_codes, to_cur, at_ms)
        assert batch.dtype == np.int64
        scalar = [
            table.convert_minor(int(a), c, to_cur, int(t))
            for a, c, t in zip(amounts, from_codes, at_ms, strict=True)
        ]
        assert batch.tolist() == scalar

        # The same through a dictionary-encoded column.
        codes = np.array([pool.index(c) for c in from_codes], dtype=np.int32)
        by_code = table.convert_minor_many(amounts, codes, to_cur, at_ms, categories=pool)
        assert by_code.tolist() == scalar


def test_convert_minor_many_rounds_half_to_even() -> None:
    half = RateTable.from_rows([("2024-01-01", "GBP", 0.5)])
    amounts = np.array([1, 3, 5, 7, 8], dtype=np.int64)
    at = np.full(5, JAN_2024, dtype=np.int64)
    out = half.convert_minor_many(amounts, ["EUR"] * 5, "GBP", at)
    assert out.tolist() == [0, 2, 2, 4, 4]


def test_convert_minor_many_edge_cases(table: RateTable) -> None:
    empty = np.array([], dtype=np.int64)
    assert table.convert_minor_many(empty, [], "EUR", empty).tolist() == []
    # Rows already in the target currency need no rate, even before the table starts.
    at = np.array([0, JAN_2024], dtype=np.int64)
    out = table.convert_minor_many(np.array([7, 10_000]), ["GBP", "EUR"], "GBP", at)
    assert out.tolist() == [7, 8_000]
    with pytest.raises(ValueError, match="differ in length"):
        table.convert_minor_many(np.array([1, 2]), ["EUR"], "GBP", at)
    with pytest.raises(ValueError, match="one-dimensional"):
        table.convert_minor_many(np.array([[1, 2]]), np.array([["EUR", "EUR"]]), "GBP", at[None, :])
    with pytest.raises(ValueError, match="index categories"):
        table.convert_minor_many(np.array([1, 2]), np.array([0, 3]), "GBP", at, categories=["EUR"])
    with pytest.raises(ValueError, match="need `categories`"):
        table.convert_minor_many(np.array([1, 2]), np.array([0, 0]), "GBP", at)
    with pytest.raises(FxError, match="64-bit"):
        table.convert_minor_many(np.array([2**62]), ["EUR"], "KWD", at[1:])
