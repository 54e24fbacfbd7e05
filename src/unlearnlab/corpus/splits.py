"""Splits of a world's facts into the roles the experiments measure.

- ``forget``: forget targets, stated facts that the other stated facts also imply (or,
  with ``strata``, stated facts drawn per connectivity stratum, see below);
- ``premises``: the base facts of each target's shortest derivation without any target;
- ``neighbours``: other stated facts about the targets' entities (of an underivable
  target, its individuals: not every fact that shares its year or city);
- ``unrelated``: attribute facts (relations between entities of different types) about
  individuals that no target and no premise names;
- ``retain``: every other stated base fact;
- ``heldout``: derived facts never stated, and never rendered in any form, whose
  derivations avoid every target (to measure reasoning, not memory);
- ``retain_heldout``: stated facts drawn from the retain facts that are in the training
  corpus but in no unlearning retain loss, so their retention is measured held out;
- ``holdout`` (only when ``SplitConfig.holdout`` asks for it): stated facts drawn like
  the forget targets (as many of each relation as the targets, implied by the other
  stated facts even without the targets and the other holdout facts, naming none of the
  targets' people) that no model trains on: every corpus leaves them out
  (:func:`~unlearnlab.corpus.corpus.build_corpus`), so they are true non-members for
  membership inference.

With ``SplitConfig.underivable``, the forget set also holds that many *underivable*
targets, stated facts that no other fact implies (a model that never saw one cannot
derive it), naming no individual that a derivable target, its premises, a holdout fact or
another underivable target names: the contrast to the derivable targets. ``strata`` then
holds both groups, under :data:`DERIVABLE` and :data:`UNDERIVABLE`.

The stated roles (all but ``heldout``) are disjoint and cover the stated base facts;
``heldout`` is disjoint from all stated facts.

Targets drawn without strata are independent: no two share a premise, and no target
names an individual (an entity of a type that is the subject of some fact, such as a
person, as opposed to a value such as a year) that another target or its premises name.
Folds of the targets are then disjoint in people and premises: training on one fold's
targets states nothing about another fold's targets or premises.

With ``strata``, the forget targets are drawn per connectivity stratum: a stratum takes
stated facts whose number of derivations from other facts
(:func:`~unlearnlab.worlds.connectivity.derivation_count`) lies in its range, from
isolated facts that nothing implies (0) to facts with many independent derivations.
Targets are drawn independent of each other: no target is among the base facts another
target's derivations can use (its cone), so each keeps the connectivity its stratum
claims once the others are removed (in the oracle's world).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unlearnlab.corpus.split_config import DERIVABLE, UNDERIVABLE, SplitConfig, Stratum
from unlearnlab.corpus.target_draws import (
    Individuals,
    check_relations,
    draw_holdout,
    draw_rederivable,
    draw_strata,
    draw_underivable,
)
from unlearnlab.io import write_json_atomic
from unlearnlab.worlds.kg import Fact, World, parse_fact

__all__ = [
    "DERIVABLE",
    "UNDERIVABLE",
    "SplitConfig",
    "Splits",
    "Stratum",
    "default_target_relations",
    "make_splits",
]



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
    strata: dict[str, tuple[Fact, ...]] = field(default_factory=dict)
    """With stratified targets: the forget targets of each stratum, by stratum name."""
    retain_heldout: tuple[Fact, ...] = ()
    """Retain facts of no unlearning retain loss (see the module docstring)."""
    holdout: tuple[Fact, ...] = ()
    """Stated facts no model trains on (see the module docstring)."""

    ROLES = ("forget", "premises", "neighbours", "retain", "unrelated", "heldout", "retain_heldout")

    @property
    def underivable(self) -> tuple[Fact, ...]:
        """The forget targets that no other fact implies, drawn as the derivable targets'
        contrast (``SplitConfig.underivable``; empty without)."""
        return self.strata.get(UNDERIVABLE, ())

    def stratum_of(self) -> dict[Fact, str]:
        """Each stratified forget target's stratum name (empty without strata)."""
        return {fact: name for name, facts in self.strata.items() for fact in facts}

    def to_dict(self) -> dict[str, Any]:
        """JSON form: lists of facts as ``relation(subject, object)`` strings (``strata``
        only when the targets are stratified, ``holdout`` only when there is one)."""
        data: dict[str, Any] = {role: [str(f) for f in getattr(self, role)] for role in self.ROLES}
        data["premises_of"] = {str(t): [str(p) for p in ps] for t, ps in self.premises_of.items()}
        if self.strata:
            data["strata"] = {name: [str(f) for f in fs] for name, fs in self.strata.items()}
        if self.holdout:
            data["holdout"] = [str(f) for f in self.holdout]
        return data

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Splits:
        """Inverse of :meth:`to_dict`."""
        roles = {role: tuple(parse_fact(t) for t in data[role]) for role in Splits.ROLES}
        premises_of = {
            parse_fact(t): tuple(parse_fact(p) for p in ps) for t, ps in data["premises_of"].items()
        }
        strata = {
            name: tuple(parse_fact(t) for t in facts)
            for name, facts in data.get("strata", {}).items()
        }
        holdout = tuple(parse_fact(t) for t in data.get("holdout", ()))
        return Splits(**roles, premises_of=premises_of, strata=strata, holdout=holdout)

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


