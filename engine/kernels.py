"""Numba helpers the generated policy kernels call: windowed stores, dates, list lookups.

A *store* is a log of the events one aggregate (or sequence) reads, linked per key
(player, device, round, …), with a running count and sum per key. Entries leave a key's
window from its head as time moves on, so a count or sum over `(t - W, t]` costs O(1)
amortised. All stores of a pack live in two flat pools, `SI` (int64) and `SF` (float64);
row `O[s]` holds store `s`'s offsets and sizes, so growing a store is a Python-side copy
and the kernels never allocate state.

A distinct count only needs the latest sighting of each (key, value) pair, so a distinct
store keeps one live entry per pair: an open-addressing hash table (also in `SI`) maps the
pair to its entry, and a new sighting unlinks the old entry (the lists are doubly linked)
and appends a fresh one. A key's list stays in order of latest sighting, eviction from its
head stays exact, and the store holds distinct pairs, not every event of a 30-day window.

A `shared` aggregate reads two stores: a log of each player's events with the key they
were on (a round, say), and a distinct store of who was on each key lately (its partners).
Its value is found by walking the player's log against each partner's, both in time order.

The generated kernel calls `push_store` and `query` from one call site each, driven by
tables (`ST`, `AQ`), because every call site of a helper is compiled and optimised anew:
a pack of forty rules would otherwise take a minute to compile.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.layout import PLAYER

# Columns of `O` (one row per store).
N, CAP, KCAP, E_TS, E_NEXT, E_KEY, E_X, E_VAL = 0, 1, 2, 3, 4, 5, 6, 7
K_HEAD, K_TAIL, K_CNT, K_ND, K_SUM, ROW_I, ROW_F, WINDOW = 8, 9, 10, 11, 12, 13, 14, 15
HT_KEY, HT_ENTRY, HT_CAP, E_PREV = 16, 17, 18, 19
O_WIDTH = 20
_DEAD = -1  # E_X of an entry a later sighting of its pair replaced

# Columns of `ST` (one row per store): how an event is pushed.
ST_KEY, ST_VAL, ST_X, ST_DISTINCT, ST_ROWS = 0, 1, 2, 3, 4
ST_WIDTH = 5
# Columns of `AQ` (one row per aggregate slot): kind, key column, store and window per
# market; for `shared`, also the partners' store and the `within` per market.
AQ_KIND, AQ_KEY, AQ_STORE, AQ_WINDOW, AQ_PARTNERS, AQ_SYNC = 0, 1, 2, 5, 8, 11
AQ_WIDTH = 14
COUNT, SUM, AVG, MIN, MAX, DISTINCT, SHARED = 0, 1, 2, 3, 4, 5, 6

_PAIR_SHIFT = 32
_EMPTY, _TOMB = -1, -2


@njit(cache=True)
def _pair(key, x):
    return (key << _PAIR_SHIFT) | x


@njit(cache=True)
def _find(SI, O, s, p):
    """The hash slot holding pair `p`, or (if absent) the slot to put it in, and whether
    it was found."""
    mask = O[s, HT_CAP] - 1
    h = p ^ (p >> 29)
    h = (h * 0x5851F42D4C957F2D) & mask
    spare = -1
    while True:
        k = SI[O[s, HT_KEY] + h]
        if k == _EMPTY:
            return (spare if spare >= 0 else h), False
        if k == _TOMB:
            if spare < 0:
                spare = h
        elif k == p:
            return h, True
        h = (h + 1) & mask


@njit(cache=True)
def _link_tail(SI, O, s, key, j):
    """Put entry `j` (whose next is already -1) at the end of `key`'s list."""
    tail = SI[O[s, K_TAIL] + key]
    SI[O[s, E_PREV] + j] = tail
    if tail < 0:
        SI[O[s, K_HEAD] + key] = j
    else:
        SI[O[s, E_NEXT] + tail] = j
    SI[O[s, K_TAIL] + key] = j


@njit(cache=True)
def _unlink(SI, O, s, key, h):
    """Take entry `h` out of `key`'s list."""
    prev = SI[O[s, E_PREV] + h]
    nxt = SI[O[s, E_NEXT] + h]
    if prev < 0:
        SI[O[s, K_HEAD] + key] = nxt
    else:
        SI[O[s, E_NEXT] + prev] = nxt
    if nxt < 0:
        SI[O[s, K_TAIL] + key] = prev
    else:
        SI[O[s, E_PREV] + nxt] = prev


