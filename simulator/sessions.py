"""Sessions of play: login, deposit, bets and wins, perhaps a re-deposit or a cash-out,
logout — generated for many sessions at once with array operations.

Honest players and typology players' cover activity are planned here too (`plan`); the
typologies build their own `Sessions` (a big deposit and little play, rising deposits
while losing, a ring at one table) and hand them to the same `play`.

Live tables and poker tables run on a shared clock: a table deals a round every
`round_ms`, so players generated in different blocks who sit at the same table at the same
time bet on the same round id, as they would at a real casino.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, TypeAlias

import numpy as np
import numpy.typing as npt

from simulator import draw
from simulator.clock import HOUR, MINUTE, SECOND, Clock
from simulator.frame import Frame, Net
from simulator.population import (
    ABROAD_SALT,
    CARRIER_SALT,
    HOME_SALT,
    HOSTING_SALT,
    Population,
    carrier_asn,
    ip_of,
    isp_asn,
)
from simulator.scenario import Scenario
from simulator.vocab import (
    APPROVED,
    BANK_TRANSFER,
    BET,
    COUNTRY,
    DECLINED,
    DEPOSIT,
    GAME_KINDS,
    HIGH_RISK_COUNTRIES,
    LIVE,
    LOGIN,
    LOGOUT,
    POKER,
    SELECTION,
    SLOT,
    SPORT,
    TABLE,
    WIN,
    WITHDRAWAL,
)

I64: TypeAlias = npt.NDArray[np.int64]
F64: TypeAlias = npt.NDArray[np.float64]
Bool: TypeAlias = npt.NDArray[np.bool_]

# Live tables: PUBLIC_TABLES busy ones, then a few VIP tables with high limits and few
# players. Poker tables after them. A table's code is its number.
PUBLIC_TABLES: Final = 60
VIP_TABLES: Final = 12
POKER_FIRST: Final = 100
POKER_TABLES: Final = 200
SLOT_GAMES: Final = 400
TABLE_GAMES: Final = 60
SPORT_MATCHES: Final = 300  # per day

# Per game kind: mean and minimum gap between bets (ms), chance a bet wins.
_GAP_MEAN: Final = np.array([5.0, 38.0, 14.0, 120.0, 55.0]) * SECOND
_GAP_MIN: Final = np.array([2.0, 20.0, 6.0, 15.0, 25.0]) * SECOND
_WIN_P: Final = np.array([0.28, 0.47, 0.45, 0.45, 0.33])
# Mean payout of a winning bet, as a multiple of the stake: RTP / P(win) for slots.
_SLOT_WIN_MU: Final = float(np.log(0.96 / 0.28) - 1.1**2 / 2)
_BACCARAT: Final = np.array([SELECTION["banker"], SELECTION["player"]])
_ROULETTE: Final = np.array([SELECTION["red"], SELECTION["black"]])
_SPORT_PICKS: Final = np.array([SELECTION[s] for s in ("home", "draw", "away", "over", "under")])
_TABLE_PICKS: Final = np.array([SELECTION[s] for s in ("banker", "player", "red", "black")])

SESSION_STRIDE: Final = 10_000_000
BONUS_STRIDE: Final = 10_000_000


def round_ms(table: I64) -> I64:
    """How often a table deals: live rounds 25–50 s, poker hands a minute."""
    live = 25 * SECOND + (table % 6) * 5 * SECOND
    out: I64 = np.where(table >= POKER_FIRST, 60 * SECOND, live)
    return out


def round_phase(table: I64) -> I64:
    out: I64 = (table * 7_919 * 13) % round_ms(table)
    return out


def round_at(table: I64, at: I64) -> tuple[I64, I64]:
    """The round a bet placed around `at` goes into: (round code, round start ms)."""
    length = round_ms(table)
    phase = round_phase(table)
    index = (at - phase) // length + 1
    return table * 1_000_000_000 + index, phase + index * length


def table_selection(table: I64, rng: draw.Rng) -> I64:
    """Baccarat sides at even tables, roulette colours at odd ones."""
    side = rng.integers(0, 2, len(table))
    out: I64 = np.where(table % 2 == 0, _BACCARAT[side], _ROULETTE[side])
    return out


class Ids:
    """Block-local counters for sessions and bonuses, made global by the block number."""

    def __init__(self, block: int) -> None:
        self.block = block
        self._sessions = 0
        self._bonuses = 0

    def sessions(self, n: int) -> I64:
        out = self.block * SESSION_STRIDE + self._sessions + np.arange(n, dtype=np.int64)
        self._sessions += n
        return out

    def bonuses(self, n: int) -> I64:
        out = self.block * BONUS_STRIDE + self._bonuses + np.arange(n, dtype=np.int64)
        self._bonuses += n
        return out


def network(rng: draw.Rng, scn: Scenario, pop: Population, player: I64, at: I64, ids: Ids) -> Net:
    """An ordinary player's connection for sessions starting at `at`: home broadband or
    the carrier's NAT, a trip abroad, a VPN now and then."""
    n = len(player)
    net = scn.network
    gid = pop.first + player
    country = pop.country[player]
    phone = rng.random(n) < 0.65
    device = pop.device[player, np.where(phone, 0, 1)]
    mobile = phone & (rng.random(n) < net.mobile_share / 0.65)
    carrier = gid % 3
    pool = rng.integers(0, net.carrier_pool, n)
    churn = rng.random(n) < net.home_ip_churn
    home = np.where(
        churn, ip_of(gid * 64 + 1 + rng.integers(0, 63, n), HOME_SALT), pop.home_ip[player]
    )
    ip = np.where(mobile, ip_of(country * 1_000 + carrier * 100 + pool, CARRIER_SALT), home)
    asn = np.where(mobile, carrier_asn(country, carrier), pop.home_asn[player])
    ip_country = country.copy()

    away = (pop.travel_from[player] <= at) & (at < pop.travel_to[player])
    there = pop.travel_country[player]
    ip = np.where(away, ip_of(there * 1_000 + rng.integers(0, 300, n), ABROAD_SALT), ip)
    asn = np.where(away, isp_asn(there, rng.integers(0, 4, n)), asn)
    ip_country = np.where(away, there, ip_country)

    vpn = pop.has("vpn")[player] & (rng.random(n) < 0.35)
    hosting = np.array(net.hosting_asns, dtype=np.int64)
    h = rng.integers(0, len(hosting), n)
    exit_country = draw.pick_named(rng, net.abroad_countries, COUNTRY, n)
    ip = np.where(vpn, ip_of(h * 1_000 + rng.integers(0, 40, n), HOSTING_SALT), ip)
    asn = np.where(vpn, hosting[h], asn)
    ip_country = np.where(vpn, exit_country, ip_country)

    risky = pop.has("high_risk_country")[player] & (rng.random(n) < 0.5)
    risky_country = np.array([COUNTRY[c] for c in HIGH_RISK_COUNTRIES])[rng.integers(0, 3, n)]
    ip_country = np.where(risky, risky_country, ip_country)
    return Net(ids.sessions(n), device, ip, asn, ip_country)


