"""The family world generator: determinism, sizes, parameters, and its rules checked
against family relations computed by brute force from parents, marriages and genders."""

from __future__ import annotations

from collections import defaultdict
from itertools import product

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unlearnlab.errors import UserError
from unlearnlab.worlds.closure import compute_closure
from unlearnlab.worlds.family import (
    ATTRIBUTE_RELATIONS,
    BASE_RELATIONS,
    FamilyParams,
    generate_family,
)
from unlearnlab.worlds.generators import generate_world
from unlearnlab.worlds.kg import Fact, World


def _family(**params: object) -> World:
    return generate_family(FamilyParams(**params))  # type: ignore[arg-type]


def test_same_parameters_give_the_same_world() -> None:
    a, b = _family(people=80, seed=5), _family(people=80, seed=5)
    assert a.records == b.records
    assert a.rules == b.rules
    assert a.entity_types == b.entity_types
    assert a.metadata == b.metadata


def test_another_seed_gives_another_world() -> None:
    a, b = _family(people=80, seed=5), _family(people=80, seed=6)
    assert set(a.entities_of_type("person")) != set(b.entities_of_type("person"))
    assert {r.fact for r in a.records} != {r.fact for r in b.records}


@pytest.mark.parametrize("people", [4, 5, 7, 60, 201])
def test_exact_number_of_people(people: int) -> None:
    world = _family(people=people, seed=1)
    persons = world.entities_of_type("person")
    assert len(persons) == people
    genders = {f.subject: f.object for f in world.background_facts}
    assert sorted(genders) == list(persons)
    assert set(genders.values()) <= {"female", "male"}
    # Every person has a birth year, a birth city and a job (attributes=True by default).
    for relation in ATTRIBUTE_RELATIONS:
        assert sorted(f.subject for f in world.base_facts if f.relation == relation) == list(
            persons
        )
    assert world.metadata["name"] == f"family-{people}-s1"


def test_metadata_records_the_resolved_parameters() -> None:
    world = _family(people=30, seed=2)
    assert world.metadata["generator"] == "family"
    assert world.metadata["params"] == {
        "people": 30,
        "generations": 4,
        "seed": 2,
        "base_relations": list(BASE_RELATIONS),
        "stated_fraction": 0.5,
        "attributes": True,
        "sibling_rules": True,
    }


def test_without_attributes_only_family_relations_are_stated() -> None:
    world = _family(people=30, seed=2, attributes=False)
    assert not {f.relation for f in world.base_facts} & set(ATTRIBUTE_RELATIONS)
    assert set(world.entity_types.values()) == {"person", "gender"}


# ----- the rules, against brute force


def _relatives(world: World) -> dict[str, set[tuple[str, str]]]:
    """Every family relation, from the stated mother, father, husband and gender facts."""
    stated = {r.fact for r in world.records}
    gender = {f.subject: f.object for f in stated if f.relation == "gender"}
    people = sorted(gender)
    parents: dict[str, set[str]] = defaultdict(set)
    spouses: dict[str, set[str]] = defaultdict(set)
    out: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for f in stated:
        if f.relation in ("mother", "father"):
            parents[f.object].add(f.subject)
            out[f.relation].add((f.subject, f.object))
        elif f.relation == "husband":
            spouses[f.subject].add(f.object)
            spouses[f.object].add(f.subject)
            out["husband"].add((f.subject, f.object))
            out["wife"].add((f.object, f.subject))
    male = {p for p in people if gender[p] == "male"}

    def siblings(x: str, y: str) -> bool:
        return x != y and bool(parents[x] & parents[y])

    for x, y in product(people, people):
        if y in parents[x]:
            out["child"].add((x, y))
        if siblings(x, y):
            out["brother" if x in male else "sister"].add((x, y))
        if any(x in parents[p] for p in parents[y]):
            out["grandfather" if x in male else "grandmother"].add((x, y))
        if any(siblings(x, p) for p in parents[y]):
            out["uncle" if x in male else "aunt"].add((x, y))
            out["nephew" if y in male else "niece"].add((y, x))
        if any(siblings(a, b) for a in parents[x] for b in parents[y]):
            out["cousin"].add((x, y))
        if any(x in parents[s] for s in spouses[y]):
            out["father_in_law" if x in male else "mother_in_law"].add((x, y))
        in_law = any(siblings(x, s) for s in spouses[y]) or any(siblings(s, y) for s in spouses[x])
        if in_law:
            out["brother_in_law" if x in male else "sister_in_law"].add((x, y))
    return out


@pytest.mark.parametrize(("people", "seed"), [(120, 0), (200, 7)])
def test_closure_equals_brute_force_family_relations(people: int, seed: int) -> None:
    world = _family(people=people, seed=seed)
    expected = _relatives(world)
    got: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for f in world.closure():
        if f.relation not in ("gender", *ATTRIBUTE_RELATIONS):
            got[f.relation].add((f.subject, f.object))
    assert set(got) == set(expected)
    for relation in sorted(expected):
        assert got[relation] == expected[relation], relation
    # A world of this size has every kind of relative, so no relation above is vacuous.
    assert min(len(pairs) for pairs in expected.values()) > 0


def test_a_small_hand_checked_family() -> None:
    world = _family(people=12, seed=3, generations=3, attributes=False)
    facts = world.closure()
    for f in facts:
        if f.relation == "grandmother":
            # X is the mother of a parent of Z.
            assert any(
                (Fact(f.subject, "mother", p) in facts and Fact(p, "mother", f.object) in facts)
                or (Fact(f.subject, "mother", p) in facts and Fact(p, "father", f.object) in facts)
                for p in world.entities_of_type("person")
            )
        if f.relation in ("brother", "sister", "cousin", "aunt", "uncle"):
            assert f.subject != f.object


