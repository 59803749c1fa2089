"""Typologies about who the player is and whether they may play: documents that do not
match, minors, and play during a self-exclusion."""

from __future__ import annotations

from typing import Final, TypeAlias

import numpy as np
import numpy.typing as npt

from simulator import draw
from simulator.clock import DAY, HOUR, MINUTE, SECOND, Clock
from simulator.frame import Frame
from simulator.population import Population
from simulator.scenario import Scenario
from simulator.sessions import Ids, network, play, sessions_for
from simulator.vocab import (
    APPROVED,
    CARD,
    COUNTRY,
    KYC_UPDATE,
    LABEL,
    LIMIT_EXCLUSION,
    PENDING,
    REJECTED,
    SELF_EXCLUSION,
)

I64: TypeAlias = npt.NDArray[np.int64]

NEVER: Final = np.iinfo(np.int64).max
YEAR_DAYS: Final = 365.25


def prepare(rng: draw.Rng, scn: Scenario, clock: Clock, pop: Population) -> None:
    """Adjust typology players before anyone's sessions are planned: a minor's real date
    of birth, a mismatched identity's foreign cards."""
    minors = pop.of("underage")
    age = draw.uniform(rng, scn.typologies.underage.age, len(minors))
    pop.dob[minors] = clock.epoch_day(scn.scenario.start) - (age * YEAR_DAYS).astype(np.int64)
    joins = minors[rng.random(len(minors)) < 0.6]
    pop.new[joins] = True
    pop.kyc_level[joins] = 1
    pop.registered[joins] = clock.start + (rng.random(len(joins)) * 0.7 * clock.days * DAY).astype(
        np.int64
    )
    pop.activity[minors] = np.maximum(pop.activity[minors], 0.3)

    cfg = scn.typologies.kyc_mismatch
    odd = pop.of("kyc_mismatch")
    odd = odd[rng.random(len(odd)) < cfg.foreign_card_share]
    other = draw.pick_named(rng, scn.network.abroad_countries, COUNTRY, len(odd))
    is_card = pop.inst_method[odd] == CARD
    pop.inst_country[odd] = np.where(is_card, other[:, None], pop.inst_country[odd])


def _identity(
    rng: draw.Rng, pop: Population, frame: Frame, who: I64, label: int, declared: I64
) -> None:
    """The sign-up check: contact details verified, a date of birth declared."""
    frame.add(
        KYC_UPDATE,
        who,
        pop.registered[who] + rng.integers(5, 60, len(who)) * SECOND,
        kyc_level=1,
        status=APPROVED,
        dob=declared,
        ip_country=pop.country[who],
        label=label,
    )


def kyc_mismatch(rng: draw.Rng, scn: Scenario, clock: Clock, pop: Population, frame: Frame) -> None:
    """New accounts whose identity documents do not match the holder (someone else's,
    a forgery) or come from another country than where they connect, uploaded again and
    again."""
    cfg = scn.typologies.kyc_mismatch
    label = LABEL["kyc_mismatch"]
    who = pop.of("kyc_mismatch")
    _identity(rng, pop, frame, who, label, pop.dob[who])
    uploads = draw.integers(rng, cfg.uploads, len(who))
    player = np.repeat(who, uploads)
    n = len(player)
    if not n:
        return
    first = np.cumsum(uploads) - uploads
    gap = np.where(
        np.isin(np.arange(n), first),
        rng.uniform(0.2, 10, n) * DAY,
        rng.uniform(1, 72, n) * HOUR,
    )
    elapsed = np.cumsum(gap)
    at = pop.registered[player] + (elapsed - np.repeat(elapsed[first] - gap[first], uploads))
    # Uploads after the window are not in the history; bring them inside it, in order.
    rank = np.arange(n) - np.repeat(first, uploads)
    at = np.minimum(at, clock.end - (np.repeat(uploads, uploads) - rank) * 10 * MINUTE)
    mismatch = rng.random(n) < cfg.doc_mismatch_share
    foreign = rng.random(n) < cfg.foreign_doc_share
    # Every case has at least one bad upload: the first one.
    lead = np.zeros(n, dtype=bool)
    lead[first] = True
    forced = lead & ~mismatch & ~foreign
    pick_mismatch = rng.random(n) < cfg.doc_mismatch_share / max(
        cfg.doc_mismatch_share + cfg.foreign_doc_share, 1e-9
    )
    mismatch |= forced & pick_mismatch
    foreign |= forced & ~pick_mismatch
    other = draw.pick_named(rng, scn.network.abroad_countries, COUNTRY, n)
    other = np.where(other == pop.country[player], COUNTRY["DE"], other)
    frame.add(
        KYC_UPDATE,
        player,
        at.astype(np.int64),
        kyc_level=np.where(mismatch, 1, 2),
        status=np.where(mismatch, REJECTED, np.where(foreign, PENDING, APPROVED)),
        # Someone else's document: another, older date of birth.
        dob=pop.dob[player] - np.where(mismatch, rng.integers(700, 6_000, n), 0),
        doc_country=np.where(foreign, other, pop.country[player]),
        doc_match=np.where(mismatch, 0, 1),
        ip_country=pop.country[player],
        label=label,
    )


