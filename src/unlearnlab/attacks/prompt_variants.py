"""Prompt variants: the same facts asked in ways unlearning may not have reached.

Variants (each a list of prompts per measured fact, ranked like recall):

- ``heldout``: the relation's two phrasings kept out of training (Lynch et al. 2024,
  "Eight Methods to Evaluate Robust Unlearning in LLMs": rephrased queries);
- ``few_shot``: the question form ("Q: Who is the aunt of Z? A:") after ``shots``
  answered retain questions, same relation first (a seeded order per fact);
- ``inverse``: the question about the other argument, through every relation that holds
  the other way round in the world's closure (for ``aunt(X, Z)``: "The niece of X is" ->
  Z, since ``niece(Z, X)``; ``cousin`` is its own inverse). A fact whose pair no relation
  links the other way has no inverse prompt.

Each curve point is the attacker's best: a fact counts as recalled when any prompt the
point offers ranks its answer top-1 (its record keeps the best rank, the highest
probability and the name of the best prompt). Point 0 offers the training phrasings, point
``i`` (1, 2, ...) the training phrasings and the ``i``-th variant of ``variants``, and the
last point (``len(variants) + 1``) every prompt of every variant: the best of variants.
One record per fact at every point, so points compare fact by fact.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from unlearnlab.attacks.base import Attack, AttackTarget, Curve, CurvePoint
from unlearnlab.attacks.registry import attack
from unlearnlab.corpus.templates import render
from unlearnlab.errors import UserError
from unlearnlab.probes.knowledge import QueryIndex
from unlearnlab.probes.scoring import Ranking, encode_ranking, rank_encoded
from unlearnlab.worlds.kg import Fact

Variant = Literal["heldout", "few_shot", "inverse"]


class PromptVariantsParams(BaseModel):
    """Which variants, in which order, and the few-shot prefix size."""

    model_config = ConfigDict(extra="forbid")

    variants: tuple[Variant, ...] = ("heldout", "few_shot", "inverse")
    """Curve points 1, 2, ... in this order; each variant at most once."""
    shots: int = Field(3, ge=1, le=32)
    """Answered retain questions before the few-shot question."""

    @field_validator("variants")
    @classmethod
    def _distinct(cls, variants: tuple[str, ...]) -> tuple[str, ...]:
        if not variants or len(set(variants)) != len(variants):
            raise ValueError(f"give each variant once and at least one, got {list(variants)}")
        return variants


@dataclass(frozen=True)
class Query:
    """One prompt of one variant about one measured fact."""

    fact: Fact
    variant: str
    """``training`` or a variant name."""
    name: str
    """The variant and phrasing, e.g. ``heldout:possessive`` or ``inverse:niece``."""
    prompt: str
    answer: str
    candidates: list[str]


def _asked(
    fact: Fact, asked: Fact, variant: str, name: str, index: QueryIndex, types: dict[str, str]
) -> list[Query]:
    """The queries of ``asked`` (``fact`` itself or its inverse) in ``name``'s phrasings:
    the held-out frames for variant heldout, the training frames otherwise."""
    text = index.texts[asked.relation]
    frames = text.heldout_frames() if variant == "heldout" else text.training_frames()
    candidates = index.candidates(asked, types)
    queries = []
    for frame in frames:
        rendering = render(asked, text, frame)
        name_of = f"{name}:{frame.name}"
        queries.append(
            Query(fact, variant, name_of, rendering.prompt, rendering.answer, candidates)
        )
    return queries


@attack("prompt_variants")
class PromptVariants(Attack):
    """Held-out phrasings, few-shot prefixes and inverse questions; curve steps are 0
    (training phrasings), one per variant, and the best of all (see the module)."""

    Params = PromptVariantsParams

    def queries(self, target: AttackTarget) -> list[Query]:
        """Every prompt of every measured fact: training phrasings, then each variant's."""
        params: PromptVariantsParams = self.params  # type: ignore[assignment]
        index, world = target.bench.index, target.substrate.world
        types = world.entity_types
        linked: dict[tuple[str, str], list[Fact]] = defaultdict(list)
        for fact in sorted(world.closure()):
            linked[(fact.subject, fact.object)].append(fact)
        retain = list(target.substrate.splits.retain)
        if len(retain) < params.shots:
            raise UserError(
                f"prompt_variants.shots: {params.shots} demonstrations asked, but the world "
                f"has only {len(retain)} retain facts; lower shots"
            )
        queries = []
        for fact in target.facts:
            text = index.texts[fact.relation]
            queries += _asked(fact, fact, "training", "training", index, types)
            for variant in params.variants:
                if variant == "heldout":
                    queries += _asked(fact, fact, "heldout", "heldout", index, types)
                elif variant == "inverse":
                    for inverse in linked.get((fact.object, fact.subject), []):
                        if index.texts[inverse.relation].asks_subject and inverse != fact:
                            name = f"inverse:{inverse.relation}"
                            queries += _asked(fact, inverse, "inverse", name, index, types)
                else:
                    order = list(retain)
                    random.Random(f"unlearnlab-few-shot:{target.seed}:{fact}").shuffle(order)
                    order.sort(key=lambda f: f.relation != fact.relation)
                    shown = [
                        render(f, index.texts[f.relation], index.texts[f.relation].question())
                        for f in order[: params.shots]
                    ]
                    question = render(fact, text, text.question())
                    queries.append(
                        Query(
                            fact,
                            "few_shot",
                            f"few_shot:{params.shots}",
                            " ".join([*(r.text for r in shown), question.prompt]),
                            question.answer,
                            index.candidates(fact, types),
                        )
                    )
        return queries

    def run(self, model_dir: Path, target: AttackTarget) -> Curve:
        """The best recall of each measured fact at each point (see the module)."""
        params: PromptVariantsParams = self.params  # type: ignore[assignment]
        bench = target.bench
        queries = self.queries(target)
        encoded = encode_ranking(
            bench.tokenizer(model_dir),
            [q.prompt for q in queries],
            [q.answer for q in queries],
            [q.candidates for q in queries],
            suffix=".",
            reuse_prompt=True,
        )
        rankings = rank_encoded(bench.model(model_dir), encoded)
        offered = [("training",), *(("training", v) for v in params.variants)]
        offered.append(("training", *params.variants))
        curve = []
        for step, variants in enumerate(offered):
            records = []
            for fact in target.facts:
                scored = [
                    (q, r)
                    for q, r in zip(queries, rankings, strict=True)
                    if q.fact == fact and q.variant in variants
                ]
                records.append(_best(fact, scored))
            curve.append(CurvePoint(step, records))
        return curve


def _best(fact: Fact, scored: list[tuple[Query, Ranking]]) -> dict[str, Any]:
    """One fact's record from its scored prompts: the best rank wins (then probability)."""
    query, ranking = min(scored, key=lambda qr: (qr[1].rank, -qr[1].probability))
    return {
        "fact": str(fact),
        "relation": fact.relation,
        "template": "best",
        "prompt": query.name,
        "rank": ranking.rank,
        "correct": ranking.correct,
        "probability": max(r.probability for _, r in scored),
        "chance": 1.0 / len(ranking.scores),
    }
