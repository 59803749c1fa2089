"""Events under construction: integer columns, one row per event, built in parts.

Every generator adds *parts* (a run of events of one type with its columns as arrays or
scalars) to a block's `Frame`; `Frame.finish` concatenates them, drops what falls outside
the window, sorts by time and resolves references between events. Strings do not exist
here: ids are global integer codes and categorical fields are vocabulary codes, with a
sentinel for "missing"; `simulator.render` turns a frame's rows into Arrow strings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Final, TypeAlias

import numpy as np
import numpy.typing as npt

from simulator.vocab import (
    BET,
    BONUS_GRANT,
    BONUS_RELEASE,
    BONUS_WAGER,
    CANCELLATION,
    CHARGEBACK,
    DEPOSIT,
    KYC_UPDATE,
    LIMIT_CHANGE,
    LOGIN,
    LOGOUT,
    SELF_EXCLUSION,
    WIN,
    WITHDRAWAL,
)

Array: TypeAlias = npt.NDArray[np.generic]
I64: TypeAlias = npt.NDArray[np.int64]

MISSING_DOB: Final = np.iinfo(np.int32).min

# name → (dtype, missing value). `player` holds the player's index inside its block until
# `finish` makes it global; `ref` holds the row of the referenced event in the same frame.
COLUMNS: Final[dict[str, tuple[type[np.generic], int]]] = {
    "type": (np.int8, -1),
    "player": (np.int64, -1),
    "ts": (np.int64, -1),
    "market": (np.int8, -1),
    "session": (np.int64, -1),
    "device": (np.int64, -1),
    "ip": (np.int64, -1),
    "asn": (np.int64, -1),
    "ip_country": (np.int16, -1),
    "amount": (np.int64, -1),
    "currency": (np.int8, -1),
    "method": (np.int8, -1),
    "psp": (np.int8, -1),
    "instrument": (np.int64, -1),
    "card_country": (np.int16, -1),
    "status": (np.int8, -1),
    "game": (np.int64, -1),
    "game_kind": (np.int8, -1),
    "table": (np.int64, -1),
    "round": (np.int64, -1),
    "selection": (np.int8, -1),
    "ref": (np.int64, -1),
    "bonus": (np.int64, -1),
    "kyc_level": (np.int8, -1),
    "dob": (np.int32, int(MISSING_DOB)),
    "doc_country": (np.int16, -1),
    "doc_match": (np.int8, -1),
    "limit_kind": (np.int8, -1),
    "value": (np.int64, -1),
    "until": (np.int64, -1),
    "label": (np.int8, 0),
    "event": (np.int64, -1),
}

# Which event types may carry a field (besides the common ones every event has). A part
# that sets a field its type does not have is a bug; `Frame.add` refuses it.
_COMMON: Final = frozenset(
    {"type", "player", "ts", "market", "session", "device", "ip", "asn", "ip_country"}
    | {"label", "event"}
)
_PAYMENT: Final = {"amount", "currency", "method", "psp", "instrument", "card_country", "status"}
_GAME: Final = {"amount", "currency", "game", "game_kind", "table", "round", "selection"}
_MONEY_TYPES: Final = {DEPOSIT, WITHDRAWAL, BET, WIN, CHARGEBACK, CANCELLATION} | {
    BONUS_GRANT,
    BONUS_WAGER,
    BONUS_RELEASE,
}
FIELDS_OF: Final[dict[int, frozenset[str]]] = {
    DEPOSIT: frozenset(_PAYMENT),
    WITHDRAWAL: frozenset(_PAYMENT),
    BET: frozenset(_GAME),
    WIN: frozenset(_GAME),
    CHARGEBACK: frozenset({"amount", "currency", "ref"}),
    CANCELLATION: frozenset({"amount", "currency", "ref"}),
    BONUS_GRANT: frozenset({"amount", "currency", "bonus"}),
    BONUS_WAGER: frozenset({"amount", "currency", "bonus"}),
    BONUS_RELEASE: frozenset({"amount", "currency", "bonus"}),
    KYC_UPDATE: frozenset({"kyc_level", "status", "dob", "doc_country", "doc_match"}),
    LIMIT_CHANGE: frozenset({"limit_kind", "value", "until"}),
    SELF_EXCLUSION: frozenset({"limit_kind", "value", "until"}),
}
MONEY_TYPES: Final = frozenset(_MONEY_TYPES)

Value: TypeAlias = Array | int | float | np.integer | np.floating


# Connection fields: the same for every event of a session, so a part stores a row of
# its `Net` and the fields are looked up after sorting, in a table a few percent the size
# of the events (a cache-friendly gather instead of five random ones).
NET_FIELDS: Final = ("session", "device", "ip", "asn", "ip_country")
# Fields `finish` fills in from the player and the row; parts never set them.
_DERIVED: Final = frozenset({"market", "currency", "event", *NET_FIELDS})
FRAME_COLUMNS: Final = (*(c for c in COLUMNS if c not in _DERIVED), "netrow")
_FRAME_TYPES: Final[dict[str, tuple[type[np.generic], int]]] = {
    **COLUMNS,
    "netrow": (np.int64, -1),
}


@dataclass
class Net:
    """Where an episode connects from: session, device, address, network, country."""

    session: I64
    device: I64
    ip: I64
    asn: I64
    ip_country: I64

    def at(self, index: I64 | slice) -> Net:
        return Net(*(getattr(self, f.name)[index] for f in fields(self)))

    def rows(self, index: I64 | slice | None = None) -> NetRows:
        """`Frame.add(..., net=net.rows(index))`: the events' connections are these rows
        of this table (all of them, in order, by default)."""
        return NetRows(self, index)


@dataclass
class NetRows:
    """Rows of a `Net` (all of them when `index` is None; -1 for no connection)."""

    net: Net
    index: I64 | slice | None = None

    def rows(self) -> I64:
        size = len(self.net.session)
        if self.index is None:
            return np.arange(size, dtype=np.int64)
        return np.arange(size, dtype=np.int64)[self.index]

    def __getitem__(self, select: I64 | slice) -> NetRows:
        return NetRows(self.net, self.rows()[select])

    def unless(self, mask: npt.NDArray[np.bool_]) -> NetRows:
        """The same rows, with no connection where `mask` holds (server-side events)."""
        return NetRows(self.net, np.where(mask, -1, self.rows()))


@dataclass
class Part:
    n: int
    columns: dict[str, Array]


@dataclass
class Frame:
    """The events of one block while they are generated."""

    parts: list[Part] = field(default_factory=list)
    rows: int = 0
    nets: list[Net] = field(default_factory=list)
    net_rows: int = 0
    _net_at: dict[int, int] = field(default_factory=dict)

    def add(
        self, etype: int, player: Array, ts: Array, *, net: NetRows | None = None, **columns: Value
    ) -> int:
        """Add `len(ts)` events of type `etype` and return the row of the first one, so a
        later part can refer to them (`ref=first + i`). `net` gives their connections."""
        n = len(ts)
        allowed = FIELDS_OF.get(etype, frozenset()) | _COMMON
        out: dict[str, Array] = {
            "type": np.full(n, etype, dtype=np.int8),
            "player": np.asarray(player, dtype=np.int64),
            "ts": np.asarray(ts, dtype=np.int64),
        }
        given = {name: columns.pop(name) for name in NET_FIELDS if name in columns}
        if given:
            # Connection fields given one by one (an upload's country): a table of its own.
            if net is not None:
                raise ValueError("give a part's connection as `net` or as fields, not both")
            table = [np.broadcast_to(given.get(f, -1), (n,)).astype(np.int64) for f in NET_FIELDS]
            net = Net(*table).rows()
        if net is not None:
            out["netrow"] = self._net_rows(net)
        for name, value in columns.items():
            if name not in allowed or name in _DERIVED:
                raise ValueError(f"event type {etype} has no field {name!r}")
            dtype = COLUMNS[name][0]
            arr = np.asarray(value)
            out[name] = np.full(n, arr, dtype=dtype) if arr.ndim == 0 else arr.astype(dtype)
        for name, arr in out.items():
            if len(arr) != n:
                raise ValueError(f"column {name!r} has {len(arr)} values for {n} events")
        first = self.rows
        if n:
            self.parts.append(Part(n, out))
            self.rows += n
        return first

    def _net_rows(self, net: NetRows) -> I64:
        # Nets are kept by the frame, so their ids stay theirs while it lives.
        offset = self._net_at.get(id(net.net))
        if offset is None:
            offset = self._net_at[id(net.net)] = self.net_rows
            self.nets.append(net.net)
            self.net_rows += len(net.net.session)
        rows = net.rows()
        out: I64 = np.where(rows >= 0, rows + offset, -1)
        return out

    def net_table(self) -> dict[str, Array]:
        """Every registered connection, and a last row of missing values for events
        without one."""
        return {
            name: np.concatenate(
                [*(getattr(n, name) for n in self.nets), [COLUMNS[name][1]]]
            ).astype(COLUMNS[name][0])
            for name in NET_FIELDS
        }

    def column(self, name: str) -> Array:
        """One column over all parts so far (missing where a part has none)."""
        dtype, missing = _FRAME_TYPES[name]
        pieces = [
            p.columns[name] if name in p.columns else np.full(p.n, missing, dtype=dtype)
            for p in self.parts
        ]
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype=dtype)


@dataclass
class Block:
    """A block's finished events as global codes, sorted by time."""

    index: int
    columns: dict[str, Array]

    @property
    def n(self) -> int:
        return len(self.columns["ts"])