@njit(cache=True)
def _live(SI, O, s, j):
    """Is log entry `j` still in its key's list?"""
    key = SI[O[s, E_KEY] + j]
    head = SI[O[s, K_HEAD] + key]
    return head >= 0 and j >= head and SI[O[s, E_X] + j] != _DEAD


@njit(cache=True)
def rebuild_distinct(SI, O, s):
    """Refill store `s`'s hash table from its live entries (after a move or a resize):
    each live entry is the latest sighting of its pair."""
    base = O[s, HT_KEY]
    for h in range(O[s, HT_CAP]):
        SI[base + h] = _EMPTY
    for j in range(O[s, N]):
        if _live(SI, O, s, j):
            p = _pair(SI[O[s, E_KEY] + j], SI[O[s, E_X] + j])
            h, _ = _find(SI, O, s, p)
            SI[base + h] = p
            SI[O[s, HT_ENTRY] + h] = j


@njit(cache=True)
def push_store(SI, SF, O, ST, s, I, F, i, t):
    """Append event `i` to store `s` as its `ST` row says; returns 1 when the store is full.

    An event without the store's key (or value, or distinct value) is not counted."""
    key = I[i, ST[s, ST_KEY]]
    if key < 0:
        return 0
    val = 1.0
    if ST[s, ST_VAL] >= 0:
        val = F[i, ST[s, ST_VAL]]
        if val != val:
            return 0
    x = 0
    if ST[s, ST_X] >= 0:
        x = I[i, ST[s, ST_X]]
        if x < 0:
            return 0
    fresh = True
    h = -1
    if ST[s, ST_DISTINCT]:
        p = _pair(key, x)
        h, found = _find(SI, O, s, p)
        if found:
            old = SI[O[s, HT_ENTRY] + h]
            if old == SI[O[s, K_TAIL] + key]:
                # Seen again with nothing else in between (the usual case: the same
                # player on the same device): the newest entry only moves in time.
                SI[O[s, E_TS] + old] = t
                return 0
            # Seen again: the old entry leaves the list, a new one stands for the pair.
            _unlink(SI, O, s, key, old)
            SI[O[s, E_X] + old] = _DEAD
            fresh = False
        else:
            SI[O[s, HT_KEY] + h] = p
            SI[O[s, K_ND] + key] += 1
    j = O[s, N]
    O[s, N] = j + 1
    SI[O[s, E_TS] + j] = t
    SI[O[s, E_NEXT] + j] = -1
    SI[O[s, E_KEY] + j] = key
    SI[O[s, E_X] + j] = x
    SF[O[s, E_VAL] + j] = val
    if h >= 0:
        SI[O[s, HT_ENTRY] + h] = j
    _link_tail(SI, O, s, key, j)
    if fresh:
        SI[O[s, K_CNT] + key] += 1
        SF[O[s, K_SUM] + key] += val
    if ST[s, ST_ROWS]:
        ni = I.shape[1]
        nf = F.shape[1]
        bi = O[s, ROW_I] + j * ni
        bf = O[s, ROW_F] + j * nf
        for c in range(ni):
            SI[bi + c] = I[i, c]
        for c in range(nf):
            SF[bf + c] = F[i, c]
    return 1 if j + 2 >= O[s, CAP] else 0


@njit(cache=True)
def _evict_head(SI, SF, O, s, key, distinct):
    h = SI[O[s, K_HEAD] + key]
    SI[O[s, K_CNT] + key] -= 1
    SF[O[s, K_SUM] + key] -= SF[O[s, E_VAL] + h]
    if distinct:
        # The head is the pair's latest sighting: the pair leaves the window.
        slot, found = _find(SI, O, s, _pair(key, SI[O[s, E_X] + h]))
        if found:
            SI[O[s, HT_KEY] + slot] = _TOMB
            SI[O[s, K_ND] + key] -= 1
    nxt = SI[O[s, E_NEXT] + h]
    SI[O[s, K_HEAD] + key] = nxt
    if nxt < 0:
        SI[O[s, K_TAIL] + key] = -1
        # An empty key starts again from an exact zero, so rounding never accumulates.
        SF[O[s, K_SUM] + key] = 0.0
    else:
        SI[O[s, E_PREV] + nxt] = -1


