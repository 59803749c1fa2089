"""Injected typologies that move money: structuring, pass-through, chargeback and
cancellation abuse, stolen cards, chasing losses.

Each generator takes the block's players labelled with its typology and adds their scheme
to the frame, every event of it carrying the typology's label. Their cover play (ordinary
sessions at a fraction of their segment's rate) is planned with everyone else's and stays
unlabelled. Parameters come from `[typologies.*]` of the scenario; money is drawn in EUR
and converted to the player's currency.
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from simulator import draw
from simulator.clock import DAY, HOUR, MINUTE, SECOND, Clock
from simulator.frame import Frame, Net
from simulator.population import HOSTING_SALT, Population, ip_of
from simulator.scenario import Scenario
from simulator.sessions import Ids, Sessions, network, play, sessions_for, usual_times
from simulator.vocab import (
    APPROVED,
    BANK_TRANSFER,
    CANCELLATION,
    CARD,
    CHARGEBACK,
    COUNTRY,
    DECLINED,
    DEPOSIT,
    EWALLET,
    LABEL,
    LIMIT_CHANGE,
    LIMIT_DEPOSIT,
    LIVE,
    LOGIN,
    LOGOUT,
    METHODS,
    SLOT,
    TABLE,
    WITHDRAWAL,
)

I64: TypeAlias = npt.NDArray[np.int64]
F64: TypeAlias = npt.NDArray[np.float64]

# Instrument code slots beyond a player's own three: extra cards and vouchers (smurfing,
# stolen cards) and a fresh e-wallet for cashing out.
EXTRA_SLOTS = (3, 4, 5)
CASHOUT_WALLET = 7


def psp_for(rng: draw.Rng, scn: Scenario, method: I64) -> I64:
    """A PSP for each payment of the given methods."""
    codes = {name: code for code, name in enumerate(scn.psp_names)}
    out = np.empty(len(method), dtype=np.int64)
    for m in np.unique(method):
        rows = np.flatnonzero(method == m)
        out[rows] = draw.pick_named(rng, scn.payments.psps[METHODS[int(m)]], codes, len(rows))
    return out


def local_times(
    rng: draw.Rng, clock: Clock, pop: Population, player: I64, day: I64, hours: tuple[int, int]
) -> I64:
    """Times on the given window days, between local hours `hours`."""
    local = (rng.uniform(hours[0], hours[1], len(player)) * HOUR).astype(np.int64)
    return clock.local_to_utc(pop.market[player], day, local)


def _episodes(
    rng: draw.Rng,
    scn: Scenario,
    clock: Clock,
    pop: Population,
    ids: Ids,
    player: I64,
    start: I64,
    label: str,
    *,
    kind: I64 | None = None,
) -> Sessions:
    """Sessions of the typology's players in their own style, to be adjusted."""
    s = sessions_for(
        rng,
        scn,
        clock,
        pop,
        ids,
        player,
        start,
        np.ones(len(player), dtype=bool),
        label=LABEL[label],
        kind=kind,
    )
    s.cashout = np.zeros(len(player), dtype=bool)
    s.redeposits = np.zeros(len(player), dtype=np.int64)
    return s


def _spend(s: Sessions, rng: draw.Rng, total: F64, most: int = 40) -> None:
    """Make each session stake about `total` (minor units) in a handful of bets."""
    bets = np.clip(np.round(total / np.maximum(s.stake, 1.0)), 0, most).astype(np.int64)
    bets = np.where(total > 0, np.maximum(bets, 1), 0)
    s.bets = bets
    s.stake = np.where(bets > 0, total / np.maximum(bets, 1), s.stake)


def _payment(
    frame: Frame,
    etype: int,
    player: I64,
    at: I64,
    amount: I64,
    method: I64,
    psp: I64,
    instrument: I64,
    card_country: I64,
    label: int,
    net: Net,
    status: int | I64 = APPROVED,
) -> int:
    return frame.add(
        etype,
        player,
        at,
        amount=amount,
        method=method,
        psp=psp,
        instrument=instrument,
        card_country=np.where(method == CARD, card_country, -1),
        status=status,
        label=label,
        net=net.rows(),
    )