# Fields only payments, reversals, bonuses, identity checks and limits carry: a few
# percent of events. Sorting gathers them for those rows only.
SPARSE: Final = (
    "method", "psp", "instrument", "card_country", "status", "ref", "bonus", "kyc_level",
    "dob", "doc_country", "doc_match", "limit_kind", "value", "until",
)  # fmt: skip
# Per event type code: does it carry sparse fields, does it move money (lookups, not isin).
_IS_SPARSE: Final = np.ones(16, dtype=bool)
_IS_SPARSE[[BET, WIN, LOGIN, LOGOUT]] = False
_IS_MONEY: Final = np.zeros(16, dtype=bool)
_IS_MONEY[list(MONEY_TYPES)] = True


def finish(
    frame: Frame,
    *,
    block: int,
    player_offset: int,
    markets: Array,
    currencies: Array,
    keep: npt.NDArray[np.bool_],
    typology: I64,
    label_from: I64,
) -> Block:
    """Concatenate the parts, keep the rows `keep` marks and sort them by time (ties keep
    the order the parts were added in), then fill in what depends on the player (market,
    currency of money events, a label on everything a typology player does from
    `label_from` on) and on the connection. Events are numbered block × 10⁸ + their row
    in the parts, so an id never depends on how events sort or on any other block;
    references become those numbers."""
    cols = {name: frame.column(name) for name in FRAME_COLUMNS}
    base = block * 100_000_000
    ref = np.asarray(cols["ref"], dtype=np.int64)
    # A reference to a dropped event (one before the window) is dropped with it.
    valid = ref >= 0
    valid[valid] = keep[ref[valid]]
    cols["ref"] = np.where(valid, base + ref, -1)
    rows = np.flatnonzero(keep)
    order = rows[np.argsort(np.asarray(cols["ts"])[rows], kind="stable")]
    out = reorder(cols, order)
    local = np.asarray(out["player"], dtype=np.int64)
    late = np.asarray(out["ts"], dtype=np.int64) >= label_from[local]
    out["label"] = np.where(late, typology[local], out["label"]).astype(np.int8)
    out["market"] = markets[local].astype(np.int8)
    money = _IS_MONEY[np.asarray(out["type"], dtype=np.intp)]
    out["currency"] = np.where(money, currencies[local], -1).astype(np.int8)
    out["event"] = base + order
    table = frame.net_table()
    netrow = np.asarray(out.pop("netrow"), dtype=np.int64)
    at = np.where(netrow >= 0, netrow, len(table["session"]) - 1)
    for name in NET_FIELDS:
        out[name] = table[name][at]
    out["player"] = local + player_offset
    return Block(block, {name: out[name] for name in COLUMNS})


