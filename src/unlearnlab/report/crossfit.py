"""Best-of-many choices without the winner's curse: choose on one half of the items, read
on the other.

A verdict such as "the lowest target knowledge any grid point reaches" picks the extreme
of many noisy estimates; read on the items it was chosen on, it is biased toward the
extreme (with 30 points at a true 50% and n = 20, the lowest observed is near 30%). Here
the items are split in two halves by a stable hash of their ids; the candidate chosen on
one half is read on the other, both ways, and the two readings are pooled, so every item
counts once and no reading saw its own choice. The interval bootstraps the whole
procedure (items resampled within each half, choices made again), widened to the exact
(Clopper-Pearson) interval of the pooled share where the scores are 0/1, so it does not
collapse at 0% or 100%.

A candidate's value on a set of items is the largest, over its measures, of the mean of
that measure over those items (target knowledge: the largest of recall and
re-derivation). Seeds are averaged per item before anything else.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from unlearnlab.probes.stats import LEVEL, Rate, clopper_pearson_pooled

K = TypeVar("K", bound=Hashable)
RESAMPLES = 1000
"""Bootstrap resamples of the procedure."""


def half_of(item: str) -> int:
    """The half (0 or 1) an item id falls in: a stable hash, the same in every run."""
    return hashlib.sha256(item.encode("utf-8")).digest()[0] & 1


@dataclass(frozen=True)
class CrossFit(Generic[K]):
    """The outcome: the pooled reading and the candidate chosen on each half."""

    rate: Rate
    """Pooled reading of the chosen candidates on the halves they were not chosen on."""
    chosen: tuple[K, K]
    """The candidate chosen on half 0 (read on half 1) and on half 1 (read on half 0)."""


def _values(scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(candidates,) value of each candidate: the largest over measures of the weighted
    item mean (``scores``: candidates x measures x items, NaN where missing)."""
    present = ~np.isnan(scores)
    num = np.einsum("cmi,i->cm", np.where(present, scores, 0.0), weights)
    den = np.einsum("cmi,i->cm", present.astype(float), weights)
    means = np.where(den > 0, num / np.maximum(den, 1e-12), np.nan)
    best = np.where(np.isnan(means), -np.inf, means).max(axis=1)
    return np.where(np.isinf(best), np.nan, best)


def _pooled(
    scores: np.ndarray, halves: np.ndarray, weights: np.ndarray, lowest: bool
) -> tuple[float, int, int]:
    """(pooled reading, chosen index on half 0, chosen index on half 1)."""
    pick = np.nanargmin if lowest else np.nanargmax
    readings, chosen, sizes = [], [], []
    for h in (0, 1):
        choose = weights * (halves == h)
        read = weights * (halves != h)
        values = _values(scores, choose)
        if np.all(np.isnan(values)):
            return math.nan, -1, -1
        best = int(pick(values))
        chosen.append(best)
        readings.append(_values(scores[best : best + 1], read)[0])
        sizes.append(read.sum())
    total = sum(sizes)
    pooled = sum(r * s for r, s in zip(readings, sizes, strict=True)) / total
    return float(pooled), chosen[0], chosen[1]


def cross_fit(
    scores: Mapping[K, Mapping[str, Sequence[tuple[str, float]]]],
    *,
    lowest: bool = True,
    resamples: int = RESAMPLES,
    seed: int = 0,
    level: float = LEVEL,
) -> CrossFit[K] | None:
    """The candidate with the lowest (``lowest``) or highest value, chosen on one half of
    the items and read on the other (see the module docstring).

    ``scores[candidate][measure]`` lists (item id, score) pairs (several per item when
    seeds repeat it). None when either half has no items."""
    candidates = list(scores)
    items = sorted({i for c in candidates for m in scores[c].values() for i, _ in m})
    measures = sorted({m for c in candidates for m in scores[c]})
    halves = np.array([half_of(i) for i in items])
    if not candidates or len(set(halves.tolist())) < 2:
        return None
    position = {item: k for k, item in enumerate(items)}
    sums = np.zeros((len(candidates), len(measures), len(items)))
    counts = np.zeros_like(sums)
    for c, candidate in enumerate(candidates):
        for m, name in enumerate(measures):
            for item, score in scores[candidate].get(name, ()):
                sums[c, m, position[item]] += score
                counts[c, m, position[item]] += 1
    table = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    value, first, second = _pooled(table, halves, np.ones(len(items)), lowest)
    if math.isnan(value):
        return None
    rng = np.random.default_rng(seed)
    draws = np.empty(resamples)
    for r in range(resamples):
        weights = np.zeros(len(items))
        for h in (0, 1):
            members = np.flatnonzero(halves == h)
            np.add.at(weights, rng.choice(members, len(members)), 1.0)
        draws[r] = _pooled(table, halves, weights, lowest)[0]
    draws = np.sort(draws[~np.isnan(draws)])
    tail = (1.0 - level) / 2
    low = float(draws[math.floor(tail * (len(draws) - 1))])
    high = float(draws[math.ceil((1.0 - tail) * (len(draws) - 1))])
    if np.all(np.isin(table[~np.isnan(table)], (0.0, 1.0))):
        exact_low, exact_high = clopper_pearson_pooled(value, len(items), level)
        low, high = min(low, exact_low), max(high, exact_high)
    rate = Rate(value, min(low, value), max(high, value), len(items))
    return CrossFit(rate, (candidates[first], candidates[second]))
