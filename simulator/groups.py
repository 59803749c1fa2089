"""Typologies run by groups of accounts: bonus-abuse farms (multi-accounting) and
collusion rings at live and poker tables."""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from simulator import draw
from simulator.clock import HOUR, MINUTE, SECOND, Clock
from simulator.frame import Frame, Net
from simulator.honest import grant
from simulator.population import FARM_SALT, Population, ip_of
from simulator.scenario import Scenario
from simulator.sessions import (
    POKER_FIRST,
    POKER_TABLES,
    PUBLIC_TABLES,
    VIP_TABLES,
    Ids,
    network,
    play,
    round_ms,
    round_phase,
)
from simulator.typologies import CASHOUT_WALLET, _episodes, _payment, _spend, _visit, psp_for
from simulator.vocab import (
    BET,
    EWALLET,
    LABEL,
    LIVE,
    LOGIN,
    LOGOUT,
    POKER,
    SELECTION,
    TABLE,
    WIN,
    WITHDRAWAL,
)

I64: TypeAlias = npt.NDArray[np.int64]
Group: TypeAlias = tuple[str, I64]


def multi_accounting(
    rng: draw.Rng,
    scn: Scenario,
    clock: Clock,
    pop: Population,
    frame: Frame,
    ids: Ids,
    groups: list[Group],
) -> None:
    """Farms: accounts opened days apart by one person, on a device or two and usually one
    address, often funded from one wallet; each claims the welcome bonus, clears it with
    little wagering on low-risk games (sometimes hedged at one table) and cashes out."""
    cfg = scn.typologies.multi_accounting
    label = LABEL["multi_accounting"]
    farms = [members for kind, members in groups if kind == "multi_accounting"]
    if not farms:
        return
    player = np.concatenate(farms)
    farm = np.repeat(np.arange(len(farms)), [len(m) for m in farms])
    lead = np.array([m[0] for m in farms])[farm]
    n = len(player)
    lead_gid = pop.first + lead
    devices = draw.integers(rng, cfg.devices, len(farms))[farm]
    device = lead_gid * 4 + 2 + rng.integers(0, 1 << 30, n) % devices
    shared_ip = (rng.random(len(farms)) < cfg.shared_ip_share)[farm]
    proxy = ip_of(pop.block * 10_000 + farm, FARM_SALT)
    start = pop.registered[player] + rng.integers(2, 20, n) * MINUTE
    base = network(rng, scn, pop, player, start, ids)
    ip = np.where(shared_ip, proxy, base.ip)
    net = Net(base.session, device, ip, base.asn, base.ip_country)
    s = _episodes(rng, scn, clock, pop, ids, player, start, "multi_accounting")
    s.net = net
    low_risk = rng.random(n) < cfg.low_risk_share
    s.kind = np.where(low_risk, np.where(rng.random(n) < 0.6, LIVE, TABLE), s.kind)
    farm_table = rng.integers(0, PUBLIC_TABLES, len(farms))[farm]
    s.table = np.where(s.kind == LIVE, farm_table, -1)
    wallet = (rng.random(len(farms)) < cfg.shared_instrument_share)[farm]
    s.instrument = np.where(wallet, lead_gid * 8 + CASHOUT_WALLET, s.instrument)
    s.method = np.where(wallet, EWALLET, s.method)
    s.psp = np.where(wallet, psp_for(rng, scn, np.full(n, EWALLET)), s.psp)
    s.card_country = np.where(wallet, -1, s.card_country)
    deposit = draw.round_amount(rng.uniform(10, 50, n) * pop.fx[player], pop.decimals[player])
    s.deposit = deposit.astype(np.float64)
    bonus_eur = cfg.bonus
    multiple = draw.uniform(rng, cfg.wager_multiple, n)
    expected_bonus = np.sqrt(bonus_eur[0] * bonus_eur[1]) * pop.fx[player]
    _spend(s, rng, multiple * expected_bonus, most=60)
    played = play(rng, scn, clock, pop, frame, s)
    release_hours = draw.uniform(rng, cfg.release_hours, n)
    _, release = grant(
        rng,
        scn,
        pop,
        frame,
        ids,
        s,
        np.arange(n),
        played.deposit_ts,
        label=label,
        bonus_eur=bonus_eur,
        multiple=multiple,
        release_hours=release_hours,
    )
    cash = np.flatnonzero((rng.random(n) < cfg.withdraw_share) & (release >= 0))
    w_at = release[cash] + (rng.uniform(0.2, 12, len(cash)) * HOUR).astype(np.int64)
    amount = draw.round_amount(
        (s.deposit[cash] + expected_bonus[cash]) * rng.uniform(0.8, 1.3, len(cash)),
        pop.decimals[player[cash]],
    )
    w_net = Net(
        ids.sessions(len(cash)), device[cash], ip[cash], base.asn[cash], base.ip_country[cash]
    )
    method = np.full(len(cash), EWALLET)
    _payment(
        frame,
        WITHDRAWAL,
        player[cash],
        w_at,
        amount,
        method,
        psp_for(rng, scn, method),
        lead_gid[cash] * 8 + CASHOUT_WALLET,
        np.full(len(cash), -1),
        label,
        w_net,
    )
    _visit(frame, player[cash], w_at, w_net, label, rng.integers(1, 5, len(cash)) * MINUTE)


