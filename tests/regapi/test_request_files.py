"""Cells of the CSV files regulators' requests are answered with: text that a spreadsheet
would run as a formula is quoted; numbers, times and JSON are written as they are."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from regapi.requests import RequestError, _cell, _csv, check_callback


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


@pytest.mark.parametrize(
    ("url", "allowed", "ok"),
    [
        ("https://hooks.example.org/x", (), True),
        ("http://127.0.0.1:9000/x", (), True),
        ("https://hooks.example.org/x", ("hooks.example.org",), True),
        ("https://HOOKS.example.org./x", ("hooks.example.org",), True),
        ("https://a.b.example.org/x", ("*.example.org",), True),
        ("https://example.org/x", ("*.example.org",), False),
        ("https://evil-example.org/x", ("*.example.org",), False),
        ("http://127.0.0.1:9000/x", ("hooks.example.org",), False),
        ("http://169.254.169.254/latest", ("*.example.org",), False),
        ("https://hooks.example.org@10.0.0.1/x", ("hooks.example.org",), False),
        ("http://[::1]:80/x", ("hooks.example.org",), False),
        ("ftp://hooks.example.org/x", ("hooks.example.org",), False),
    ],
)
def test_callbacks_go_only_to_allowed_hosts(url: str, allowed: tuple[str, ...], ok: bool) -> None:
    if ok:
        check_callback(url, allowed)
        return
    with pytest.raises(RequestError) as refused:
        check_callback(url, allowed)
    assert refused.value.field == "callback_url"
