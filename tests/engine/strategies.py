"""Random event streams for the engine's property tests.

One generator, two sources of randomness: hypothesis (`streams()`, short streams that
shrink to a readable counterexample) and a seeded `random.Random` (`seeded_stream`, long
streams that fill the window stores past their first capacity and force compaction).

Entities come from small pools so windows and `by` keys collide; amounts cluster around
the pack's thresholds; timestamps never go back but jump by anything from 0 ms to days, so
windows open and close and equal timestamps are common.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol, TypeVar

from hypothesis import strategies as st

from engine import events as ev
from engine.events import BaseEvent

T = TypeVar("T")

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR

MARKETS = ("MGA", "UKGC", "CW")
BASE_CURRENCY = {"MGA": "EUR", "UKGC": "GBP", "CW": "USD"}
# Currencies with rates in engine/data/fx_rates.csv (JPY has no minor unit).
OTHER_CURRENCIES = ("EUR", "GBP", "USD", "JPY", "CHF")

PLAYERS = ("p1", "p2", "p3", "p4", "p5")
DEVICES = ("dev-1", "dev-2", "dev-3")
IPS = ("192.0.2.1", "192.0.2.2", "198.51.100.7")
ASNS = (64500, 64501, 64502, 64503)
INSTRUMENTS = ("card-1", "card-2", "wallet-1")
TABLES = ("t1", "t2")
ROUNDS = ("r1", "r2", "r3")


@dataclass(frozen=True)
class Pools:
    """The entities a stream draws from."""

    players: tuple[str, ...] = PLAYERS
    devices: tuple[str, ...] = DEVICES
    ips: tuple[str, ...] = IPS
    instruments: tuple[str, ...] = INSTRUMENTS
    tables: tuple[str, ...] = TABLES
    rounds: tuple[str, ...] = ROUNDS


# Few entities: windows and `by` keys collide all the time.
NARROW = Pools()
# More entities than the engine's first 256 slots per key: the key arrays must grow.
WIDE = Pools(
    players=tuple(f"p{k}" for k in range(600)),
    devices=tuple(f"dev-{k}" for k in range(300)),
    ips=tuple(f"198.51.100.{k % 250}:{k}" for k in range(300)),
    instruments=tuple(f"card-{k}" for k in range(300)),
    tables=tuple(f"t{k}" for k in range(20)),
    rounds=tuple(f"r{k}" for k in range(300)),
)
BONUSES = ("b1", "b2")
GAMES = ("g1", "g2")
COUNTRIES = ("MT", "GB", "CW", "DE", "KP", "IR", "NG")
# Amounts in minor units, near the pack's thresholds (in any base currency).
AMOUNTS = (
    1,
    2_000,
    5_000,
    7_500,
    10_000,
    30_000,
    50_000,
    70_000,
    79_999,
    80_000,
    90_000,
    100_000,
    150_000,
    200_000,
    250_000,
    750_000,
    1_000_000,
    1_500_000,
)
# Event types, weighted by repetition towards what the pack reads.
TYPES = (
    *("deposit",) * 6,
    *("withdrawal",) * 4,
    *("bet",) * 6,
    *("win",) * 3,
    *("login",) * 3,
    "logout",
    *("bonus_grant",) * 2,
    *("bonus_wager",) * 2,
    "bonus_release",
    *("kyc_update",) * 2,
    "chargeback",
    "cancellation",
    "self_exclusion",
    *("limit_change",) * 2,
    "rng_check",
)
# Time steps between events: equal timestamps, a millisecond, seconds, minutes, exact
# window lengths used by the pack, hours and days.
GAPS = (0, 0, 1, 999, 5_000, MINUTE, 10 * MINUTE, HOUR, 3 * HOUR, DAY, 7 * DAY, 30 * DAY)
# Busy streams: windows of a day or more fill up, so the stores must grow.
DENSE_GAPS = (0, 0, 1, 999, 5_000, MINUTE, 10 * MINUTE)


class Source(Protocol):
    """Where the random choices come from."""

    def choice(self, options: Sequence[T]) -> T: ...

    def integer(self, lo: int, hi: int) -> int: ...

    def chance(self, percent: int) -> bool: ...


class DrawSource:
    """Choices drawn by hypothesis; each shrinks towards the first option, the low end,
    and `False` (so optional fields shrink to absent)."""

    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any]) -> None:
        self._draw = draw

    def choice(self, options: Sequence[T]) -> T:
        return options[self._draw(st.integers(0, len(options) - 1))]

    def integer(self, lo: int, hi: int) -> int:
        return int(self._draw(st.integers(lo, hi)))

    def chance(self, percent: int) -> bool:
        return bool(self._draw(st.integers(0, 99)) >= 100 - percent)


class RandomSource:
    """Choices from a seeded `random.Random`: reproducible long streams."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def choice(self, options: Sequence[T]) -> T:
        return options[self._rng.randrange(len(options))]

    def integer(self, lo: int, hi: int) -> int:
        return self._rng.randint(lo, hi)

    def chance(self, percent: int) -> bool:
        return self._rng.randrange(100) < percent


def _maybe(src: Source, percent: int, options: Sequence[T]) -> T | None:
    return src.choice(options) if src.chance(percent) else None


def _amount(src: Source, market: str) -> tuple[int, str]:
    amount = src.choice(AMOUNTS) if src.chance(70) else src.integer(1, 2_000_000)
    currency = BASE_CURRENCY[market] if src.chance(85) else src.choice(OTHER_CURRENCIES)
    return amount, currency


