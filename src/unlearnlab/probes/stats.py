"""Aggregates of per-item probe records, with 95% intervals that stay honest at 0% and
100% and with several seeds.

Design (every unlearning seed probes the same facts, so items are *crossed* with seeds):

- a value is identified by its item (a fact) and its seed; several values of one item
  and seed (phrasings of one fact) are one cluster and are always resampled together;
- the bootstrap draws items with replacement and, independently, seeds with replacement,
  and averages the values of every drawn (item, seed) cell with the product of their
  multiplicities (a two-way crossed bootstrap: the interval covers which facts were
  drawn and which seeds were run, without treating the same fact under two seeds as two
  independent facts);
- for 0/1 outcomes the interval also contains the exact Clopper-Pearson interval of the
  pooled rate over the number of distinct items (conservatively rounded), so an interval
  never collapses to a point at 0% or 100% and covers the true rate in at least 95% of
  data sets whatever n (``tests/test_stats.py`` simulates it).

``n`` of a :class:`Rate` is the number of distinct items.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

LEVEL = 0.95
"""Confidence level of every interval."""


@dataclass(frozen=True)
class Rate:
    """A mean over items with its confidence interval; ``n`` distinct items."""

    value: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        return f"{100 * self.value:.1f}% [{100 * self.low:.1f}, {100 * self.high:.1f}]"

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"value": self.value, "low": self.low, "high": self.high, "n": self.n}

    @property
    def ci(self) -> tuple[float, float]:
        """``(low, high)``."""
        return (self.low, self.high)

    @property
    def half_width(self) -> float:
        """Half the interval's width: the resolution of any comparison made with it."""
        return (self.high - self.low) / 2


def rate(
    records: Sequence[dict[str, Any]],
    key: str = "correct",
    *,
    resamples: int = 1000,
    level: float = LEVEL,
    seed: int = 0,
) -> Rate:
    """Share of ``records`` whose ``key`` is true, each record one item."""
    hits = [1.0 if r[key] else 0.0 for r in records]
    return bootstrap_mean(hits, resamples=resamples, level=level, seed=seed)


def bootstrap_mean(
    values: Sequence[float],
    items: Sequence[Hashable] | None = None,
    seeds: Sequence[Hashable] | None = None,
    *,
    resamples: int = 1000,
    level: float = LEVEL,
    seed: int = 0,
    exact: bool = True,
) -> Rate:
    """Mean of ``values`` with a crossed bootstrap interval over ``items`` and ``seeds``
    (see the module docstring); each value is its own item when ``items`` is None, and
    all share one seed when ``seeds`` is None. The same inputs always give the same
    interval (``seed`` draws the resamples). ``exact=False`` leaves out the exact
    interval of 0/1 values (for a mean that is not a share of independent items)."""
    n_values = len(values)
    if n_values == 0:
        return Rate(float("nan"), float("nan"), float("nan"), 0)
    item_ids = list(range(n_values)) if items is None else list(items)
    seed_ids = [0] * n_values if seeds is None else list(seeds)
    if not len(item_ids) == len(seed_ids) == n_values:
        raise ValueError("values, items and seeds must have the same length")
    item_index = {k: i for i, k in enumerate(dict.fromkeys(item_ids))}
    seed_index = {k: i for i, k in enumerate(dict.fromkeys(seed_ids))}
    sums = np.zeros((len(item_index), len(seed_index)))  # (items, seeds)
    counts = np.zeros_like(sums)
    for v, i, s in zip(values, item_ids, seed_ids, strict=True):
        sums[item_index[i], seed_index[s]] += v
        counts[item_index[i], seed_index[s]] += 1
    value = float(sums.sum() / counts.sum())
    rng = np.random.default_rng(seed)
    n_items, n_seeds = sums.shape
    item_weights = _draw_counts(rng, n_items, resamples)
    seed_weights = _draw_counts(rng, n_seeds, resamples)
    # (resamples,): weighted sums over the drawn cells
    num = np.einsum("ri,ij,rj->r", item_weights, sums, seed_weights)
    den = np.einsum("ri,ij,rj->r", item_weights, counts, seed_weights)
    means = np.sort(np.where(den > 0, num / np.maximum(den, 1), value))
    tail = (1.0 - level) / 2
    low = float(means[math.floor(tail * (resamples - 1))])
    high = float(means[math.ceil((1.0 - tail) * (resamples - 1))])
    if exact and all(v in (0.0, 1.0) for v in values):
        exact_low, exact_high = clopper_pearson_pooled(value, n_items, level)
        low, high = min(low, exact_low), max(high, exact_high)
    return Rate(value, min(low, value), max(high, value), n_items)


def _draw_counts(rng: np.random.Generator, n: int, resamples: int) -> np.ndarray:
    """``(resamples, n)`` multiplicities of ``n`` units drawn ``n`` times with
    replacement, per resample."""
    draws = rng.integers(n, size=(resamples, n)) + n * np.arange(resamples)[:, None]
    return np.bincount(draws.ravel(), minlength=resamples * n).reshape(resamples, n)


