"""Numba helpers the generated policy kernels call: windowed stores, dates, list lookups.

A *store* is a log of the events one aggregate (or sequence) reads, linked per key
(player, device, round, …), with a running count and sum per key. Entries leave a key's
window from its head as time moves on, so a count or sum over `(t - W, t]` costs O(1)
amortised. All stores of a pack live in two flat pools, `SI` (int64) and `SF` (float64);
row `O[s]` holds store `s`'s offsets and sizes, so growing a store is a Python-side copy
and the kernels never allocate state.

Distinct counts keep, per store, a typed dict from (key, value) to how many live entries
carry that pair; the number of pairs with a non-zero count per key is the distinct count.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Columns of `O` (one row per store).
N, CAP, KCAP, E_TS, E_NEXT, E_KEY, E_X, E_VAL = 0, 1, 2, 3, 4, 5, 6, 7
K_HEAD, K_TAIL, K_CNT, K_ND, K_SUM, ROW_I, ROW_F, WINDOW = 8, 9, 10, 11, 12, 13, 14, 15
O_WIDTH = 16

_PAIR_SHIFT = 32


@njit(cache=True, inline="always")
def _pair(key: int, x: int) -> int:
    return (key << _PAIR_SHIFT) | x


@njit(cache=True)
def push(SI, SF, O, D, s, key, ts, val, x, distinct, I, F, i, rows):
    """Append an event to store `s` under `key`; returns 1 when the store is full."""
    j = O[s, N]
    O[s, N] = j + 1
    SI[O[s, E_TS] + j] = ts
    SI[O[s, E_NEXT] + j] = -1
    SI[O[s, E_KEY] + j] = key
    SI[O[s, E_X] + j] = x
    SF[O[s, E_VAL] + j] = val
    tail = SI[O[s, K_TAIL] + key]
    if tail < 0:
        SI[O[s, K_HEAD] + key] = j
    else:
        SI[O[s, E_NEXT] + tail] = j
    SI[O[s, K_TAIL] + key] = j
    SI[O[s, K_CNT] + key] += 1
    SF[O[s, K_SUM] + key] += val
    if distinct:
        d = D[s]
        p = _pair(key, x)
        c = d.get(p, 0)
        d[p] = c + 1
        if c == 0:
            SI[O[s, K_ND] + key] += 1
    if rows:
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
def _evict_head(SI, SF, O, D, s, key, distinct):
    h = SI[O[s, K_HEAD] + key]
    SI[O[s, K_CNT] + key] -= 1
    SF[O[s, K_SUM] + key] -= SF[O[s, E_VAL] + h]
    if distinct:
        d = D[s]
        p = _pair(key, SI[O[s, E_X] + h])
        c = d[p] - 1
        if c == 0:
            del d[p]
            SI[O[s, K_ND] + key] -= 1
        else:
            d[p] = c
    nxt = SI[O[s, E_NEXT] + h]
    SI[O[s, K_HEAD] + key] = nxt
    if nxt < 0:
        SI[O[s, K_TAIL] + key] = -1
        # An empty key starts again from an exact zero, so rounding never accumulates.
        SF[O[s, K_SUM] + key] = 0.0


@njit(cache=True)
def evict(SI, SF, O, D, s, key, lo, distinct):
    """Drop `key`'s entries at or before time `lo` (the window is `(lo, t]`)."""
    while True:
        h = SI[O[s, K_HEAD] + key]
        if h < 0 or SI[O[s, E_TS] + h] > lo:
            return
        _evict_head(SI, SF, O, D, s, key, distinct)


@njit(cache=True)
def count(SI, SF, O, D, s, key, lo, distinct):
    if key < 0:
        return np.nan
    evict(SI, SF, O, D, s, key, lo, distinct)
    return float(SI[O[s, K_CNT] + key])


@njit(cache=True)
def total(SI, SF, O, D, s, key, lo, distinct):
    if key < 0:
        return np.nan
    evict(SI, SF, O, D, s, key, lo, distinct)
    return SF[O[s, K_SUM] + key]


@njit(cache=True)
def mean(SI, SF, O, D, s, key, lo, distinct):
    if key < 0:
        return np.nan
    evict(SI, SF, O, D, s, key, lo, distinct)
    n = SI[O[s, K_CNT] + key]
    if n == 0:
        return np.nan
    return SF[O[s, K_SUM] + key] / n


@njit(cache=True)
def n_distinct(SI, SF, O, D, s, key, lo, distinct):
    if key < 0:
        return np.nan
    evict(SI, SF, O, D, s, key, lo, distinct)
    return float(SI[O[s, K_ND] + key])


@njit(cache=True)
def extreme(SI, SF, O, D, s, key, lo, distinct, want_max):
    """min or max over the window: a walk over the key's live entries."""
    if key < 0:
        return np.nan
    evict(SI, SF, O, D, s, key, lo, distinct)
    best = np.nan
    h = SI[O[s, K_HEAD] + key]
    while h >= 0:
        v = SF[O[s, E_VAL] + h]
        if best != best or (want_max and v > best) or (not want_max and v < best):
            best = v
        h = SI[O[s, E_NEXT] + h]
    return best


@njit(cache=True)
def history(SI, SF, O, D, s, key, lo):
    """The entries of `key` inside the window, oldest first (for sequences)."""
    if key < 0:
        return np.empty(0, np.int64)
    evict(SI, SF, O, D, s, key, lo, False)
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
def compact(SI, SF, O, D, s, now, distinct, ni, nf):
    """Evict what is out of the store's window at time `now` and move the live entries
    to the front of the log; returns how many entries are left."""
    n = O[s, N]
    lo = now - O[s, WINDOW]
    for j in range(n):
        key = SI[O[s, E_KEY] + j]
        if SI[O[s, K_HEAD] + key] == j and SI[O[s, E_TS] + j] <= lo:
            _evict_head(SI, SF, O, D, s, key, distinct)
    w = 0
    for j in range(n):
        key = SI[O[s, E_KEY] + j]
        h = SI[O[s, K_HEAD] + key]
        if h < 0 or j < h:
            continue
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
        key = SI[O[s, E_KEY] + j]
        SI[O[s, E_NEXT] + j] = -1
        tail = SI[O[s, K_TAIL] + key]
        if tail < 0:
            SI[O[s, K_HEAD] + key] = j
        else:
            SI[O[s, E_NEXT] + tail] = j
        SI[O[s, K_TAIL] + key] = j
    O[s, N] = w
    return w


@njit(cache=True, inline="always")
def id_eq(a, b):
    """Interned strings are equal; a missing one (-1) equals nothing."""
    return a == b and a >= 0


@njit(cache=True, inline="always")
def id_ne(a, b):
    return a != b and a >= 0 and b >= 0


@njit(cache=True, inline="always")
def f_ne(a, b):
    """`!=` with a missing value (NaN) is false, as every comparison with one is."""
    return a != b and a == a and b == b


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
    for j in range(lo, hi):
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
