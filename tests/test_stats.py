"""Rates with bootstrap intervals."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from unlearnlab.probes.stats import rate


def _records(hits: list[bool]) -> list[dict]:
    return [{"correct": h} for h in hits]


def test_exact_value_and_degenerate_intervals() -> None:
    assert rate(_records([True, True, False, False])).value == 0.5
    all_right = rate(_records([True] * 7))
    assert (all_right.value, all_right.low, all_right.high, all_right.n) == (1.0, 1.0, 1.0, 7)
    none = rate(_records([False] * 3))
    assert (none.low, none.high) == (0.0, 0.0)
    empty = rate([])
    assert empty.n == 0 and math.isnan(empty.value)
    assert str(rate(_records([True] * 3 + [False]))).startswith("75.0% [")


def test_interval_is_deterministic_and_narrows_with_more_items() -> None:
    few = _records([True, False] * 5)
    many = _records([True, False] * 500)
    assert rate(few) == rate(few)
    assert rate(many).high - rate(many).low < rate(few).high - rate(few).low
    # A 95% interval of a proportion of 0.5 over 1000 items is about +-3 points.
    assert 0.46 < rate(many).low < 0.48 and 0.52 < rate(many).high < 0.54


@given(st.lists(st.booleans(), min_size=1, max_size=40))
def test_interval_is_ordered_and_within_zero_one(hits: list[bool]) -> None:
    result = rate(_records(hits), resamples=200)
    assert 0.0 <= result.low <= result.high <= 1.0
    assert result.value == sum(hits) / len(hits)


def test_another_key_can_be_counted() -> None:
    records = [{"correct": True, "exact": False}, {"correct": True, "exact": True}]
    assert rate(records, "exact").value == 0.5
