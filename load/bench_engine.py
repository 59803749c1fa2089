"""Throughput and latency of the compiled policy engine, against the DESIGN numbers.

    .venv/bin/python load/bench_engine.py              # 10 M events: ≈ 7 min, peak ≈ 14 GB of RAM
    .venv/bin/python load/bench_engine.py --quick      # 1 M events: ≈ 1 min
    .venv/bin/python load/bench_engine.py --events 3_000_000 --skip-start --json out.json

What it measures, in one process over one seeded synthetic history:

1. batch: the whole standard pack (`policies/`, one fused kernel) over the history with
   `BatchEngine.run_encoded`, after a warm-up on a small slice so that no compilation is
   timed; encoding (`encode_columns`) is timed separately. The driver is single-threaded,
   so events/s is per core.
2. DuckDB: three core window rules as SQL window queries over the same history — a count
   window (deposits per player over 24h), a sum window (deposit amounts per player over
   24h) and a distinct window (players per device over 7d, read at logins) — with
   `threads=1` (per core) and with DuckDB's default threads; and the engine on a
   three-rule policy that says exactly the same, so the comparison is like for like. The
   hits of the two are cross-checked.
3. streaming: `StreamEngine.process(event)` for the whole pack, event by event, p50 / p99 /
   p99.9 in µs (building the event Structs is not timed; encoding is, being part of
   `process`), and the kernel call alone.
4. start: a fresh process doing `load_pack` + the first `process` with an empty pack cache
   and an empty numba cache (cold), with the pack cache filled but numba's cache for the
   engine helpers already warm (a new pack on an installed engine), and again with both
   filled (warm).

The synthetic history is built from sessions: each starts with a login, ends with a
logout, and holds bets and wins (most events), deposits, withdrawals, bonus events, KYC
updates, cancellations, chargebacks and limit changes, on the player's own device, card
and IP most of the time and on shared ones sometimes; live, table and poker bets carry a
table and a round; a few planted rings bet together on private live tables. Timestamps
are made strictly increasing (a millisecond apart at the most), so that SQL's `RANGE …
CURRENT ROW` frames, which include peers with an equal timestamp, mean exactly what the
engine's arrival order means.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dsl.vocabulary import EVENTS, MARKETS  # noqa: E402

# ---- DESIGN targets ("Numbers we hold ourselves to") -------------------------------------

TARGET_BATCH_EPS = 10_000_000  # events/s per core, whole standard pack
TARGET_VS_DUCKDB = 10.0  # × the same rules as DuckDB SQL windows
TARGET_P99_US = 25.0  # streaming, whole pack, per event
TARGET_COLD_S = 5.0
TARGET_WARM_S = 1.0

# ---- synthetic history --------------------------------------------------------------------

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
SECOND = 1_000
HOUR = 3_600_000
DAY = 86_400_000
EV = {name: code for code, name in enumerate(EVENTS)}
MARKET_NAMES = tuple(MARKETS)
BASE_CURRENCY = tuple(m.currency for m in MARKETS.values())

# Players' home countries per market (MGA, UKGC, CW), and the rare high-risk ones.
HOME_COUNTRIES = (
    ("MT", "DE", "FI", "SE", "NO", "IE", "NL", "AT"),
    ("GB",),
    ("BR", "CA", "IN", "JP", "MX", "CL"),
)
HIGH_RISK = ("KP", "IR", "MM")
COUNTRIES = tuple(dict.fromkeys(c for group in HOME_COUNTRIES for c in group)) + HIGH_RISK
COUNTRY_INDEX = {c: i for i, c in enumerate(COUNTRIES)}
GAME_KINDS = ("slot", "live", "table", "sport", "poker")
GAME_SHARE = (0.55, 0.15, 0.10, 0.12, 0.08)
# Session starts by hour of day: evenings busy, nights quiet but not empty.
HOUR_WEIGHTS = np.array(
    [2, 1.5, 1, 0.8, 0.6, 0.6, 0.8, 1, 1.5, 2, 2.5, 3, 3, 3, 3, 3.2, 3.5, 4, 4.5, 5, 5.5, 5, 4, 3]
)
# Event types inside a session (the first is a login, the last a logout), for ordinary
# sessions and for sessions played on a bonus.
INTERIOR = {
    "bet": (0.55, 0.46),
    "win": (0.36, 0.31),
    "deposit": (0.02, 0.02),
    "withdrawal": (0.016, 0.012),
    "bonus_wager": (0.0, 0.18),
    "cancellation": (0.003, 0.003),
    "chargeback": (0.0004, 0.0004),
    "kyc_update": (0.004, 0.004),
    "limit_change": (0.002, 0.002),
    "self_exclusion": (0.00002, 0.00002),
}
SESSION_MEAN = 40  # events
GAP_MEAN_MS = 8_000
RING_PLAYERS, RING_ROUNDS = 3, 8


def _pick(rng: np.random.Generator, table: dict[str, tuple[float, ...]], col: int, u: np.ndarray):
    codes = np.array([EV[name] for name in table], dtype=np.int64)
    p = np.array([w[col] for w in table.values()], dtype=np.float64)
    cum = np.cumsum(p / p.sum())
    return codes[np.minimum(np.searchsorted(cum, u, side="right"), len(codes) - 1)]


def _strings(names: tuple[str, ...], idx: np.ndarray) -> np.ndarray:
    """An object array of `names[idx]`, None where `idx` is -1."""
    table = np.array([*names, None], dtype=object)
    return table[np.where(idx < 0, len(names), idx)]


def generate(n: int, players: int, seed: int, days: int = 30) -> dict[str, np.ndarray]:
    """`n` events, sorted by time, as the columns `Encoder.encode_columns` takes (ids as
    int64, -1 where missing; countries and other strings as object arrays, None missing)."""
    rng = np.random.default_rng(seed)
    P = players

    # Players.
    p_market = rng.choice(3, size=P, p=[0.5, 0.35, 0.15])
    p_country = np.empty(P, dtype=np.int64)
    for m, group in enumerate(HOME_COUNTRIES):
        mask = p_market == m
        p_country[mask] = [COUNTRY_INDEX[c] for c in rng.choice(group, size=int(mask.sum()))]
    p_card_country = p_country.copy()
    foreign = rng.random(P) < 0.03
    p_card_country[foreign] = rng.integers(0, len(COUNTRIES) - len(HIGH_RISK), int(foreign.sum()))
    risky = rng.random(P) < 0.0005
    p_card_country[risky] = COUNTRY_INDEX["IR"]
    p_wealth = rng.lognormal(0.0, 0.9, P)
    p_activity = rng.lognormal(0.0, 1.5, P)
    p_activity /= p_activity.sum()
    p_structurer = rng.random(P) < 0.003
    age_days = rng.integers(18 * 365 + 5, 75 * 365, P)
    minors = rng.random(P) < 0.003
    age_days[minors] = rng.integers(15 * 365, 18 * 365 - 5, int(minors.sum()))
    p_dob = ((T0 // DAY) - age_days) * DAY

    # Planted collusion rings: a few players betting together on a private live table.
    n_rings = max(3, n // 300_000)
    n_ring_events = n_rings * RING_PLAYERS * RING_ROUNDS
    n_reg = n - n_ring_events

    # Sessions.
    S = int(n_reg / SESSION_MEAN * 1.2) + 10
    L = 2 + rng.geometric(1.0 / (SESSION_MEAN - 2), S)
    ends = np.cumsum(L)
    S = int(np.searchsorted(ends, n_reg) + 1)
    L = L[:S]
    starts_at = np.concatenate([[0], np.cumsum(L)[:-1]])
    s_player = rng.choice(P, size=S, p=p_activity)
    day = rng.integers(0, days, S)
    hour = rng.choice(24, size=S, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    s_start = T0 + day * DAY + hour * HOUR + rng.integers(0, HOUR, S)
    s_bonus = rng.random(S) < 0.08
    s_game = rng.choice(len(GAME_KINDS), size=S, p=GAME_SHARE)
    s_device = s_player * 2 + (rng.random(S) < 0.15)
    shared = rng.random(S) < 0.015
    s_device[shared] = 2 * P + rng.integers(0, max(20, P // 300), int(shared.sum()))
    s_device[rng.random(S) < 0.02] = -1
    s_ip = s_player.copy()
    s_asn = s_player % 2000 + 1
    mobile = rng.random(S) < 0.25
    s_ip[mobile] = P + rng.integers(0, 4 * P, int(mobile.sum()))
    s_asn[mobile] = 60_000 + rng.integers(0, 12, int(mobile.sum()))
    nat = rng.random(S) < 0.03
    nat_ids = rng.integers(0, max(10, P // 400), int(nat.sum()))
    s_ip[nat] = 5 * P + nat_ids
    s_asn[nat] = 70_000 + nat_ids % 50
    s_ip_country = p_country[s_player].copy()
    vpn = rng.random(S) < 0.003
    s_ip_country[vpn] = rng.integers(0, len(COUNTRIES) - len(HIGH_RISK), int(vpn.sum()))
    hr = rng.random(S) < 0.0002
    s_ip_country[hr] = rng.choice([COUNTRY_INDEX[c] for c in HIGH_RISK], size=int(hr.sum()))
    s_table = np.full(S, -1, dtype=np.int64)
    kind = s_game
    s_table[kind == 1] = rng.integers(0, 40, int((kind == 1).sum()))
    s_table[kind == 2] = 100 + rng.integers(0, 300, int((kind == 2).sum()))
    s_table[kind == 4] = 1_000 + rng.integers(0, 400, int((kind == 4).sum()))

    # Events of the sessions.
    sid = np.repeat(np.arange(S), L)[:n_reg]
    pos = np.arange(n_reg) - starts_at[sid]
    length = L[sid]
    bonus = s_bonus[sid]
    u = rng.random(n_reg)
    etype = np.where(bonus, _pick(rng, INTERIOR, 1, u), _pick(rng, INTERIOR, 0, u))
    etype[(pos == 1) & ~bonus & (rng.random(n_reg) < 0.5)] = EV["deposit"]
    etype[(pos == 1) & bonus & (length >= 5)] = EV["bonus_grant"]
    etype[(pos == length - 2) & bonus & (length >= 5)] = EV["bonus_release"]
    etype[pos == 0] = EV["login"]
    etype[pos == length - 1] = EV["logout"]
    gaps = rng.exponential(GAP_MEAN_MS, n_reg).astype(np.int64)
    gaps[pos == 0] = 0
    cs = np.cumsum(gaps)
    ts = s_start[sid] + cs - cs[starts_at[sid]]
    player = s_player[sid]
    market = p_market[player]
    wealth = p_wealth[player]
    game = np.where((etype == EV["bet"]) | (etype == EV["win"]), s_game[sid], -1)

    amount = np.full(n_reg, np.nan)

    def put(code: int, values: np.ndarray) -> None:
        mask = etype == code
        amount[mask] = np.maximum(10, np.round(values[mask]))

    stake = rng.lognormal(np.log(200), 1.0, n_reg) * np.sqrt(wealth)
    stake *= np.select([game == 1, game == 2, game == 4], [6.0, 4.0, 3.0], 1.0)
    put(EV["bet"], stake)
    put(EV["win"], stake * rng.lognormal(-0.3, 1.0, n_reg))
    put(EV["bonus_wager"], stake)
    deposit = np.round(rng.lognormal(np.log(4_000), 0.9, n_reg) * wealth, -2)
    structuring = p_structurer[player] & (rng.random(n_reg) < 0.7)
    deposit[structuring] = rng.integers(700, 1000, int(structuring.sum())) * 100
    put(EV["deposit"], deposit)
    put(EV["withdrawal"], np.round(rng.lognormal(np.log(8_000), 1.0, n_reg) * wealth, -2))
    put(EV["cancellation"], rng.lognormal(np.log(5_000), 0.8, n_reg))
    put(EV["chargeback"], rng.lognormal(np.log(5_000), 0.8, n_reg))
    put(EV["bonus_grant"], np.round(rng.lognormal(np.log(2_000), 0.5, n_reg), -2))
    put(EV["bonus_release"], np.round(rng.lognormal(np.log(2_000), 0.5, n_reg), -2))

    payment = (etype == EV["deposit"]) | (etype == EV["withdrawal"])
    instrument = np.where(payment, player * 3 + (rng.random(n_reg) < 0.2), -1)
    new_wallet = (etype == EV["withdrawal"]) & (rng.random(n_reg) < 0.04)
    instrument[new_wallet] = player[new_wallet] * 3 + 2
    shared_card = (etype == EV["deposit"]) & (rng.random(n_reg) < 0.005)
    instrument[shared_card] = 3 * P + rng.integers(0, max(10, P // 500), int(shared_card.sum()))
    card_country = np.where(payment, p_card_country[player], -1)
    with_geo = payment | np.isin(etype, [EV["login"], EV["kyc_update"], EV["bonus_grant"]])
    ip_country = np.where(with_geo, s_ip_country[sid], -1)
    gaming = game >= 0
    table = np.where(gaming, s_table[sid], -1)
    round_len = np.select([game == 1, game == 2], [30 * SECOND, 20 * SECOND], 60 * SECOND)
    round_id = np.where(table >= 0, table * 1_000_000 + (ts - T0) // round_len, -1)
    bonus_event = np.isin(etype, [EV["bonus_grant"], EV["bonus_wager"], EV["bonus_release"]])
    bonus_id = np.where(bonus_event, sid, -1)

    kyc = etype == EV["kyc_update"]
    kyc_level = np.where(kyc, rng.choice([1, 2, 3], size=n_reg, p=[0.3, 0.4, 0.3]), np.nan)
    dob = np.where(kyc, p_dob[player].astype(np.float64), np.nan)
    doc_country = np.where(kyc, p_country[player], -1)
    odd_doc = kyc & (rng.random(n_reg) < 0.01)
    doc_country[odd_doc] = rng.integers(0, len(COUNTRIES) - len(HIGH_RISK), int(odd_doc.sum()))
    doc_match = np.where(kyc, (rng.random(n_reg) >= 0.02).astype(np.float64), np.nan)
    status = np.where(kyc, 0, -1)
    limit = etype == EV["limit_change"]
    exclusion = etype == EV["self_exclusion"]
    limit_kind = np.select([limit, exclusion], [0, 1], -1)
    value = np.where(limit, rng.integers(1, 50, n_reg) * 1_000.0, np.nan)
    until = np.where(exclusion, (ts + 180 * DAY).astype(np.float64), np.nan)

    # The rings: every player bets on every round, within 3 s of its start.
    r_ring = np.repeat(np.arange(n_rings), RING_PLAYERS * RING_ROUNDS)
    r_round = np.tile(np.repeat(np.arange(RING_ROUNDS), RING_PLAYERS), n_rings)
    ring_players = rng.choice(P, size=(n_rings, RING_PLAYERS), replace=False)
    r_player = ring_players[r_ring, np.tile(np.arange(RING_PLAYERS), n_rings * RING_ROUNDS)]
    ring_start = T0 + (rng.integers(0, days * DAY, n_rings) // (30 * SECOND)) * 30 * SECOND
    r_ts = ring_start[r_ring] + r_round * 30 * SECOND + rng.integers(0, 3 * SECOND, n_ring_events)
    r_table = 5_000 + r_ring
    r_round_id = r_table * 1_000_000 + (r_ts - T0) // (30 * SECOND)
    ones = np.ones(n_ring_events, dtype=np.int64)
    nan = np.full(n_ring_events, np.nan)

    cols = {
        "type": np.concatenate([etype, ones * EV["bet"]]),
        "market": np.concatenate([market, p_market[r_player]]),
        "ts": np.concatenate([ts, r_ts]),
        "player_id": np.concatenate([player, r_player]),
        "amount": np.concatenate([amount, rng.integers(150, 300, n_ring_events) * 100.0]),
        "device_id": np.concatenate([s_device[sid], r_player * 2]),
        "ip": np.concatenate([s_ip[sid], r_player]),
        "asn": np.concatenate([s_asn[sid], r_player % 2000 + 1]),
        "instrument_id": np.concatenate([instrument, -ones]),
        "table_id": np.concatenate([table, r_table]),
        "round_id": np.concatenate([round_id, r_round_id]),
        "bonus_id": np.concatenate([bonus_id, -ones]),
        "kyc_level": np.concatenate([kyc_level, nan]),
        "dob": np.concatenate([dob, nan]),
        "doc_match": np.concatenate([doc_match, nan]),
        "value": np.concatenate([value, nan]),
        "until": np.concatenate([until, nan]),
        # String fields stay codes until the end (sorting object arrays is slow).
        "card_country": np.concatenate([card_country, -ones]),
        "ip_country": np.concatenate([ip_country, -ones]),
        "game_kind": np.concatenate([game, ones * GAME_KINDS.index("live")]),
        "doc_country": np.concatenate([doc_country, -ones]),
        "status": np.concatenate([status, -ones]),
        "limit_kind": np.concatenate([limit_kind, -ones]),
    }
    order = np.argsort(cols["ts"], kind="stable")
    for name in cols:
        cols[name] = cols[name][order]
    # Strictly increasing times: t'[i] = max(t[i], t'[i-1] + 1).
    idx = np.arange(n, dtype=np.int64)
    cols["ts"] = np.maximum.accumulate(cols["ts"] - idx) + idx
    for name, names in (
        ("card_country", COUNTRIES),
        ("ip_country", COUNTRIES),
        ("doc_country", COUNTRIES),
        ("game_kind", GAME_KINDS),
        ("status", ("approved",)),
        ("limit_kind", ("deposit", "self_exclusion")),
    ):
        cols[name] = _strings(names, cols[name])
    return cols


# ---- the same history as event Structs (for the streaming driver) -----------------------


def to_structs(cols: dict[str, np.ndarray]) -> list[object]:
    from engine import events as E

    classes = {EV[e.__struct_config__.tag]: e for e in E.EVENT_TYPES.values()}
    lists = {k: v.tolist() for k, v in cols.items()}
    out = []
    for i in range(len(cols["ts"])):
        code = lists["type"][i]
        cls = classes[code]
        market = lists["market"][i]
        kw: dict[str, Any] = {
            "event_id": f"e{i}",
            "player_id": f"p{lists['player_id'][i]}",
            "ts": lists["ts"][i],
            "market": MARKET_NAMES[market],
        }
        if lists["device_id"][i] >= 0:
            kw["device_id"] = f"d{lists['device_id'][i]}"
        kw["ip"] = f"ip{lists['ip'][i]}"
        kw["asn"] = lists["asn"][i]
        if lists["ip_country"][i] is not None:
            kw["ip_country"] = lists["ip_country"][i]
        amount = lists["amount"][i]
        if amount == amount and "amount" in cls.__struct_fields__:
            kw["amount"] = int(amount)
            kw["currency"] = BASE_CURRENCY[market]
        if code in (EV["deposit"], EV["withdrawal"]):
            kw["instrument_id"] = f"c{lists['instrument_id'][i]}"
            kw["card_country"] = lists["card_country"][i]
        elif code in (EV["bet"], EV["win"]):
            kw["game_kind"] = lists["game_kind"][i]
            if lists["table_id"][i] >= 0:
                kw["table_id"] = f"t{lists['table_id'][i]}"
                kw["round_id"] = f"r{lists['round_id'][i]}"
        elif lists["bonus_id"][i] >= 0:
            kw["bonus_id"] = f"b{lists['bonus_id'][i]}"
        elif code == EV["kyc_update"]:
            kw["kyc_level"] = int(lists["kyc_level"][i])
            kw["status"] = lists["status"][i]
            kw["dob"] = date(1970, 1, 1) + timedelta(days=int(lists["dob"][i]) // DAY)
            kw["doc_country"] = lists["doc_country"][i]
            kw["doc_match"] = bool(lists["doc_match"][i])
        elif code == EV["limit_change"]:
            kw["limit_kind"] = lists["limit_kind"][i]
            kw["value"] = int(lists["value"][i])
        elif code == EV["self_exclusion"]:
            kw["limit_kind"] = lists["limit_kind"][i]
            kw["until"] = int(lists["until"][i])
        out.append(cls(**kw))
    return out


# ---- three core rules, as a policy and as SQL ---------------------------------------------

COUNT_N = 5
SUM_MINOR = 200_000  # 2000.00 in each market's base currency
DISTINCT_N = 3

THREE_RULES = textwrap.dedent(
    f"""\
    policy bench_three version 1 for MGA, UKGC, CW "Three window rules, as the SQL says them"

    param big: money = 2000 EUR
    market UKGC {{ big = 2000 GBP }}
    market CW {{ big = 2000 USD }}

    rule deposit_count "deposits per player in 24h" {{
      on deposit
      when count(deposit over 24h) as deposits >= {COUNT_N}
      score 10
      action review
      reason "{{deposits}} deposits in 24h"
    }}

    rule deposit_sum "deposit amounts per player in 24h" {{
      on deposit
      when sum(deposit.amount over 24h) as total >= big
      score 10
      action review
      reason "{{total}} deposited in 24h"
    }}

    rule device_players "players per device in 7 days" {{
      on login
      when distinct(player by device over 7d) as accounts >= {DISTINCT_N}
      score 10
      action review
      reason "{{accounts}} players on this device in 7 days"
    }}

    decide {{ score >= 10 -> review; else allow }}

    test "five deposits, then 2000 in a day" {{
      at 0m deposit amount=100 EUR
      at 1h deposit amount=100 EUR
      at 2h deposit amount=100 EUR
      at 3h deposit amount=100 EUR
      expect deposit_count does not fire
      expect deposit_sum does not fire
      at 4h deposit amount=1600 EUR
      expect deposit_count fires
      expect deposit_sum fires
      at 5h login
      expect device_players does not fire
    }}
    """
)

_W24 = 24 * HOUR - 1  # RANGE n PRECEDING AND CURRENT ROW is [t - n, t]; the rule's (t - 24h, t]
_W7D = 7 * DAY - 1

SQL = {
    "count": f"""
        SELECT count(*) FROM (
          SELECT count(*) OVER (PARTITION BY player_id ORDER BY ts
                                RANGE BETWEEN {_W24} PRECEDING AND CURRENT ROW) AS n
          FROM ev WHERE type = {EV["deposit"]}
        ) WHERE n >= {COUNT_N}""",
    "sum": f"""
        SELECT count(*) FROM (
          SELECT sum(amount) OVER (PARTITION BY player_id ORDER BY ts
                                   RANGE BETWEEN {_W24} PRECEDING AND CURRENT ROW) AS s
          FROM ev WHERE type = {EV["deposit"]}
        ) WHERE s >= {SUM_MINOR}""",
    # `distinct(player by device over 7d)` reads every event that carries a device and is
    # read at logins; COUNT(DISTINCT …) OVER a RANGE frame says it directly.
    "distinct": f"""
        SELECT count(*) FROM (
          SELECT type, count(DISTINCT player_id) OVER (PARTITION BY device_id ORDER BY ts
                                RANGE BETWEEN {_W7D} PRECEDING AND CURRENT ROW) AS n
          FROM ev WHERE device_id >= 0
        ) WHERE type = {EV["login"]} AND n >= {DISTINCT_N}""",
}
# What a SQL author would write for the first two: one window, two aggregates.
SQL_COUNT_SUM = f"""
    SELECT count(*) FILTER (WHERE n >= {COUNT_N}), count(*) FILTER (WHERE s >= {SUM_MINOR}) FROM (
      SELECT count(*) OVER w AS n, sum(amount) OVER w AS s
      FROM ev WHERE type = {EV["deposit"]}
      WINDOW w AS (PARTITION BY player_id ORDER BY ts
                   RANGE BETWEEN {_W24} PRECEDING AND CURRENT ROW)
    )"""


# ---- measurements ------------------------------------------------------------------------


def _fmt_rate(x: float) -> str:
    return f"{x / 1e6:,.2f} M/s" if x >= 1e6 else f"{x / 1e3:,.0f} k/s"


def _load(path: Path):
    from engine.runtime import load_pack

    return load_pack([path])


def _time_kernel_calls(engine) -> list[float] | None:
    """Sum the time spent in the kernel calls of a BatchEngine's driver (a private call,
    wrapped per instance; None if the driver no longer has that shape)."""
    run = getattr(engine, "_run", None)
    inner = getattr(run, "call", None)
    if inner is None:
        return None
    acc = [0.0]

    def timed(*args, **kwargs):
        t = time.perf_counter()
        r = inner(*args, **kwargs)
        acc[0] += time.perf_counter() - t
        return r

    run.call = timed
    return acc


def bench_batch(pack, cols: dict[str, np.ndarray], repeat: int, label: str) -> dict[str, Any]:
    from engine.runtime import BatchEngine

    n = len(cols["ts"])
    warm = min(n, 200_000)
    be = BatchEngine(pack)
    I, F = be.encoder.encode_columns({k: v[:warm] for k, v in cols.items()})
    t = time.perf_counter()
    be.run_encoded(I, F)
    warm_s = time.perf_counter() - t
    del be, I, F
    runs, encodes, kernels, result = [], [], [], None
    for _ in range(repeat):
        result = None
        gc.collect()
        be = BatchEngine(pack)
        t = time.perf_counter()
        I, F = be.encoder.encode_columns(cols)
        encodes.append(time.perf_counter() - t)
        in_kernel = _time_kernel_calls(be)
        t = time.perf_counter()
        result = be.run_encoded(I, F)
        runs.append(time.perf_counter() - t)
        kernels.append(in_kernel[0] if in_kernel else float("nan"))
        del be, I, F
    assert result is not None
    best = min(runs)
    kernel_s = kernels[runs.index(best)]
    rules = pack.program.rules
    per_rule = Counter(rules[int(g)].name for g in result.hit_rules)
    out = {
        "label": label,
        "events": n,
        "rules": len(rules),
        "warmup_s": warm_s,
        "encode_s": min(encodes),
        "run_s": best,
        "kernel_s": kernel_s,
        "runs_s": runs,
        "eps": n / best,
        "encode_eps": n / min(encodes),
        "hits": len(result.hit_rules),
        "flagged_events": int((result.actions > 0).sum()),
        "per_rule": dict(per_rule),
    }
    print(
        f"  {label}: {len(rules)} rules, encode {min(encodes):.2f} s "
        f"({_fmt_rate(n / min(encodes))}), run {best:.2f} s → {_fmt_rate(n / best)} "
        f"[runs {', '.join(f'{r:.2f}' for r in runs)} s; warm-up slice {warm_s:.2f} s]"
    )
    if kernel_s == kernel_s:
        print(
            f"    of the run: kernel calls {kernel_s:.2f} s ({_fmt_rate(n / kernel_s)}), "
            f"the rest ({best - kernel_s:.2f} s) is the driver: growing and compacting "
            f"state between chunks, copying results"
        )
    print(
        f"    hits {len(result.hit_rules):,}; events with an action above allow "
        f"{out['flagged_events']:,}"
    )
    return out


def bench_duckdb(cols: dict[str, np.ndarray], repeat: int) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect()
    t = time.perf_counter()
    arrays = {
        "type": cols["type"].astype(np.int8),
        "player_id": cols["player_id"],
        "ts": cols["ts"],
        "amount": cols["amount"],
        "device_id": cols["device_id"],
    }
    con.register("arrays", arrays)
    con.execute("CREATE TABLE ev AS SELECT * FROM arrays")
    con.unregister("arrays")
    load_s = time.perf_counter() - t
    default_threads = int(con.execute("SELECT current_setting('threads')").fetchone()[0])
    out: dict[str, Any] = {"load_s": load_s, "version": duckdb.__version__}
    for threads in (1, default_threads):
        con.execute(f"SET threads = {threads}")
        times, counts = {}, {}
        for name, sql in [*SQL.items(), ("count+sum", SQL_COUNT_SUM)]:
            best = float("inf")
            for _ in range(repeat):
                t = time.perf_counter()
                row = con.execute(sql).fetchone()
                best = min(best, time.perf_counter() - t)
            times[name] = best
            counts[name] = row
        out[f"threads={threads}"] = {"times": times, "counts": counts}
        sep = times["count"] + times["sum"] + times["distinct"]
        fused = times["count+sum"] + times["distinct"]
        print(
            f"  DuckDB threads={threads}: count {times['count']:.2f} s, sum {times['sum']:.2f} s, "
            f"distinct {times['distinct']:.2f} s → three queries {sep:.2f} s; "
            f"(count+sum in one window {times['count+sum']:.2f} s → {fused:.2f} s)"
        )
    out["default_threads"] = default_threads
    con.close()
    return out


def bench_stream(pack, n_timed: int, n_warm: int, players: int, seed: int) -> dict[str, Any]:
    from engine.runtime import StreamEngine

    cols = generate(n_warm + n_timed, players, seed)
    t = time.perf_counter()
    events = to_structs(cols)
    build_s = time.perf_counter() - t
    out: dict[str, Any] = {"events": n_timed, "warm": n_warm, "build_s": build_s}

    se = StreamEngine(pack)
    for event in events[:n_warm]:
        se.process(event)
    lat = np.empty(n_timed, dtype=np.int64)
    clock = time.perf_counter_ns
    process = se.process
    flagged = 0
    for k, event in enumerate(events[n_warm:]):
        t0 = clock()
        decision = process(event)
        lat[k] = clock() - t0
        flagged += decision.action != "allow"
    us = lat / 1e3
    out["process_us"] = dict(
        zip(("p50", "p99", "p999"), np.percentile(us, [50, 99, 99.9]), strict=True)
    )
    out["process_us"]["mean"] = float(us.mean())
    out["process_us"]["max"] = float(us.max())
    out["flagged"] = flagged

    # The kernel call alone: not a public API, so measured by wrapping the driver's private
    # call on a second engine over the same events; skipped if the driver has changed shape.
    try:
        se2 = StreamEngine(pack)
        run = se2._run
        inner = run.call
        klat = np.empty(n_warm + n_timed, dtype=np.int64)
        slot = [0]

        def timed(*args, **kwargs):
            t0 = clock()
            r = inner(*args, **kwargs)
            klat[slot[0]] = clock() - t0
            slot[0] += 1
            return r

        run.call = timed
        for event in events:
            se2.process(event)
        k_us = klat[n_warm : slot[0]] / 1e3
        out["kernel_us"] = dict(
            zip(("p50", "p99", "p999"), np.percentile(k_us, [50, 99, 99.9]), strict=True)
        )
        out["kernel_us"]["mean"] = float(k_us.mean())
    except Exception as exc:
        out["kernel_us"] = None
        out["kernel_error"] = repr(exc)
    p = out["process_us"]
    print(
        f"  process(): p50 {p['p50']:.1f} µs, p99 {p['p99']:.1f} µs, p99.9 {p['p999']:.1f} µs, "
        f"mean {p['mean']:.1f} µs, max {p['max']:.0f} µs over {n_timed:,} events "
        f"(after {n_warm:,} warm-up; {flagged:,} decided above allow)"
    )
    if out["kernel_us"]:
        k = out["kernel_us"]
        print(
            f"  kernel call alone: p50 {k['p50']:.1f} µs, p99 {k['p99']:.1f} µs, "
            f"p99.9 {k['p999']:.1f} µs, mean {k['mean']:.1f} µs"
        )
    else:
        print(f"  kernel call alone: not measured ({out.get('kernel_error')})")
    return out


_CHILD = """
import json, sys, time
t0 = time.perf_counter()
from pathlib import Path
from engine.runtime import load_pack, StreamEngine
from engine.events import Deposit
t1 = time.perf_counter()
pack = load_pack([Path(sys.argv[1])])
t2 = time.perf_counter()
se = StreamEngine(pack)
d = se.process(Deposit(event_id="e1", player_id="p1", ts=1767225600000, market="MGA",
                       amount=1000, currency="EUR"))
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_pack_s": t2 - t1, "first_event_s": t3 - t2,
                  "action": d.action}))