def _gap(src: Source, gaps: Sequence[int]) -> int:
    gap = src.choice(gaps)
    if src.chance(30):
        gap += src.integer(0, gaps[-1])
    return gap


def make_event(
    src: Source, n: int, at: int, homes: dict[str, str], pools: Pools = NARROW
) -> BaseEvent:
    """One random event, number `n` of its stream, at epoch ms `at`."""
    kind = src.choice(TYPES)
    player = src.choice(pools.players)
    market = homes[player] if src.chance(85) else src.choice(MARKETS)
    # Times are sent either as epoch milliseconds or as RFC 3339 strings (datetimes).
    ts: int | datetime = at
    if src.chance(10):
        ts = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=at)
    common: dict[str, Any] = {
        "event_id": f"e{n}",
        "player_id": player,
        "ts": ts,
        "market": market,
        "session_id": _maybe(src, 30, ("s1", "s2")),
        "device_id": _maybe(src, 70, pools.devices),
        "ip": _maybe(src, 70, pools.ips),
        "asn": _maybe(src, 50, ASNS),
        "ip_country": _maybe(src, 50, COUNTRIES),
    }
    cls = ev.EVENT_TYPES[kind]
    extra: dict[str, Any] = {}
    if issubclass(cls, ev.MoneyEvent):
        extra["amount"], extra["currency"] = _amount(src, market)
    if kind in ("deposit", "withdrawal"):
        extra["method"] = _maybe(src, 60, ("card", "ewallet", "bank"))
        extra["psp"] = _maybe(src, 30, ("psp-a", "psp-b"))
        extra["instrument_id"] = _maybe(src, 70, pools.instruments)
        extra["card_country"] = _maybe(src, 50, COUNTRIES)
        extra["status"] = _maybe(src, 50, ("approved", "approved", "declined"))
    elif kind in ("bet", "win"):
        extra["game_id"] = _maybe(src, 50, GAMES)
        extra["game_kind"] = _maybe(src, 80, ("live", "live", "slot", "table", "poker", "sport"))
        extra["table_id"] = _maybe(src, 70, pools.tables)
        extra["round_id"] = _maybe(src, 70, pools.rounds)
        extra["selection"] = _maybe(src, 20, ("red", "black"))
    elif kind in ("chargeback", "cancellation"):
        extra["ref_event_id"] = _maybe(src, 50, ("e0", "e1"))
    elif kind.startswith("bonus_"):
        extra["bonus_id"] = _maybe(src, 80, BONUSES)
    elif kind == "kyc_update":
        extra["kyc_level"] = _maybe(src, 60, (0, 1, 2, 3, 4))
        extra["status"] = _maybe(src, 50, ("approved", "pending", "rejected"))
        if src.chance(50):
            extra["dob"] = date(src.integer(1950, 2015), src.integer(1, 12), src.integer(1, 28))
        extra["doc_country"] = _maybe(src, 60, COUNTRIES)
        extra["doc_match"] = _maybe(src, 60, (True, False))
    elif kind in ("limit_change", "self_exclusion"):
        extra["limit_kind"] = _maybe(src, 80, ("deposit", "deposit", "loss", "self_exclusion"))
        extra["value"] = _maybe(src, 70, (100, 500, 1_000, 5_000))
        if src.chance(50):
            extra["until"] = at + src.choice((0, HOUR, DAY, 7 * DAY, 60 * DAY))
    elif kind == "rng_check":
        extra["game_id"] = src.choice(GAMES)
        extra["statistic"] = src.choice(("chi2", "ks"))
        extra["p_value"] = src.choice((0.0, 0.001, 0.5, 1.0))
    return cls(**common, **{k: v for k, v in extra.items() if v is not None})


def build_stream(
    src: Source, size: int, gaps: Sequence[int] = GAPS, pools: Pools = NARROW
) -> list[BaseEvent]:
    """`size` events in time order (equal times kept in arrival order)."""
    # Somewhere in 2024–2025, so FX rates exist and rate changes (1 Jan, 1 Jul) are crossed.
    at = 1_704_067_200_000 + src.integer(0, 700) * DAY + src.integer(0, DAY - 1)
    homes = {p: src.choice(MARKETS) for p in pools.players}
    out = []
    for n in range(size):
        if n:
            at += _gap(src, gaps)
        out.append(make_event(src, n, at, homes, pools))
    return out


@st.composite
def streams(draw: st.DrawFn, min_size: int = 1, max_size: int = 40) -> list[BaseEvent]:
    """Short random streams, drawn (and shrunk) by hypothesis."""
    src = DrawSource(draw)
    return build_stream(src, src.integer(min_size, max_size))


def seeded_stream(
    seed: int, size: int, gaps: Sequence[int] = GAPS, pools: Pools = NARROW
) -> list[BaseEvent]:
    """A long reproducible stream from a seed."""
    return build_stream(RandomSource(seed), size, gaps, pools)


# ---- hand-written scenarios --------------------------------------------------------------

# 2026-01-01T12:00:00Z: midday, daytime in every market, no DST change near it.
T0 = 1_767_268_800_000
_serial = iter(range(10**9))


def event(
    kind: str, at: int = 0, *, market: str = "MGA", player: str = "p1", **fields: Any
) -> BaseEvent:
    """An event `at` ms after `T0`; money events default to the market's base currency
    (amounts are in minor units)."""
    cls = ev.EVENT_TYPES[kind]
    if issubclass(cls, ev.MoneyEvent):
        fields.setdefault("currency", BASE_CURRENCY[market])
    return cls(event_id=f"x{next(_serial)}", player_id=player, ts=T0 + at, market=market, **fields)