@dataclass
class Sessions:
    """Sessions to play. Money is in minor units of the player's currency."""

    player: I64
    start: I64
    kind: I64
    bets: I64
    stake: F64  # typical stake; each bet varies around it
    deposit: F64  # 0: the session plays from the balance
    net: Net
    instrument: I64
    method: I64
    psp: I64
    card_country: I64
    table: I64  # live or poker table, -1 for other games
    label: I64
    redeposits: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    growth: F64 = field(default_factory=lambda: np.zeros(0))  # next deposit / this one
    win_bias: F64 = field(default_factory=lambda: np.zeros(0))  # × chance of a win
    cashout: Bool = field(default_factory=lambda: np.zeros(0, dtype=bool))
    bet_offset: F64 = field(default_factory=lambda: np.zeros(0))  # s into a round, -1 random

    def __post_init__(self) -> None:
        n = len(self.player)
        if len(self.redeposits) != n:
            self.redeposits = np.zeros(n, dtype=np.int64)
        if len(self.growth) != n:
            self.growth = np.ones(n)
        if len(self.win_bias) != n:
            self.win_bias = np.ones(n)
        if len(self.cashout) != n:
            self.cashout = np.zeros(n, dtype=bool)
        if len(self.bet_offset) != n:
            self.bet_offset = np.full(n, -1.0)


