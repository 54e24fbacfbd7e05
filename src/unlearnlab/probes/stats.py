"""Aggregates of per-item probe records, with bootstrap confidence intervals."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
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
    n = len(hits)
    if n == 0:
        return Rate(float("nan"), float("nan"), float("nan"), 0)
    value = sum(hits) / n
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(hits, k=n)) / n for _ in range(resamples))
    tail = (1.0 - level) / 2
    low = means[math.floor(tail * (resamples - 1))]
    high = means[math.ceil((1.0 - tail) * (resamples - 1))]
    return Rate(value, low, high, n)
