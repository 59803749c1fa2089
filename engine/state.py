"""Window state of a running pack: store pools, per-key slots, player profiles, outputs.

The kernels only read and write these arrays; allocation, growth and compaction happen
here, between kernel calls, so the hot path never allocates state. Entries are bounded by
each store's window: when a store's log fills up it is compacted (what fell out of the
window is dropped), and only if it is still more than half full after that does it grow.
"""

from __future__ import annotations

import numpy as np

from dsl.compiler.program import Program
from engine import kernels as K
from engine.layout import PF_WIDTH, PS_WIDTH

_INITIAL_ENTRIES = 256
_INITIAL_KEYS = 256


def _pow2(n: int) -> int:
    p = 1
    while p < n:
        p *= 2
    return p


class Interner:
    """Strings (and other hashable values) ↔ dense int ids, in order of first sight."""

    def __init__(self) -> None:
        self.ids: dict[object, int] = {}
        self.values: list[object] = []

    def __call__(self, value: object) -> int:
        known = self.ids.get(value)
        if known is None:
            known = len(self.values)
            self.ids[value] = known
            self.values.append(value)
        return known

    def many(self, values: list[object]) -> list[int] | range:
        """Ids of distinct `values`, new ones added in order (a bulk `__call__`)."""
        ids = self.ids
        start = len(self.values)
        if ids.keys().isdisjoint(values):
            # All new (a fresh key domain): one C-level pass builds the map.
            ids.update(zip(values, range(start, start + len(values)), strict=True))
            self.values.extend(values)
            return range(start, start + len(values))
        new = [v for v in values if v not in ids]
        ids.update(zip(new, range(start, start + len(new)), strict=True))
        self.values.extend(new)
        return [ids[v] for v in values]

    def __len__(self) -> int:
        return len(self.values)

    def lookup(self, ident: int) -> object:
        return self.values[ident]


