"""The synthesis world generator: exact overlap, routes, rules, determinism."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unlearnlab.errors import UserError
from unlearnlab.worlds import Fact
from unlearnlab.worlds.generators import generate_world
from unlearnlab.worlds.synthesis import SynthesisParams, generate_synthesis, shared_prefixes


def _routes(world, hazard: str) -> list[list[str]]:
    return [r["steps"] for r in world.metadata["routes"].values() if r["hazard"] == hazard]


def _shared_steps(world) -> int:
    benign = {p for r in _routes(world, "benign") for p in r}
    return sum(1 for r in _routes(world, "harmful") for p in r if p in benign)


@settings(max_examples=30, deadline=None)
@given(
    benign=st.integers(1, 8),
    extra=st.integers(0, 4),
    steps=st.integers(1, 4),
    overlap=st.floats(0, 1),
    seed=st.integers(0, 3),
)
def test_overlap_is_exact(benign: int, extra: int, steps: int, overlap: float, seed: int) -> None:
    harmful = max(1, benign - extra)
    params = SynthesisParams(
        benign=benign, harmful=harmful, steps=steps, overlap=overlap, stock=4, seed=seed
    )
    world = generate_synthesis(params)
    expected = round(overlap * harmful * steps)
    assert _shared_steps(world) == expected == sum(shared_prefixes(params))
    assert world.metadata["overlap_exact"] == expected / (harmful * steps)
    assert all(len(r) == steps for r in _routes(world, "harmful"))
    assert all(len(r) == steps + 1 for r in _routes(world, "benign"))


def test_no_sharing_at_zero_and_no_exclusive_harmful_step_at_one() -> None:
    none = generate_synthesis(SynthesisParams(overlap=0.0))
    assert _shared_steps(none) == 0
    full = generate_synthesis(SynthesisParams(overlap=1.0))
    benign = {p for r in _routes(full, "benign") for p in r}
    assert all(p in benign for r in _routes(full, "harmful") for p in r)


def test_each_step_is_one_reaction_and_routes_chain() -> None:
    world = generate_synthesis(SynthesisParams(benign=3, harmful=2, steps=2, overlap=0.5))
    stated = set(world.base_facts)
    for info in world.metadata["routes"].values():
        steps = info["steps"]
        for previous, product in itertools.pairwise(steps):
            assert Fact(previous, "main_reagent", product) in stated
        for product in steps:
            assert sum(f.object == product and f.relation == "main_reagent" for f in stated) == 1
            assert sum(f.object == product and f.relation == "co_reagent" for f in stated) == 1
            assert sum(f.subject == product and f.relation == "condition" for f in stated) == 1


def test_precursors_follow_the_route() -> None:
    world = generate_synthesis(SynthesisParams(benign=2, harmful=1, steps=3, overlap=0.0))
    closure = world.closure()
    [harmful] = _routes(world, "harmful")
    product = harmful[-1]
    for intermediate in harmful[:-1]:
        assert Fact(intermediate, "precursor", product) in closure
        assert Fact(intermediate, "hazard_precursor", product) in closure
    assert Fact(product, "hazard", "harmful") in closure
    benign = _routes(world, "benign")[0][-1]
    assert not any(f.relation == "hazard_precursor" and f.object == benign for f in closure)


def test_same_seed_same_world_other_seed_other_world() -> None:
    first = generate_synthesis(SynthesisParams(seed=4))
    assert first.records == generate_synthesis(SynthesisParams(seed=4)).records
    assert first.records != generate_synthesis(SynthesisParams(seed=5)).records


def test_bad_parameters_are_user_errors() -> None:
    with pytest.raises(UserError, match=r"^synthesis: overlap: Input should be less than or"):
        generate_world("synthesis", {"overlap": 1.5})
    with pytest.raises(UserError, match=r"harmful \(5\) must not exceed benign \(2\)"):
        generate_world("synthesis", {"benign": 2, "harmful": 5})
