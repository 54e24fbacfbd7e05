"""Closure, derivation trees, and the exact enumeration of minimal deep-unlearning and
support sets, checked on hand-computed cases and against brute force on random worlds."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from unlearnlab.errors import UserError
from unlearnlab.worlds.closure import compute_closure
from unlearnlab.worlds.deduction import minimal_deep_unlearning_sets, minimal_support_sets
from unlearnlab.worlds.kg import Fact, FactRecord, World
from unlearnlab.worlds.rules import Const, Rule, Var, parse_rules

ANCESTRY = parse_rules(
    "ancestor(X, Y) :- parent(X, Y).\n"
    "ancestor(X, Z) :- parent(X, Y), ancestor(Y, Z).\n"
    'likes(X, "cake") :- parent(X, Y), X != "b".\n',
    "ancestry.dl",
)


def F(text: str) -> Fact:
    """``F("r a b")`` is ``Fact("a", "r", "b")``."""
    relation, subject, obj = text.split()
    return Fact(subject, relation, obj)


def world_of(base: Iterable[str], rules: Iterable[Rule], background: Iterable[str] = ()) -> World:
    records = [FactRecord(F(t), i) for i, t in enumerate(base)]
    records += [FactRecord(F(t), None, background=True) for t in background]
    return World(tuple(records), tuple(rules))


# ----- closure and derivation trees on hand-computed cases


def test_closure_of_a_chain_is_exact() -> None:
    closure = compute_closure([F("parent a b"), F("parent b c"), F("parent c d")], ANCESTRY)
    assert closure.facts == {
        F("parent a b"),
        F("parent b c"),
        F("parent c d"),
        F("ancestor a b"),
        F("ancestor b c"),
        F("ancestor c d"),
        F("ancestor a c"),
        F("ancestor b d"),
        F("ancestor a d"),
        F("likes a cake"),
        F("likes c cake"),
    }
    assert closure.rounds == 3  # ancestor over 1, 2, then 3 hops
    assert compute_closure([F("parent a b")], ()).facts == {F("parent a b")}
    assert compute_closure([], ANCESTRY).facts == frozenset()


def test_derivation_tree_of_a_three_hop_fact() -> None:
    world = world_of(["parent a b", "parent b c", "parent c d"], ANCESTRY)
    tree = world.derivation(F("ancestor a d"))
    assert tree is not None
    assert tree.depth == 3
    assert tree.leaves() == {F("parent a b"), F("parent b c"), F("parent c d")}
    assert tree.render() == (
        "ancestor(a, d)  [by ancestry.dl:2: ancestor(X, Z) :- parent(X, Y), ancestor(Y, Z).]\n"
        "  parent(a, b)  [stated]\n"
        "  ancestor(b, d)  [by ancestry.dl:2: ancestor(X, Z) :- parent(X, Y), ancestor(Y, Z).]\n"
        "    parent(b, c)  [stated]\n"
        "    ancestor(c, d)  [by ancestry.dl:1: ancestor(X, Y) :- parent(X, Y).]\n"
        "      parent(c, d)  [stated]"
    )
    assert world.derivation(F("parent a b")).depth == 0  # type: ignore[union-attr]
    assert world.derivation(F("ancestor d a")) is None


def test_derivation_tree_is_the_shallowest() -> None:
    # t(a, b) follows from p via s (two steps) and from q directly (one step); the rule
    # through s is listed first, and its chain is also the one with fewer leaves.
    rules = parse_rules(
        "t(X, Y) :- s(X, Y).\ns(X, Y) :- p(X, Y).\nt(X, Y) :- q(X, Y), r(Y, X).\n", "sh.dl"
    )
    world = world_of(["p a b", "q a b", "r b a"], rules)
    tree = world.derivation(F("t a b"))
    assert tree is not None
    assert tree.depth == 1
    assert tree.leaves() == {F("q a b"), F("r b a")}
    assert tree.to_dict() == {
        "fact": "t(a, b)",
        "rule": "t(X, Y) :- q(X, Y), r(Y, X).",
        "premises": [
            {"fact": "q(a, b)", "rule": None, "premises": []},
            {"fact": "r(b, a)", "rule": None, "premises": []},
        ],
    }
    # Without q(a, b) the only derivation left is the two-step one.
    without = world.derivation(F("t a b"), without=[F("q a b")])
    assert without is not None
    assert without.depth == 2
    assert without.leaves() == {F("p a b")}
    assert world.derivation(F("t a b"), without=[F("q a b"), F("p a b")]) is None


SIBLINGS = (
    "sib(X, Y) :- child(X, P), child(Y, P), X != Y.\nsib(X, Y) :- twin(X, Y).\n",
    ["child ann mum", "child bob mum", "child ann dad", "child bob dad", "twin ann bob"],
)


def _sibling_tree() -> dict:
    world = world_of(SIBLINGS[1], parse_rules(SIBLINGS[0], "sib.dl"))
    tree = world.derivation(F("sib ann bob"))
    assert tree is not None
    return tree.to_dict()


def test_ties_between_shallowest_derivations_break_the_same_way_in_every_process() -> None:
    # Three derivations of depth 1 (through dad, through mum, through twin): the first
    # rule's, with the smallest body, whatever order string hashing gives the sets.
    expected = {
        "fact": "sib(ann, bob)",
        "rule": "sib(X, Y) :- child(X, P), child(Y, P), X != Y.",
        "premises": [
            {"fact": "child(ann, dad)", "rule": None, "premises": []},
            {"fact": "child(bob, dad)", "rule": None, "premises": []},
        ],
    }
    assert _sibling_tree() == expected
    code = "import json, test_deduction as t; print(json.dumps(t._sibling_tree()))"
    for hash_seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), *sys.path])
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert json.loads(out.stdout) == expected


def test_a_stated_fact_rederived_from_the_others() -> None:
    world = world_of(["parent a b", "parent b c", "ancestor a c"], ANCESTRY)
    tree = world.derivation(F("ancestor a c"), without=[F("ancestor a c")])
    assert tree is not None
    assert tree.leaves() == {F("parent a b"), F("parent b c")}
    assert world.rederivable(F("ancestor a c"))
    assert not world.rederivable(F("parent a b"))


# ----- hand-computed set families and budgets

# Every path from a to b in q goes through the hub h: a -> h -> y_i -> b for i = 1, 2, 3.
HUB_RULES = parse_rules("reach(X, Y) :- q(X, Y).\nreach(X, Z) :- reach(X, Y), q(Y, Z).\n", "hub.dl")
HUB_EDGES = ["q a h"] + [f"q h y{i}" for i in (1, 2, 3)] + [f"q y{i} b" for i in (1, 2, 3)]


def _hub_world() -> World:
    return world_of(HUB_EDGES, HUB_RULES)


def _hub_deep_sets() -> set[frozenset[Fact]]:
    """{q(a, h)}, and each choice of one edge from every branch h -> y_i -> b."""
    branches = [(F(f"q h y{i}"), F(f"q y{i} b")) for i in (1, 2, 3)]
    return {frozenset({F("q a h")})} | {frozenset(c) for c in itertools.product(*branches)}


def test_deep_unlearning_sets_of_the_hub_world() -> None:
    world = _hub_world()
    result = world.minimal_deep_unlearning_sets(F("reach a b"))
    assert set(result.sets) == _hub_deep_sets()
    assert len(result) == 9
    assert result.sets[0] == {F("q a h")}  # sorted by size first
    assert [len(s) for s in result.sets] == [1] + [3] * 8
    assert result.complete and result.stopped_by is None
    assert result.minimum == {F("q a h")} and result.minimum_size == 1


def test_support_sets_of_the_hub_world() -> None:
    result = _hub_world().proofs(F("reach a b"))
    assert set(result.sets) == {
        frozenset({F("q a h"), F(f"q h y{i}"), F(f"q y{i} b")}) for i in (1, 2, 3)
    }
    assert result.complete and result.stopped_by is None


def test_a_stated_target_is_in_every_deep_set_and_is_its_own_support() -> None:
    world = world_of([*HUB_EDGES, "reach a b"], HUB_RULES)
    result = world.minimal_deep_unlearning_sets(F("reach a b"))
    assert set(result.sets) == {s | {F("reach a b")} for s in _hub_deep_sets()}
    assert result.minimum_size == 2
    supports = world.proofs(F("reach a b"))
    assert frozenset({F("reach a b")}) in supports.sets
    assert len(supports) == 4


@pytest.mark.parametrize("max_sets", [1, 3])
def test_max_sets_stops_early_and_the_minimum_stays_exact(max_sets: int) -> None:
    result = _hub_world().minimal_deep_unlearning_sets(F("reach a b"), max_sets=max_sets)
    assert not result.complete
    assert result.stopped_by == f"max_sets={max_sets}"
    assert len(result) == max_sets
    assert set(result.sets) <= _hub_deep_sets()
    assert result.minimum == {F("q a h")}
    assert result.minimum_size == 1
    data = result.to_dict(_hub_world())
    assert (data["count"], data["complete"], data["stopped_by"]) == (
        max_sets,
        False,
        f"max_sets={max_sets}",
    )
    assert data["minimum"] == [{"id": 0, "subject": "a", "relation": "q", "object": "h"}]


def test_time_limit_zero_stops_before_any_set_with_an_exact_minimum() -> None:
    result = _hub_world().minimal_deep_unlearning_sets(F("reach a b"), time_limit=0)
    assert (result.sets, result.complete, result.stopped_by) == ((), False, "time_limit=0s")
    assert result.minimum == {F("q a h")}


def test_support_sets_budget() -> None:
    result = _hub_world().proofs(F("reach a b"), max_sets=1)
    assert (len(result), result.complete, result.stopped_by) == (1, False, "max_sets=1")


def test_target_that_does_not_hold_is_a_user_error() -> None:
    world = _hub_world()
    for ask in (world.minimal_deep_unlearning_sets, world.proofs):
        with pytest.raises(UserError) as caught:
            ask(F("reach b a"))
        assert str(caught.value) == (
            "reach(b, a) does not hold in this world (neither stated nor derivable); "
            "check the relation, the names and the argument order"
        )


def test_background_target_is_a_user_error() -> None:
    world = world_of(["q a h"], HUB_RULES, background=["gender a female"])
    with pytest.raises(UserError) as caught:
        world.minimal_deep_unlearning_sets(F("gender a female"))
    assert str(caught.value) == (
        "gender(a, female) is a background fact; background facts are never removed"
    )


def test_target_following_from_background_alone_is_a_user_error() -> None:
    world = world_of(["q a h"], HUB_RULES, background=["q b c"])
    with pytest.raises(UserError) as caught:
        world.minimal_deep_unlearning_sets(F("reach b c"))
    assert str(caught.value) == (
        "reach(b, c) follows from background facts alone; no set of base facts makes it "
        "underivable (mark fewer facts as background to unlearn it)"
    )
    with pytest.raises(UserError, match="follows from background facts alone"):
        world.minimal_deep_unlearning_sets(F("reach b c"), time_limit=0)
    assert world.proofs(F("reach b c")).sets == (frozenset(),)


def test_removing_a_background_or_unknown_fact_is_a_user_error() -> None:
    world = world_of(["q a h"], HUB_RULES, background=["q b c"])
    with pytest.raises(UserError) as caught:
        world.is_deep_unlearning_set(F("reach b c"), [F("q b c")])
    assert str(caught.value) == "cannot remove q(b, c): it is a background fact"
    with pytest.raises(UserError) as caught:
        world.derivation(F("reach a h"), without=[F("reach a h")])
    assert str(caught.value) == "cannot remove reach(a, h): it is not a stated fact"


# ----- random small worlds against brute force

ENTITIES = ("a", "b", "c", "d", "e")
RULE_POOL = parse_rules(
    """
    r(X, Y) :- p(X, Y).
    r(X, Y) :- q(Y, X).
    r(X, Z) :- r(X, Y), r(Y, Z).
    q(X, Y) :- p(X, Y), X != Y.
    q(Y, X) :- q(X, Y), X != Y.
    p(X, Y) :- q(X, Y), g(Y, "a").
    r(X, "b") :- p(X, Y), q(Y, X).
    p(X, X) :- g(X, Y), r(Y, "c").
    r(X, Z) :- p(X, Y), q(Y, Z).
    p("a", Y) :- r(Y, Y).
    r(X, Y) :- q(X, Y), Y != "a".
    """,
    "pool.dl",
)


@st.composite
def small_worlds(draw: st.DrawFn, max_base: int = 10) -> World:
    """3-5 entities, 3-6 rules of the pool, 4-10 base facts and up to 3 background facts
    (mostly of ``g``, which only rule bodies use)."""
    entities = ENTITIES[: draw(st.integers(3, 5))]

    def facts(relations: str) -> st.SearchStrategy[Fact]:
        return st.builds(
            Fact, st.sampled_from(entities), st.sampled_from(relations), st.sampled_from(entities)
        )

    size = draw(st.sampled_from(range(4, max_base + 1)))
    base = draw(st.lists(facts("pqrpqrg"), min_size=size, max_size=size, unique=True))
    background = draw(
        st.lists(facts("gggp").filter(lambda f: f not in base), max_size=3, unique=True)
    )
    rules = draw(st.lists(st.sampled_from(RULE_POOL), min_size=3, max_size=6, unique=True))
    records = [FactRecord(f, i) for i, f in enumerate(base)]
    records += [FactRecord(f, None, background=True) for f in background]
    return World(tuple(records), tuple(rules))


def _assignments(rule: Rule, domain: list[str]) -> Iterable[dict[str, str]]:
    names = sorted(
        {
            t.name
            for a in (rule.head, *rule.body)
            for t in (a.subject, a.object)
            if isinstance(t, Var)
        }
    )
    for values in itertools.product(domain, repeat=len(names)):
        yield dict(zip(names, values, strict=True))


def _ground(term: Var | Const, binding: dict[str, str]) -> str:
    return term.value if isinstance(term, Const) else binding[term.name]


def _instances(rules: Iterable[Rule], domain: list[str]) -> list[tuple[Fact, tuple[Fact, ...]]]:
    """Every ground instance (head, body) of the rules over ``domain`` whose inequalities hold."""
    out = []
    for rule in rules:
        for b in _assignments(rule, domain):
            if all(_ground(i.left, b) != _ground(i.right, b) for i in rule.inequalities):
                head = Fact(
                    _ground(rule.head.subject, b), rule.head.relation, _ground(rule.head.object, b)
                )
                body = tuple(
                    Fact(_ground(a.subject, b), a.relation, _ground(a.object, b)) for a in rule.body
                )
                out.append((head, body))
    return out


def _domain(world: World) -> list[str]:
    names = {e for f in world.stated for e in (f.subject, f.object)}
    for rule in world.rules:
        for atom in (rule.head, *rule.body):
            names |= {t.value for t in (atom.subject, atom.object) if isinstance(t, Const)}
    return sorted(names)


def naive_fixpoint(
    facts: Iterable[Fact], instances: list[tuple[Fact, tuple[Fact, ...]]]
) -> tuple[set[Fact], dict[Fact, int]]:
    """Naive evaluation: each round applies every instance to the facts of the previous
    rounds. Returns the fixpoint and the round each fact first appears in (0 = given)."""
    known = set(facts)
    first_round = dict.fromkeys(known, 0)
    rounds = 0
    while True:
        rounds += 1
        new = {h for h, body in instances if h not in known and all(b in known for b in body)}
        if not new:
            return known, first_round
        known |= new
        first_round.update(dict.fromkeys(new, rounds))


@settings(max_examples=100, deadline=None)
@given(small_worlds())
def test_closure_equals_naive_fixpoint_and_trees_are_shallowest(world: World) -> None:
    instances = _instances(world.rules, _domain(world))
    expected, first_round = naive_fixpoint(world.stated, instances)
    closure = compute_closure(world.stated, world.rules)
    assert closure.facts == expected
    assert closure.rounds == max(first_round.values())
    for fact in expected:
        tree = closure.tree(fact)
        assert tree is not None
        assert tree.depth == first_round[fact]  # semi-naive keeps a minimum-depth derivation
        assert tree.leaves() <= world.stated
        assert fact in naive_fixpoint(tree.leaves(), instances)[0]


def _brute_force(world: World, target: Fact) -> tuple[set[frozenset[Fact]], set[frozenset[Fact]]]:
    """(minimal deep-unlearning sets, minimal support sets) by trying every subset."""
    instances = _instances(world.rules, _domain(world))
    # Only instances whose body holds with every fact present can ever fire.
    everything_holds, _ = naive_fixpoint(world.stated, instances)
    instances = [(h, body) for h, body in instances if everything_holds.issuperset(body)]
    base = world.base_facts
    derives = {}
    for n in range(len(base) + 1):
        for kept in itertools.combinations(base, n):
            closure, _ = naive_fixpoint(set(kept) | world.background_facts, instances)
            derives[frozenset(kept)] = target in closure
    everything = frozenset(base)
    deep = {everything - kept for kept, d in derives.items() if not d}
    minimal_deep = {u for u in deep if not any(u - {f} in deep for f in u)}
    supports = {kept for kept, d in derives.items() if d}
    minimal_supports = {s for s in supports if not any(s - {f} in supports for f in s)}
    return minimal_deep, minimal_supports


@settings(max_examples=100, deadline=None)
@given(small_worlds(), st.data())
def test_set_families_equal_brute_force(world: World, data: st.DataObject) -> None:
    candidates = sorted(world.closure() - world.background_facts)
    assume(candidates)
    # Mostly ask about facts with several derivations, whose set families are the
    # interesting ones.
    bodies = world.grounding.bodies
    interesting = sorted(
        (f for f in candidates if len(bodies.get(f, ())) + (f in world.stated) > 1),
        key=lambda f: (-len(bodies.get(f, ())), f),
    )
    if interesting and data.draw(st.integers(0, 4), label="pick") > 0:
        candidates = interesting[:3]
    target = data.draw(st.sampled_from(candidates), label="target")
    deep_expected, support_expected = _brute_force(world, target)

    supports = minimal_support_sets(world, target)
    assert supports.complete and supports.stopped_by is None
    assert len(set(supports.sets)) == len(supports.sets)
    assert set(supports.sets) == support_expected

    if frozenset() in support_expected:  # the background alone implies the target
        with pytest.raises(UserError, match="follows from background facts alone"):
            minimal_deep_unlearning_sets(world, target)
        return
    result = minimal_deep_unlearning_sets(world, target)
    assert result.complete and result.stopped_by is None
    assert len(set(result.sets)) == len(result.sets)
    for removed in result.sets:
        assert world.is_deep_unlearning_set(target, removed)
        assert world.derivation(target, without=removed) is None
        for fact in removed:
            assert not world.is_deep_unlearning_set(target, removed - {fact})
            # The cone-local derivation agrees with a fresh closure of what is left.
            left = world.stated - (removed - {fact})
            tree = world.derivation(target, without=removed - {fact})
            expected = compute_closure(left, world.rules).tree(target)
            assert tree is not None and expected is not None
            assert tree.depth == expected.depth
            assert tree.leaves() <= left
        if target in world.base_facts:
            assert target in removed
    assert set(result.sets) == deep_expected
    assert result.minimum_size == min(len(u) for u in deep_expected)
    assert result.minimum in deep_expected
    assert [len(s) for s in result.sets] == sorted(len(s) for s in result.sets)


@st.composite
def graphs(draw: st.DrawFn) -> tuple[World, Fact]:
    """Reachability over a random graph on 5 nodes with 4-10 edges, and a reachable pair:
    set families here are the minimal cuts and the simple paths, often several of each."""
    edge = st.tuples(st.sampled_from(ENTITIES), st.sampled_from(ENTITIES))
    size = draw(st.sampled_from(range(4, 11)))
    edges = draw(st.lists(edge, min_size=size, max_size=size, unique=True))
    stated_reach = draw(st.lists(st.sampled_from(edges), max_size=2, unique=True))
    records = [FactRecord(Fact(a, "q", b), i) for i, (a, b) in enumerate(edges)]
    records += [FactRecord(Fact(a, "reach", b), f"r{a}{b}") for a, b in stated_reach]
    world = World(tuple(records), HUB_RULES)
    reachable = sorted(f for f in world.closure() if f.relation == "reach")
    return world, draw(st.sampled_from(reachable))


@settings(max_examples=50, deadline=None)
@given(graphs())
def test_cuts_and_paths_in_random_graphs_equal_brute_force(case: tuple[World, Fact]) -> None:
    world, target = case
    deep_expected, support_expected = _brute_force(world, target)
    result = world.minimal_deep_unlearning_sets(target)
    assert result.complete
    assert set(result.sets) == deep_expected
    assert result.minimum_size == min(len(u) for u in deep_expected)
    supports = world.proofs(target)
    assert supports.complete
    assert set(supports.sets) == support_expected
