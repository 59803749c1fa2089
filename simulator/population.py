"""The players of one block: who they are, where, with what money, devices and networks,
and which of them run a typology (alone, or as a farm or ring) or look suspicious.

Everything is an array over the block's players (index 0 … n-1; the global player index
is `first + i`). Ids of devices, instruments and addresses are derived from the global
player index, so they are unique across blocks without any coordination between them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, TypeAlias

import numpy as np
import numpy.typing as npt

from dsl.vocabulary import minor_units
from engine.fx import RateTable
from simulator import draw
from simulator.clock import DAY, HOUR, Clock
from simulator.scenario import Scenario
from simulator.vocab import (
    COUNTRY,
    CURRENCIES,
    CURRENCY,
    HIGH_RISK_COUNTRIES,
    LABEL,
    MARKET_NAMES,
    METHOD,
    METHODS,
    SEGMENTS,
    TRAIT_BIT,
    TYPOLOGIES,
)

I64: TypeAlias = npt.NDArray[np.int64]
F64: TypeAlias = npt.NDArray[np.float64]
Bool: TypeAlias = npt.NDArray[np.bool_]

INSTRUMENTS: Final = 3  # deposit instruments a player may hold
PAYOUT_SLOT: Final = 6  # instrument code slot of the bank account payouts go to
SEGMENT: Final = {name: code for code, name in enumerate(SEGMENTS)}

# What ordinary play a typology's players look like when they are not at it.
_SEGMENT_OF: Final = {
    "collusion": "live_regular",
    "multi_accounting": "bonus_hunter",
    "chasing_losses": "casual_slots",
    "underage": "casual_slots",
}
# Typologies that run on accounts opened in the window.
_NEW_ACCOUNTS: Final = {"multi_accounting", "kyc_mismatch"}

# First octets of ordinary public IPv4 space: generated addresses look like real ones and
# never fall in private, loopback or multicast ranges.
_PUBLIC_OCTETS: Final = np.array(
    [o for o in range(11, 224) if o not in (100, 127, 169, 172, 192, 198, 203)], dtype=np.int64
)


def ip_of(key: I64 | int, salt: int) -> I64:
    """A public IPv4 address (as an integer) for a key: a hash, so addresses scatter like
    real ones; keys in different namespaces get different salts."""
    x = np.asarray(key, dtype=np.uint64) + np.uint64(salt * 0x9E3779B97F4A7C15 % 2**64)
    # splitmix64's finaliser
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x = x ^ (x >> np.uint64(31))
    low = (x & np.uint64(0xFFFFFF)).astype(np.int64)
    octet = _PUBLIC_OCTETS[((x >> np.uint64(24)) % np.uint64(len(_PUBLIC_OCTETS))).astype(np.int64)]
    out: I64 = (octet << 24) | low
    return out


HOME_SALT, CARRIER_SALT, ABROAD_SALT, HOSTING_SALT, FARM_SALT = 1, 2, 3, 4, 5


def isp_asn(country: I64, k: I64) -> I64:
    """Broadband networks of a country: a handful of synthetic ASNs per country."""
    out: I64 = 30_000 + country.astype(np.int64) * 8 + k
    return out


def carrier_asn(country: I64, k: I64) -> I64:
    out: I64 = 30_004 + country.astype(np.int64) * 8 + (k % 3)
    return out


@dataclass
class Population:
    block: int
    first: int
    n: int
    market: I64
    currency: I64
    decimals: I64  # minor-unit digits of the player's currency
    fx: F64  # minor units of the player's currency per EUR at the window's start
    country: I64  # residence
    segment: I64
    typology: I64  # label code, 0 honest
    group: I64  # farm, ring or household code, -1 none
    traits: I64  # TRAIT_BIT flags
    activity: F64  # session-rate multiplier, 0 for players inactive in the window
    stake_z: F64  # standard-normal scores placing the player in the segment's ranges
    deposit_z: F64
    registered: I64  # epoch ms
    new: Bool
    dob: I64  # epoch day of birth
    kyc_level: I64
    doc_country: I64
    device: I64  # [n, 2]: phone, second device
    home_ip: I64
    home_asn: I64
    n_inst: I64
    inst: I64  # [n, INSTRUMENTS] instrument codes
    inst_method: I64
    inst_psp: I64
    inst_country: I64  # card country, -1 for wallets and transfers
    payout: I64  # bank account for payouts
    payout_psp: I64
    travel_from: I64
    travel_to: I64
    travel_country: I64

    @property
    def gid(self) -> I64:
        return self.first + np.arange(self.n, dtype=np.int64)

    def has(self, trait: str) -> Bool:
        out: Bool = (self.traits & TRAIT_BIT[trait]) != 0
        return out

    def of(self, typology: str) -> I64:
        """Local indices of the players running `typology`."""
        return np.flatnonzero(self.typology == LABEL[typology])


def _groups(rng: draw.Rng, members: float, bounds: tuple[float, float], room: int) -> list[int]:
    """Sizes of the groups of about `members` players in all, each of a size drawn from
    `bounds`, together at most `room`."""
    mean = (bounds[0] + bounds[1]) / 2
    count = draw.stochastic_round(rng, members / mean)
    sizes: list[int] = []
    for size in draw.integers(rng, bounds, count).tolist():
        if size > room:
            break
        sizes.append(size)
        room -= size
    return sizes


def _assign(
    rng: draw.Rng, scn: Scenario, n: int, block: int
) -> tuple[I64, I64, list[tuple[str, I64]]]:
    """Typology per player and groups (farms, rings, households) as member index arrays."""
    typology = np.zeros(n, dtype=np.int64)
    group = np.full(n, -1, dtype=np.int64)
    order = rng.permutation(n)
    cursor = 0
    groups: list[tuple[str, I64]] = []
    for name in TYPOLOGIES:
        cfg = getattr(scn.typologies, name)
        if name in ("multi_accounting", "collusion"):
            bounds = cfg.farm_size if name == "multi_accounting" else cfg.ring_size
            for size in _groups(rng, cfg.rate * n, bounds, n - cursor):
                members = order[cursor : cursor + size]
                cursor += size
                typology[members] = LABEL[name]
                group[members] = block * 10_000 + len(groups)
                groups.append((name, members))
        else:
            count = min(draw.stochastic_round(rng, cfg.rate * n), n - cursor)
            typology[order[cursor : cursor + count]] = LABEL[name]
            cursor += count
    household = scn.honest.household_size
    for size in _groups(rng, scn.honest.household_rate * n, household, n - cursor):
        members = order[cursor : cursor + size]
        cursor += size
        group[members] = block * 10_000 + len(groups)
        groups.append(("household", members))
    return typology, group, groups


def make_population(
    rng: draw.Rng, scn: Scenario, clock: Clock, fx: RateTable, block: int
) -> tuple[Population, list[tuple[str, I64]]]:
    """The block's players, and its groups as (kind, member indices)."""
    size = scn.scenario.block_players
    first = block * size
    n = min(size, scn.scenario.players - first)
    honest = scn.honest
    typology, group, groups = _assign(rng, scn, n, block)

    market = draw.pick(rng, [scn.market(m).share for m in range(len(MARKET_NAMES))], n)
    currency = np.empty(n, dtype=np.int64)
    country = np.empty(n, dtype=np.int64)
    for m in range(len(MARKET_NAMES)):
        rows = np.flatnonzero(market == m)
        cfg = scn.market(m)
        currency[rows] = draw.pick_named(rng, cfg.currencies, CURRENCY, len(rows))
        country[rows] = draw.pick_named(rng, cfg.countries, COUNTRY, len(rows))
    segment = draw.pick(rng, [scn.segment(s).share for s in range(len(SEGMENTS))], n)
    for name, seg in _SEGMENT_OF.items():
        segment[typology == LABEL[name]] = SEGMENT[seg]
    # A group lives in one market and country (a farm is one person; a household one home).
    for _, members in groups:
        lead = members[0]
        market[members] = market[lead]
        currency[members] = currency[lead]
        country[members] = country[lead]

    start_rate = np.array(
        [fx.rate("EUR", CURRENCIES[c], clock.start) for c in range(len(CURRENCIES))]
    )
    decimals_of = np.array([minor_units(c) for c in CURRENCIES], dtype=np.int64)
    decimals = decimals_of[currency]
    player_fx = start_rate[currency] * 10.0**decimals

    # Registration: most players are years old; some join in the window.
    new = rng.random(n) < honest.new_player_share
    for name in _NEW_ACCOUNTS:
        new[typology == LABEL[name]] = True
    stolen = typology == LABEL["stolen_card"]
    new[stolen] = rng.random(int(stolen.sum())) >= scn.typologies.stolen_card.takeover_share
    age_days = np.minimum(rng.exponential(550, n), 6 * 365) + 30
    registered = clock.start - (age_days * DAY).astype(np.int64) - rng.integers(0, DAY, n)
    # New players join over the first 90 % of the window, so each has time to play.
    joined = clock.start + (rng.random(n) * 0.9 * clock.days * DAY).astype(np.int64)
    registered = np.where(new, joined, registered)
    # A farm's accounts are opened within days of each other.
    ma = scn.typologies.multi_accounting
    for kind, members in groups:
        if kind == "multi_accounting":
            span = draw.uniform(rng, ma.registration_days, 1)[0] * DAY
            base = clock.start + int(rng.random() * max(clock.days * DAY * 0.7 - span, DAY))
            registered[members] = base + (rng.random(len(members)) * span).astype(np.int64)

    spread = np.array([scn.segment(s).activity_spread for s in range(len(SEGMENTS))])[segment]
    activity = np.exp(spread * rng.standard_normal(n) - spread**2 / 2)
    active = rng.random(n) < honest.active_share
    cover = draw.uniform(rng, scn.typologies.cover_activity, n)
    is_typology = typology > 0
    activity = np.where(is_typology, activity * cover, np.where(active, activity, 0.0))
    stake_z = rng.standard_normal(n)
    deposit_z = 0.8 * stake_z + 0.6 * rng.standard_normal(n)

    traits = np.zeros(n, dtype=np.int64)
    plain = ~is_typology & (group < 0)
    for name, rate in (
        ("traveller", honest.traveller_rate),
        ("expat", honest.expat_rate),
        ("vpn", honest.vpn_rate),
        ("one_chargeback", honest.one_chargeback_rate),
        ("high_risk_country", honest.high_risk_rate),
        ("self_excluded", honest.self_exclusion_rate),
    ):
        traits[plain & (rng.random(n) < rate)] |= TRAIT_BIT[name]
    high_roller = segment == SEGMENT["high_roller"]
    big_win = plain & high_roller & (rng.random(n) < honest.big_win_cashout_rate)
    traits[big_win] |= TRAIT_BIT["big_win_cashout"]
    for kind, members in groups:
        if kind == "household":
            traits[members] |= TRAIT_BIT["household"]
    traits[~(activity > 0)] &= ~TRAIT_BIT["traveller"]

    # Identity: age, KYC level reached before the window, document country.
    ages = honest.age[0] + (honest.age[1] - honest.age[0]) * rng.beta(2.0, 3.5, n)
    dob = clock.epoch_day(scn.scenario.start) - (ages * 365.25).astype(np.int64)
    # Nobody opened their account before turning 18 (the underage typology is made apart):
    # a registration KYC record dated years ago must show an adult.
    adult = (dob + int(18 * 365.25) + 2) * DAY
    registered = np.where(typology == LABEL["underage"], registered, np.maximum(registered, adult))
    level = draw.pick(rng, scn.honest.kyc_levels, n) + 1
    level = np.where(high_roller, np.minimum(level + 1, 3), level)
    level = np.where(new, 1, level)
    doc_country = country.copy()
    expat = (traits & TRAIT_BIT["expat"]) != 0
    abroad = draw.pick_named(rng, scn.network.abroad_countries, COUNTRY, n)
    doc_country[expat] = np.where(abroad[expat] == country[expat], COUNTRY["DE"], abroad[expat])

    # Devices and networks.
    gid = first + np.arange(n, dtype=np.int64)
    device = np.stack([gid * 4, gid * 4 + 1], axis=1)
    home_ip = ip_of(gid * 64, HOME_SALT)
    home_asn = isp_asn(country, rng.integers(0, 4, n))
    for kind, members in groups:
        if kind == "household":
            # Family members share the home connection and a tablet.
            home_ip[members] = home_ip[members[0]]
            home_asn[members] = home_asn[members[0]]
            device[members, 1] = device[members[0], 1]

    # Payment instruments: a player's cards and wallets, and a bank account for payouts.
    n_inst = draw.integers(rng, scn.payments.instruments, n).clip(1, INSTRUMENTS)
    inst = gid[:, None] * 8 + np.arange(INSTRUMENTS)[None, :]
    inst_method = np.empty((n, INSTRUMENTS), dtype=np.int64)
    for m in range(len(MARKET_NAMES)):
        rows = np.flatnonzero(market == m)
        methods = scn.market(m).methods
        for k in range(INSTRUMENTS):
            inst_method[rows, k] = draw.pick_named(rng, methods, METHOD, len(rows))
    inst_psp = np.empty((n, INSTRUMENTS), dtype=np.int64)
    psp_code = {name: code for code, name in enumerate(scn.psp_names)}
    for code, method in enumerate(METHODS):
        mask = inst_method == code
        inst_psp[mask] = draw.pick_named(rng, scn.payments.psps[method], psp_code, int(mask.sum()))
    card_country = np.where(expat, doc_country, country)
    risky = (traits & TRAIT_BIT["high_risk_country"]) != 0
    risky_country = np.array([COUNTRY[c] for c in HIGH_RISK_COUNTRIES])
    card_country = np.where(
        risky & (rng.random(n) < 0.5), risky_country[rng.integers(0, 3, n)], card_country
    )
    inst_country = np.where(inst_method == METHOD["card"], card_country[:, None], -1)
    payout = gid * 8 + PAYOUT_SLOT
    payout_psp = draw.pick_named(rng, scn.payments.psps["bank_transfer"], psp_code, n)

    # Trips abroad.
    travel_from = np.full(n, -1, dtype=np.int64)
    travel_to = np.full(n, -1, dtype=np.int64)
    traveller = (traits & TRAIT_BIT["traveller"]) != 0
    k = int(traveller.sum())
    length = (draw.uniform(rng, honest.travel_days, k) * DAY).astype(np.int64)
    begin = clock.start + (rng.random(k) * np.maximum(clock.days * DAY - length, HOUR)).astype(
        np.int64
    )
    travel_from[traveller] = begin
    travel_to[traveller] = begin + length
    travel_country = draw.pick_named(rng, scn.network.abroad_countries, COUNTRY, n)
    travel_country = np.where(travel_country == country, COUNTRY["ES"], travel_country)

    pop = Population(
        block=block,
        first=first,
        n=n,
        market=market,
        currency=currency,
        decimals=decimals,
        fx=player_fx,
        country=country,
        segment=segment,
        typology=typology,
        group=group,
        traits=traits,
        activity=activity,
        stake_z=stake_z,
        deposit_z=deposit_z,
        registered=registered,
        new=new,
        dob=dob,
        kyc_level=level,
        doc_country=doc_country,
        device=device,
        home_ip=home_ip,
        home_asn=home_asn,
        n_inst=n_inst,
        inst=inst,
        inst_method=inst_method,
        inst_psp=inst_psp,
        inst_country=inst_country,
        payout=payout,
        payout_psp=payout_psp,
        travel_from=travel_from,
        travel_to=travel_to,
        travel_country=travel_country,
    )
    return pop, groups