@settings(max_examples=15, deadline=None)
@given(
    people=st.integers(4, 70),
    seed=st.integers(0, 10_000),
    generations=st.integers(2, 5),
    fraction=st.sampled_from([0.0, 0.5, 1.0]),
)
def test_every_fact_about_a_pair_follows_from_any_other_fact_about_it(
    people: int, seed: int, generations: int, fraction: float
) -> None:
    # The corpus states facts both ways (cousin(A, B) beside cousin(B, A), aunt(A, B)
    # beside niece(B, A), mother(A, B) beside child(B, A)): the rules must derive each
    # from the other with genders alone, or a deep-unlearning set would miss the mirror.
    world = _family(people=people, seed=seed, generations=generations, stated_fraction=fraction)
    by_pair: dict[frozenset[str], set[Fact]] = defaultdict(set)
    for fact in world.closure():
        if fact.relation not in ("gender", *ATTRIBUTE_RELATIONS):
            by_pair[frozenset((fact.subject, fact.object))].add(fact)
    genders = sorted(world.background_facts)
    for facts in by_pair.values():
        for fact in facts:
            alone = compute_closure([fact, *genders], world.rules).facts
            assert facts <= alone, (fact, facts - alone)


def test_a_stated_cousin_mirror_is_in_every_deep_unlearning_set() -> None:
    world = _family(people=100, seed=0)
    stated = set(world.base_facts)
    pairs = [
        f
        for f in world.base_facts
        if f.relation == "cousin" and Fact(f.object, "cousin", f.subject) in stated
    ]
    assert pairs
    for fact in pairs[:5]:
        mirror = Fact(fact.object, "cousin", fact.subject)
        sets = world.minimal_deep_unlearning_sets(fact)
        assert sets.complete and all(mirror in s for s in sets.sets)


# ----- stated_fraction and base_relations


def test_stated_fraction_zero_states_only_the_base_relations() -> None:
    world = _family(people=60, seed=4, stated_fraction=0.0)
    stated_relations = {f.relation for f in world.base_facts}
    assert stated_relations == set(BASE_RELATIONS) | set(ATTRIBUTE_RELATIONS)
    derived_relations = {f.relation for f in world.derived_facts}
    assert derived_relations >= {"grandmother", "aunt", "cousin", "uncle"}


def test_stated_fraction_one_states_every_fact_of_the_closure() -> None:
    world = _family(people=60, seed=4, stated_fraction=1.0)
    assert world.derived_facts == ()
    assert world.closure() == world.stated


def test_stated_fraction_states_that_share_of_each_derived_relation() -> None:
    full = _family(people=60, seed=4, stated_fraction=1.0)
    half = _family(people=60, seed=4, stated_fraction=0.5)
    family = {f for f in full.closure() if f.relation not in ATTRIBUTE_RELATIONS}
    assert {f for f in half.closure() if f.relation not in ATTRIBUTE_RELATIONS} == family
    for relation in ("aunt", "cousin", "grandmother", "niece", "sister_in_law"):
        total = sum(1 for f in full.base_facts if f.relation == relation)
        stated = sum(1 for f in half.base_facts if f.relation == relation)
        assert stated == round(0.5 * total), relation
    for relation in BASE_RELATIONS:
        assert {f for f in half.base_facts if f.relation == relation} == {
            f for f in full.base_facts if f.relation == relation
        }


def test_other_base_relations_still_determine_the_family() -> None:
    world = _family(people=60, seed=4, base_relations=("child", "husband"), stated_fraction=0.0)
    assert {f.relation for f in world.base_facts} == {"child", "husband", *ATTRIBUTE_RELATIONS}
    reference = _family(people=60, seed=4, stated_fraction=0.0)
    family = {"mother", "father", "wife", "brother", "sister", "cousin", "aunt"}
    assert {f for f in world.closure() if f.relation in family} == {
        f for f in reference.closure() if f.relation in family
    }


# ----- invalid parameters, through the generator registry


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"people": 2}, "family: people: Input should be greater than or equal to 4"),
        (
            {"stated_fraction": 1.5},
            "family: stated_fraction: Input should be less than or equal to 1",
        ),
        ({"peple": 5}, "family: peple: unknown field (did you mean 'people'?)"),
        (
            {"base_relations": ["mother", "grandma"]},
            "family: base_relations: unknown relation(s) grandma; known: aunt, "
            "brother, brother_in_law, child, cousin, father, father_in_law, grandfather, "
            "grandmother, husband, mother, mother_in_law, nephew, niece, sister, sister_in_law, "
            "uncle, wife",
        ),
    ],
)
def test_invalid_parameters_are_user_errors(params: dict[str, object], message: str) -> None:
    with pytest.raises(UserError) as caught:
        generate_world("family", params)
    assert str(caught.value) == message


def test_base_relations_that_do_not_determine_the_family() -> None:
    with pytest.raises(UserError) as caught:
        generate_world(
            "family", {"people": 30, "base_relations": ["mother"], "stated_fraction": 0.0}
        )
    message = str(caught.value)
    assert message.startswith("base_relations ['mother'] do not determine the family: ")
    assert message.endswith(
        "are neither stated nor derivable; include mother or child, father or child, "
        "and husband or wife"
    )
    assert "father" in message


def test_unknown_generator_lists_the_known_ones() -> None:
    with pytest.raises(UserError) as caught:
        generate_world("famliy", {})
    assert str(caught.value) == "unknown world generator 'famliy' (known: family, synthesis)"
