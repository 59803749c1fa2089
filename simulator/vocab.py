"""The closed vocabularies the simulator draws from, each a tuple indexed by a small code.

Generation works on integer codes only (a column of int8/int16 codes per categorical
field); the strings appear once, when a batch is rendered to Arrow. A code's meaning is its
position in one of these tuples, so the tuples are part of the output format: append, never
reorder.
"""

from __future__ import annotations

from typing import Final

from dsl.vocabulary import MARKETS, countries

# Event types, in the order of the contract's table (rng_check is an operator event with no
# player behind it, so the simulator never emits one; it keeps a code so the column's
# dictionary is the contract's whole set).
EVENT_TYPES: Final = (
    "deposit",
    "withdrawal",
    "bet",
    "win",
    "chargeback",
    "cancellation",
    "bonus_grant",
    "bonus_wager",
    "bonus_release",
    "login",
    "logout",
    "kyc_update",
    "limit_change",
    "self_exclusion",
    "rng_check",
)
T: Final = {name: code for code, name in enumerate(EVENT_TYPES)}
DEPOSIT, WITHDRAWAL, BET, WIN = T["deposit"], T["withdrawal"], T["bet"], T["win"]
CHARGEBACK, CANCELLATION = T["chargeback"], T["cancellation"]
BONUS_GRANT, BONUS_WAGER, BONUS_RELEASE = T["bonus_grant"], T["bonus_wager"], T["bonus_release"]
LOGIN, LOGOUT, KYC_UPDATE = T["login"], T["logout"], T["kyc_update"]
LIMIT_CHANGE, SELF_EXCLUSION = T["limit_change"], T["self_exclusion"]

MARKET_NAMES: Final = tuple(MARKETS)
MARKET_CODE: Final = {name: code for code, name in enumerate(MARKET_NAMES)}
BASE_CURRENCY: Final = tuple(MARKETS[m].currency for m in MARKET_NAMES)
TIMEZONES: Final = tuple(MARKETS[m].timezone for m in MARKET_NAMES)

# Every ISO 3166 alpha-2 code, sorted: any country a scenario names has a code.
COUNTRIES: Final = tuple(sorted(countries()))
COUNTRY: Final = {name: code for code, name in enumerate(COUNTRIES)}

# Currencies a scenario may give players: those of the shipped FX table, so every amount
# converts to every market's base currency.
CURRENCIES: Final = (
    "EUR", "USD", "GBP", "CHF", "SEK", "NOK", "DKK", "PLN", "CAD", "AUD",
    "JPY", "BRL", "TRY", "MXN", "INR", "CNY", "ZAR", "NZD", "HUF", "CZK",
)  # fmt: skip
CURRENCY: Final = {name: code for code, name in enumerate(CURRENCIES)}

METHODS: Final = ("card", "ewallet", "bank_transfer", "prepaid", "crypto")
METHOD: Final = {name: code for code, name in enumerate(METHODS)}
CARD, EWALLET, BANK_TRANSFER = METHOD["card"], METHOD["ewallet"], METHOD["bank_transfer"]

GAME_KINDS: Final = ("slot", "live", "table", "sport", "poker")
SLOT, LIVE, TABLE, SPORT, POKER = range(5)

STATUSES: Final = ("approved", "declined", "pending", "rejected")
APPROVED, DECLINED, PENDING, REJECTED = range(4)

LIMIT_KINDS: Final = ("deposit", "loss", "session", "self_exclusion")
LIMIT_DEPOSIT, LIMIT_LOSS, LIMIT_SESSION, LIMIT_EXCLUSION = range(4)

# Bet selections: even-money sides of live and table games, and sport outcomes. Colluders
# at a live table back opposite sides of one round.
SELECTIONS: Final = (
    "banker", "player", "tie", "red", "black", "straight", "home", "draw", "away", "over",
    "under", "seat",
)  # fmt: skip
SELECTION: Final = {name: code for code, name in enumerate(SELECTIONS)}

SEGMENTS: Final = (
    "casual_slots",
    "live_regular",
    "sports_bettor",
    "high_roller",
    "bonus_hunter",
    "night_owl",
)

# Ground-truth labels. Code 0 is "honest" and renders as null.
TYPOLOGIES: Final = (
    "structuring",
    "pass_through",
    "chargeback_abuse",
    "cancellation_abuse",
    "stolen_card",
    "multi_accounting",
    "collusion",
    "kyc_mismatch",
    "underage",
    "self_exclusion_breach",
    "chasing_losses",
)
LABEL: Final = {name: code for code, name in enumerate(TYPOLOGIES, start=1)}
LABELS: Final = (None, *TYPOLOGIES)

# Traits that make an honest player look suspicious, recorded in players.parquet so a
# false positive can be traced to its cause.
TRAITS: Final = (
    "household",
    "traveller",
    "expat",
    "vpn",
    "one_chargeback",
    "big_win_cashout",
    "high_risk_country",
    "self_excluded",
)
TRAIT_BIT: Final = {name: 1 << i for i, name in enumerate(TRAITS)}

# Jurisdictions under increased monitoring; a handful of honest players connect from one
# or hold a card issued there (expatriates), so the geo rules have something to see.
HIGH_RISK_COUNTRIES: Final = ("IR", "KP", "MM")
