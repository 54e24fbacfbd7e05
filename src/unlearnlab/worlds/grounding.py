"""The grounded Horn theory of a world: every rule instance whose body holds in its
closure, and the cone of one target (the instances and facts it depends on), with unit
propagation for the SAT-based set enumeration of :mod:`unlearnlab.worlds.deduction`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from unlearnlab.worlds.closure import CompiledRule, DerivationTree, FactIndex, instances
from unlearnlab.worlds.kg import Fact
from unlearnlab.worlds.rules import Rule

if TYPE_CHECKING:
    from unlearnlab.worlds.kg import World


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
            for head, body in instances(CompiledRule.compile(rule), index):
                premises = frozenset(body) - background
                if head not in premises and head not in background:
                    bodies[head].add(premises)
                    witness.setdefault((head, premises), (rule, body))
        ordered = {head: sorted(bs, key=lambda b: sorted(b)) for head, bs in bodies.items()}
        return Grounding(frozenset(world.base_facts), ordered, witness)

    def cone(self, target: Fact) -> Cone:
        """The Horn theory of the facts ``target`` depends on."""
        return Cone(self, target)

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


class Cone:
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

    def propagate(self, kept: Iterable[int]) -> HornState:
        """The least model of the kept base facts."""
        state = HornState([False] * len(self.atoms), [len(body) for _, body in self.instances])
        seeds = list(kept) + [h for h, body in self.instances if not body]
        self._spread(state, seeds, log=None)
        return state

    def try_keep(self, state: HornState, atom: int) -> bool:
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
        self, state: HornState, seeds: list[int], log: list[tuple[int, int]] | None
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
class HornState:
    true: list[bool]
    missing: list[int]