@dataclass
class Played:
    """What `play` made, per session, for generators that build on it."""

    end: I64
    deposit_row: I64  # frame row of the session's first deposit, -1 if none
    deposit_ts: I64
    deposit_amount: I64
    deposited: F64
    staked: F64
    won: F64
    withdrawal_row: I64
    withdrawal_ts: I64
    withdrawn: F64


def instrument_for(rng: draw.Rng, pop: Population, player: I64) -> tuple[I64, I64, I64, I64]:
    """A deposit instrument of each player: mostly the first, sometimes another one."""
    slot = np.minimum(draw.pick(rng, [0.72, 0.2, 0.08], len(player)), pop.n_inst[player] - 1)
    return (
        pop.inst[player, slot],
        pop.inst_method[player, slot],
        pop.inst_psp[player, slot],
        pop.inst_country[player, slot],
    )


def usual_times(
    rng: draw.Rng,
    scn: Scenario,
    clock: Clock,
    pop: Population,
    player: I64,
    first: float = 0.0,
    last: float = 1.0,
) -> I64:
    """Session starts on days uniform over the share `[first, last)` of the window (not
    before the player signed up), at the local hours the player's segment plays."""
    n = len(player)
    joined = clock.day_of(np.maximum(pop.registered[player], clock.start))
    low = np.maximum(joined, int(first * clock.days))
    high = np.maximum(low + 1, int(np.ceil(last * clock.days)))
    day = np.minimum(low + (rng.random(n) * (high - low)).astype(np.int64), clock.days - 1)
    hour = np.empty(n, dtype=np.int64)
    seg_of = pop.segment[player]
    for s in np.unique(seg_of):
        rows = np.flatnonzero(seg_of == s)
        hour[rows] = draw.pick(rng, scn.hours[scn.segment(int(s)).hours], len(rows))
    local = hour * HOUR + rng.integers(0, HOUR, n)
    start = clock.local_to_utc(pop.market[player], day, local)
    out: I64 = np.maximum(start, pop.registered[player] + MINUTE)
    return out


def plan(rng: draw.Rng, scn: Scenario, clock: Clock, pop: Population, ids: Ids) -> Sessions:
    """Ordinary sessions of every active player (and typology players' cover play)."""
    window = clock.end - clock.start
    live_from = np.maximum(pop.registered, clock.start)
    share = np.clip((clock.end - live_from) / window, 0.0, 1.0)
    weekly = np.array([scn.segment(s).sessions_per_week for s in range(6)])[pop.segment]
    expected = weekly * clock.days / 7 * pop.activity * share
    count = rng.poisson(expected)
    # A new player who is active at all plays on the day they join.
    count = np.where(pop.new & (pop.activity > 0), np.maximum(count, 1), count)
    player = np.repeat(np.arange(pop.n, dtype=np.int64), count)
    n = len(player)
    start = usual_times(rng, scn, clock, pop, player)
    # The first session of a new player is right after sign-up.
    is_first = np.r_[True, player[1:] != player[:-1]] if n else np.zeros(0, dtype=bool)
    joined = pop.new[player] & is_first
    start = np.where(joined, pop.registered[player] + rng.integers(2, 30, n) * MINUTE, start)
    return sessions_for(rng, scn, clock, pop, ids, player, start, is_first & pop.new[player])


