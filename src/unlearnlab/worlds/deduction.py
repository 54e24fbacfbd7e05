"""Exact deduction over a world: closure, derivation trees, minimal support sets and
minimal deep-unlearning sets.

Closure is semi-naive forward chaining. The set questions are asked of the *grounded*
theory: every rule instance whose body holds in the closure, restricted to the cone of
facts the target depends on. Over that propositional Horn theory

- a **minimal deep-unlearning set** of a target t is a minimal set U of base facts with
  t not in closure(base - U): a minimal correction set (MCS) of the soft unit clauses
  "keep fact f" under the hard clauses "rules" and "not t";
- a **minimal support set** of t is a minimal set S of base facts with t in closure(S): a
  minimal unsatisfiable subset (MUS) of the same formula.

MCSes are enumerated with a SAT solver (python-sat) and a Horn "grow" step: each model of
the solver plus the blocking clauses found so far is grown to a maximal set of kept facts,
whose complement is a new MCS. MUSes are enumerated by MARCO (Liffiton et al., 2016), which
finds both families at once. Both loops end with an UNSAT solver, which proves the family
complete; a budget that stops them early is reported as ``complete=False``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pysat.examples.rc2 import RC2
from pysat.formula import WCNF
from pysat.solvers import Solver

from unlearnlab.errors import UserError
from unlearnlab.worlds.kg import Fact
from unlearnlab.worlds.rules import Atom, Const, Rule, Var

if TYPE_CHECKING:
    from unlearnlab.worlds.kg import World

_SAT_SOLVER = "g3"


# ----------------------------------------------------------------------------- indexing


class FactIndex:
    """Facts of a closure, indexed by relation, subject and object for joins."""

    def __init__(self) -> None:
        self.pairs: dict[str, set[tuple[str, str]]] = defaultdict(set)
        self.by_subject: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        self.by_object: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))

    def add(self, fact: Fact) -> bool:
        """Add ``fact``; return False if it was already present."""
        pairs = self.pairs[fact.relation]
        key = (fact.subject, fact.object)
        if key in pairs:
            return False
        pairs.add(key)
        self.by_subject[fact.relation][fact.subject].add(fact.object)
        self.by_object[fact.relation][fact.object].add(fact.subject)
        return True

    def match(
        self, relation: str, subject: str | None, obj: str | None
    ) -> Iterator[tuple[str, str]]:
        """(subject, object) pairs of ``relation`` agreeing with the bound arguments."""
        if subject is not None and obj is not None:
            if (subject, obj) in self.pairs.get(relation, ()):
                yield subject, obj
        elif subject is not None:
            for o in self.by_subject[relation].get(subject, ()):
                yield subject, o
        elif obj is not None:
            for s in self.by_object[relation].get(obj, ()):
                yield s, obj
        else:
            yield from self.pairs.get(relation, ())


# ----------------------------------------------------------------------------- rule joins

# A compiled term: ("v", slot) for a variable, ("c", value) for a constant.
_CTerm = tuple[str, Any]


@dataclass(frozen=True)
class _CompiledRule:
    rule: Rule
    n_vars: int
    head: tuple[str, _CTerm, _CTerm]
    body: tuple[tuple[str, _CTerm, _CTerm], ...]
    inequalities: tuple[tuple[_CTerm, _CTerm], ...]
    plans: tuple[tuple[int, ...], ...]  # plans[i]: body order starting with atom i

    @staticmethod
    def compile(rule: Rule) -> _CompiledRule:
        slots: dict[str, int] = {}

        def term(t: Var | Const) -> _CTerm:
            if isinstance(t, Const):
                return ("c", t.value)
            return ("v", slots.setdefault(t.name, len(slots)))

        def atom(a: Atom) -> tuple[str, _CTerm, _CTerm]:
            return (a.relation, term(a.subject), term(a.object))

        body = tuple(atom(a) for a in rule.body)
        head = atom(rule.head)
        inequalities = tuple((term(i.left), term(i.right)) for i in rule.inequalities)
        plans = tuple(_plan(body, first) for first in range(len(body)))
        return _CompiledRule(rule, len(slots), head, body, inequalities, plans)


def _plan(body: Sequence[tuple[str, _CTerm, _CTerm]], first: int) -> tuple[int, ...]:
    """Join order: ``first``, then greedily the atom with the most bound arguments."""
    order = [first]
    bound = {t[1] for t in body[first][1:] if t[0] == "v"}
    rest = [i for i in range(len(body)) if i != first]
    while rest:
        scores = {i: sum(1 for t in body[i][1:] if t[0] == "c" or t[1] in bound) for i in rest}
        best = max(rest, key=lambda i: (scores[i], -i))
        rest.remove(best)
        order.append(best)
        bound |= {t[1] for t in body[best][1:] if t[0] == "v"}
    return tuple(order)


def _value(term: _CTerm, binding: list[str | None]) -> str | None:
    return term[1] if term[0] == "c" else binding[term[1]]


def _bind(term: _CTerm, value: str, binding: list[str | None], trail: list[int]) -> bool:
    if term[0] == "c":
        return term[1] == value
    current = binding[term[1]]
    if current is None:
        binding[term[1]] = value
        trail.append(term[1])
        return True
    return current == value


def _instances(
    rule: _CompiledRule,
    index: FactIndex,
    first: int | None = None,
    first_pairs: Iterable[tuple[str, str]] | None = None,
) -> Iterator[tuple[Fact, tuple[Fact, ...]]]:
    """Ground instances (head, body facts) of ``rule`` whose body holds in ``index``.

    With ``first``/``first_pairs`` the body atom ``first`` ranges over ``first_pairs`` only
    (the semi-naive delta) and the other atoms over ``index``.
    """
    order = rule.plans[first if first is not None else 0]
    binding: list[str | None] = [None] * rule.n_vars

    def inequalities_hold() -> bool:
        return all(_value(a, binding) != _value(b, binding) for a, b in rule.inequalities)

    def ground(atom: tuple[str, _CTerm, _CTerm]) -> Fact:
        return Fact(_value(atom[1], binding), atom[0], _value(atom[2], binding))  # type: ignore[arg-type]

    def step(k: int) -> Iterator[tuple[Fact, tuple[Fact, ...]]]:
        if k == len(order):
            if inequalities_hold():
                yield ground(rule.head), tuple(ground(a) for a in rule.body)
            return
        relation, s_term, o_term = rule.body[order[k]]
        if k == 0 and first_pairs is not None:
            candidates: Iterable[tuple[str, str]] = first_pairs
        else:
            candidates = index.match(relation, _value(s_term, binding), _value(o_term, binding))
        for s, o in candidates:
            trail: list[int] = []
            if _bind(s_term, s, binding, trail) and _bind(o_term, o, binding, trail):
                yield from step(k + 1)
            for slot in trail:
                binding[slot] = None

    yield from step(0)


# ----------------------------------------------------------------------------- closure


@dataclass(frozen=True)
class DerivationTree:
    """Why a fact holds: a stated fact (``rule`` None) or a rule applied to premises."""

    fact: Fact
    rule: Rule | None
    premises: tuple[DerivationTree, ...] = ()

    @property
    def depth(self) -> int:
        """Rule applications on the longest branch (0 for a stated fact)."""
        return 0 if self.rule is None else 1 + max(p.depth for p in self.premises)

    def leaves(self) -> frozenset[Fact]:
        """The stated facts the derivation rests on."""
        if self.rule is None:
            return frozenset({self.fact})
        return frozenset().union(*(p.leaves() for p in self.premises))

    def render(self, indent: str = "") -> str:
        """An indented text tree, one fact per line with the rule that derived it."""
        how = "stated" if self.rule is None else f"by {self.rule.describe()}"
        lines = [f"{indent}{self.fact}  [{how}]"]
        lines += [p.render(indent + "  ") for p in self.premises]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``{"fact", "rule", "premises"}`` (rule null for stated facts)."""
        return {
            "fact": str(self.fact),
            "rule": None if self.rule is None else str(self.rule),
            "premises": [p.to_dict() for p in self.premises],
        }