def sort_rows(columns: Mapping[str, Array]) -> dict[str, Array]:
    """All rows sorted by time, ties in their current order."""
    return reorder(columns, np.argsort(columns["ts"], kind="stable"))


def reorder(columns: Mapping[str, Array], order: I64) -> dict[str, Array]:
    """`take(columns, order)`, but the sparse fields are gathered only where present: a
    random gather costs a cache miss per row and column, a fill costs next to nothing."""
    out = {name: col[order] for name, col in columns.items() if name not in SPARSE}
    sparse = _IS_SPARSE[np.asarray(out["type"], dtype=np.intp)]
    dst = np.flatnonzero(sparse)
    src = order[dst]
    for name in SPARSE:
        dtype, missing = COLUMNS[name]
        col = np.full(len(order), missing, dtype=dtype)
        col[dst] = columns[name][src]
        out[name] = col
    return out


def concat(columns: Sequence[Mapping[str, Array]]) -> dict[str, Array]:
    """Column-wise concatenation of several blocks' (or slices') columns."""
    if len(columns) == 1:
        return dict(columns[0])
    return {name: np.concatenate([c[name] for c in columns]) for name in COLUMNS}


def take(columns: Mapping[str, Array], index: Array | slice) -> dict[str, Array]:
    return {name: col[index] for name, col in columns.items()}
