"""Connectivity figures on hand-computed worlds."""

from __future__ import annotations

import pytest

from unlearnlab.errors import UserError
from unlearnlab.worlds import Fact, FactRecord, World, parse_rules
from unlearnlab.worlds.connectivity import connectivity, connectivity_table

RULES = parse_rules(
    "grandmother(X, Z) :- mother(X, Y), mother(Y, Z).\ngrandmother(X, Z) :- nana(X, Z).\n"
)
AB, BC, BD = (Fact("A", "mother", "B"), Fact("B", "mother", "C"), Fact("B", "mother", "D"))
GM_AC = Fact("A", "grandmother", "C")
NANA = Fact("A", "nana", "C")


def _world(*facts: Fact) -> World:
    return World(tuple(FactRecord(f, i) for i, f in enumerate(facts)), RULES)


def test_a_fact_nothing_implies() -> None:
    world = _world(AB, BC, BD, GM_AC)
    figures = connectivity(world, AB)
    assert (figures.derivations, figures.deep_cost) == (0, 1)
    # grandmother(A, D) is derived only through mother(A, B); grandmother(A, C) is stated.
    assert figures.dependents == 1
    assert figures.derivations_complete


def test_a_stated_fact_with_one_and_with_two_derivations() -> None:
    one = connectivity(_world(AB, BC, GM_AC), GM_AC)
    assert (one.derivations, one.deep_cost, one.dependents) == (1, 2, 0)
    two = connectivity(_world(AB, BC, GM_AC, NANA), GM_AC)
    assert (two.derivations, two.deep_cost, two.dependents) == (2, 3, 0)


def test_table_keeps_order_and_json_names() -> None:
    world = _world(AB, BC, GM_AC)
    table = connectivity_table(world, [GM_AC, AB])
    assert [c.fact for c in table] == [GM_AC, AB]
    assert table[0].to_dict() == {
        "fact": "grandmother(A, C)",
        "derivations": 1,
        "derivations_complete": True,
        "deep_cost": 2,
        "dependents": 0,
    }


def test_only_stated_base_facts_have_connectivity() -> None:
    world = _world(AB, BC)
    with pytest.raises(UserError, match=r"grandmother\(A, C\) is not a stated base fact"):
        connectivity(world, GM_AC)