def make_splits(world: World, config: SplitConfig) -> Splits:
    """Draw the splits of ``world``; the same world and config give the same splits."""
    relations = config.target_relations or default_target_relations(world)
    check_relations(world, relations, "target_relations")
    rng = random.Random(config.seed)
    strata: dict[str, tuple[Fact, ...]] = {}
    if config.strata:
        drawn, premises_of = draw_strata(world, config, rng)
        strata = {name: tuple(facts) for name, facts in drawn.items()}
        forget = [f for facts in drawn.values() for f in facts]
        holdout: list[Fact] = []
    else:
        forget, premises_of = draw_rederivable(world, config, relations, rng)
        holdout = draw_holdout(world, config, relations, forget, premises_of)
        if config.underivable:
            taken = [*forget, *(p for ps in premises_of.values() for p in ps), *holdout]
            isolated = draw_underivable(world, config, taken)
            strata = {DERIVABLE: tuple(forget), UNDERIVABLE: tuple(isolated)}
            premises_of |= {fact: () for fact in isolated}
            forget = [*forget, *isolated]
    used_premises = {p for ps in premises_of.values() for p in ps}
    forget_set = set(forget)
    premises = sorted(used_premises)
    individuals = Individuals(world)
    isolated = set(strata.get(UNDERIVABLE, ())) if config.underivable else set()
    entities = {e for f in forget if f not in isolated for e in (f.subject, f.object)}
    entities |= individuals.of(isolated)
    holdout_set = set(holdout)
    taken = forget_set | used_premises | holdout_set
    involved = individuals.of(forget_set | used_premises)
    types = world.entity_types
    neighbours, retain, unrelated = [], [], []
    for fact in world.base_facts:
        if fact in taken:
            continue
        if fact.subject in entities or fact.object in entities:
            neighbours.append(fact)
        elif types.get(fact.subject) != types.get(fact.object) and not (
            individuals.of([fact]) & involved
        ):
            unrelated.append(fact)
        else:
            retain.append(fact)
    draw = random.Random(f"retain-heldout:{config.seed}")
    held = set(draw.sample(retain, min(config.retain_heldout, len(retain) // 2)))
    pool = sorted(f for f in world.derived_facts if f.relation in relations)
    rng.shuffle(pool)
    heldout = []
    for fact in pool:
        if len(heldout) == config.heldout:
            break
        tree = world.derivation(fact, without=holdout_set)
        if tree is not None and not tree.leaves() & forget_set:
            heldout.append(fact)
    return Splits(
        tuple(forget),
        tuple(premises),
        tuple(neighbours),
        tuple(f for f in retain if f not in held),
        tuple(unrelated),
        tuple(sorted(heldout)),
        premises_of,
        strata,
        tuple(sorted(held)),
        tuple(sorted(holdout)),
    )


def deep_underivable(world: World, splits: Splits) -> list[Fact]:
    """The facts the deep oracle never sees besides the targets (their minimum
    deep-unlearning sets) that stay underivable without them and the holdout: what a
    model that never saw a fact and cannot derive it still "recalls" by guessing, the
    floor for the deep oracle's recall of its targets."""
    deep = world.deep_forget_set(splits.forget)
    removed, targets = set(deep) | set(splits.holdout), set(splits.forget)
    return [f for f in deep if f not in targets and world.derivation(f, without=removed) is None]