"""


def _start(policies: Path, env: dict[str, str]) -> dict[str, float]:
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(policies)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"start-up child failed:\n{proc.stderr}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["wall_s"] = wall
    out["ready_s"] = out["load_pack_s"] + out["first_event_s"]
    return out


def bench_start(policies: Path, warm_runs: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="pitboss-bench-") as tmp:
        pitboss_cache, numba_cache = Path(tmp, "pitboss"), Path(tmp, "numba")
        env = {
            **os.environ,
            "PITBOSS_CACHE_DIR": str(pitboss_cache),
            "NUMBA_CACHE_DIR": str(numba_cache),
        }
        cold = _start(policies, env)
        files = [p for p in numba_cache.rglob("*") if p.is_file()]
        helper_files = [p for p in files if p.parent.name.startswith("engine_")]
        out["cold"] = cold
        out["numba_cache_files"] = len(files)
        out["numba_cache_helper_files"] = len(helper_files)
        warm = [_start(policies, env) for _ in range(warm_runs)]
        out["warm_runs"] = warm
        out["warm"] = min(warm, key=lambda r: r["ready_s"])
        out["warm_median_ready_s"] = statistics.median(r["ready_s"] for r in warm)
        # A new pack on an installed engine: empty pack cache, numba's own cache as usual
        # (the engine helpers' machine code already next to engine/kernels.py).
        env_pack = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
        env_pack["PITBOSS_CACHE_DIR"] = str(Path(tmp, "pitboss-only"))
        out["pack_cold"] = _start(policies, env_pack)
    for name in ("cold", "pack_cold", "warm"):
        r = out[name]
        print(
            f"  {name:9}: load_pack + first event {r['ready_s']:.2f} s "
            f"(load_pack {r['load_pack_s']:.2f} s, first event {r['first_event_s']:.2f} s; "
            f"imports {r['import_s']:.2f} s; process wall {r['wall_s']:.2f} s)"
        )
    print(
        f"  NUMBA_CACHE_DIR honoured in the cold run: {out['numba_cache_files']} files written, "
        f"{out['numba_cache_helper_files']} of them engine helpers"
    )
    return out


# ---- report -------------------------------------------------------------------------------


class _Table:
    """The closing table: what, measured, target, verdict (MET / MISSED, or blank)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []

    def info(self, what: str, measured: str) -> None:
        self.rows.append((what, measured, "", ""))

    def check(self, what: str, measured: str, target: str, ok: bool) -> None:
        self.rows.append((what, measured, target, "MET" if ok else "MISSED"))

    def print(self) -> None:
        head = ("what", "measured", "target", "")
        widths = [max(len(r[i]) for r in [head, *self.rows]) for i in range(4)]
        print()
        print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip())
        print("  ".join("-" * w for w in widths))
        for what, measured, target, verdict in self.rows:
            cells = (what.ljust(widths[0]), measured.rjust(widths[1]), target.rjust(widths[2]))
            print("  ".join((*cells, verdict)).rstrip())


