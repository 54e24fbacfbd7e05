"""How the forget targets and the facts drawn beside them are chosen (the draws behind
:func:`~unlearnlab.corpus.splits.make_splits`; the roles and their guarantees are
described there): derivable targets, per-stratum targets, the holdout and the
underivable targets."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable

from unlearnlab.corpus.split_config import SplitConfig
from unlearnlab.errors import UserError
from unlearnlab.worlds.connectivity import derivation_count
from unlearnlab.worlds.kg import Fact, World


class Individuals:
    """Which entities of a world are individuals: those of a type that is the subject of
    some stated fact (people), as opposed to values (years, cities, genders)."""

    def __init__(self, world: World) -> None:
        self.types = world.entity_types
        self.kinds = {self.types.get(f.subject) for f in world.base_facts}

    def of(self, facts: Iterable[Fact]) -> set[str]:
        """The individuals ``facts`` name."""
        named = {e for f in facts for e in (f.subject, f.object)}
        return {e for e in named if self.types.get(e) in self.kinds}


def premises_of_target(world: World, fact: Fact, removed: set[Fact]) -> tuple[Fact, ...] | None:
    tree = world.derivation(fact, without=removed)
    if tree is None:
        return None
    return tuple(sorted(tree.leaves() - world.background_facts))


def check_relations(world: World, relations: tuple[str, ...], field_name: str) -> None:
    unknown = sorted(set(relations) - set(world.relations))
    if unknown:
        raise UserError(
            f"splits.{field_name}: unknown relation(s) {', '.join(unknown)} "
            f"(the world has: {', '.join(world.relations)})"
        )


def draw_rederivable(
    world: World, config: SplitConfig, relations: tuple[str, ...], rng: random.Random
) -> tuple[list[Fact], dict[Fact, tuple[Fact, ...]]]:
    """Targets that the other stated facts imply, independent of each other: no two
    share a premise, and no target names an individual that another target or its
    premises name."""
    candidates = sorted(f for f in world.base_facts if f.relation in relations)
    rng.shuffle(candidates)
    forget: list[Fact] = []
    premises_of: dict[Fact, tuple[Fact, ...]] = {}
    used_premises: set[Fact] = set()
    named_by_targets: set[str] = set()
    named: set[str] = set()
    individuals = Individuals(world)
    for fact in candidates:
        if len(forget) == config.forget:
            break
        people = individuals.of([fact])
        if people & named or fact in used_premises or not world.rederivable(fact):
            continue
        premises = premises_of_target(world, fact, {fact})
        if premises is None or set(premises) & used_premises:
            continue
        footprint = individuals.of([fact, *premises])
        if footprint & named_by_targets:
            continue
        forget.append(fact)
        premises_of[fact] = premises
        used_premises |= set(premises)
        named_by_targets |= people
        named |= footprint
    if len(forget) < config.forget:
        raise UserError(
            f"splits.forget: asked for {config.forget} forget targets but the world has only "
            f"{len(forget)} stated facts of {', '.join(relations)} that are derivable from "
            "others with disjoint premises and no person shared with another target or its "
            "premises; ask for fewer or use a larger world"
        )
    return forget, premises_of


def draw_holdout(
    world: World,
    config: SplitConfig,
    relations: tuple[str, ...],
    forget: list[Fact],
    premises_of: dict[Fact, tuple[Fact, ...]],
) -> list[Fact]:
    """``config.holdout`` stated facts of ``relations``, as many of each relation as the
    targets have (in proportion; the rest of any relation where one runs short), that the
    other stated facts imply without any target or other holdout fact, none a premise of a
    target or of another holdout fact, none naming an individual a target names (drawn
    with their own generator, so the other splits do not depend on them)."""
    candidates = sorted(f for f in world.base_facts if f.relation in relations)
    random.Random(f"holdout:{config.seed}").shuffle(candidates)
    counts = Counter(f.relation for f in forget)
    quota = {r: n * config.holdout // len(forget) for r, n in counts.items()}
    for r, _ in counts.most_common(config.holdout - sum(quota.values())):
        quota[r] += 1
    individuals = Individuals(world)
    blocked = set(forget) | {p for ps in premises_of.values() for p in ps}
    named = individuals.of(forget)
    holdout: list[Fact] = []
    for matched in (True, False):
        for fact in candidates:
            if len(holdout) == config.holdout:
                break
            if matched and quota.get(fact.relation, 0) == 0:
                continue
            if fact in blocked or individuals.of([fact]) & named:
                continue
            premises = premises_of_target(world, fact, {fact, *forget, *holdout})
            if premises is None:
                continue
            holdout.append(fact)
            blocked |= {fact, *premises}
            quota[fact.relation] = quota.get(fact.relation, 0) - 1
    if len(holdout) < config.holdout:
        raise UserError(
            f"splits.holdout: asked for {config.holdout} holdout facts but the world has only "
            f"{len(holdout)} more stated facts of {', '.join(relations)} derivable without the "
            "targets and naming none of their people; ask for fewer or use a larger world"
        )
    return holdout


def draw_underivable(world: World, config: SplitConfig, taken: Iterable[Fact]) -> list[Fact]:
    """``config.underivable`` stated facts that no other fact implies, each naming
    individuals that no fact of ``taken`` (the derivable targets, their premises, the
    holdout) and no other drawn fact names (see the module docstring)."""
    individuals, taken = Individuals(world), set(taken)
    named = individuals.of(taken)
    candidates = sorted(f for f in world.base_facts if f not in taken)
    random.Random(f"underivable:{config.seed}").shuffle(candidates)
    drawn: list[Fact] = []
    for fact in candidates:
        if len(drawn) == config.underivable:
            break
        people = individuals.of([fact])
        if not people or people & named or world.rederivable(fact):
            continue
        drawn.append(fact)
        named |= people
    if len(drawn) < config.underivable:
        raise UserError(
            f"splits.underivable: asked for {config.underivable} underivable targets but the "
            f"world has only {len(drawn)} stated facts that no other fact implies and that "
            "name no person of another target, premise or holdout fact; ask for fewer or use "
            "a larger world (world.params.people)"
        )
    return drawn


def draw_strata(
    world: World, config: SplitConfig, rng: random.Random
) -> tuple[dict[str, list[Fact]], dict[Fact, tuple[Fact, ...]]]:
    """Targets per stratum (see the module docstring), in one pass over the shuffled
    stated facts; isolated targets have no premises."""
    for stratum in config.strata:
        if stratum.relations:
            check_relations(world, stratum.relations, f"strata.{stratum.name}.relations")
    enough = max(s.enough for s in config.strata)
    candidates = sorted(world.base_facts)
    rng.shuffle(candidates)
    drawn: dict[str, list[Fact]] = {s.name: [] for s in config.strata}
    premises_of: dict[Fact, tuple[Fact, ...]] = {}
    blocked: set[Fact] = set()
    for fact in candidates:
        open_strata = [
            s
            for s in config.strata
            if len(drawn[s.name]) < s.targets and (not s.relations or fact.relation in s.relations)
        ]
        if not open_strata:
            if all(len(drawn[s.name]) == s.targets for s in config.strata):
                break
            continue
        if fact in blocked:
            continue
        count, complete = derivation_count(world, fact, max_sets=enough + 1)
        stratum = next((s for s in open_strata if s.holds(count, complete)), None)
        if stratum is None:
            continue
        cone = world.grounding.cone(fact)
        reach = set(cone.atoms[: cone.n_base])
        if reach & set(premises_of):
            continue
        drawn[stratum.name].append(fact)
        premises_of[fact] = premises_of_target(world, fact, {fact}) or ()
        blocked |= reach
    short = [s for s in config.strata if len(drawn[s.name]) < s.targets]
    if short:
        found = ", ".join(f"{s.name} {len(drawn[s.name])} of {s.targets}" for s in short)
        raise UserError(
            f"splits.strata: the world has too few independent targets ({found}); ask for "
            "fewer targets per stratum or use a larger world (world.params.people)"
        )
    return drawn, premises_of