def sessions_for(
    rng: draw.Rng,
    scn: Scenario,
    clock: Clock,
    pop: Population,
    ids: Ids,
    player: I64,
    start: I64,
    first_deposit: Bool,
    *,
    label: int = 0,
    kind: I64 | None = None,
) -> Sessions:
    """Sessions of the players' own kind (segment's game mix, stakes, deposits)."""
    n = len(player)
    seg_of = pop.segment[player]
    if kind is None:
        kind = np.empty(n, dtype=np.int64)
        for s in np.unique(seg_of):
            rows = np.flatnonzero(seg_of == s)
            mix = scn.segment(int(s)).game_mix
            kind[rows] = draw.pick(rng, [mix.get(k, 0.0) for k in GAME_KINDS], len(rows))
    stake_range = np.array([scn.segment(s).stake for s in range(6)])
    deposit_range = np.array([scn.segment(s).deposit for s in range(6)])
    mean_bets = np.array([scn.segment(s).bets_per_session for s in range(6)])[seg_of]
    deposit_rate = np.array([scn.segment(s).deposit_rate for s in range(6)])[seg_of]
    fx = pop.fx[player]
    stake = _at(stake_range[seg_of], pop.stake_z[player]) * rng.lognormal(0, 0.3, n) * fx
    deposit = _at(deposit_range[seg_of], pop.deposit_z[player]) * rng.lognormal(0, 0.45, n)
    deposit = draw.round_amount(deposit * fx, pop.decimals[player]).astype(np.float64)
    deposit = np.where(first_deposit | (rng.random(n) < deposit_rate), deposit, 0.0)
    # Negative binomial counts: most sessions short, a few long.
    bets = 1 + rng.poisson(rng.gamma(1.5, np.maximum(mean_bets - 1, 0.1) / 1.5))
    bets = np.where(kind == SPORT, np.minimum(bets, 12), bets)
    table = np.full(n, -1, dtype=np.int64)
    live = np.flatnonzero(kind == LIVE)
    vip = pop.segment[player[live]] == 3  # high rollers sit at VIP tables
    public = draw.pick(rng, draw.zipf_weights(PUBLIC_TABLES, 0.8), len(live))
    table[live] = np.where(vip, PUBLIC_TABLES + rng.integers(0, VIP_TABLES, len(live)), public)
    poker = np.flatnonzero(kind == POKER)
    table[poker] = POKER_FIRST + draw.pick(rng, draw.zipf_weights(POKER_TABLES, 0.6), len(poker))
    instrument, method, psp, card_country = instrument_for(rng, pop, player)
    redeposits = np.where(
        (deposit > 0) & (rng.random(n) < scn.honest.redeposit_rate), rng.integers(1, 3, n), 0
    )
    return Sessions(
        player=player,
        start=start,
        kind=kind,
        bets=bets,
        stake=stake,
        deposit=deposit,
        net=network(rng, scn, pop, player, start, ids),
        instrument=instrument,
        method=method,
        psp=psp,
        card_country=card_country,
        table=table,
        label=np.full(n, label, dtype=np.int64),
        redeposits=redeposits,
        growth=rng.uniform(0.6, 1.4, n),
        cashout=np.ones(n, dtype=bool),
    )


def _at(bounds: F64, z: F64) -> F64:
    """Per-row lognormal quantiles of per-row `[p5, p95]` bounds."""
    low, high = np.log(np.maximum(bounds[:, 0], 1e-9)), np.log(np.maximum(bounds[:, 1], 1e-9))
    out: F64 = np.exp((low + high) / 2 + (high - low) / (2 * 1.6448536269514722) * z)
    return out


