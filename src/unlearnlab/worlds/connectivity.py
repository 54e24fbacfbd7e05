"""How connected a fact is to the rest of a world: the quantity that decides whether
unlearning it can hold.

For a stated base fact f:
- ``derivations``: the number of minimal support sets that derive f from *other* facts
  (0 for a fact nothing implies);
- ``deep_cost``: the size of its minimum deep-unlearning set (1 for a fact nothing
  implies: removing f itself suffices);
- ``dependents``: how many other facts of the closure stop holding once f is removed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from unlearnlab.errors import UserError
from unlearnlab.worlds.closure import compute_closure
from unlearnlab.worlds.kg import Fact, World


@dataclass(frozen=True)
class Connectivity:
    """The connectivity figures of one fact (see the module docstring)."""

    fact: Fact
    derivations: int
    derivations_complete: bool
    deep_cost: int
    dependents: int

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "fact": str(self.fact),
            "derivations": self.derivations,
            "derivations_complete": self.derivations_complete,
            "deep_cost": self.deep_cost,
            "dependents": self.dependents,
        }


def _check_stated(world: World, fact: Fact) -> None:
    record = world.record(fact)
    if record is None or record.background:
        raise UserError(f"{fact} is not a stated base fact; connectivity is defined for those")


def derivation_count(
    world: World, fact: Fact, *, max_sets: int | None = 1000, time_limit: float | None = 10.0
) -> tuple[int, bool]:
    """``(n, complete)``: the number of minimal support sets that derive the stated fact
    ``fact`` from other facts, enumerating at most ``max_sets`` support sets (``{fact}``
    itself among them). When a budget stops the enumeration, ``complete`` is False and
    ``n`` is a lower bound of at least ``max_sets - 1``."""
    _check_stated(world, fact)
    supports = world.proofs(fact, max_sets=max_sets, time_limit=time_limit)
    others = [s for s in supports.sets if s != frozenset({fact})]
    return len(others), supports.complete


def connectivity(
    world: World, fact: Fact, *, max_sets: int | None = 1000, time_limit: float | None = 10.0
) -> Connectivity:
    """The connectivity of one stated base fact of ``world``."""
    derivations, complete = derivation_count(world, fact, max_sets=max_sets, time_limit=time_limit)
    deep = world.minimal_deep_unlearning_sets(fact, max_sets=1, time_limit=time_limit)
    without = compute_closure(world.stated - {fact}, world.rules).facts
    lost = world.closure() - without - {fact}
    return Connectivity(fact, derivations, complete, deep.minimum_size, len(lost))


def connectivity_table(world: World, facts: Iterable[Fact]) -> list[Connectivity]:
    """Connectivity of each fact, in the order given."""
    return [connectivity(world, f) for f in facts]