def _visit(frame: Frame, player: I64, at: I64, net: Net, label: int, stay: I64) -> None:
    """A login and a logout around something done in between."""
    frame.add(LOGIN, player, at - stay, label=label, net=net.rows())
    frame.add(LOGOUT, player, at + stay, label=label, net=net.rows())


def structuring(
    rng: draw.Rng, scn: Scenario, clock: Clock, pop: Population, frame: Frame, ids: Ids
) -> None:
    """Deposits kept under a reporting line, several a day over a burst of days, spread
    over several cards and vouchers; a little play after each; the funds withdrawn at the
    end of the burst."""
    cfg = scn.typologies.structuring
    who = pop.of("structuring")
    label = LABEL["structuring"]
    n = len(who)
    if not n:
        return
    line_eur = np.array(cfg.lines)[draw.pick(rng, cfg.line_weights, n)]
    line = draw.round_amount(line_eur * pop.fx[who], pop.decimals[who]).astype(np.float64)
    days = np.minimum(draw.integers(rng, cfg.days, n), clock.days)
    first_day = (rng.random(n) * (clock.days - days + 1)).astype(np.int64)
    # Burst days: mostly consecutive, sometimes a day skipped.
    owner = np.repeat(np.arange(n), days)
    skip = (rng.random(len(owner)) < 0.25).astype(np.int64)
    offset = np.cumsum(1 + skip) - 1
    offset -= np.repeat(offset[np.cumsum(days) - days], days)
    day = np.minimum(first_day[owner] + offset, clock.days - 1)
    per_day = draw.integers(rng, cfg.deposits_per_day, len(owner))
    dep_owner = np.repeat(owner, per_day)
    dep_day = np.repeat(day, per_day)
    player = who[dep_owner]
    # Through the day: the first around late morning, the rest spread over the afternoon
    # and evening, each in a short session of its own.
    at = np.sort(local_times(rng, clock, pop, player, dep_day, (9, 23)))
    at = at[np.lexsort((at, dep_day, dep_owner))]
    at = np.maximum(at, pop.registered[player] + HOUR)
    s = _episodes(rng, scn, clock, pop, ids, player, at, "structuring")
    amount = line[dep_owner] * draw.uniform(rng, cfg.under_line, len(player))
    s.deposit = draw.nice(amount, pop.decimals[player], digits=2).astype(np.float64)
    s.deposit = np.minimum(s.deposit, line[dep_owner] - 10.0 ** pop.decimals[player])
    # Smurfing: the deposits rotate over the player's cards and a few prepaid vouchers.
    uses = draw.integers(rng, cfg.instruments, n)
    slot = rng.integers(0, 10_000, len(player)) % uses[dep_owner]
    gid = pop.first + player
    own = slot < pop.n_inst[player]
    slot_own = np.minimum(slot, pop.n_inst[player] - 1)
    extra_method = np.where(rng.random(len(player)) < 0.6, 3, CARD)  # prepaid or a card
    s.instrument = np.where(own, pop.inst[player, slot_own], gid * 8 + EXTRA_SLOTS[0] + slot)
    s.method = np.where(own, pop.inst_method[player, slot_own], extra_method)
    s.psp = np.where(own, pop.inst_psp[player, slot_own], psp_for(rng, scn, s.method))
    s.card_country = np.where(s.method == CARD, pop.country[player], -1)
    s.card_country = np.where(own, pop.inst_country[player, slot_own], s.card_country)
    _spend(s, rng, s.deposit * draw.uniform(rng, cfg.play_share, len(player)))
    played = play(rng, scn, clock, pop, frame, s)
    # The cash-out, at the end of the burst: one or two withdrawals to the bank account.
    total = np.bincount(dep_owner, weights=s.deposit, minlength=n)
    last = np.zeros(n, dtype=np.int64)
    np.maximum.at(last, dep_owner, played.end)
    out = draw.uniform(rng, cfg.withdraw_share, n) * total
    pieces = rng.integers(1, 3, n)
    w_owner, share = draw.split(rng, out, pieces)
    w_player = who[w_owner]
    w_at = last[w_owner] + (rng.uniform(0.5, 30, len(w_owner)) * HOUR).astype(np.int64)
    net = network(rng, scn, pop, w_player, w_at, ids)
    _payment(
        frame,
        WITHDRAWAL,
        w_player,
        w_at,
        draw.nice(share, pop.decimals[w_player], digits=2),
        np.full(len(w_owner), BANK_TRANSFER),
        pop.payout_psp[w_player],
        pop.payout[w_player],
        np.full(len(w_owner), -1),
        label,
        net,
    )
    _visit(frame, w_player, w_at, net, label, rng.integers(1, 5, len(w_owner)) * MINUTE)