class State:
    """Everything a compiled pack remembers between events."""

    def __init__(self, program: Program, keys: dict[str, Interner]) -> None:
        self.program = program
        self.keys = keys
        n = len(program.stores)
        self.caps = np.full(n, _INITIAL_ENTRIES, dtype=np.int64)
        self.kcaps = dict.fromkeys(keys, _INITIAL_KEYS)
        self.O = np.zeros((max(n, 1), K.O_WIDTH), dtype=np.int64)
        self.SI = np.zeros(1, dtype=np.int64)
        self.SF = np.zeros(1, dtype=np.float64)
        self.PF = np.full((_INITIAL_KEYS, PF_WIDTH), np.nan)
        self.PSP = np.full((_INITIAL_KEYS, PS_WIDTH), -1, dtype=np.int64)
        self.now = np.iinfo(np.int64).min
        self._allocate(fresh=True)

    # ---- layout of the pools --------------------------------------------------------------

    def _allocate(self, *, fresh: bool) -> None:
        """(Re)build the pools for the current capacities, copying live state across."""
        ni, nf = self.program.layout.n_int, self.program.layout.n_float
        old_SI, old_SF, old_O = self.SI, self.SF, self.O.copy()
        O = np.zeros_like(self.O)
        si = sf = 0
        for spec in self.program.stores:
            s = spec.index
            cap, kcap = int(self.caps[s]), self.kcaps[spec.key]
            O[s, K.CAP], O[s, K.KCAP], O[s, K.WINDOW] = cap, kcap, spec.window_ms
            for col in (K.E_TS, K.E_NEXT, K.E_PREV, K.E_KEY, K.E_X):
                O[s, col] = si
                si += cap
            for col in (K.K_HEAD, K.K_TAIL, K.K_CNT, K.K_ND):
                O[s, col] = si
                si += kcap
            O[s, K.E_VAL] = sf
            sf += cap
            O[s, K.K_SUM] = sf
            sf += kcap
            if spec.rows:
                O[s, K.ROW_I] = si
                si += cap * ni
                O[s, K.ROW_F] = sf
                sf += cap * nf
            else:
                O[s, K.ROW_I] = O[s, K.ROW_F] = -1
            # A distinct store's hash table: at most `cap` live pairs plus as many
            # tombstones between rebuilds (every compaction and growth rebuilds it), so
            # four times the log keeps it half empty.
            hcap = _pow2(4 * cap) if spec.distinct else 1
            O[s, K.HT_CAP] = hcap
            O[s, K.HT_KEY] = si
            si += hcap
            O[s, K.HT_ENTRY] = si
            si += hcap
        SI = np.zeros(max(si, 1), dtype=np.int64)
        SF = np.zeros(max(sf, 1), dtype=np.float64)
        for spec in self.program.stores:
            s = spec.index
            for col in (K.K_HEAD, K.K_TAIL):
                SI[O[s, col] : O[s, col] + O[s, K.KCAP]] = -1
            SI[O[s, K.HT_KEY] : O[s, K.HT_KEY] + O[s, K.HT_CAP]] = -1
            if fresh:
                continue
            n, okcap = int(old_O[s, K.N]), int(old_O[s, K.KCAP])
            O[s, K.N] = n
            for col in (K.E_TS, K.E_NEXT, K.E_PREV, K.E_KEY, K.E_X):
                SI[O[s, col] : O[s, col] + n] = old_SI[old_O[s, col] : old_O[s, col] + n]
            for col in (K.K_HEAD, K.K_TAIL, K.K_CNT, K.K_ND):
                SI[O[s, col] : O[s, col] + okcap] = old_SI[old_O[s, col] : old_O[s, col] + okcap]
            SF[O[s, K.E_VAL] : O[s, K.E_VAL] + n] = old_SF[
                old_O[s, K.E_VAL] : old_O[s, K.E_VAL] + n
            ]
            SF[O[s, K.K_SUM] : O[s, K.K_SUM] + okcap] = old_SF[
                old_O[s, K.K_SUM] : old_O[s, K.K_SUM] + okcap
            ]
            if spec.rows:
                SI[O[s, K.ROW_I] : O[s, K.ROW_I] + n * ni] = old_SI[
                    old_O[s, K.ROW_I] : old_O[s, K.ROW_I] + n * ni
                ]
                SF[O[s, K.ROW_F] : O[s, K.ROW_F] + n * nf] = old_SF[
                    old_O[s, K.ROW_F] : old_O[s, K.ROW_F] + n * nf
                ]
        self.SI, self.SF, self.O = SI, SF, O
        if not fresh:
            for spec in self.program.stores:
                if spec.distinct:
                    K.rebuild_distinct(SI, O, spec.index)
        players = self.kcaps.get("player", _INITIAL_KEYS)
        if self.PF.shape[0] < players:
            PF = np.full((players, PF_WIDTH), np.nan)
            PF[: self.PF.shape[0]] = self.PF
            PSP = np.full((players, PS_WIDTH), -1, dtype=np.int64)
            PSP[: self.PSP.shape[0]] = self.PSP
            self.PF, self.PSP = PF, PSP

    # ---- keeping room -----------------------------------------------------------------------

    def ensure_slots(self, key: str, need: int) -> None:
        """Make room for `need` slots in one key domain."""
        if need + 1 > self.kcaps[key]:
            cap = self.kcaps[key]
            while cap < need + 1:
                cap *= 2
            self.kcaps[key] = cap
            self._allocate(fresh=False)

    def ensure_keys(self) -> None:
        """Grow per-key arrays when a key domain has more slots than they hold."""
        grow = False
        for key, interner in self.keys.items():
            need = len(interner) + 1
            if need > self.kcaps[key]:
                cap = self.kcaps[key]
                while cap < need:
                    cap *= 2
                self.kcaps[key] = cap
                grow = True
        if grow:
            self._allocate(fresh=False)

    def reserve(self, entries: np.ndarray) -> None:
        """Size every store for `entries[s]` live entries at once (the batch driver knows
        its history up front), so the run does not grow the pools step by step; each
        growth copies every store."""
        caps = np.array([_pow2(2 * int(e) + 2) for e in entries], dtype=np.int64)
        if np.any(caps > self.caps):
            self.caps = np.maximum(self.caps, caps)
            self._allocate(fresh=False)

    def ensure_room(self, rows: int) -> None:
        """Make sure every store can take `rows` more entries: compact, then grow."""
        O = self.O
        need = O[: len(self.program.stores), K.N] + rows + 1
        full = np.nonzero(need > O[: len(self.program.stores), K.CAP])[0]
        if len(full) == 0:
            return
        ni, nf = self.program.layout.n_int, self.program.layout.n_float
        grow = False
        for s in full:
            spec = self.program.stores[int(s)]
            left = K.compact(self.SI, self.SF, O, int(s), self.now, spec.distinct, ni, nf)
            cap = int(self.caps[s])
            while left + rows + 1 > cap // 2:
                cap *= 2
            if cap != self.caps[s]:
                self.caps[s] = cap
                grow = True
        if grow:
            self._allocate(fresh=False)

    def live_entries(self) -> dict[int, int]:
        """Entries held per store (live and not yet compacted away)."""
        return {spec.index: int(self.O[spec.index, K.N]) for spec in self.program.stores}
