"""The vocabulary the checks resolve names against is internally consistent."""

from __future__ import annotations

import pytest

from dsl.types import Kind
from dsl.vocabulary import (
    ACTIONS,
    EVENTS,
    FIELD_RANGES,
    KEYS,
    MARKETS,
    PROFILE,
    PROFILE_RANGES,
    REQUIRED,
    Market,
    countries,
    currencies,
    fields_of,
    minor_units,
)


@pytest.mark.parametrize("market", list(MARKETS.values()), ids=list(MARKETS))
def test_market_currency_is_iso_4217(market: Market) -> None:
    assert market.currency in currencies()


@pytest.mark.parametrize(("key", "field"), list(KEYS.items()))
def test_every_key_is_carried_by_some_event(key: str, field: str) -> None:
    assert any(field in fields_of(event) for event in EVENTS), key


def test_money_events_require_an_amount() -> None:
    for event, fields in EVENTS.items():
        has_money = any(t.kind is Kind.MONEY for t in fields.values())
        assert (REQUIRED[event] == ("amount",)) is has_money, event


def test_ranges_name_real_fields() -> None:
    all_fields = {f for event in EVENTS for f in fields_of(event)}
    assert set(FIELD_RANGES) <= all_fields
    assert set(PROFILE_RANGES) <= set(PROFILE)


def test_actions_go_from_softest_to_hardest() -> None:
    assert ACTIONS[0] == "allow"
    assert ACTIONS[-1] == "block"


@pytest.mark.parametrize(("currency", "places"), [("EUR", 2), ("JPY", 0), ("KWD", 3)])
def test_minor_units(currency: str, places: int) -> None:
    assert minor_units(currency) == places


def test_country_codes_are_alpha_2() -> None:
    assert {"MT", "GB", "CW"} <= countries()
    assert "XX" not in countries()