def play(
    rng: draw.Rng,
    scn: Scenario,
    clock: Clock,
    pop: Population,
    frame: Frame,
    s: Sessions,
) -> Played:
    """Add every event of the sessions to `frame`."""
    n = len(s.player)
    dec = pop.decimals[s.player]
    net = s.net
    t_dep = s.start + rng.integers(15, 90, n) * SECOND

    # Bets: per-session cumulative gaps after the deposit.
    nb = s.bets
    first = np.concatenate([[0], np.cumsum(nb)[:-1]]).astype(np.int64)
    sid = np.repeat(np.arange(n, dtype=np.int64), nb)
    kind = s.kind[sid]
    gaps = (rng.exponential(1.0, len(sid)) * _GAP_MEAN[kind] + _GAP_MIN[kind]).astype(np.int64)
    cs = np.cumsum(gaps)
    base = cs[first[sid]] - gaps[first[sid]]
    at = t_dep[sid] + 20 * SECOND + cs - base
    table = s.table[sid]
    at_table = table >= 0
    round_code = np.full(len(sid), -1, dtype=np.int64)
    if at_table.any():
        code, round_start = round_at(table[at_table], at[at_table])
        offset = s.bet_offset[sid][at_table]
        random_offset = rng.uniform(1.0, 13.0, len(offset))
        offset = np.where(offset < 0, random_offset, offset)
        at[at_table] = round_start + (offset * SECOND).astype(np.int64)
        round_code[at_table] = code
    pl = s.player[sid]
    stake = s.stake[sid] * rng.lognormal(0.0, 0.35, len(sid))
    # Chip-like stakes: one significant digit (0.2, 3, 50, 700).
    amount = draw.nice(stake, dec[sid], digits=1)
    game = _games(rng, kind, table, clock.day_of(at))
    selection = np.full(len(sid), -1, dtype=np.int64)
    live = kind == LIVE
    selection[live] = table_selection(table[live], rng)
    sport = kind == SPORT
    selection[sport] = _SPORT_PICKS[rng.integers(0, len(_SPORT_PICKS), int(sport.sum()))]
    tab = kind == TABLE
    selection[tab] = _TABLE_PICKS[rng.integers(0, len(_TABLE_PICKS), int(tab.sum()))]
    rows = net.rows(sid)
    frame.add(
        BET,
        pl,
        at,
        amount=amount,
        game=game,
        game_kind=kind,
        table=table,
        round=round_code,
        selection=selection,
        label=s.label[sid],
        net=rows,
    )

    # Wins.
    wins = rng.random(len(sid)) < _WIN_P[kind] * s.win_bias[sid]
    w = np.flatnonzero(wins)
    wk = kind[w]
    multiple = np.select(
        [wk == SLOT, wk == LIVE, wk == TABLE, wk == POKER],
        [
            np.exp(_SLOT_WIN_MU + 1.1 * rng.standard_normal(len(w))),
            np.full(len(w), 2.0),
            np.full(len(w), 2.0),
            1.0 + rng.lognormal(0.3, 0.6, len(w)),
        ],
        np.round(rng.lognormal(np.log(1.9), 0.35, len(w)) + 0.05, 2),
    )
    won = np.maximum(np.round(amount[w] * multiple), 1).astype(np.int64)
    delay = np.select(
        [wk == SLOT, wk == LIVE, wk == TABLE, wk == POKER],
        [
            rng.integers(800, 3_000, len(w)),
            np.full(len(w), 18 * SECOND),
            rng.integers(4, 10, len(w)) * SECOND,
            rng.integers(20, 55, len(w)) * SECOND,
        ],
        rng.integers(1, 48, len(w)) * HOUR,
    )
    settled_later = wk == SPORT  # settled by the bookmaker after the match, no session
    win_rows = rows[w].unless(settled_later)
    frame.add(
        WIN,
        pl[w],
        at[w] + delay,
        amount=won,
        game=game[w],
        game_kind=wk,
        table=table[w],
        round=round_code[w],
        selection=selection[w],
        label=s.label[sid[w]],
        net=win_rows,
    )
    staked = np.bincount(sid, weights=amount, minlength=n).astype(np.float64)
    won_total = np.bincount(sid[w], weights=won, minlength=n).astype(np.float64)
    last_bet = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last_bet, sid, at)
    end = np.maximum(last_bet, t_dep) + rng.integers(10, 120, n) * SECOND

    # Deposits: the first one after login, re-deposits spread through the session.
    has_dep = s.deposit > 0
    d = np.flatnonzero(has_dep)
    k = s.redeposits[d]
    owner = np.concatenate([d, np.repeat(d, k)])
    step = np.concatenate([np.zeros(len(d), dtype=np.int64), _steps(k)])
    frac = np.where(step == 0, 0.0, step / (s.redeposits[owner] + 1.0))
    dep_at = np.where(
        step == 0,
        t_dep[owner],
        t_dep[owner] + (frac * (end[owner] - t_dep[owner])).astype(np.int64),
    )
    dep_amount = s.deposit[owner] * s.growth[owner] ** step
    dep_amount = draw.round_amount(dep_amount, dec[owner])
    deposit_row = np.full(n, -1, dtype=np.int64)
    row0 = _payments(
        rng, scn, frame, DEPOSIT, s, owner, dep_at, dep_amount, s.instrument[owner], declines=True
    )
    deposit_row[d] = row0 + np.arange(len(d))
    deposit_ts = np.full(n, -1, dtype=np.int64)
    deposit_ts[d] = t_dep[d]
    deposit_amount = np.zeros(n, dtype=np.int64)
    deposit_amount[d] = dep_amount[: len(d)]
    deposited = np.bincount(owner, weights=dep_amount, minlength=n).astype(np.float64)

    # Cash-out of a session that ended well ahead.
    ahead = won_total - staked
    bank = np.maximum(deposited, 10 * s.stake)
    cash = s.cashout & (ahead > 0.25 * bank) & (rng.random(n) < scn.honest.cashout_rate)
    c = np.flatnonzero(cash)
    wd_amount = draw.round_amount(
        rng.uniform(0.5, 1.0, len(c)) * (ahead[c] + 0.3 * deposited[c]), dec[c]
    )
    wd_at = end[c] - rng.integers(5, 60, len(c)) * SECOND
    new_method = (rng.random(len(c)) < scn.honest.withdrawal_new_method_share) | (
        s.method[c] == 3  # prepaid vouchers cannot receive a payout
    )
    wd_inst = np.where(new_method, pop.payout[s.player[c]], s.instrument[c])
    wd_row = _payments(
        rng,
        scn,
        frame,
        WITHDRAWAL,
        s,
        c,
        wd_at,
        wd_amount,
        wd_inst,
        payout_to_bank=new_method,
        pop=pop,
    )
    withdrawal_row = np.full(n, -1, dtype=np.int64)
    withdrawal_row[c] = wd_row + np.arange(len(c))
    withdrawal_ts = np.full(n, -1, dtype=np.int64)
    withdrawal_ts[c] = wd_at
    withdrawn = np.zeros(n)
    withdrawn[c] = wd_amount

    frame.add(LOGIN, s.player, s.start, label=s.label, net=net.rows())
    frame.add(LOGOUT, s.player, end, label=s.label, net=net.rows())
    return Played(
        end=end,
        deposit_row=deposit_row,
        deposit_ts=deposit_ts,
        deposit_amount=deposit_amount,
        deposited=deposited,
        staked=staked,
        won=won_total,
        withdrawal_row=withdrawal_row,
        withdrawal_ts=withdrawal_ts,
        withdrawn=withdrawn,
    )