@dataclass(frozen=True)
class Closure:
    """The closure of a set of stated facts, with the first (shallowest) derivation of each
    derived fact, so that :meth:`tree` gives a derivation tree of minimum depth."""

    facts: frozenset[Fact]
    stated: frozenset[Fact]
    rounds: int
    first_derivation: dict[Fact, tuple[Rule, tuple[Fact, ...]]]

    def tree(self, fact: Fact) -> DerivationTree | None:
        """A minimum-depth derivation tree of ``fact``, or None if it does not hold."""
        if fact not in self.facts:
            return None
        if fact in self.stated:
            return DerivationTree(fact, None)
        rule, body = self.first_derivation[fact]
        return DerivationTree(fact, rule, tuple(self.tree(b) for b in body))  # type: ignore[misc]


def compute_closure(stated: Iterable[Fact], rules: Sequence[Rule]) -> Closure:
    """Semi-naive forward chaining to the least fixpoint.

    Round k joins each rule with one body atom ranging over the facts new in round k-1 and
    the others over all facts known before round k; facts found in round k are added only
    after it, so every fact's recorded derivation has minimum depth.
    """
    compiled = [_CompiledRule.compile(r) for r in rules]
    stated = frozenset(stated)
    index = FactIndex()
    for fact in stated:
        index.add(fact)
    known = set(stated)
    delta: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for fact in stated:
        delta[fact.relation].append((fact.subject, fact.object))
    first_derivation: dict[Fact, tuple[Rule, tuple[Fact, ...]]] = {}
    rounds = 0
    while delta:
        rounds += 1
        # Of a round's derivations of a fact, the first rule's with the smallest body is
        # kept: the choice must not depend on set iteration order (string hashing).
        found: dict[Fact, tuple[int, tuple[Fact, ...]]] = {}
        for number, rule in enumerate(compiled):
            for position, (relation, _, _) in enumerate(rule.body):
                pairs = delta.get(relation)
                if not pairs:
                    continue
                for head, body in _instances(rule, index, position, pairs):
                    if head not in known and (head not in found or (number, body) < found[head]):
                        found[head] = (number, body)
        delta = defaultdict(list)
        for fact, (number, body) in found.items():
            index.add(fact)
            known.add(fact)
            first_derivation[fact] = (compiled[number].rule, body)
            delta[fact.relation].append((fact.subject, fact.object))
        if not found:
            rounds -= 1
            break
    return Closure(frozenset(known), stated, rounds, first_derivation)