def report(res: dict[str, Any]) -> None:
    table = _Table()
    whole, three, duck = res.get("batch_pack"), res.get("batch_three"), res.get("duckdb")
    if whole:
        table.check(
            "batch, standard pack, events/s per core",
            f"{whole['eps'] / 1e6:.2f} M/s",
            f"≥ {TARGET_BATCH_EPS / 1e6:.0f} M/s",
            whole["eps"] >= TARGET_BATCH_EPS,
        )
        if whole["kernel_s"] == whole["kernel_s"]:
            eps = whole["events"] / whole["kernel_s"]
            table.info("  of which the kernel calls alone", f"{eps / 1e6:.2f} M/s")
        table.info(
            "  encode_columns, not in the figure above", f"{whole['encode_eps'] / 1e6:.2f} M/s"
        )
    if three:
        table.info("batch, three rules, events/s per core", f"{three['eps'] / 1e6:.2f} M/s")
    if duck and whole and three:
        for threads in sorted({1, duck["default_threads"]}):
            sql_eps = whole["events"] / _sql_seconds(duck, threads)
            table.info(
                f"DuckDB, the three rules as SQL, threads={threads}", f"{sql_eps / 1e6:.2f} M/s"
            )
            for label, eng in (("standard pack", whole), ("three rules", three)):
                ratio = eng["eps"] / sql_eps
                what = f"{label} vs DuckDB three rules, threads={threads}"
                if threads == 1:
                    table.check(
                        what,
                        f"{ratio:.2f}×",
                        f"≥ {TARGET_VS_DUCKDB:.0f}×",
                        ratio >= TARGET_VS_DUCKDB,
                    )
                else:
                    table.info(what, f"{ratio:.2f}×")
    stream = res.get("stream")
    if stream:
        p = stream["process_us"]
        table.info("streaming process(), whole pack, p50", f"{p['p50']:.1f} µs")
        table.check(
            "streaming process(), whole pack, p99",
            f"{p['p99']:.1f} µs",
            f"≤ {TARGET_P99_US:.0f} µs",
            p["p99"] <= TARGET_P99_US,
        )
        table.info("streaming process(), whole pack, p99.9", f"{p['p999']:.1f} µs")
        if stream.get("kernel_us"):
            k = stream["kernel_us"]
            table.info(
                "  of which the kernel call, p50 / p99", f"{k['p50']:.1f} / {k['p99']:.1f} µs"
            )
    start = res.get("start")
    if start:
        cold, warm, pack_cold = start["cold"], start["warm"], start["pack_cold"]
        table.check(
            "cold: load_pack + first event, empty caches",
            f"{cold['ready_s']:.2f} s",
            f"≤ {TARGET_COLD_S:.0f} s",
            cold["ready_s"] <= TARGET_COLD_S,
        )
        table.info("new pack, engine helpers already cached", f"{pack_cold['ready_s']:.2f} s")
        table.check(
            "warm: load_pack + first event, from cache",
            f"{warm['ready_s']:.2f} s",
            f"≤ {TARGET_WARM_S:.0f} s",
            warm["ready_s"] <= TARGET_WARM_S,
        )
    table.print()