def _steps(k: I64) -> I64:
    """1, 2, …, k[i] for each i, concatenated."""
    if not len(k):
        return np.zeros(0, dtype=np.int64)
    owner_start = np.repeat(np.cumsum(k) - k, k)
    out: I64 = np.arange(int(k.sum()), dtype=np.int64) - owner_start + 1
    return out


def _payments(
    rng: draw.Rng,
    scn: Scenario,
    frame: Frame,
    etype: int,
    s: Sessions,
    owner: I64,
    at: I64,
    amount: I64,
    instrument: I64,
    *,
    declines: bool = False,
    payout_to_bank: Bool | None = None,
    pop: Population | None = None,
) -> int:
    """Deposits or withdrawals of sessions `owner`; a declined attempt may precede a
    deposit. Returns the frame row of the first approved payment."""
    method = s.method[owner]
    psp = s.psp[owner]
    card_country = s.card_country[owner]
    if payout_to_bank is not None and pop is not None:
        method = np.where(payout_to_bank, BANK_TRANSFER, method)
        psp = np.where(payout_to_bank, pop.payout_psp[s.player[owner]], psp)
        card_country = np.where(payout_to_bank, -1, card_country)
    rows = s.net.rows(owner)
    if declines:
        failed = np.flatnonzero(rng.random(len(owner)) < scn.payments.declined_rate)
        frame.add(
            etype,
            s.player[owner[failed]],
            at[failed] - rng.integers(5, 40, len(failed)) * SECOND,
            amount=amount[failed],
            method=method[failed],
            psp=psp[failed],
            instrument=instrument[failed],
            card_country=card_country[failed],
            status=DECLINED,
            label=s.label[owner[failed]],
            net=rows[failed],
        )
    return frame.add(
        etype,
        s.player[owner],
        at,
        amount=amount,
        method=method,
        psp=psp,
        instrument=instrument,
        card_country=card_country,
        status=APPROVED,
        label=s.label[owner],
        net=rows,
    )


def _games(rng: draw.Rng, kind: I64, table: I64, day: I64) -> I64:
    """Game ids: a slot from the catalogue (a few are popular), the live or poker table's
    own game, an RNG table game, or the match a sports bet is on."""
    out: I64 = 2_000 + table
    rows = np.flatnonzero(kind == SLOT)
    out[rows] = draw.pick(rng, draw.zipf_weights(SLOT_GAMES), len(rows))
    rows = np.flatnonzero(kind == TABLE)
    out[rows] = 1_000 + draw.pick(rng, draw.zipf_weights(TABLE_GAMES), len(rows))
    rows = np.flatnonzero(kind == SPORT)
    matches = draw.pick(rng, draw.zipf_weights(SPORT_MATCHES, 0.7), len(rows))
    out[rows] = 5_000_000 + day[rows] * 1_000 + matches
    return out