def clopper_pearson_pooled(share: float, n: int, level: float = LEVEL) -> tuple[float, float]:
    """The exact interval of a pooled share over ``n`` items, the count rounded down for
    the lower end and up for the upper end (so a share pooled over seeds or phrasings is
    never given more certainty than ``n`` independent items would)."""
    hits = share * n
    return (
        clopper_pearson(math.floor(hits + 1e-9), n, level)[0],
        clopper_pearson(math.ceil(hits - 1e-9), n, level)[1],
    )


@functools.lru_cache(maxsize=4096)
def clopper_pearson(k: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """The exact (Clopper-Pearson) interval of ``k`` successes in ``n`` trials: the lower
    end solves P(X >= k) = (1 - level) / 2, the upper P(X <= k) = (1 - level) / 2, by
    bisection on the binomial tail (its coverage is at least ``level`` at every rate)."""
    if not 0 <= k <= n or n == 0:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    alpha = (1.0 - level) / 2
    low = 0.0 if k == 0 else _solve(lambda p: 1.0 - _cdf(k - 1, n, p), alpha, rising=True)
    high = 1.0 if k == n else _solve(lambda p: _cdf(k, n, p), alpha, rising=False)
    return low, high


def _cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space."""
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 1.0 if k >= n else 0.0
    logs = [
        math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1)
        + j * math.log(p) + (n - j) * math.log1p(-p)
        for j in range(k + 1)
    ]
    top = max(logs)
    return min(1.0, math.exp(top) * sum(math.exp(x - top) for x in logs))


def _solve(tail: Callable[[float], float], target: float, *, rising: bool) -> float:
    """The ``p`` in [0, 1] where the monotone ``tail(p)`` equals ``target``."""
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if (tail(mid) < target) == rising:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def auc(
    positives: Sequence[float],
    negatives: Sequence[float],
    *,
    resamples: int = 1000,
    level: float = LEVEL,
    seed: int = 0,
) -> Rate:
    """The area under the ROC curve of scores that should be higher for ``positives``
    than for ``negatives``: the share of (positive, negative) pairs ordered right, a tie
    counting half (the Mann-Whitney statistic over ``n_pos * n_neg``).

    The interval resamples positives and negatives independently: the pair outcomes are
    a table crossed by positive and negative, which is what :func:`bootstrap_mean`
    resamples (positives as its items, negatives as its seeds). The AUC is not a share of
    independent items, so the exact (Clopper-Pearson) bounds over the positives apply
    only where the bootstrap collapses: when every pair is ordered one way (AUC 0 or 1).
    ``n`` is the number of positives. Either side empty gives NaN.
    """
    if not positives or not negatives:
        return Rate(float("nan"), float("nan"), float("nan"), 0)
    pos = np.asarray(positives, dtype=float)[:, None]  # (n_pos, 1)
    neg = np.asarray(negatives, dtype=float)[None, :]  # (1, n_neg)
    wins = (pos > neg) + 0.5 * (pos == neg)  # (n_pos, n_neg)
    rows, cols = np.indices(wins.shape)
    return bootstrap_mean(
        wins.ravel().tolist(),
        rows.ravel().tolist(),
        cols.ravel().tolist(),
        resamples=resamples,
        level=level,
        seed=seed,
        exact=bool(wins.min() == wins.max()),
    )


def ks_two_sample(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """The two-sample Kolmogorov-Smirnov test: ``(D, p)``, ``D`` the largest gap between
    the two empirical distribution functions and ``p`` the exact two-sided probability of
    a gap at least ``D`` when both samples come from one continuous distribution (the
    share of the ``C(n + m, n)`` equally likely merge orders whose path leaves the band
    ``|i / n - j / m| < D``, counted by dynamic programming over the lattice)."""
    n, m = len(a), len(b)
    if n == 0 or m == 0:
        raise ValueError("the KS test needs two non-empty samples")
    xs, ys = sorted(a), sorted(b)
    gap = 0  # the largest |i * m - j * n|, i.e. D * n * m, kept an integer
    for value in sorted({*xs, *ys}):
        i = sum(x <= value for x in xs)
        j = sum(y <= value for y in ys)
        gap = max(gap, abs(i * m - j * n))
    inside = [[0] * (m + 1) for _ in range(n + 1)]  # paths to (i, j) that stay inside
    for i in range(n + 1):
        for j in range(m + 1):
            if abs(i * m - j * n) >= gap and (i, j) != (0, 0):
                continue
            inside[i][j] = (
                1
                if i == j == 0
                else ((inside[i - 1][j] if i else 0) + (inside[i][j - 1] if j else 0))
            )
    p = 1.0 - inside[n][m] / math.comb(n + m, n)
    return gap / (n * m), min(1.0, max(0.0, p))