# ----------------------------------------------------------------------------- grounding


@dataclass
class Grounding:
    """Every rule instance whose body holds in a world's closure, as
    ``head -> [body facts]`` with background facts dropped (they always hold)."""

    world_base: frozenset[Fact]
    bodies: dict[Fact, list[frozenset[Fact]]]
    witness: dict[tuple[Fact, frozenset[Fact]], tuple[Rule, tuple[Fact, ...]]]

    @staticmethod
    def build(world: World) -> Grounding:
        """Ground every rule over the closure of ``world``."""
        closure = world.closure()
        index = FactIndex()
        for fact in closure:
            index.add(fact)
        background = world.background_facts
        bodies: dict[Fact, set[frozenset[Fact]]] = defaultdict(set)
        witness: dict[tuple[Fact, frozenset[Fact]], tuple[Rule, tuple[Fact, ...]]] = {}
        for rule in world.rules:
            for head, body in _instances(_CompiledRule.compile(rule), index):
                premises = frozenset(body) - background
                if head not in premises and head not in background:
                    bodies[head].add(premises)
                    witness.setdefault((head, premises), (rule, body))
        ordered = {head: sorted(bs, key=lambda b: sorted(b)) for head, bs in bodies.items()}
        return Grounding(frozenset(world.base_facts), ordered, witness)

    def cone(self, target: Fact) -> _Cone:
        """The Horn theory of the facts ``target`` depends on."""
        return _Cone(self, target)

    def derivation(
        self, target: Fact, removed: frozenset[Fact], background: frozenset[Fact]
    ) -> DerivationTree | None:
        """A minimum-depth derivation of ``target`` once ``removed`` base facts are gone,
        computed within the target's cone (no closure is recomputed)."""
        cone = self.cone(target)
        level: dict[Fact, tuple[Rule, tuple[Fact, ...]] | None] = {
            fact: None for fact in cone.atoms[: cone.n_base] if fact not in removed
        }
        pending = [
            (cone.atoms[h], frozenset(cone.atoms[b] for b in body)) for h, body in cone.instances
        ]
        while target not in level:
            found = {}
            for head, premises in pending:
                if head not in level and head not in found and premises.issubset(level):
                    found[head] = self.witness[(head, premises)]
            if not found:
                return None
            level.update(found)

        def tree(fact: Fact) -> DerivationTree:
            if fact in background or level[fact] is None:
                return DerivationTree(fact, None)
            rule, body = level[fact]  # type: ignore[misc]
            return DerivationTree(fact, rule, tuple(tree(b) for b in body))

        return tree(target)


