"""In-context relearning: facts stated in the prompt before each query, no weight change.

Each measured fact is queried in its training phrasings after ``n`` context sentences
(the canonical statement of other facts), for every ``n`` in ``shots``. With source
``forget_folds`` the context facts come from the other folds of the measured facts (a
fact never appears in its own context); with ``retain`` they are retain facts, a plain
few-shot prefix that shows how facts are stated without giving any forgotten one away;
with ``premises`` they are the stated, non-background premises of the fact's shallowest
derivation from the other facts (what an attacker who knows the premises could supply),
so ``n`` there means at most ``n``: a fact with fewer premises gets all of them.
The context of a fact is a seeded order of its pool, so its first ``n`` grow with ``n``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from unlearnlab.attacks.base import (
    Attack,
    AttackTarget,
    Curve,
    CurvePoint,
    check_schedule,
    kfold,
    measure,
)
from unlearnlab.attacks.registry import attack
from unlearnlab.corpus.templates import render
from unlearnlab.errors import UserError
from unlearnlab.probes.knowledge import QueryIndex, RecallQueries
from unlearnlab.worlds.kg import Fact, World


class InContextParams(BaseModel):
    """Where context facts come from and how many precede each query."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["forget_folds", "retain", "premises"] = "forget_folds"
    """Other folds of the measured facts, retain facts (a few-shot prefix), or the fact's
    own premises."""
    folds: int = Field(2, ge=2)
    """With source forget_folds: k; a fact's context comes from the other k - 1 folds."""
    shots: tuple[int, ...] = (0, 1, 2, 4, 8)
    """Context sizes measured (the curve's steps); strictly increasing, from 0. With
    source premises, at most this many (a derivation may have fewer premises)."""

    @field_validator("shots")
    @classmethod
    def _schedule(cls, shots: tuple[int, ...]) -> tuple[int, ...]:
        return check_schedule(shots)


def statement(fact: Fact, index: QueryIndex) -> str:
    """``fact`` as its canonical training sentence ("The mother of Bob Lee is Ann Lee.")."""
    text = index.texts[fact.relation]
    return render(fact, text, text.training_frames()[0]).text


def premises(world: World, fact: Fact) -> list[Fact]:
    """The stated premises (background facts left out) of the shallowest derivation of
    ``fact`` from the other facts, in stated order; empty when nothing else implies it."""
    tree = world.derivation(fact, without=[fact])
    if tree is None or tree.rule is None:
        return []
    background = set(world.background_facts)
    return sorted(f for f in tree.leaves() if f not in background)


@attack("in_context")
class InContext(Attack):
    """Facts placed in the prompt; curve steps are the number of context facts."""

    Params = InContextParams

    def pools(self, target: AttackTarget) -> dict[Fact, list[Fact]]:
        """Each measured fact's context facts, in seeded order."""
        params: InContextParams = self.params  # type: ignore[assignment]
        if params.source == "retain":
            pool: Sequence[Fact] = target.substrate.splits.retain
            others = {fact: list(pool) for fact in target.facts}
        elif params.source == "premises":
            others = {fact: premises(target.substrate.world, fact) for fact in target.facts}
        else:
            folds = kfold(target.facts, params.folds, target.seed)
            others = {
                fact: [f for j, other in enumerate(folds) if j != i for f in other]
                for i, fold in enumerate(folds)
                for fact in fold
            }
        for fact, facts in others.items():
            random.Random(f"unlearnlab-context:{target.seed}:{fact}").shuffle(facts)
            if params.source != "premises" and len(facts) < params.shots[-1]:
                raise UserError(
                    f"in_context.shots: {params.shots[-1]} context facts asked, but "
                    f"{fact} has only {len(facts)} in source {params.source}"
                )
        return {fact: others[fact] for fact in target.facts}

    def run(self, model_dir: Path, target: AttackTarget) -> Curve:
        """Recall of ``target.facts`` after 0, ..., ``shots[-1]`` context sentences."""
        params: InContextParams = self.params  # type: ignore[assignment]
        bench = target.bench
        model = bench.model(model_dir)
        pools = self.pools(target)
        curve = []
        for shots in params.shots:
            contexts = {
                fact: " ".join(statement(f, bench.index) for f in pool[:shots])
                for fact, pool in pools.items()
            }
            queries = RecallQueries.build(
                bench.tokenizer(model_dir),
                target.substrate.world,
                target.facts,
                lambda t: t.training_frames(),
                index=bench.index,
                contexts=contexts,
            )
            curve.append(CurvePoint(shots, measure(model, queries)))
        return curve
