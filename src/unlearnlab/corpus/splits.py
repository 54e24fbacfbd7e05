"""Splits of a world's facts into the roles the experiments measure.

- ``forget``: forget targets, stated facts that the other stated facts also imply;
- ``premises``: the base facts of each target's shortest derivation without any target;
- ``neighbours``: other stated facts about the targets' entities;
- ``unrelated``: attribute facts (relations between entities of different types) about
  other entities;
- ``retain``: every other stated base fact;
- ``heldout``: derived facts never stated, and never rendered in any form, whose
  derivations avoid every target (to measure reasoning, not memory).

The first five are disjoint and cover the stated base facts; ``heldout`` is disjoint
from all stated facts.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from unlearnlab.errors import UserError
from unlearnlab.io import write_json_atomic
from unlearnlab.worlds.kg import Fact, World, parse_fact


class SplitConfig(BaseModel):
    """How many forget targets and held-out composites to draw, and from which relations."""

    model_config = ConfigDict(extra="forbid")

    forget: int = Field(20, ge=1, description="number of forget targets")
    heldout: int = Field(100, ge=0, description="number of held-out composites")
    target_relations: tuple[str, ...] | None = Field(
        None,
        description="relations targets and held-out composites are drawn from; default: "
        "every relation with both stated and unstated derived facts",
    )
    seed: int = Field(0, description="seed of the draws")


@dataclass(frozen=True)
class Splits:
    """The fact roles of one world (see the module docstring)."""

    forget: tuple[Fact, ...]
    premises: tuple[Fact, ...]
    neighbours: tuple[Fact, ...]
    retain: tuple[Fact, ...]
    unrelated: tuple[Fact, ...]
    heldout: tuple[Fact, ...]
    premises_of: dict[Fact, tuple[Fact, ...]] = field(default_factory=dict)

    ROLES = ("forget", "premises", "neighbours", "retain", "unrelated", "heldout")

    def role_of(self) -> dict[Fact, str]:
        """Each fact's role."""
        return {fact: role for role in self.ROLES for fact in getattr(self, role)}

    def to_dict(self) -> dict[str, Any]:
        """JSON form: lists of facts as ``relation(subject, object)`` strings."""
        data: dict[str, Any] = {role: [str(f) for f in getattr(self, role)] for role in self.ROLES}
        data["premises_of"] = {str(t): [str(p) for p in ps] for t, ps in self.premises_of.items()}
        return data

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Splits:
        """Inverse of :meth:`to_dict`."""
        roles = {role: tuple(parse_fact(t) for t in data[role]) for role in Splits.ROLES}
        premises_of = {
            parse_fact(t): tuple(parse_fact(p) for p in ps) for t, ps in data["premises_of"].items()
        }
        return Splits(**roles, premises_of=premises_of)

    def save(self, path: str | Path) -> None:
        """Write ``splits.json`` atomically."""
        write_json_atomic(path, self.to_dict())

    @staticmethod
    def load(path: str | Path) -> Splits:
        """Read a ``splits.json``."""
        return Splits.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def default_target_relations(world: World) -> tuple[str, ...]:
    """Relations with both stated facts and derived facts that are not stated."""
    stated = {f.relation for f in world.base_facts}
    derived = {f.relation for f in world.derived_facts}
    return tuple(sorted(stated & derived))


def _premises(world: World, fact: Fact, removed: set[Fact]) -> tuple[Fact, ...] | None:
    tree = world.derivation(fact, without=removed)
    if tree is None:
        return None
    return tuple(sorted(tree.leaves() - world.background_facts))


def make_splits(world: World, config: SplitConfig) -> Splits:
    """Draw the splits of ``world``; the same world and config give the same splits."""
    relations = config.target_relations or default_target_relations(world)
    unknown = sorted(set(relations) - set(world.relations))
    if unknown:
        raise UserError(
            f"splits.target_relations: unknown relation(s) {', '.join(unknown)} "
            f"(the world has: {', '.join(world.relations)})"
        )
    rng = random.Random(config.seed)
    candidates = sorted(f for f in world.base_facts if f.relation in relations)
    rng.shuffle(candidates)
    forget: list[Fact] = []
    premises_of: dict[Fact, tuple[Fact, ...]] = {}
    used_premises: set[Fact] = set()
    for fact in candidates:
        if len(forget) == config.forget:
            break
        if fact in used_premises or not world.rederivable(fact):
            continue
        premises = _premises(world, fact, {fact})
        if premises is None or set(premises) & set(forget):
            continue
        forget.append(fact)
        premises_of[fact] = premises
        used_premises |= set(premises)
    if len(forget) < config.forget:
        raise UserError(
            f"splits.forget: asked for {config.forget} forget targets but the world has only "
            f"{len(forget)} stated facts of {', '.join(relations)} that are derivable from "
            "others with disjoint premises; ask for fewer or use a larger world"
        )
    forget_set = set(forget)
    premises = sorted(used_premises)
    entities = {e for f in forget for e in (f.subject, f.object)}
    types = world.entity_types
    taken = forget_set | used_premises
    neighbours, retain, unrelated = [], [], []
    for fact in world.base_facts:
        if fact in taken:
            continue
        if fact.subject in entities or fact.object in entities:
            neighbours.append(fact)
        elif types.get(fact.subject) != types.get(fact.object):
            unrelated.append(fact)
        else:
            retain.append(fact)
    pool = sorted(f for f in world.derived_facts if f.relation in relations)
    rng.shuffle(pool)
    heldout = []
    for fact in pool:
        if len(heldout) == config.heldout:
            break
        tree = world.derivation(fact)
        if tree is not None and not tree.leaves() & forget_set:
            heldout.append(fact)
    return Splits(
        tuple(forget),
        tuple(premises),
        tuple(neighbours),
        tuple(retain),
        tuple(unrelated),
        tuple(sorted(heldout)),
        premises_of,
    )
