"""Aggregates of per-item probe records, with bootstrap confidence intervals over items
and seeds."""

from __future__ import annotations

import math
import random
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Rate:
    """A proportion over items with a percentile-bootstrap confidence interval."""

    value: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        return f"{100 * self.value:.1f}% [{100 * self.low:.1f}, {100 * self.high:.1f}]"

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"value": self.value, "low": self.low, "high": self.high, "n": self.n}


def rate(
    records: Sequence[dict[str, Any]],
    key: str = "correct",
    *,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> Rate:
    """Share of ``records`` whose ``key`` is true, with a bootstrap interval over records.

    The interval is the percentile interval of ``resamples`` resamples drawn with ``seed``,
    so the same records always give the same interval.
    """
    hits = [1.0 if r[key] else 0.0 for r in records]
    return bootstrap_mean(hits, resamples=resamples, level=level, seed=seed)


def bootstrap_mean(
    values: Sequence[float],
    groups: Sequence[Hashable] | None = None,
    *,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> Rate:
    """Mean of ``values`` with a percentile-bootstrap interval over items and groups.

    With ``groups`` (the seed of each value) naming more than one group, every resample
    draws groups with replacement and then items with replacement within each drawn group
    (a two-level bootstrap), so the interval covers seed-to-seed variation too.
    """
    n = len(values)
    if n == 0:
        return Rate(float("nan"), float("nan"), float("nan"), 0)
    value = sum(values) / n
    rng = random.Random(seed)
    by_group: dict[Hashable, list[float]] = {}
    for v, g in zip(values, groups if groups is not None else [0] * n, strict=True):
        by_group.setdefault(g, []).append(v)
    pools = list(by_group.values())
    if len(pools) == 1:
        means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))
    else:
        means = []
        for _ in range(resamples):
            drawn = [rng.choices(pool, k=len(pool)) for pool in rng.choices(pools, k=len(pools))]
            means.append(sum(map(sum, drawn)) / sum(map(len, drawn)))
        means.sort()
    tail = (1.0 - level) / 2
    low = means[math.floor(tail * (resamples - 1))]
    high = means[math.ceil((1.0 - tail) * (resamples - 1))]
    return Rate(value, low, high, n)
