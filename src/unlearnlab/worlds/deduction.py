"""Exact deduction over a world: minimal support sets and minimal deep-unlearning sets
(the closure and derivation trees are in :mod:`unlearnlab.worlds.closure`).

The set questions are asked of the *grounded*
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
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pysat.examples.rc2 import RC2
from pysat.formula import WCNF
from pysat.solvers import Solver

from unlearnlab.errors import UserError
from unlearnlab.worlds.grounding import Cone
from unlearnlab.worlds.kg import Fact

if TYPE_CHECKING:
    from unlearnlab.worlds.kg import World

_SAT_SOLVER = "g3"


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
    cone: Cone, clauses: list[list[int]], selectors: list[int]
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