def pass_through(
    rng: draw.Rng, scn: Scenario, clock: Clock, pop: Population, frame: Frame, ids: Ids
) -> None:
    """A large deposit, little or no play, and most of it withdrawn hours later, often
    to an account that never funded the casino."""
    cfg = scn.typologies.pass_through
    label = LABEL["pass_through"]
    who = pop.of("pass_through")
    episodes = draw.integers(rng, cfg.episodes, len(who))
    player = np.repeat(who, episodes)
    n = len(player)
    if not n:
        return
    at = usual_times(rng, scn, clock, pop, player, 0.0, 0.9)
    s = _episodes(rng, scn, clock, pop, ids, player, at, "pass_through")
    deposit = draw.lognormal(rng, cfg.deposit, n) * pop.fx[player]
    s.deposit = draw.round_amount(deposit, pop.decimals[player]).astype(np.float64)
    s.kind = np.where(rng.random(n) < 0.5, SLOT, LIVE)
    s.table = np.where(s.kind == LIVE, rng.integers(0, 60, n), -1)
    _spend(s, rng, s.deposit * draw.uniform(rng, cfg.play_share, n), most=12)
    played = play(rng, scn, clock, pop, frame, s)
    hold = (draw.uniform(rng, cfg.hold_hours, n) * HOUR).astype(np.int64)
    w_at = played.deposit_ts + np.maximum(hold, played.end - played.deposit_ts + MINUTE)
    remaining = np.maximum(s.deposit - played.staked + played.won, 0.1 * s.deposit)
    amount = draw.nice(
        np.minimum(remaining, s.deposit) * draw.uniform(rng, cfg.withdraw_share, n),
        pop.decimals[player],
        digits=2,
    )
    fresh = rng.random(n) < cfg.new_instrument_share
    wallet = rng.random(n) < 0.5
    gid = pop.first + player
    instrument = np.where(
        fresh, np.where(wallet, gid * 8 + CASHOUT_WALLET, pop.payout[player]), s.instrument
    )
    method = np.where(fresh, np.where(wallet, EWALLET, BANK_TRANSFER), s.method)
    psp = np.where(fresh, psp_for(rng, scn, method), s.psp)
    net = network(rng, scn, pop, player, w_at, ids)
    _payment(
        frame, WITHDRAWAL, player, w_at, amount, method, psp, instrument, s.card_country, label, net
    )
    _visit(frame, player, w_at, net, label, rng.integers(1, 6, n) * MINUTE)


def _card(rng: draw.Rng, scn: Scenario, pop: Population, s: Sessions) -> None:
    """Pay with a card: the player's own if they hold one, else a new one of theirs."""
    player = s.player
    has = pop.inst_method[player] == CARD
    slot = np.argmax(has, axis=1)
    own = has.any(axis=1)
    gid = pop.first + player
    s.instrument = np.where(own, pop.inst[player, slot], gid * 8 + EXTRA_SLOTS[0])
    s.method = np.full(len(player), CARD)
    s.psp = np.where(own, pop.inst_psp[player, slot], psp_for(rng, scn, s.method))
    s.card_country = np.where(own, pop.inst_country[player, slot], pop.country[player])


