"""Cells of the CSV files regulators' requests are answered with: text that a spreadsheet
would run as a formula is quoted; numbers, times and JSON are written as they are."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from regapi.requests import _cell, _csv


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+44 20 7946 0000", "'+44 20 7946 0000"),
        ("-1+1", "'-1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("plain text", "plain text"),
        (-2500, "-2500"),
        (12.5, "12.5"),
        (None, ""),
        (datetime(2026, 1, 5, 10, tzinfo=UTC), "2026-01-05T10:00:00+00:00"),
        ({"amount": -5}, '{"amount":-5}'),
    ],
)
def test_cells(value: object, cell: str) -> None:
    assert _cell(value) == cell


def test_a_file_of_rows() -> None:
    content = _csv([{"player_id": _cell("=cmd|' /C calc'!A0"), "amount": _cell(-100)}])
    assert content == b"player_id,amount\r\n'=cmd|' /C calc'!A0,-100\r\n"