class _Cone:
    """The propositional Horn theory behind one target: the atoms it depends on, their rule
    instances, and which of them are removable base facts. Atoms are numbered; the base
    facts come first, in a fixed order, so that enumeration is deterministic."""

    def __init__(self, grounding: Grounding, target: Fact) -> None:
        seen = {target}
        frontier = [target]
        while frontier:
            fact = frontier.pop()
            for body in grounding.bodies.get(fact, ()):
                for premise in body:
                    if premise not in seen:
                        seen.add(premise)
                        frontier.append(premise)
        base = sorted(f for f in seen if f in grounding.world_base)
        others = sorted(f for f in seen if f not in grounding.world_base)
        self.target = target
        self.atoms: list[Fact] = base + others
        self.n_base = len(base)
        self.number = {fact: i for i, fact in enumerate(self.atoms)}
        self.instances: list[tuple[int, tuple[int, ...]]] = [
            (self.number[head], tuple(self.number[p] for p in sorted(body)))
            for head in self.atoms
            for body in grounding.bodies.get(head, ())
        ]
        self.watchers: list[list[int]] = [[] for _ in self.atoms]
        for k, (_, body) in enumerate(self.instances):
            for atom in body:
                self.watchers[atom].append(k)
        self.goal = self.number[target]

    # -- Horn propagation

    def propagate(self, kept: Iterable[int]) -> _HornState:
        """The least model of the kept base facts."""
        state = _HornState([False] * len(self.atoms), [len(body) for _, body in self.instances])
        seeds = list(kept) + [h for h, body in self.instances if not body]
        self._spread(state, seeds, log=None)
        return state

    def try_keep(self, state: _HornState, atom: int) -> bool:
        """Add base fact ``atom`` to the kept set unless that derives the target; on
        failure ``state`` is left unchanged."""
        if state.true[atom]:
            return True
        log: list[tuple[int, int]] = []
        if self._spread(state, [atom], log):
            return True
        for kind, i in reversed(log):
            if kind == 0:
                state.true[i] = False
            else:
                state.missing[i] += 1
        return False

    def _spread(
        self, state: _HornState, seeds: list[int], log: list[tuple[int, int]] | None
    ) -> bool:
        """Propagate ``seeds``; return False (stopping early) once the target is derived."""
        stack = [a for a in seeds]
        while stack:
            atom = stack.pop()
            if state.true[atom]:
                continue
            state.true[atom] = True
            if log is not None:
                log.append((0, atom))
            if atom == self.goal:
                return False
            for k in self.watchers[atom]:
                state.missing[k] -= 1
                if log is not None:
                    log.append((1, k))
                if state.missing[k] == 0:
                    stack.append(self.instances[k][0])
        return not state.true[self.goal]

    def derives(self, kept: Iterable[int]) -> bool:
        """Whether the kept base facts imply the target."""
        return self.propagate(kept).true[self.goal]

    # -- the two set operations

    def grow(self, kept: Iterable[int]) -> list[int]:
        """Extend a kept set that does not imply the target to a maximal one; return the
        complement among base facts (a minimal correction set)."""
        kept = list(kept)
        state = self.propagate(kept)
        if state.true[self.goal]:
            raise AssertionError("grow() started from a set that implies the target")
        return [a for a in range(self.n_base) if not self.try_keep(state, a)]

    def shrink(self, kept: Iterable[int]) -> list[int]:
        """Reduce a kept set that implies the target to a minimal one (a minimal support set)."""
        current = sorted(set(kept))
        for atom in list(current):
            trial = [a for a in current if a != atom]
            if self.derives(trial):
                current = trial
        return current

    def cnf(self) -> tuple[list[list[int]], list[int]]:
        """Hard clauses (rules, selectors imply facts, not target) and selector variables.

        Variable ``i + 1`` is atom ``i``; selector of base fact ``i`` is
        ``len(atoms) + i + 1``.
        """
        n = len(self.atoms)
        clauses = [[-(b + 1) for b in body] + [head + 1] for head, body in self.instances]
        selectors = [n + i + 1 for i in range(self.n_base)]
        clauses += [[-selectors[i], i + 1] for i in range(self.n_base)]
        clauses.append([-(self.goal + 1)])
        return clauses, selectors


