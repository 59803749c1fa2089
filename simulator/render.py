"""Integer columns → Arrow record batches in the event contract's field names.

Ids are written straight into Arrow string buffers (a prefix and zero-padded digits, four
digits per table lookup) and IPv4 addresses are formatted with array arithmetic: making a
Python string per event would cost more than generating the event. Categorical fields are
dictionary-encoded with the fixed vocabularies of `simulator.vocab`, so every batch has the
same dictionaries and Parquet stores them once per row group.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Final, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from simulator.frame import MISSING_DOB
from simulator.population import Population
from simulator.vocab import (
    COUNTRIES,
    CURRENCIES,
    EVENT_TYPES,
    GAME_KINDS,
    LIMIT_KINDS,
    MARKET_NAMES,
    METHODS,
    SEGMENTS,
    SELECTIONS,
    STATUSES,
    TRAITS,
    TYPOLOGIES,
)

Array: TypeAlias = npt.NDArray[np.generic]
I64: TypeAlias = npt.NDArray[np.int64]

CATEGORY: Final = pa.dictionary(pa.int16(), pa.string())
# Ids that repeat within a batch (a player's, a session's, a table's) are dictionary-encoded
# per batch: each distinct id is written once, and Parquet and the engine's encoder, which
# both work by distinct value, take the dictionary as it is.
REPEATED: Final = pa.dictionary(pa.int32(), pa.string())

# (field, Arrow type) in the order of the event contract; then the ground truth.
SCHEMA: Final = pa.schema(
    [
        ("event_id", pa.string()),
        ("type", CATEGORY),
        ("player_id", REPEATED),
        ("ts", pa.int64()),
        ("market", CATEGORY),
        ("session_id", REPEATED),
        ("device_id", REPEATED),
        ("ip", REPEATED),
        ("asn", pa.int64()),
        ("ip_country", CATEGORY),
        ("amount", pa.int64()),
        ("currency", CATEGORY),
        ("method", CATEGORY),
        ("psp", CATEGORY),
        ("instrument_id", REPEATED),
        ("card_country", CATEGORY),
        ("status", CATEGORY),
        ("game_id", REPEATED),
        ("game_kind", CATEGORY),
        ("table_id", REPEATED),
        ("round_id", REPEATED),
        ("selection", CATEGORY),
        ("ref_event_id", pa.string()),
        ("bonus_id", REPEATED),
        ("kyc_level", pa.int64()),
        ("dob", pa.date32()),
        ("doc_country", CATEGORY),
        ("doc_match", pa.bool_()),
        ("limit_kind", CATEGORY),
        ("value", pa.int64()),
        ("until", pa.int64()),
        ("statistic", pa.string()),
        ("p_value", pa.float64()),
        ("label_typology", CATEGORY),
    ],
    metadata={
        b"pitboss": b"simulated events, event contract v1: money in minor units of `currency`, "
        b"ts and until in epoch ms; label_typology is ground truth, not part of the contract"
    },
)
LABEL_COLUMNS: Final = ("label_typology",)

PLAYER_SCHEMA: Final = pa.schema(
    [
        ("player_id", REPEATED),
        ("market", CATEGORY),
        ("currency", CATEGORY),
        ("country", CATEGORY),
        ("segment", CATEGORY),
        ("typology", CATEGORY),
        ("group_id", pa.string()),
        ("traits", pa.string()),
        ("registered", pa.int64()),
        ("new", pa.bool_()),
        ("dob", pa.date32()),
        ("kyc_level", pa.int64()),
        ("active", pa.bool_()),
    ]
)

# Id columns: (frame column, prefix, width in 4-byte words). An id is its prefix and the
# code zero-padded to the rest of the width: "p00000001234".
_IDS: Final = {
    "event_id": ("event", b"e", 4),
    "player_id": ("player", b"p", 3),
    "session_id": ("session", b"s", 4),
    "device_id": ("device", b"d", 3),
    "instrument_id": ("instrument", b"i", 3),
    "game_id": ("game", b"g", 2),
    "table_id": ("table", b"t", 1),
    "round_id": ("round", b"r", 4),
    "ref_event_id": ("ref", b"e", 4),
    "bonus_id": ("bonus", b"b", 4),
}
_CATEGORIES: Final = {
    "type": ("type", EVENT_TYPES),
    "market": ("market", MARKET_NAMES),
    "ip_country": ("ip_country", COUNTRIES),
    "currency": ("currency", CURRENCIES),
    "method": ("method", METHODS),
    "card_country": ("card_country", COUNTRIES),
    "status": ("status", STATUSES),
    "game_kind": ("game_kind", GAME_KINDS),
    "selection": ("selection", SELECTIONS),
    "doc_country": ("doc_country", COUNTRIES),
    "limit_kind": ("limit_kind", LIMIT_KINDS),
}
_INTS: Final = ("ts", "asn", "amount", "kyc_level", "value", "until")


def _words(texts: list[str]) -> npt.NDArray[np.uint32]:
    """Strings of at most four ASCII characters as 4-byte words (NUL-padded)."""
    raw = b"".join(t.encode().ljust(4, b"\0") for t in texts)
    return np.frombuffer(raw, dtype=np.uint32).copy()


# "0000" … "9999", and for each prefix "p000" … "p999" (a prefix fills part of the first
# word): an id is a few table lookups per row, with no Python string per row.
_QUADS: Final = _words([f"{i:04d}" for i in range(10_000)])
_HEADS: dict[bytes, npt.NDArray[np.uint32]] = {}
# "0." … "255." and "0" … "255": one 4-byte slot per octet of an address.
_OCTETS_DOT: Final = _words([f"{i}." for i in range(256)])
_OCTETS: Final = _words([str(i) for i in range(256)])
_DICTIONARIES: dict[tuple[str, ...], pa.Array] = {}


def _head(prefix: bytes) -> npt.NDArray[np.uint32]:
    if prefix not in _HEADS:
        digits = 4 - len(prefix)
        text = prefix.decode()
        _HEADS[prefix] = _words([f"{text}{i:0{digits}d}" for i in range(10**digits)])
    return _HEADS[prefix]


def _dictionary(values: tuple[str, ...]) -> pa.Array:
    if values not in _DICTIONARIES:
        _DICTIONARIES[values] = pa.array(values, type=pa.string())
    return _DICTIONARIES[values]


def _validity(valid: npt.NDArray[np.bool_]) -> tuple[pa.Buffer | None, int]:
    nulls = int(len(valid) - np.count_nonzero(valid))
    if not nulls:
        return None, 0
    return pa.py_buffer(np.packbits(valid, bitorder="little")), nulls


def _strings(
    text: npt.NDArray[np.uint8], lengths: npt.NDArray[np.integer[Any]], valid: npt.NDArray[np.bool_]
) -> pa.StringArray:
    offsets = np.zeros(len(valid) + 1, dtype=np.int32)
    full = np.zeros(len(valid), dtype=np.int32)
    full[valid] = lengths
    np.cumsum(full, out=offsets[1:])
    bitmap, nulls = _validity(valid)
    return pa.StringArray.from_buffers(
        len(valid), pa.py_buffer(offsets), pa.py_buffer(text), bitmap, nulls
    )


def ids(codes: I64, prefix: bytes, words: int) -> pa.StringArray:
    """Strings of `prefix` and `codes` zero-padded to `4 × words` characters in all;
    negative codes are nulls."""
    codes = np.asarray(codes, dtype=np.int64)
    valid = codes >= 0
    value = codes[valid] if not valid.all() else codes
    head = _head(prefix)
    if len(value) and int(value.max()) >= len(head) * 10_000 ** (words - 1):
        raise ValueError(f"code {int(value.max())} does not fit {4 * words} characters")
    text = np.empty((len(value), words), dtype=np.uint32)
    for j in range(words - 1, 0, -1):
        text[:, j] = _QUADS[value % 10_000]
        value = value // 10_000
    text[:, 0] = head[value]
    lengths = np.full(len(text), 4 * words, dtype=np.int32)
    return _strings(text.view(np.uint8).reshape(-1), lengths, valid)


def dotted_quads(address: I64) -> pa.StringArray:
    """IPv4 addresses (as integers) in dotted-quad form; negative values are nulls."""
    address = np.asarray(address, dtype=np.int64)
    valid = address >= 0
    a = address[valid] if not valid.all() else address
    slots = np.empty((len(a), 4), dtype=np.uint32)
    slots[:, 0] = _OCTETS_DOT[(a >> 24) & 255]
    slots[:, 1] = _OCTETS_DOT[(a >> 16) & 255]
    slots[:, 2] = _OCTETS_DOT[(a >> 8) & 255]
    slots[:, 3] = _OCTETS[a & 255]
    # Each octet sits in a NUL-padded 4-byte slot; dropping the NULs joins them.
    raw = slots.view(np.uint8).reshape(len(a), 16)
    present = raw != 0
    return _strings(raw[present], present.sum(axis=1), valid)


# Codes below this many times a batch's rows are numbered through a lookup table (a
# player's, a device's, a table's code is small and dense); larger ones are hashed.
_DENSE_RANGE: Final = 16


def _repeated(codes: I64, text: Callable[[I64], pa.StringArray]) -> pa.DictionaryArray:
    """Codes (negative: null) as a dictionary array of their distinct values' text."""
    valid = codes >= 0
    top = int(codes.max()) + 1 if len(codes) else 0
    if top <= _DENSE_RANGE * max(len(codes), 1):
        seen = np.zeros(top, dtype=bool)
        seen[codes[valid]] = True
        distinct = np.flatnonzero(seen)
        # At least one slot: a chunk whose codes are all null still indexes slot 0 (masked).
        number = np.zeros(max(top, 1), dtype=np.int32)
        number[distinct] = np.arange(len(distinct), dtype=np.int32)
        index = number[np.where(valid, codes, 0)]
        indices = pa.array(index) if valid.all() else pa.array(index, mask=~valid)
    else:
        encoded = pc.dictionary_encode(pa.array(codes, mask=~valid))
        distinct = np.asarray(encoded.dictionary.to_numpy(zero_copy_only=False), dtype=np.int64)
        indices = encoded.indices
    # The indices are in range by construction: skip Arrow's check.
    return pa.DictionaryArray.from_arrays(indices, text(distinct), safe=False)


