"""What a policy can name: the event contract (v1) as the language sees it, the keys state
is kept by, the player profile, markets, actions, and ISO country and currency codes.

The engine's msgspec event schema must agree with `EVENTS`; a test holds them together.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import pycountry

from dsl.types import BOOL, COUNTRY, DURATION, FLOAT, INT, STRING, TIME, Type, money

# Money fields are in the market's base currency once the engine has converted them, so
# their type is completed per market (`money(None)` here).
MONEY = money(None)

COMMON_FIELDS: dict[str, Type] = {
    "event_id": STRING,
    "player_id": STRING,
    "ts": TIME,
    "market": STRING,
    "session_id": STRING,
    "device_id": STRING,
    "ip": STRING,
    "asn": INT,
    "ip_country": COUNTRY,
    # Derived by the engine: the hour of `ts` in the market's timezone, 0–23.
    "hour": INT,
}

_PAYMENT = {
    "amount": MONEY,
    "currency": STRING,
    "method": STRING,
    "psp": STRING,
    "instrument_id": STRING,
    "card_country": COUNTRY,
    "status": STRING,
}
_GAME = {
    "amount": MONEY,
    "currency": STRING,
    "game_id": STRING,
    "game_kind": STRING,
    "table_id": STRING,
    "round_id": STRING,
    "selection": STRING,
}
_REVERSAL = {"amount": MONEY, "currency": STRING, "ref_event_id": STRING}
_BONUS = {"bonus_id": STRING, "amount": MONEY, "currency": STRING}
_LIMIT = {"limit_kind": STRING, "value": INT, "until": TIME}

EVENTS: dict[str, dict[str, Type]] = {
    "deposit": _PAYMENT,
    "withdrawal": _PAYMENT,
    "bet": _GAME,
    "win": _GAME,
    "chargeback": _REVERSAL,
    "cancellation": _REVERSAL,
    "bonus_grant": _BONUS,
    "bonus_wager": _BONUS,
    "bonus_release": _BONUS,
    "login": {},
    "logout": {},
    "kyc_update": {
        "kyc_level": INT,
        "status": STRING,
        "dob": TIME,
        "doc_country": COUNTRY,
        "doc_match": BOOL,
    },
    "limit_change": _LIMIT,
    "self_exclusion": _LIMIT,
    "rng_check": {"game_id": STRING, "statistic": STRING, "p_value": FLOAT},
}

# Fields an inline test event must give (the rest are optional in the contract).
REQUIRED: dict[str, tuple[str, ...]] = {
    name: ("amount",) if "amount" in fields else () for name, fields in EVENTS.items()
}

# Fields the engine fills in and a test event may not set by hand.
DERIVED_FIELDS = frozenset({"event_id", "ts", "hour", "currency"})


def fields_of(event: str) -> dict[str, Type]:
    return {**COMMON_FIELDS, **EVENTS[event]}


# `by KEY` → the event field that carries the key.
KEYS: dict[str, str] = {
    "player": "player_id",
    "device": "device_id",
    "instrument": "instrument_id",
    "ip": "ip",
    "asn": "asn",
    "session": "session_id",
    "table": "table_id",
    "round": "round_id",
    "game": "game_id",
    "bonus": "bonus_id",
}

# `player.X`: the profile as the engine keeps it, updated by the current event first.
PROFILE: dict[str, Type] = {
    "kyc_level": INT,
    "kyc_status": STRING,
    "age": INT,
    "doc_country": COUNTRY,
    "doc_match": BOOL,
    "self_excluded": BOOL,
    "account_age": DURATION,
    "first_seen": TIME,
}

# Known bounds, for the reachability check: a comparison outside them never holds.
FIELD_RANGES: dict[str, tuple[float, float]] = {
    "amount": (0.0, float("inf")),
    "asn": (0.0, 4_294_967_295.0),
    "hour": (0.0, 23.0),
    "p_value": (0.0, 1.0),
    "kyc_level": (0.0, float("inf")),
    "value": (0.0, float("inf")),
}
PROFILE_RANGES: dict[str, tuple[float, float]] = {
    "age": (0.0, 150.0),
    "kyc_level": (0.0, float("inf")),
    "account_age": (0.0, float("inf")),
}


@dataclass(frozen=True, slots=True)
class Market:
    code: str
    name: str
    currency: str
    timezone: str


MARKETS: dict[str, Market] = {
    "MGA": Market("MGA", "Malta Gaming Authority", "EUR", "Europe/Malta"),
    "UKGC": Market("UKGC", "UK Gambling Commission", "GBP", "Europe/London"),
    "CW": Market("CW", "Curaçao Gaming Authority", "USD", "America/Curacao"),
}

# Ordered from softest to hardest: the decision is the hardest of the band's action and
# every fired live rule's own action ("hard actions win").
ACTIONS: tuple[str, ...] = ("allow", "limit", "review", "hold_payment", "block")
SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
MODES: tuple[str, ...] = ("live", "shadow")

AGGREGATES: tuple[str, ...] = ("count", "sum", "avg", "min", "max", "distinct", "shared")
FUNCTIONS: tuple[str, ...] = ("present", "abs", "fx")

# The longest window a rule may ask for; state for longer windows is a data-warehouse job.
MAX_WINDOW_MS = 400 * 86_400_000

# ISO 4217 minor units that are not 2 (the rest of the list uses cents).
_MINOR_UNITS = {
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    "CLF": 4,
    "UYW": 4,
}


@cache
def currencies() -> frozenset[str]:
    return frozenset(c.alpha_3 for c in pycountry.currencies)


def minor_units(currency: str) -> int:
    """Decimal places of a currency's minor unit (EUR 2, JPY 0, KWD 3)."""
    return _MINOR_UNITS.get(currency, 2)


@cache
def countries() -> frozenset[str]:
    return frozenset(c.alpha_2 for c in pycountry.countries)
