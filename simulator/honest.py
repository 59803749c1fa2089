"""What honest players do besides playing sessions: identity checks, bonuses, limits,
self-exclusion — and the ordinary things that look suspicious (a chargeback, a cancelled
withdrawal, a high roller's quick cash-out after a big win)."""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from simulator import draw
from simulator.clock import DAY, HOUR, MINUTE, SECOND, Clock
from simulator.frame import Frame
from simulator.population import Population
from simulator.scenario import Scenario
from simulator.sessions import Ids, Played, Sessions, play, sessions_for
from simulator.vocab import (
    APPROVED,
    BONUS_GRANT,
    BONUS_RELEASE,
    BONUS_WAGER,
    CANCELLATION,
    CARD,
    CHARGEBACK,
    KYC_UPDATE,
    LABEL,
    LIMIT_CHANGE,
    LIMIT_DEPOSIT,
    LIMIT_EXCLUSION,
    LIMIT_LOSS,
    LIVE,
    MARKET_NAMES,
    SELF_EXCLUSION,
    SLOT,
    WIN,
    WITHDRAWAL,
)

I64: TypeAlias = npt.NDArray[np.int64]
F64: TypeAlias = npt.NDArray[np.float64]
Bool: TypeAlias = npt.NDArray[np.bool_]

# Typologies that make their own identity events.
_OWN_KYC = ("kyc_mismatch", "underage")


def kyc(
    rng: draw.Rng,
    scn: Scenario,
    clock: Clock,
    pop: Population,
    frame: Frame,
    first_withdrawal: I64,
) -> None:
    """Identity events: an existing player's verification, dated when it happened (before
    the window, so the engine knows the level), and a new player's sign-up check (level 1,
    the date of birth they declare) and document (level 2), usually before a first
    withdrawal."""
    own = np.isin(pop.typology, [LABEL[t] for t in _OWN_KYC])
    old = np.flatnonzero(~pop.new & ~own)
    level = pop.kyc_level[old]
    doc = level >= 2
    frame.add(
        KYC_UPDATE,
        old,
        pop.registered[old] + rng.integers(1, 72, len(old)) * HOUR,
        kyc_level=level,
        status=APPROVED,
        dob=pop.dob[old],
        doc_country=np.where(doc, pop.doc_country[old], -1),
        doc_match=np.where(doc, 1, -1),
    )
    new = np.flatnonzero(pop.new & ~own)
    frame.add(
        KYC_UPDATE,
        new,
        pop.registered[new] + rng.integers(5, 60, len(new)) * SECOND,
        kyc_level=1,
        status=APPROVED,
        dob=pop.dob[new],
        ip_country=pop.country[new],
    )
    withdrew = first_withdrawal[new] >= 0
    verifies = np.where(
        withdrew,
        rng.random(len(new)) < scn.honest.verify_before_withdrawal,
        rng.random(len(new)) < 0.5,
    )
    v = new[verifies]
    when = np.where(
        first_withdrawal[v] >= 0,
        first_withdrawal[v] - rng.integers(10, 180, len(v)) * MINUTE,
        pop.registered[v] + (rng.random(len(v)) * 10 * DAY).astype(np.int64),
    )
    when = np.maximum(when, pop.registered[v] + 5 * MINUTE)
    frame.add(
        KYC_UPDATE,
        v,
        when,
        kyc_level=2,
        status=APPROVED,
        dob=pop.dob[v],
        doc_country=pop.doc_country[v],
        doc_match=1,
        ip_country=pop.country[v],
    )
    # High rollers asked for source of funds during the window.
    up = np.flatnonzero(~pop.new & ~own & (pop.segment == 3) & (pop.kyc_level == 2))
    up = up[rng.random(len(up)) < 0.3]
    frame.add(
        KYC_UPDATE,
        up,
        clock.start + (rng.random(len(up)) * clock.days * DAY).astype(np.int64),
        kyc_level=3,
        status=APPROVED,
        dob=pop.dob[up],
        doc_country=pop.doc_country[up],
        doc_match=1,
        ip_country=pop.country[up],
    )


def bonuses(
    rng: draw.Rng,
    scn: Scenario,
    pop: Population,
    frame: Frame,
    ids: Ids,
    s: Sessions,
    played: Played,
) -> None:
    """Bonuses granted at the start of some sessions, wagered over the following hours or
    days (progress events from the bonus engine) and released when the requirement is
    met; many are forfeited."""
    seg = pop.segment[s.player]
    per_month = np.array([scn.segment(k).bonuses_per_month for k in range(6)])[seg]
    weekly = np.array([scn.segment(k).sessions_per_week for k in range(6)])[seg]
    p = np.minimum(per_month / (weekly * 30 / 7), 0.9)
    g = np.flatnonzero((rng.random(len(seg)) < p) & (s.label == 0))
    grant(rng, scn, pop, frame, ids, s, g, played.deposit_ts, label=0)