def category(codes: Array, values: tuple[str, ...]) -> pa.DictionaryArray:
    """Vocabulary codes as a dictionary array; negative codes are nulls."""
    small = np.asarray(codes, dtype=np.int16)
    valid = small >= 0
    indices = pa.array(small) if valid.all() else pa.array(small, mask=~valid)
    return pa.DictionaryArray.from_arrays(indices, _dictionary(values), safe=False)


def _ints(values: Array, missing: int) -> pa.Array:
    values = np.asarray(values, dtype=np.int64)
    present = values != missing
    if present.all():
        return pa.array(values, type=pa.int64())
    return pa.array(values, type=pa.int64(), mask=~present)


def render_events(columns: Mapping[str, Array], psp_names: tuple[str, ...]) -> pa.RecordBatch:
    """One record batch in `SCHEMA` from frame columns (see `simulator.frame.COLUMNS`)."""
    n = len(columns["ts"])
    arrays: dict[str, pa.Array] = {}
    for name, (source, prefix, words) in _IDS.items():
        codes = np.asarray(columns[source], dtype=np.int64)
        if SCHEMA.field(name).type == REPEATED:
            arrays[name] = _repeated(codes, partial(ids, prefix=prefix, words=words))
        else:
            arrays[name] = ids(codes, prefix, words)
    for name, (source, values) in _CATEGORIES.items():
        arrays[name] = category(columns[source], values)
    for name in _INTS:
        arrays[name] = _ints(columns[name], -1)
    arrays["ip"] = _repeated(np.asarray(columns["ip"], dtype=np.int64), dotted_quads)
    arrays["psp"] = category(columns["psp"], psp_names)
    dob = np.asarray(columns["dob"], dtype=np.int32)
    arrays["dob"] = pa.array(dob, mask=dob == MISSING_DOB).view(pa.date32())
    match = np.asarray(columns["doc_match"], dtype=np.int8)
    arrays["doc_match"] = pa.array(match == 1, mask=match < 0)
    arrays["statistic"] = pa.nulls(n, pa.string())
    arrays["p_value"] = pa.nulls(n, pa.float64())
    label = np.asarray(columns["label"], dtype=np.int16) - 1  # 0, honest, becomes null
    arrays["label_typology"] = category(label, TYPOLOGIES)
    return pa.record_batch([arrays[f.name] for f in SCHEMA], schema=SCHEMA)


def render_players(pop: Population) -> pa.RecordBatch:
    """The block's players in `PLAYER_SCHEMA`."""
    group_kind = np.full(pop.n, -1, dtype=np.int64)
    group_kind[pop.group >= 0] = pop.group[pop.group >= 0]
    traits = [
        ",".join(t for i, t in enumerate(TRAITS) if bits >> i & 1) or None
        for bits in pop.traits.tolist()
    ]
    return pa.record_batch(
        [
            ids(pop.gid, b"p", 3),
            category(pop.market, MARKET_NAMES),
            category(pop.currency, CURRENCIES),
            category(pop.country, COUNTRIES),
            category(pop.segment, SEGMENTS),
            category(pop.typology - 1, TYPOLOGIES),
            ids(group_kind, b"grp", 3),
            pa.array(traits, type=pa.string()),
            pa.array(pop.registered, type=pa.int64()),
            pa.array(pop.new),
            pa.array(pop.dob.astype(np.int32)).view(pa.date32()),
            pa.array(pop.kyc_level, type=pa.int64()),
            pa.array(pop.activity > 0),
        ],
        schema=PLAYER_SCHEMA,
    )
