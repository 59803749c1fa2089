"""Ids and addresses written straight into Arrow string buffers."""

from __future__ import annotations

import ipaddress
from functools import partial

import numpy as np
import pytest

from simulator.population import HOME_SALT, ip_of
from simulator.render import _repeated, category, dotted_quads, ids


def test_ids_are_prefix_and_zero_padded_code_with_nulls() -> None:
    out = ids(np.array([0, 7, -1, 12_345_678_901]), b"p", 3)
    assert out.to_pylist() == ["p00000000000", "p00000000007", None, "p12345678901"]


def test_an_id_too_long_for_its_width_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        ids(np.array([10**12]), b"p", 3)


def test_dotted_quads_match_the_standard_library() -> None:
    values = np.r_[ip_of(np.arange(2_000), HOME_SALT), [0, 255, 256, 2**32 - 1, -1]]
    expected = [None if v < 0 else str(ipaddress.IPv4Address(int(v))) for v in values]
    assert dotted_quads(values).to_pylist() == expected


def test_generated_addresses_are_public() -> None:
    for value in ip_of(np.arange(5_000), HOME_SALT).tolist():
        address = ipaddress.IPv4Address(value)
        assert address.is_global, address


def test_categories_are_dictionary_arrays_with_nulls() -> None:
    out = category(np.array([1, -1, 0]), ("a", "b"))
    assert out.to_pylist() == ["b", None, "a"]


def test_a_column_with_no_value_in_a_chunk_is_all_null() -> None:
    # A small population's chunk may hold no bonus at all: every code is null.
    codes = np.full(5, -1, dtype=np.int64)
    column = _repeated(codes, partial(ids, prefix=b"b", words=4))
    assert column.null_count == 5
    assert column.to_pylist() == [None] * 5