def chargeback_abuse(
    rng: draw.Rng, scn: Scenario, clock: Clock, pop: Population, frame: Frame, ids: Ids
) -> None:
    """Card deposits played and lost, then several of them disputed with the issuer days
    or weeks later ("friendly fraud")."""
    cfg = scn.typologies.chargeback_abuse
    label = LABEL["chargeback_abuse"]
    who = pop.of("chargeback_abuse")
    count = draw.integers(rng, cfg.deposits, len(who))
    player = np.repeat(who, count)
    n = len(player)
    if not n:
        return
    at = usual_times(rng, scn, clock, pop, player, 0.0, 0.7)
    s = _episodes(rng, scn, clock, pop, ids, player, at, "chargeback_abuse")
    s.deposit = draw.round_amount(
        draw.lognormal(rng, cfg.deposit, n) * pop.fx[player], pop.decimals[player]
    ).astype(np.float64)
    _card(rng, scn, pop, s)
    s.win_bias = np.full(n, 0.6)
    _spend(s, rng, s.deposit * rng.uniform(1.0, 1.6, n))
    played = play(rng, scn, clock, pop, frame, s)
    # Dispute some of the deposits (at least two per player when there are two).
    disputes = np.minimum(draw.integers(rng, cfg.chargebacks, len(who)), count)
    rank = _shuffled_rank(rng, np.repeat(np.arange(len(who)), count))
    c = np.flatnonzero(rank < np.repeat(disputes, count))
    delay = (draw.uniform(rng, cfg.delay_days, len(c)) * DAY).astype(np.int64)
    frame.add(
        CHARGEBACK,
        player[c],
        played.deposit_ts[c] + delay,
        amount=played.deposit_amount[c],
        ref=played.deposit_row[c],
        label=label,
    )


def _shuffled_rank(rng: draw.Rng, owner: I64) -> I64:
    """A random order 0, 1, 2, … within each owner's rows (owners contiguous)."""
    u = rng.random(len(owner))
    order = np.lexsort((u, owner))
    rank = np.empty(len(owner), dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(owner[order][1:] != owner[order][:-1]) + 1]
    lengths = np.diff(np.r_[starts, len(owner)])
    rank[order] = np.arange(len(owner)) - np.repeat(starts, lengths)
    return rank


def cancellation_abuse(
    rng: draw.Rng, scn: Scenario, clock: Clock, pop: Population, frame: Frame, ids: Ids
) -> None:
    """Deposits by bank transfer or wallet, credited at once, played, then cancelled
    before they settle, again and again within a couple of weeks."""
    cfg = scn.typologies.cancellation_abuse
    label = LABEL["cancellation_abuse"]
    who = pop.of("cancellation_abuse")
    count = draw.integers(rng, cfg.cancellations, len(who))
    player = np.repeat(who, count)
    n = len(player)
    if not n:
        return
    span = rng.uniform(3, 14, len(who)) * DAY
    begin = clock.start + rng.random(len(who)) * np.maximum(clock.days * DAY - span - 2 * DAY, 0)
    owner = np.repeat(np.arange(len(who)), count)
    at = draw.sorted_uniform(rng, owner, begin, begin + span).astype(np.int64)
    at = np.maximum(at, pop.registered[player] + HOUR)
    s = _episodes(rng, scn, clock, pop, ids, player, at, "cancellation_abuse")
    s.deposit = draw.round_amount(
        draw.lognormal(rng, cfg.deposit, n) * pop.fx[player], pop.decimals[player]
    ).astype(np.float64)
    s.method = np.where(rng.random(n) < 0.6, BANK_TRANSFER, EWALLET)
    s.psp = psp_for(rng, scn, s.method)
    s.instrument = np.where(
        s.method == BANK_TRANSFER, pop.payout[player], (pop.first + player) * 8 + EXTRA_SLOTS[1]
    )
    s.card_country = np.full(n, -1)
    _spend(s, rng, s.deposit * draw.uniform(rng, cfg.play_share, n))
    played = play(rng, scn, clock, pop, frame, s)
    delay = (draw.uniform(rng, cfg.delay_hours, n) * HOUR).astype(np.int64)
    frame.add(
        CANCELLATION,
        player,
        np.maximum(played.deposit_ts + delay, played.end - MINUTE),
        amount=played.deposit_amount,
        ref=played.deposit_row,
        label=label,
        net=s.net.rows(),
    )