def collusion(
    rng: draw.Rng,
    scn: Scenario,
    clock: Clock,
    pop: Population,
    frame: Frame,
    ids: Ids,
    groups: list[Group],
) -> None:
    """Rings at one table: every member bets on the same round within seconds of the
    others, on opposite sides (the ring cannot lose much, and a bonus gets wagered or
    money moves from one account to another), round after round, several evenings.
    Poker rings sit at one table from one address and dump chips to one member."""
    cfg = scn.typologies.collusion
    label = LABEL["collusion"]
    rings = [members for kind, members in groups if kind == "collusion"]
    if not rings:
        return
    r = len(rings)
    size = np.array([len(m) for m in rings])
    poker = rng.random(r) < cfg.poker_share
    sittings = draw.integers(rng, cfg.sittings, r)
    # One row per sitting.
    ring_of = np.repeat(np.arange(r), sittings)
    k = len(ring_of)
    private = rng.random(k) < cfg.private_table_share
    table = np.where(
        private,
        PUBLIC_TABLES + rng.integers(0, VIP_TABLES, k),
        draw.pick(rng, draw.zipf_weights(PUBLIC_TABLES, 0.8), k),
    )
    table = np.where(poker[ring_of], POKER_FIRST + rng.integers(0, POKER_TABLES, k), table)
    lead = np.array([m[0] for m in rings])[ring_of]
    day = (rng.random(k) * clock.days).astype(np.int64)
    local = (rng.uniform(18, 23.5, k) * HOUR).astype(np.int64)
    t0 = clock.local_to_utc(pop.market[lead], day, local)
    length = round_ms(table)
    phase = round_phase(table)
    first_round = (t0 - phase) // length + 1
    rounds = draw.integers(rng, cfg.rounds, k)
    # One row per (sitting, round).
    sit = np.repeat(np.arange(k), rounds)
    index = first_round[sit] + _steps(rounds) - 1
    round_start = phase[sit] + index * length[sit]
    round_code = table[sit] * 1_000_000_000 + index
    lead_offset = rng.uniform(1.0, 8.0, len(sit))
    winner_side = rng.integers(0, 2, len(sit))
    # One row per (sitting, round, member).
    members = size[ring_of][sit]
    row = np.repeat(np.arange(len(sit)), members)
    member = _steps(members) - 1
    roster = np.zeros((r, int(size.max())), dtype=np.int64)
    for i, m in enumerate(rings):
        roster[i, : len(m)] = m
    player = roster[ring_of[sit[row]], member]
    sits_out = rng.random(len(row)) < 0.08
    row, member, player = row[~sits_out], member[~sits_out], player[~sits_out]
    spread = draw.uniform(rng, cfg.sync_seconds, k)[sit[row]]
    at = (
        round_start[row]
        + (lead_offset[row] * SECOND).astype(np.int64)
        + (rng.random(len(row)) * spread * SECOND).astype(np.int64)
    )
    stake_eur = draw.lognormal(rng, cfg.stake, k)[sit[row]] * rng.lognormal(0, 0.15, len(row))
    amount = draw.nice(stake_eur * pop.fx[player], pop.decimals[player], digits=1)
    side = member % 2
    is_poker = table[sit[row]] >= POKER_FIRST
    baccarat = table[sit[row]] % 2 == 0
    selection = np.where(
        is_poker,
        -1,
        np.where(
            baccarat,
            np.where(side == 0, SELECTION["banker"], SELECTION["player"]),
            np.where(side == 0, SELECTION["red"], SELECTION["black"]),
        ),
    )
    kind = np.where(is_poker, POKER, LIVE)
    # Each member's connection for the sitting; a poker ring shares one address.
    sit_member = sit[row] * (int(size.max()) + 1) + member
    uniq, inverse = np.unique(sit_member, return_inverse=True)
    first_of = np.zeros(len(uniq), dtype=np.int64)
    first_of[inverse[::-1]] = np.arange(len(inverse))[::-1]
    who = player[first_of]
    login_at = t0[sit[row[first_of]]] - rng.integers(1, 10, len(uniq)) * MINUTE
    net = network(rng, scn, pop, who, login_at, ids)
    shared = ip_of(pop.block * 10_000 + 5_000 + ring_of[sit[row[first_of]]], 6)
    net.ip = np.where(table[sit[row[first_of]]] >= POKER_FIRST, shared, net.ip)
    rows = net.rows(inverse)
    game = 2_000 + table[sit[row]]
    frame.add(
        BET,
        player,
        at,
        amount=amount,
        game=game,
        game_kind=kind,
        table=table[sit[row]],
        round=round_code[row],
        selection=selection,
        label=label,
        net=rows,
    )
    # Outcomes: one side of a hedged live round wins (even money); a poker hand's pot
    # goes to the ring's chosen member most of the time.
    live_win = ~is_poker & (side == winner_side[row])
    poker_win = is_poker & (member == 0) & (rng.random(len(row)) < 0.8)
    w = np.flatnonzero(live_win | poker_win)
    pot = np.where(is_poker[w], amount[w] * members[row[w]], amount[w] * 2)
    frame.add(
        WIN,
        player[w],
        round_start[row[w]] + length[sit[row[w]]] - 3 * SECOND,
        amount=pot,
        game=game[w],
        game_kind=kind[w],
        table=table[sit[row[w]]],
        round=round_code[row[w]],
        selection=selection[w],
        label=label,
        net=rows[w],
    )
    last = np.zeros(len(uniq), dtype=np.int64)
    np.maximum.at(last, inverse, at)
    frame.add(LOGIN, who, login_at, label=label, net=net.rows())
    frame.add(
        LOGOUT, who, last + rng.integers(1, 15, len(uniq)) * MINUTE, label=label, net=net.rows()
    )


def _steps(k: I64) -> I64:
    """1, 2, …, k[i] for each i, concatenated."""
    if not len(k):
        return np.zeros(0, dtype=np.int64)
    out: I64 = np.arange(int(k.sum()), dtype=np.int64) - np.repeat(np.cumsum(k) - k, k) + 1
    return out