def _sql_seconds(duck: dict[str, Any], threads: int) -> float:
    """The three rules' SQL time: count and sum as two queries or as one, whichever is
    faster, plus the distinct query."""
    times = duck[f"threads={threads}"]["times"]
    return min(times["count"] + times["sum"], times["count+sum"]) + times["distinct"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=lambda s: int(s.replace("_", "")), default=10_000_000)
    ap.add_argument("--quick", action="store_true", help="1 M events, fewer repeats")
    ap.add_argument("--players", type=int, default=0, help="default: events / 30")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=0, help="timed runs, best kept (default 2)")
    ap.add_argument("--stream-events", type=int, default=200_000)
    ap.add_argument("--policies", type=Path, default=REPO / "policies")
    ap.add_argument("--skip-duckdb", action="store_true")
    ap.add_argument("--skip-stream", action="store_true")
    ap.add_argument("--skip-start", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    n = 1_000_000 if args.quick else args.events
    repeat = args.repeat or (1 if args.quick else 2)
    players = args.players or max(1_000, n // 30)

    import duckdb
    import numba

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB; "
        f"Python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}, "
        f"duckdb {duckdb.__version__}; load average {os.getloadavg()[0]:.2f}"
    )
    res: dict[str, Any] = {"events": n, "players": players, "seed": args.seed}

    t = time.perf_counter()
    cols = generate(n, players, args.seed)
    gen_s = time.perf_counter() - t
    mix = Counter(cols["type"].tolist())
    total = sum(mix.values())
    span = (cols["ts"][-1] - cols["ts"][0]) / DAY
    print(
        f"history: {n:,} events, {players:,} players, {span:.1f} days, seed {args.seed}, "
        f"generated in {gen_s:.1f} s"
    )
    names = list(EVENTS)
    print(
        "  mix: " + ", ".join(f"{names[c]} {100 * k / total:.1f} %" for c, k in mix.most_common())
    )
    res["mix"] = {names[c]: k for c, k in mix.items()}

    print("\nbatch (BatchEngine.run_encoded, one thread)")
    t = time.perf_counter()
    pack = _load(args.policies)
    print(f"  load_pack {args.policies.name}/: {time.perf_counter() - t:.2f} s")
    res["batch_pack"] = bench_batch(pack, cols, repeat, "standard pack")
    per_rule = res["batch_pack"]["per_rule"]
    quiet = [r.name for r in pack.program.rules if r.name not in per_rule]
    print("    hits per rule: " + ", ".join(f"{k} {v:,}" for k, v in sorted(per_rule.items())))
    print(f"    rules with no hit: {', '.join(quiet) or 'none'}")

    with tempfile.TemporaryDirectory(prefix="pitboss-three-") as tmp:
        path = Path(tmp, "bench_three.pol")
        path.write_text(THREE_RULES, encoding="utf-8")
        three = _load(path)
    res["batch_three"] = bench_batch(three, cols, repeat, "three rules")
    print(
        "    hits per rule: "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(res["batch_three"]["per_rule"].items()))
    )

    if not args.skip_duckdb:
        print(
            "\nDuckDB SQL windows (same history; COUNT(DISTINCT) OVER a RANGE frame is "
            "supported, so no self-join)"
        )
        duck = bench_duckdb(cols, repeat)
        res["duckdb"] = duck
        print(f"  loaded into a DuckDB table in {duck['load_s']:.2f} s (not timed below)")
        counts = duck["threads=1"]["counts"]
        engine_hits = res["batch_three"]["per_rule"]
        pairs = [("count", "deposit_count"), ("sum", "deposit_sum"), ("distinct", "device_players")]
        same = all(counts[q][0] == engine_hits.get(r, 0) for q, r in pairs)
        print(
            "  cross-check, SQL rows over threshold vs engine hits: "
            + ", ".join(f"{r} {counts[q][0]:,} / {engine_hits.get(r, 0):,}" for q, r in pairs)
            + (" — identical" if same else " — DIFFERENT")
        )
        res["duckdb_matches_engine"] = same
    del cols
    gc.collect()

    if not args.skip_stream:
        n_stream = min(args.stream_events, 20_000) if args.quick else args.stream_events
        print(f"\nstreaming (StreamEngine.process, whole pack, {n_stream:,} events)")
        res["stream"] = bench_stream(
            pack, n_stream, max(10_000, n_stream // 4), max(1_000, n_stream // 30), args.seed + 1
        )

    if not args.skip_start:
        print("\nstart-up (fresh processes)")
        res["start"] = bench_start(args.policies, warm_runs=1 if args.quick else 3)

    report(res)
    if args.json:
        args.json.write_text(json.dumps(res, indent=2, default=float), encoding="utf-8")


if __name__ == "__main__":
    main()