def stolen_card(
    rng: draw.Rng, scn: Scenario, clock: Clock, pop: Population, frame: Frame, ids: Ids
) -> None:
    """Stolen card details: logins from new devices through VPN and hosting networks that
    change within the hour, card countries unlike the connection's, declined attempts,
    little play, a cash-out to a fresh wallet, and the cardholders' chargebacks."""
    cfg = scn.typologies.stolen_card
    label = LABEL["stolen_card"]
    who = pop.of("stolen_card")
    k = len(who)
    if not k:
        return
    gid = pop.first + who
    begin = np.where(
        pop.new[who],
        pop.registered[who] + rng.integers(2, 30, k) * MINUTE,
        clock.start + (rng.random(k) * clock.days * 0.75 * DAY).astype(np.int64),
    )
    attempts = draw.integers(rng, cfg.deposits, k)
    owner = np.repeat(np.arange(k), attempts)
    player = who[owner]
    n = len(player)
    gaps = rng.uniform(4, 45, n) * MINUTE
    elapsed = np.cumsum(gaps)
    first_row = np.cumsum(attempts) - attempts
    at = (begin[owner] + elapsed - elapsed[first_row][owner]).astype(np.int64)
    # Hopping: each attempt from one of the case's addresses and networks.
    hosting = np.array(scn.network.hosting_asns, dtype=np.int64)
    ips = draw.integers(rng, cfg.ips, k)
    asns = np.minimum(draw.integers(rng, cfg.asns, k), len(hosting))
    ip_pick = rng.integers(0, 1 << 30, n) % ips[owner]
    asn_pick = rng.integers(0, 1 << 30, n) % asns[owner]
    asn_base = rng.integers(0, len(hosting), k)
    asn = hosting[(asn_base[owner] + asn_pick) % len(hosting)]
    ip = ip_of(gid[owner] * 16 + ip_pick, HOSTING_SALT + 10)
    exits = draw.pick_named(rng, scn.network.abroad_countries, COUNTRY, n)
    ip_country = np.where(rng.random(n) < 0.5, pop.country[player], exits)
    device = gid[owner] * 4 + 2 + (rng.random(n) < 0.4)
    net = Net(ids.sessions(n), device, ip, asn, ip_country)
    cards = np.minimum(draw.integers(rng, cfg.cards, k), len(EXTRA_SLOTS))
    card_slot = rng.integers(0, 1 << 30, n) % cards[owner]
    card_country = draw.pick_named(rng, cfg.card_countries, COUNTRY, k * 3).reshape(k, 3)
    s = _episodes(rng, scn, clock, pop, ids, player, at, "stolen_card")
    s.net = net
    s.instrument = gid[owner] * 8 + EXTRA_SLOTS[0] + card_slot
    s.method = np.full(n, CARD)
    s.psp = psp_for(rng, scn, s.method)
    s.card_country = card_country[owner, card_slot]
    s.deposit = draw.round_amount(
        draw.lognormal(rng, cfg.deposit, n) * pop.fx[player], pop.decimals[player]
    ).astype(np.float64)
    s.kind = np.where(rng.random(n) < 0.5, SLOT, np.where(rng.random(n) < 0.5, LIVE, TABLE))
    s.table = np.where(s.kind == LIVE, rng.integers(0, 60, n), -1)
    declined = rng.random(n) < cfg.declined_share
    ok = np.flatnonzero(~declined)
    bad = np.flatnonzero(declined)
    frame.add(LOGIN, player[bad], at[bad], label=label, net=net.rows(bad))
    _payment(
        frame,
        DEPOSIT,
        player[bad],
        at[bad] + rng.integers(20, 90, len(bad)) * SECOND,
        s.deposit[bad].astype(np.int64),
        s.method[bad],
        s.psp[bad],
        s.instrument[bad],
        s.card_country[bad],
        label,
        net.at(bad),
        status=DECLINED,
    )
    frame.add(LOGOUT, player[bad], at[bad] + 3 * MINUTE, label=label, net=net.rows(bad))
    good = _subset(s, ok)
    _spend(good, rng, good.deposit * draw.uniform(rng, cfg.play_share, len(ok)), most=15)
    played = play(rng, scn, clock, pop, frame, good)
    # Cash out what is left to a fresh wallet, a few hours after the last attempt.
    left = np.bincount(owner[ok], weights=good.deposit - played.staked + played.won, minlength=k)
    last = np.zeros(k, dtype=np.int64)
    np.maximum.at(last, owner, at)
    cash = np.flatnonzero((rng.random(k) < cfg.cashout_share) & (left > 0))
    w_at = last[cash] + (rng.uniform(0.5, 8, len(cash)) * HOUR).astype(np.int64)
    w_net = Net(
        ids.sessions(len(cash)),
        gid[cash] * 4 + 2,
        ip_of(gid[cash] * 16 + 15, HOSTING_SALT + 10),
        hosting[asn_base[cash]],
        pop.country[who[cash]],
    )
    method = np.full(len(cash), EWALLET)
    _payment(
        frame,
        WITHDRAWAL,
        who[cash],
        w_at,
        draw.nice(left[cash] * rng.uniform(0.7, 1.0, len(cash)), pop.decimals[who[cash]]),
        method,
        psp_for(rng, scn, method),
        gid[cash] * 8 + CASHOUT_WALLET,
        np.full(len(cash), -1),
        label,
        w_net,
    )
    _visit(frame, who[cash], w_at, w_net, label, rng.integers(1, 4, len(cash)) * MINUTE)
    # The cardholders dispute the charges.
    cb = np.flatnonzero(rng.random(len(ok)) < cfg.chargeback_share)
    delay = (draw.uniform(rng, cfg.chargeback_delay_days, len(cb)) * DAY).astype(np.int64)
    frame.add(
        CHARGEBACK,
        good.player[cb],
        played.deposit_ts[cb] + delay,
        amount=played.deposit_amount[cb],
        ref=played.deposit_row[cb],
        label=label,
    )