def grant(
    rng: draw.Rng,
    scn: Scenario,
    pop: Population,
    frame: Frame,
    ids: Ids,
    s: Sessions,
    g: I64,
    after: I64,
    *,
    label: int,
    bonus_eur: tuple[float, float] = (10.0, 150.0),
    multiple: F64 | None = None,
    release_hours: F64 | None = None,
) -> tuple[I64, I64]:
    """Grant a bonus in sessions `g` and wager it; `multiple` (× bonus) and
    `release_hours` force the wagering done and its duration. Returns (bonus codes,
    release times, -1 where forfeited)."""
    n = len(g)
    player = s.player[g]
    fx = pop.fx[player]
    dec = pop.decimals[player]
    at = np.maximum(s.start[g] + rng.integers(30, 120, n) * SECOND, after[g] + 20 * SECOND)
    deposit = np.where(s.deposit[g] > 0, s.deposit[g], draw.lognormal(rng, bonus_eur, n) * fx)
    amount = draw.round_amount(np.clip(deposit, bonus_eur[0] * fx, bonus_eur[1] * fx), dec)
    code = ids.bonuses(n)
    frame.add(BONUS_GRANT, player, at, amount=amount, bonus=code, label=label, net=s.net.rows(g))
    requirement = np.array([scn.honest.wagering[m] for m in MARKET_NAMES])[pop.market[player]]
    free = rng.random(n) < scn.honest.no_wager_bonus_share
    requirement = np.where(free, 0.0, requirement)
    complete = rng.random(n) < 0.55
    if multiple is None:
        multiple = np.where(
            complete,
            requirement * rng.uniform(1.0, 1.1, n),
            requirement * rng.uniform(0.05, 0.9, n),
        )
    else:
        complete = np.ones(n, dtype=bool)
    hours = draw.lognormal(rng, (3.0, 120.0), n) if release_hours is None else release_hours
    span = np.maximum(hours * HOUR, 2 * MINUTE).astype(np.int64)
    wagered = multiple * amount
    parts = np.where(wagered > 0, rng.integers(2, 9, n), 0)
    owner, share = draw.split(rng, wagered, parts)
    when = draw.sorted_uniform(rng, owner, at.astype(np.float64), (at + span).astype(np.float64))
    frame.add(
        BONUS_WAGER,
        player[owner],
        when.astype(np.int64) + MINUTE,
        amount=np.maximum(np.round(share), 1).astype(np.int64),
        bonus=code[owner],
        label=label,
    )
    release = np.where(complete, at + span + rng.integers(2, 30, n) * MINUTE, -1)
    r = np.flatnonzero(complete)
    frame.add(BONUS_RELEASE, player[r], release[r], amount=amount[r], bonus=code[r], label=label)
    return code, release


def limits(rng: draw.Rng, scn: Scenario, clock: Clock, pop: Population, frame: Frame) -> None:
    """Responsible-gambling limits players set themselves, and change later: usually
    lowered, sometimes raised (a raise soon after a change is a warning sign; honest
    players do it too)."""
    who = np.flatnonzero((pop.activity > 0) & (rng.random(pop.n) < scn.honest.limit_change_rate))
    changes = rng.integers(1, 4, len(who))
    player = np.repeat(who, changes)
    step = _rank(player)
    head = np.repeat(np.cumsum(changes) - changes, changes)  # each player's first change
    begin = clock.start + rng.random(len(who)) * clock.days * DAY * 0.6
    gap = np.where(step == 0, 0.0, draw.lognormal(rng, (2.0, 360.0), len(player)) * HOUR)
    elapsed = np.cumsum(gap)
    at = np.repeat(begin, changes) + elapsed - elapsed[head]
    first_value = draw.lognormal(rng, (50.0, 2_000.0), len(who)) * pop.fx[who]
    factor = np.where(step == 0, 0.0, np.log(np.where(rng.random(len(player)) < 0.35, 2, 0.5)))
    log_value = np.cumsum(factor)
    value = np.repeat(first_value, changes) * np.exp(log_value - log_value[head])
    kind = np.repeat(np.where(rng.random(len(who)) < 0.8, LIMIT_DEPOSIT, LIMIT_LOSS), changes)
    frame.add(
        LIMIT_CHANGE,
        player,
        at.astype(np.int64),
        limit_kind=kind,
        value=draw.round_amount(value, pop.decimals[player]),
    )


