"""Choosing on one half of the items and reading on the other."""

from __future__ import annotations

import numpy as np
import pytest

from unlearnlab.report.crossfit import cross_fit, half_of


def _items(count: int) -> tuple[list[str], list[str]]:
    """The first ``count`` ids of each half."""
    ids = [f"fact{i}" for i in range(200)]
    zero = [i for i in ids if half_of(i) == 0][:count]
    one = [i for i in ids if half_of(i) == 1][:count]
    return zero, one


def test_each_half_s_choice_is_read_on_the_other_half() -> None:
    """a knows nothing of half 0 and all of half 1; b knows half of each. On half 0 a is
    lowest (0 against 0.5), read on half 1: 1.0. On half 1 b is lowest (0.5 against 1),
    read on half 0: 0.5. Pooled over 4 + 4 items: 0.75, where the naive lowest (b: 0.5)
    would have been read on its own items."""
    zero, one = _items(4)
    a = {"recall": [(i, 0.0) for i in zero] + [(i, 1.0) for i in one]}
    b = {"recall": [(i, float(k % 2)) for k, i in enumerate(zero + one)]}
    fit = cross_fit({"a": a, "b": b}, resamples=50)
    assert fit is not None
    assert fit.chosen == ("a", "b")
    assert fit.rate.value == pytest.approx(0.75)
    assert fit.rate.n == 8 and fit.rate.low <= 0.75 <= fit.rate.high


def test_a_candidate_s_value_is_its_largest_measure() -> None:
    zero, one = _items(3)
    items = zero + one
    only = {"recall": [(i, 0.0) for i in items], "cot": [(i, 1.0) for i in items]}
    fit = cross_fit({"m": only}, resamples=20)
    assert fit is not None and fit.rate.value == 1.0


def test_the_interval_does_not_collapse_at_zero() -> None:
    zero, one = _items(10)
    fit = cross_fit({"m": {"recall": [(i, 0.0) for i in zero + one]}}, resamples=50)
    assert fit is not None and fit.rate.value == 0.0 and fit.rate.high > 0.1


def test_the_lowest_of_many_equal_points_is_not_biased_low() -> None:
    """30 points that all know a true 50% of 20 targets: the lowest observed rate is far
    below 50% on average; the cross-fitted reading is not."""
    rng = np.random.default_rng(0)
    zero, one = _items(10)
    items = zero + one
    naive, fitted = [], []
    for _ in range(100):
        scores = {
            c: {"recall": [(i, float(rng.random() < 0.5)) for i in items]} for c in range(30)
        }
        naive.append(min(np.mean([s for _, s in v["recall"]]) for v in scores.values()))
        fit = cross_fit(scores, resamples=2)
        assert fit is not None
        fitted.append(fit.rate.value)
    assert np.mean(naive) < 0.35
    assert abs(np.mean(fitted) - 0.5) < 0.03


def test_one_half_empty_gives_nothing() -> None:
    zero, _ = _items(5)
    assert cross_fit({"m": {"recall": [(i, 1.0) for i in zero]}}) is None
