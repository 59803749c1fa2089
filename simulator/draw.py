"""Random draws in the scenario's terms: `[p5, p95]` amounts, uniform ranges, counts,
weights by name, and money rounded the way people and cashiers round it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

F64: TypeAlias = npt.NDArray[np.float64]
I64: TypeAlias = npt.NDArray[np.int64]
Rng: TypeAlias = np.random.Generator

# z of the 95th percentile: a [p5, p95] range spans 2 × 1.645 standard deviations.
_Z95 = 1.6448536269514722


def lognormal(rng: Rng, bounds: tuple[float, float], size: int) -> F64:
    """Heavy-tailed amounts whose 5th and 95th percentiles are `bounds`."""
    low, high = max(bounds[0], 1e-9), max(bounds[1], 1e-9)
    mu = (np.log(low) + np.log(high)) / 2
    sigma = (np.log(high) - np.log(low)) / (2 * _Z95)
    out: F64 = np.exp(mu + sigma * rng.standard_normal(size))
    return out


def lognormal_at(bounds: tuple[float, float], z: F64) -> F64:
    """The lognormal of `lognormal` at given standard-normal scores (to correlate draws)."""
    low, high = max(bounds[0], 1e-9), max(bounds[1], 1e-9)
    mu = (np.log(low) + np.log(high)) / 2
    sigma = (np.log(high) - np.log(low)) / (2 * _Z95)
    out: F64 = np.exp(mu + sigma * z)
    return out


def uniform(rng: Rng, bounds: tuple[float, float], size: int) -> F64:
    return rng.uniform(bounds[0], bounds[1], size) if size else np.zeros(0)


def integers(rng: Rng, bounds: tuple[float, float], size: int) -> I64:
    """Whole numbers uniform between the bounds, both included."""
    low, high = round(bounds[0]), round(bounds[1])
    return rng.integers(low, high + 1, size, dtype=np.int64)


def pick(rng: Rng, weights: Sequence[float] | F64, size: int) -> I64:
    """Indices drawn with the given (unnormalised) weights."""
    p = np.asarray(weights, dtype=np.float64)
    cum = np.cumsum(p / p.sum())
    idx = np.searchsorted(cum, rng.random(size), side="right")
    return np.minimum(idx, len(p) - 1).astype(np.int64)


def pick_named(rng: Rng, weights: Mapping[str, float], codes: Mapping[str, int], size: int) -> I64:
    """Vocabulary codes drawn from a `{name: weight}` table."""
    names = list(weights)
    lookup = np.array([codes[n] for n in names], dtype=np.int64)
    return lookup[pick(rng, [weights[n] for n in names], size)]


def stochastic_round(rng: Rng, x: float) -> int:
    """`x` rounded up with probability equal to its fraction: unbiased, low variance."""
    whole = int(np.floor(x))
    return whole + int(rng.random() < x - whole)


def zipf_weights(n: int, s: float = 1.0) -> F64:
    """Popularity of n items (games, tables): a few are busy, most are quiet."""
    return 1.0 / np.arange(1, n + 1, dtype=np.float64) ** s


def nice(minor: F64, decimals: int | I64, *, digits: int = 2) -> I64:
    """Amounts (minor units) rounded to `digits` significant digits of the major unit,
    never below one minor unit: 137.42 → 140, 2.37 → 2.4."""
    major = np.maximum(minor, 1.0) / 10.0**decimals
    step = 10.0 ** (np.floor(np.log10(np.maximum(major, 1e-9))) - (digits - 1))
    step = np.maximum(step, 10.0**-decimals)
    rounded = np.round(major / step) * step
    out: I64 = np.maximum(np.round(rounded * 10.0**decimals), 1).astype(np.int64)
    return out


def round_amount(minor: F64, decimals: int | I64) -> I64:
    """Amounts people type into a cashier: one significant digit or a half step
    (20, 25, 50, 150, 2500), whole units at least."""
    major = np.maximum(minor, 1.0) / 10.0**decimals
    step = 10.0 ** np.floor(np.log10(np.maximum(major, 1e-9))) / 2
    step = np.maximum(step, 1.0)
    rounded = np.maximum(np.round(major / step), 1) * step
    return np.round(rounded * 10.0**decimals).astype(np.int64)


def split(rng: Rng, totals: F64, parts: I64) -> tuple[I64, F64]:
    """Split each total into `parts[i]` random shares: (owner index per share, share)."""
    owner = np.repeat(np.arange(len(totals)), parts)
    w = rng.exponential(1.0, len(owner))
    sums = np.bincount(owner, weights=w, minlength=len(totals))
    return owner, totals[owner] * w / sums[owner]


def sorted_uniform(rng: Rng, owner: I64, low: F64, high: F64) -> F64:
    """For each row, a point uniform in [low, high] of its owner, sorted within owner."""
    u = rng.random(len(owner))
    # Rows of one owner are contiguous and in owner order (they come from np.repeat), so
    # the values sorted by (owner, u) line up with the rows.
    u_sorted = u[np.lexsort((u, owner))]
    return low[owner] + u_sorted * (high[owner] - low[owner])