@dataclass
class _HornState:
    true: list[bool]
    missing: list[int]


# ----------------------------------------------------------------------------- set families


@dataclass(frozen=True)
class SetFamily:
    """An enumerated family of minimal fact sets for one target.

    ``complete`` is True only when the enumeration proved that no other set exists;
    ``stopped_by`` names the budget that ended it early otherwise.
    """

    target: Fact
    sets: tuple[frozenset[Fact], ...]
    complete: bool
    stopped_by: str | None
    seconds: float

    def __len__(self) -> int:
        return len(self.sets)

    def to_dict(self, world: World) -> dict[str, Any]:
        """JSON form: sets as lists of facts (with ids), count, completeness."""
        return {
            "target": _fact_json(self.target, world),
            "count": len(self.sets),
            "complete": self.complete,
            "stopped_by": self.stopped_by,
            "seconds": round(self.seconds, 6),
            "sets": [[_fact_json(f, world) for f in _ordered(s, world)] for s in self.sets],
        }


@dataclass(frozen=True)
class SupportSets(SetFamily):
    """Minimal sets of base facts that imply the target (its minimal proofs)."""


@dataclass(frozen=True)
class DeepUnlearningSets(SetFamily):
    """Minimal sets of base facts whose removal makes the target underivable.

    ``minimum`` is a minimum-cardinality set, exact even when the enumeration is
    incomplete; its size is the collateral cost of deep unlearning (target included
    when the target is stated).
    """

    minimum: frozenset[Fact] = frozenset()

    @property
    def minimum_size(self) -> int:
        """Size of the smallest deep-unlearning set."""
        return len(self.minimum)

    def to_dict(self, world: World) -> dict[str, Any]:
        """JSON form, with the minimum set and its size."""
        data = super().to_dict(world)
        data["minimum_size"] = self.minimum_size
        data["minimum"] = [_fact_json(f, world) for f in _ordered(self.minimum, world)]
        return data


def _fact_json(fact: Fact, world: World) -> dict[str, Any]:
    return {
        "id": world.id_of(fact),
        "subject": fact.subject,
        "relation": fact.relation,
        "object": fact.object,
    }


def _ordered(facts: Iterable[Fact], world: World) -> list[Fact]:
    position = world.base_positions
    return sorted(facts, key=lambda f: (position.get(f, len(position)), f))


def _sort_sets(sets: Iterable[frozenset[Fact]], world: World) -> tuple[frozenset[Fact], ...]:
    position = world.base_positions
    return tuple(sorted(sets, key=lambda s: (len(s), sorted(position[f] for f in s))))