@njit(cache=True)
def evict(SI, SF, O, s, key, lo, distinct):
    """Drop `key`'s entries at or before time `lo` (the window is `(lo, t]`)."""
    while True:
        h = SI[O[s, K_HEAD] + key]
        if h < 0 or SI[O[s, E_TS] + h] > lo:
            return
        _evict_head(SI, SF, O, s, key, distinct)


@njit(cache=True)
def _together(SI, O, s, p, q, sync, seen):
    """How many distinct keys `p` and `q` were both on with entries `sync` or less apart,
    in store `s` (whose lists are in time order). `seen` is scratch, one slot per entry
    of `p`."""
    n = 0
    start = SI[O[s, K_HEAD] + q]
    e = SI[O[s, K_HEAD] + p]
    while e >= 0:
        te = SI[O[s, E_TS] + e]
        xe = SI[O[s, E_X] + e]
        # `p`'s entries come in time order, so `q`'s candidates only move forward.
        while start >= 0 and SI[O[s, E_TS] + start] < te - sync:
            start = SI[O[s, E_NEXT] + start]
        f = start
        while f >= 0 and SI[O[s, E_TS] + f] <= te + sync:
            if SI[O[s, E_X] + f] == xe:
                new = True
                for k in range(n):
                    if seen[k] == xe:
                        new = False
                        break
                if new:
                    seen[n] = xe
                    n += 1
                break
            f = SI[O[s, E_NEXT] + f]
        e = SI[O[s, E_NEXT] + e]
    return n


@njit(cache=True)
def shared(SI, SF, O, s, sp, pk, key, t, window, sync):
    """`shared(… by KEY over window within sync)` for player `pk` on `key` at time `t`: the
    most keys in `(t - window, t]` that `pk` shared with one partner — another player on
    `key` at most `sync` before `t` — both there at most `sync` apart. Store `s` logs each
    player's events with their key; distinct store `sp` holds who was on each key."""
    # Partners are inside `[t - sync, t]`: `within` includes its bound.
    evict(SI, SF, O, sp, key, t - sync - 1, True)
    lo = t - window
    evict(SI, SF, O, s, pk, lo, False)
    mine = SI[O[s, K_CNT] + pk]
    if mine == 0:
        return 0.0
    seen = np.empty(mine, np.int64)
    best = 0
    h = SI[O[sp, K_HEAD] + key]
    while h >= 0:
        q = SI[O[sp, E_X] + h]
        if q != pk:
            evict(SI, SF, O, s, q, lo, False)
            n = _together(SI, O, s, pk, q, sync, seen)
            if n > best:
                best = n
        h = SI[O[sp, E_NEXT] + h]
    return float(best)


@njit(cache=True)
def query(SI, SF, O, AQ, a, I, i, m, t):
    """Aggregate slot `a` for event `i` of market `m` at time `t`, over `(t - W, t]`."""
    key = I[i, AQ[a, AQ_KEY]]
    if key < 0:
        return np.nan
    s = AQ[a, AQ_STORE + m]
    kind = AQ[a, AQ_KIND]
    if kind == SHARED:
        return shared(
            SI, SF, O, s, AQ[a, AQ_PARTNERS + m], I[i, PLAYER], key, t,
            AQ[a, AQ_WINDOW + m], AQ[a, AQ_SYNC + m],
        )  # fmt: skip
    evict(SI, SF, O, s, key, t - AQ[a, AQ_WINDOW + m], kind == DISTINCT)
    if kind == COUNT:
        return float(SI[O[s, K_CNT] + key])
    if kind == SUM:
        return SF[O[s, K_SUM] + key]
    if kind == DISTINCT:
        return float(SI[O[s, K_ND] + key])
    n = SI[O[s, K_CNT] + key]
    if n == 0:
        return np.nan
    if kind == AVG:
        return SF[O[s, K_SUM] + key] / n
    # min and max walk the key's live entries
    best = np.nan
    h = SI[O[s, K_HEAD] + key]
    while h >= 0:
        v = SF[O[s, E_VAL] + h]
        if best != best or (kind == MAX and v > best) or (kind == MIN and v < best):
            best = v
        h = SI[O[s, E_NEXT] + h]
    return best


