"""Connectivity figures on hand-computed worlds, and forget targets drawn per connectivity
stratum (hand-computed cases, and a property test on family worlds)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from unlearnlab.corpus.splits import SplitConfig, Splits, Stratum, make_splits
from unlearnlab.errors import UserError
from unlearnlab.worlds import (
    Fact,
    FactRecord,
    FamilyParams,
    World,
    generate_family,
    parse_rules,
)
from unlearnlab.worlds.connectivity import connectivity, connectivity_table, derivation_count

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


# ----------------------------------------------------------------- stratified forget targets

ISOLATED = Stratum(name="isolated", max_derivations=0, targets=1, relations=("birth_year",))
ONE = Stratum(name="one", min_derivations=1, max_derivations=1, targets=1)
MANY = Stratum(name="many", min_derivations=2, targets=1)


def test_derivation_count_is_capped_and_says_so() -> None:
    world = _world(AB, BC, GM_AC, NANA)
    assert derivation_count(world, GM_AC) == (2, True)
    # max_sets counts grandmother(A, C)'s own support set too: 2 sets, one of them others.
    count, complete = derivation_count(world, GM_AC, max_sets=2)
    assert count >= 1 and not complete


def test_each_stratum_gets_the_fact_with_its_connectivity() -> None:
    # grandmother(A, C) has one derivation, grandmother(D, F) two (mother-mother and nana),
    # birth_year(C, 1990) none; every other stated fact lies in one of their cones.
    de, ef = Fact("D", "mother", "E"), Fact("E", "mother", "F")
    gm_df, nana_df = Fact("D", "grandmother", "F"), Fact("D", "nana", "F")
    year = Fact("C", "birth_year", "1990")
    world = _world(AB, BC, GM_AC, de, ef, gm_df, nana_df, year)
    for seed in range(4):
        config = SplitConfig(strata=(ISOLATED, ONE, MANY), heldout=0, seed=seed)
        splits = make_splits(world, config)
        assert splits.strata == {"isolated": (year,), "one": (GM_AC,), "many": (gm_df,)}
        # Premises: the first of the shortest derivations (both of depth 1 for gm_df).
        assert splits.premises_of == {year: (), GM_AC: (AB, BC), gm_df: (de, ef)}
        assert splits.stratum_of()[gm_df] == "many"
        assert sorted(splits.forget) == sorted([year, GM_AC, gm_df])


def test_a_stratum_the_world_cannot_fill_names_what_it_found() -> None:
    world = _world(AB, BC, GM_AC)
    with pytest.raises(UserError, match=r"too few independent targets \(many 0 of 1\)"):
        make_splits(world, SplitConfig(strata=(ONE, MANY), heldout=0))


def test_strata_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="strata one and many overlap"):
        SplitConfig(strata=(ONE, MANY.model_copy(update={"min_derivations": 1})))
    with pytest.raises(ValidationError, match="forget and strata are both set"):
        SplitConfig(forget=3, strata=(ONE,))
    with pytest.raises(ValidationError, match="max_derivations 1 is below min_derivations 2"):
        Stratum(name="x", min_derivations=2, max_derivations=1)
    with pytest.raises(ValidationError, match="stratum names repeat"):
        SplitConfig(strata=(ONE, Stratum(name="one", min_derivations=5)))


def test_strata_round_trip_and_plain_splits_keep_their_json() -> None:
    world = _world(AB, BC, GM_AC, Fact("C", "birth_year", "1990"))
    stratified = make_splits(world, SplitConfig(strata=(ISOLATED, ONE), heldout=0))
    assert Splits.from_dict(stratified.to_dict()) == stratified
    plain = make_splits(world, SplitConfig(forget=1, heldout=0, target_relations=("grandmother",)))
    assert "strata" not in plain.to_dict() and Splits.from_dict(plain.to_dict()) == plain


FAMILY_STRATA = (
    Stratum(name="isolated", max_derivations=0, targets=3),
    Stratum(name="1", min_derivations=1, max_derivations=1, targets=3),
    Stratum(name="2-3", min_derivations=2, max_derivations=3, targets=3),
    Stratum(name="4+", min_derivations=4, targets=3),
)


@settings(max_examples=6, deadline=None)
@given(people=st.integers(30, 45), seed=st.integers(0, 10_000), split_seed=st.integers(0, 99))
def test_family_strata_hold_the_connectivity_they_claim(
    people: int, seed: int, split_seed: int
) -> None:
    world = generate_family(
        FamilyParams(
            people=people,
            seed=seed,
            base_relations=("mother", "father", "husband"),
            sibling_rules=False,
        )
    )
    try:
        splits = make_splits(world, SplitConfig(strata=FAMILY_STRATA, heldout=5, seed=split_seed))
    except UserError:
        assume(False)
    assert make_splits(world, SplitConfig(strata=FAMILY_STRATA, heldout=5, seed=split_seed)) == (
        splits
    )
    targets = set(splits.forget)
    for stratum in FAMILY_STRATA:
        for fact in splits.strata[stratum.name]:
            count, complete = derivation_count(world, fact)
            assert complete and stratum.min_derivations <= count
            assert stratum.max_derivations is None or count <= stratum.max_derivations
            # Independent targets: the same count once every other target is removed.
            others = targets - {fact}
            alone = World(
                tuple(r for r in world.records if r.fact not in others),
                world.rules,
                world.entity_types,
            )
            assert derivation_count(alone, fact) == (count, True)
            assert not set(splits.premises_of[fact]) & targets
    assert not set(splits.premises) & targets
