"""Rates with intervals: exact values, honest intervals at 0% and 100%, coverage by
simulation, and the crossed design of items and seeds."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from unlearnlab.probes.stats import bootstrap_mean, clopper_pearson, rate


def _records(hits: list[bool]) -> list[dict]:
    return [{"correct": h} for h in hits]


def test_exact_value_and_intervals_that_do_not_collapse() -> None:
    assert rate(_records([True, True, False, False])).value == 0.5
    all_right = rate(_records([True] * 7))
    assert (all_right.value, all_right.high, all_right.n) == (1.0, 1.0, 7)
    # 7 of 7: the exact interval's lower end is 0.025 ** (1 / 7)
    assert all_right.low == pytest.approx(0.025 ** (1 / 7), abs=1e-9)
    none = rate(_records([False] * 20))
    assert none.low == 0.0 and none.high == pytest.approx(1 - 0.025 ** (1 / 20), abs=1e-9)
    empty = rate([])
    assert empty.n == 0 and math.isnan(empty.value)
    assert str(rate(_records([True] * 3 + [False]))).startswith("75.0% [")


def test_clopper_pearson_by_hand() -> None:
    assert clopper_pearson(0, 1) == (0.0, pytest.approx(0.975))
    low, high = clopper_pearson(1, 2)  # symmetric: 1 - sqrt(0.975) .. sqrt(0.975)
    assert low == pytest.approx(1 - math.sqrt(0.975), abs=1e-9)
    assert high == pytest.approx(math.sqrt(0.975), abs=1e-9)
    with pytest.raises(ValueError, match="0 <= k <= n"):
        clopper_pearson(3, 2)


@pytest.mark.parametrize("true", [0.0, 0.05, 0.5, 0.95, 1.0])
def test_intervals_cover_the_true_rate_in_simulation(true: float) -> None:
    rng = random.Random(1)
    covered = 0
    for trial in range(1000):
        hits = [rng.random() < true for _ in range(20)]
        r = rate(_records(hits), seed=trial)
        covered += r.low <= true <= r.high
    assert covered / 1000 >= (1.0 if true in (0.0, 1.0) else 0.93)


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
    assert 0.0 <= result.low <= result.value <= result.high <= 1.0
    assert result.value == sum(hits) / len(hits)


def test_phrasings_of_one_fact_are_one_item() -> None:
    """Three phrasings of each of 10 facts: n is 10, and the interval is as wide as the
    10 facts alone (not narrowed by counting phrasings as items)."""
    facts = [1.0] * 5 + [0.0] * 5
    alone = bootstrap_mean(facts, resamples=2000)
    tripled = bootstrap_mean(
        [v for v in facts for _ in range(3)], [i for i in range(10) for _ in range(3)],
        resamples=2000,
    )
    assert tripled.n == 10 and tripled.value == 0.5
    assert tripled.high - tripled.low == pytest.approx(alone.high - alone.low, abs=0.03)


def test_items_crossed_with_seeds_are_not_treated_as_independent() -> None:
    """Four seeds that agree on every one of 20 facts carry the information of 20 facts,
    not 80: the crossed interval is as wide as one seed's."""
    facts = [float(i % 2) for i in range(20)]
    one = bootstrap_mean([v for v in facts for _ in range(1)], resamples=2000)
    values = [v for _ in range(4) for v in facts]
    items = [i for _ in range(4) for i in range(20)]
    seeds = [s for s in range(4) for _ in range(20)]
    crossed = bootstrap_mean(values, items, seeds, resamples=2000)
    assert crossed.n == 20
    assert crossed.high - crossed.low >= 0.9 * (one.high - one.low)
    nested_width = bootstrap_mean(values, resamples=2000)  # 80 independent values
    assert crossed.high - crossed.low > (nested_width.high - nested_width.low) * 1.5


def test_another_key_can_be_counted() -> None:
    records = [{"correct": True, "exact": False}, {"correct": True, "exact": True}]
    assert rate(records, "exact").value == 0.5