@njit(cache=True)
def history(SI, SF, O, s, key, lo):
    """The entries of `key` inside the window, oldest first (for sequences)."""
    if key < 0:
        return np.empty(0, np.int64)
    evict(SI, SF, O, s, key, lo, False)
    n = SI[O[s, K_CNT] + key]
    out = np.empty(n, np.int64)
    h = SI[O[s, K_HEAD] + key]
    k = 0
    while h >= 0:
        out[k] = h
        k += 1
        h = SI[O[s, E_NEXT] + h]
    return out


@njit(cache=True)
def compact(SI, SF, O, s, now, distinct, ni, nf):
    """Evict what is out of the store's window at time `now` and move the live entries
    to the front of the log; returns how many entries are left."""
    n = O[s, N]
    lo = now - O[s, WINDOW]
    for j in range(n):
        key = SI[O[s, E_KEY] + j]
        if SI[O[s, K_HEAD] + key] == j and SI[O[s, E_TS] + j] <= lo:
            _evict_head(SI, SF, O, s, key, distinct)
    w = 0
    for j in range(n):
        if not _live(SI, O, s, j):
            continue
        key = SI[O[s, E_KEY] + j]
        if w != j:
            SI[O[s, E_TS] + w] = SI[O[s, E_TS] + j]
            SI[O[s, E_KEY] + w] = key
            SI[O[s, E_X] + w] = SI[O[s, E_X] + j]
            SF[O[s, E_VAL] + w] = SF[O[s, E_VAL] + j]
            if O[s, ROW_I] >= 0:
                for c in range(ni):
                    SI[O[s, ROW_I] + w * ni + c] = SI[O[s, ROW_I] + j * ni + c]
                for c in range(nf):
                    SF[O[s, ROW_F] + w * nf + c] = SF[O[s, ROW_F] + j * nf + c]
        w += 1
    # Relink: heads and tails first point nowhere, then entries chain in log order.
    for j in range(w):
        key = SI[O[s, E_KEY] + j]
        SI[O[s, K_HEAD] + key] = -1
        SI[O[s, K_TAIL] + key] = -1
    for j in range(w):
        SI[O[s, E_NEXT] + j] = -1
        _link_tail(SI, O, s, SI[O[s, E_KEY] + j], j)
    O[s, N] = w
    if distinct:
        rebuild_distinct(SI, O, s)
    return w


@njit(cache=True)
def in_ids(KI, lo, hi, v):
    """Is id `v` among the sorted ids `KI[lo:hi]`? A missing id is in no list."""
    if v < 0:
        return False
    j = np.searchsorted(KI[lo:hi], v)
    return j < hi - lo and KI[lo + j] == v


@njit(cache=True)
def in_floats(KF, lo, hi, v):
    if v != v:
        return False
    for j in range(lo, hi):  # noqa: SIM110 — a plain loop is what numba compiles well
        if KF[j] == v:
            return True
    return False


@njit(cache=True)
def _civil(ms):
    """Epoch milliseconds → (year, month, day) in UTC (H. Hinnant's civil_from_days)."""
    z = int(np.floor(ms / 86_400_000.0)) + 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + 1 if m <= 2 else y), m, d


@njit(cache=True)
def local_time(t, hour):
    """A UTC time moved onto the market's clock, from the local hour the encoder wrote.
    The markets' zones (Europe/Malta, Europe/London, America/Curacao) are whole hours
    off UTC, so the offset is the difference of the hours."""
    utc_hour = (t // 3_600_000) % 24
    offset = (hour - utc_hour + 12.0) % 24.0 - 12.0
    return t + offset * 3_600_000.0


@njit(cache=True)
def age_years(dob, at):
    """Whole years between a date of birth and a time, as on a birthday card."""
    if dob != dob or at != at:
        return np.nan
    y0, m0, d0 = _civil(dob)
    y1, m1, d1 = _civil(at)
    years = y1 - y0
    if m1 < m0 or (m1 == m0 and d1 < d0):
        years -= 1
    return float(years)