def underage(rng: draw.Rng, scn: Scenario, clock: Clock, pop: Population, frame: Frame) -> None:
    """Minors who signed up with an adult's date of birth; the document they upload gives
    their real age — unless it is a parent's."""
    cfg = scn.typologies.underage
    label = LABEL["underage"]
    who = pop.of("underage")
    n = len(who)
    years_short = (18 * YEAR_DAYS - (clock.epoch_day(scn.scenario.start) - pop.dob[who])).clip(0)
    declared = pop.dob[who] - (years_short + rng.uniform(1, 8, n) * YEAR_DAYS).astype(np.int64)
    _identity(rng, pop, frame, who, label, declared)
    parent = rng.random(n) < cfg.parent_document_share
    parent_dob = pop.dob[who] - (rng.uniform(22, 35, n) * YEAR_DAYS).astype(np.int64)
    since = np.maximum(pop.registered[who], clock.start)
    at = since + (rng.uniform(0.05, 0.6, n) * (clock.end - since)).astype(np.int64)
    frame.add(
        KYC_UPDATE,
        who,
        at,
        kyc_level=2,
        status=np.where(parent, APPROVED, REJECTED),
        dob=np.where(parent, parent_dob, pop.dob[who]),
        doc_country=pop.country[who],
        doc_match=np.where(parent & (rng.random(n) < 0.5), 0, 1),
        ip_country=pop.country[who],
        label=label,
    )


def self_exclusion_breach(
    rng: draw.Rng,
    scn: Scenario,
    clock: Clock,
    pop: Population,
    frame: Frame,
    ids: Ids,
    label_from: I64,
) -> None:
    """A self-exclusion, and play again on the same account before it ends: a few
    sessions, deposits and bets after days or hours. Everything the player does from the
    exclusion on carries the label (`label_from`)."""
    cfg = scn.typologies.self_exclusion_breach
    label = LABEL["self_exclusion_breach"]
    who = pop.of("self_exclusion_breach")
    k = len(who)
    if not k:
        return
    since = np.maximum(pop.registered[who], clock.start)
    at = since + (rng.uniform(0.05, 0.55, k) * (clock.end - since)).astype(np.int64)
    days = draw.uniform(rng, cfg.exclusion_days, k)
    indefinite = rng.random(k) < cfg.indefinite_share
    until = np.where(indefinite, -1, at + (days * DAY).astype(np.int64))
    net = network(rng, scn, pop, who, at, ids)
    frame.add(
        SELF_EXCLUSION,
        who,
        at,
        limit_kind=LIMIT_EXCLUSION,
        until=until,
        label=label,
        net=net.rows(),
    )
    label_from[who] = at
    back = at + (draw.uniform(rng, cfg.return_after_days, k) * DAY).astype(np.int64)
    back = np.minimum(back, clock.end - 2 * HOUR)
    sessions = draw.integers(rng, cfg.sessions, k)
    owner = np.repeat(np.arange(k), sessions)
    start = draw.sorted_uniform(
        rng, owner, back.astype(np.float64), np.maximum(back, clock.end - HOUR).astype(np.float64)
    ).astype(np.int64)
    player = who[owner]
    s = sessions_for(
        rng, scn, clock, pop, ids, player, start + MINUTE, np.ones(len(player), bool), label=label
    )
    play(rng, scn, clock, pop, frame, s)