def _rank(owner: I64) -> I64:
    """0, 1, 2, … within each run of equal, contiguous owners."""
    if not len(owner):
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(owner[1:] != owner[:-1]) + 1]
    lengths = np.diff(np.r_[starts, len(owner)])
    out: I64 = np.arange(len(owner)) - np.repeat(starts, lengths)
    return out


def self_exclusions(
    rng: draw.Rng, pop: Population, frame: Frame, s: Sessions, played: Played
) -> tuple[I64, I64]:
    """Honest players who self-exclude at the end of a session and keep to it. Returns
    (player, time) so the generator drops what they would have done afterwards."""
    who = pop.has("self_excluded")[s.player]
    rows = np.flatnonzero(who)
    if not len(rows):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    # One session per player: the first of theirs in a random order.
    shuffled = rows[rng.permutation(len(rows))]
    _, first = np.unique(s.player[shuffled], return_index=True)
    chosen = shuffled[first]
    player = s.player[chosen]
    at = played.end[chosen] - 5 * SECOND
    months = rng.choice(np.array([6, 12, 60, 0]), len(chosen))
    until = np.where(months > 0, at + months * 30 * DAY, -1)
    frame.add(
        SELF_EXCLUSION,
        player,
        at,
        limit_kind=LIMIT_EXCLUSION,
        until=until,
        net=s.net.rows(chosen),
    )
    return player, at


def reversals(
    rng: draw.Rng, scn: Scenario, pop: Population, frame: Frame, s: Sessions, played: Played
) -> None:
    """An honest player's single chargeback on a card deposit, and withdrawals the
    player cancels to keep playing."""
    one = np.flatnonzero(
        pop.has("one_chargeback")[s.player] & (played.deposit_row >= 0) & (s.method == CARD)
    )
    shuffled = one[rng.permutation(len(one))]
    _, first = np.unique(s.player[shuffled], return_index=True)
    c = shuffled[first]
    frame.add(
        CHARGEBACK,
        s.player[c],
        played.deposit_ts[c] + (rng.uniform(5, 25, len(c)) * DAY).astype(np.int64),
        amount=played.deposit_amount[c],
        ref=played.deposit_row[c],
    )
    w = np.flatnonzero(played.withdrawal_row >= 0)
    w = w[rng.random(len(w)) < scn.honest.withdrawal_cancel_rate]
    frame.add(
        CANCELLATION,
        s.player[w],
        played.withdrawal_ts[w] + rng.integers(5, 180, len(w)) * MINUTE,
        amount=played.withdrawn[w].astype(np.int64),
        ref=played.withdrawal_row[w],
        net=s.net.rows(w),
    )


def big_wins(
    rng: draw.Rng,
    scn: Scenario,
    clock: Clock,
    pop: Population,
    frame: Frame,
    ids: Ids,
) -> None:
    """A high roller deposits big, hits a big win within a few bets and cashes out the
    same day: the shape of a pass-through, with play and a win in it."""
    who = np.flatnonzero(pop.has("big_win_cashout") & (pop.activity > 0))
    n = len(who)
    start = clock.start + (rng.random(n) * (clock.days - 1) * DAY).astype(np.int64)
    start = np.maximum(start, pop.registered[who] + HOUR)
    kind = np.where(rng.random(n) < 0.6, LIVE, SLOT)
    s = sessions_for(rng, scn, clock, pop, ids, who, start, np.ones(n, dtype=bool), kind=kind)
    s.deposit = draw.round_amount(s.deposit * rng.uniform(1.5, 3.0, n), pop.decimals[who]).astype(
        np.float64
    )
    s.bets = rng.integers(3, 14, n)
    s.stake = s.deposit * rng.uniform(0.03, 0.25, n)
    s.cashout = np.zeros(n, dtype=bool)
    s.redeposits = np.zeros(n, dtype=np.int64)
    played = play(rng, scn, clock, pop, frame, s)
    prize = np.round(s.deposit * rng.uniform(1.5, 4.0, n)).astype(np.int64)
    frame.add(
        WIN,
        who,
        played.end - 90 * SECOND,
        amount=prize,
        game=np.where(kind == LIVE, 2_000 + s.table, rng.integers(0, 400, n)),
        game_kind=kind,
        net=s.net.rows(),
    )
    wd = draw.round_amount(
        (s.deposit + prize - played.staked + played.won) * rng.uniform(0.6, 0.95, n),
        pop.decimals[who],
    )
    frame.add(
        WITHDRAWAL,
        who,
        played.end + (rng.random(n) * 6 * HOUR).astype(np.int64),
        amount=wd,
        method=s.method,
        psp=s.psp,
        instrument=s.instrument,
        card_country=s.card_country,
        status=APPROVED,
        net=s.net.rows(),
    )