class _Budget:
    def __init__(self, max_sets: int | None, time_limit: float | None) -> None:
        self.max_sets = max_sets
        self.time_limit = time_limit
        self.start = time.perf_counter()

    def exhausted(self, found: int) -> str | None:
        if self.max_sets is not None and found >= self.max_sets:
            return f"max_sets={self.max_sets}"
        if self.time_limit is not None and time.perf_counter() - self.start > self.time_limit:
            return f"time_limit={self.time_limit:g}s"
        return None

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start


def _checked_target(world: World, target: Fact) -> None:
    if target in world.background_facts:
        raise UserError(f"{target} is a background fact; background facts are never removed")
    if target not in world.closure():
        raise UserError(
            f"{target} does not hold in this world (neither stated nor derivable); "
            "check the relation, the names and the argument order"
        )


def minimal_deep_unlearning_sets(
    world: World, target: Fact, *, max_sets: int | None = 10000, time_limit: float | None = 30.0
) -> DeepUnlearningSets:
    """Enumerate every minimal deep-unlearning set of ``target`` (exact, MCS enumeration).

    A stated target belongs to every set. The result is ``complete`` when the solver
    proved there is no other set within the budget.
    """
    _checked_target(world, target)
    budget = _Budget(max_sets, time_limit)
    cone = world.grounding.cone(target)
    if cone.derives(()):  # checked first: with no set at all there is no minimum either
        raise UserError(
            f"{target} follows from background facts alone; no set of base facts makes it "
            "underivable (mark fewer facts as background to unlearn it)"
        )
    clauses, selectors = cone.cnf()
    found: list[frozenset[Fact]] = []
    stopped_by = None
    with Solver(name=_SAT_SOLVER, bootstrap_with=clauses) as solver:
        while True:
            stopped_by = budget.exhausted(len(found))
            if stopped_by is not None or not solver.solve():
                break
            model = set(lit for lit in solver.get_model() if lit > 0)
            kept = [i for i, sel in enumerate(selectors) if sel in model]
            correction = cone.grow(kept)
            found.append(frozenset(cone.atoms[i] for i in correction))
            solver.add_clause([selectors[i] for i in correction])
    sets = _sort_sets(found, world)
    minimum = sets[0] if stopped_by is None else _minimum_correction(cone, clauses, selectors)
    return DeepUnlearningSets(target, sets, stopped_by is None, stopped_by, budget.elapsed, minimum)


def _minimum_correction(
    cone: _Cone, clauses: list[list[int]], selectors: list[int]
) -> frozenset[Fact]:
    formula = WCNF()
    for clause in clauses:
        formula.append(clause)
    for sel in selectors:
        formula.append([sel], weight=1)
    with RC2(formula) as rc2:
        model = set(lit for lit in rc2.compute() if lit > 0)
    return frozenset(cone.atoms[i] for i, sel in enumerate(selectors) if sel not in model)


def minimal_support_sets(
    world: World, target: Fact, *, max_sets: int | None = 1000, time_limit: float | None = 10.0
) -> SupportSets:
    """Enumerate the minimal sets of base facts that imply ``target`` (MARCO).

    A stated target has the support set ``{target}``.
    """
    _checked_target(world, target)
    budget = _Budget(max_sets, time_limit)
    cone = world.grounding.cone(target)
    variables = list(range(1, cone.n_base + 1))
    found: list[frozenset[Fact]] = []
    stopped_by = None
    with Solver(name=_SAT_SOLVER) as seeds:
        seeds.set_phases(variables)
        while True:
            stopped_by = budget.exhausted(len(found))
            if stopped_by is not None or not seeds.solve():
                break
            model = set(seeds.get_model() or ())
            seed = [v - 1 for v in variables if v in model]
            if cone.derives(seed):
                support = cone.shrink(seed)
                found.append(frozenset(cone.atoms[i] for i in support))
                seeds.add_clause([-(i + 1) for i in support])
            else:
                seeds.add_clause([i + 1 for i in cone.grow(seed)])
    return SupportSets(
        target, _sort_sets(found, world), stopped_by is None, stopped_by, budget.elapsed
    )