def _subset(s: Sessions, rows: I64) -> Sessions:
    return Sessions(
        player=s.player[rows],
        start=s.start[rows],
        kind=s.kind[rows],
        bets=s.bets[rows],
        stake=s.stake[rows],
        deposit=s.deposit[rows],
        net=s.net.at(rows),
        instrument=s.instrument[rows],
        method=s.method[rows],
        psp=s.psp[rows],
        card_country=s.card_country[rows],
        table=s.table[rows],
        label=s.label[rows],
        redeposits=s.redeposits[rows],
        growth=s.growth[rows],
        win_bias=s.win_bias[rows],
        cashout=s.cashout[rows],
        bet_offset=s.bet_offset[rows],
    )


def chasing_losses(
    rng: draw.Rng, scn: Scenario, clock: Clock, pop: Population, frame: Frame, ids: Ids
) -> None:
    """Long losing sessions with deposits rising one after another, often at night, and
    sometimes a deposit limit raised on the way."""
    cfg = scn.typologies.chasing_losses
    label = LABEL["chasing_losses"]
    who = pop.of("chasing_losses")
    episodes = draw.integers(rng, cfg.episodes, len(who))
    player = np.repeat(who, episodes)
    n = len(player)
    if not n:
        return
    day = (rng.random(n) * clock.days).astype(np.int64)
    night = rng.random(n) < cfg.night_share
    local = np.where(night, rng.uniform(0, 3.5, n), rng.uniform(17, 22, n)) * HOUR
    at = clock.local_to_utc(pop.market[player], day, local.astype(np.int64))
    at = np.maximum(at, pop.registered[player] + HOUR)
    s = _episodes(rng, scn, clock, pop, ids, player, at, "chasing_losses")
    deposits = draw.integers(rng, cfg.deposits, n)
    growth = draw.uniform(rng, cfg.growth, n)
    first = draw.lognormal(rng, cfg.first_deposit, n) * pop.fx[player]
    s.deposit = draw.round_amount(first, pop.decimals[player]).astype(np.float64)
    s.redeposits = deposits - 1
    s.growth = growth
    total = s.deposit * (growth**deposits - 1) / np.maximum(growth - 1, 1e-9)
    s.win_bias = np.full(n, 0.45)
    s.stake = np.maximum(s.stake, total / 150)
    _spend(s, rng, total * draw.uniform(rng, cfg.turnover, n), most=300)
    played = play(rng, scn, clock, pop, frame, s)
    # A deposit limit set earlier, raised in the middle of the episode.
    r = np.flatnonzero(rng.random(n) < cfg.limit_raise_share)
    value = draw.round_amount(s.deposit[r] * rng.uniform(1.5, 3, len(r)), pop.decimals[player[r]])
    before = played.deposit_ts[r] - (rng.uniform(1, 20, len(r)) * HOUR).astype(np.int64)
    during = played.deposit_ts[r] + (played.end[r] - played.deposit_ts[r]) // 2
    frame.add(LIMIT_CHANGE, player[r], before, limit_kind=LIMIT_DEPOSIT, value=value, label=label)
    frame.add(
        LIMIT_CHANGE,
        player[r],
        during,
        limit_kind=LIMIT_DEPOSIT,
        value=value * rng.integers(2, 6, len(r)),
        label=label,
        net=s.net.rows(r),
    )
