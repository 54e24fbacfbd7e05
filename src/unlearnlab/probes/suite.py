"""The full probe suite on one model: every probe on its splits, as tidy rows.

Split names (stable): ``forget``, ``premise``, ``neighbour``, ``retain``, ``unrelated``,
``retain_heldout`` (stated facts, by role), ``heldout_composite`` (derived facts never
shown) and ``unrelated_composite``
(:func:`~unlearnlab.probes.rederivation.unrelated_composites`). Forget targets and
premises are probed in full; the larger splits are sampled. The in-context re-derivation
items come with their controls (:mod:`unlearnlab.probes.controls`).
``SuiteConfig.families`` picks the probe families that run (``recall.*``, ``rederive.*``,
``output.*``, ``hidden.*``, ``deep.*``; all by default).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearnlab.corpus.splits import Splits
from unlearnlab.probes.controls import copy_rows, counterfactual_queries, other_premise_queries
from unlearnlab.probes.deep import deep_rows
from unlearnlab.probes.hidden import hidden_rows
from unlearnlab.probes.knowledge import QueryIndex, chain_of_thought
from unlearnlab.probes.outputs import output_rows
from unlearnlab.probes.recall import (
    cloze_queries,
    mcq_queries,
    option_labels,
    question_queries,
    rank_queries,
)
from unlearnlab.probes.rederivation import (
    cot_rows,
    in_context_queries,
    latent_queries,
    unrelated_composites,
)
from unlearnlab.probes.results import ProbeRow
from unlearnlab.worlds.kg import Fact, World

FACT_SPLITS = {
    "forget": "forget",
    "premise": "premises",
    "neighbour": "neighbours",
    "retain": "retain",
    "unrelated": "unrelated",
    "retain_heldout": "retain_heldout",
}
"""Stable split name -> attribute of :class:`~unlearnlab.corpus.splits.Splits`."""
Family = Literal["recall", "rederive", "output", "hidden", "deep"]
"""A probe family: the probes named ``<family>.*``."""
FAMILIES: tuple[Family, ...] = ("recall", "rederive", "output", "hidden", "deep")


class SuiteConfig(BaseModel):
    """How much of each split the suite probes, and how."""

    model_config = ConfigDict(extra="forbid")

    sample: int = Field(30, ge=1, description="facts probed per large split (neighbour, ...)")
    composites: int = Field(30, ge=0, description="held-out and unrelated composites probed")
    frames_per_fact: int = Field(
        1, ge=0, description="phrasings per fact and cloze probe, rotated by fact; 0 = all"
    )
    hidden_train: int = Field(300, ge=10, description="retain facts the linear probes train on")
    cot_tokens: int = Field(64, ge=8, description="longest chain of thought generated")
    seed: int = Field(0, description="seed of samples, distractors and bootstrap")
    families: tuple[Family, ...] = Field(
        FAMILIES, min_length=1, description="probe families run (default: all)"
    )


def _sample(facts: Sequence[Fact], k: int, seed: int, split: str) -> list[Fact]:
    ordered = sorted(facts)
    return sorted(random.Random(f"{seed}:{split}").sample(ordered, min(k, len(ordered))))


def probe_splits(world: World, splits: Splits, config: SuiteConfig) -> dict[str, list[Fact]]:
    """The facts each split is probed on (see the module docstring)."""
    chosen = {}
    for name, role in FACT_SPLITS.items():
        facts = list(getattr(splits, role))
        full = name in ("forget", "premise")
        chosen[name] = sorted(facts) if full else _sample(facts, config.sample, config.seed, name)
    chosen["heldout_composite"] = _sample(
        splits.heldout, config.composites, config.seed, "heldout_composite"
    )
    chosen["unrelated_composite"] = unrelated_composites(
        world, splits, config.composites, seed=config.seed
    )
    return chosen


def run_suite(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    world: World,
    splits: Splits,
    config: SuiteConfig,
) -> list[ProbeRow]:
    """Every probe of the suite on ``model``; the same inputs give the same rows."""
    index = QueryIndex.build(world)
    chosen = probe_splits(world, splits, config)
    names = {w for e in world.entity_types for w in e.split()}
    labels = option_labels(tokenizer, names)
    seed, per_fact = config.seed, config.frames_per_fact
    rows: list[ProbeRow] = []

    def rank(probe: str, split: str, queries: list) -> None:
        rows.extend(rank_queries(model, tokenizer, queries, probe=probe, split=split))

    if "recall" in config.families:
        for split in FACT_SPLITS:
            facts = chosen[split]
            train = cloze_queries(
                world, facts, lambda t: t.training_frames(), index, per_fact=per_fact, seed=seed
            )
            rank("recall.cloze_train", split, train)
            heldout = cloze_queries(
                world, facts, lambda t: t.heldout_frames(), index, per_fact=per_fact, seed=seed
            )
            rank("recall.cloze_heldout", split, heldout)
            rank("recall.question", split, question_queries(world, facts, index))
            for by in ("letter", "text"):
                queries = mcq_queries(world, facts, index, labels, by, seed=seed)
                rank(f"recall.mcq_{by}", split, queries)
    if "rederive" in config.families:
        for split in ("forget", "heldout_composite", "unrelated_composite"):
            facts = chosen[split]
            rows += cot_rows(
                model, tokenizer, world, facts, index, split=split, max_new_tokens=config.cot_tokens
            )
            contexts = in_context_queries(world, facts, index)
            rank("rederive.in_context", split, contexts)
            rows += copy_rows(contexts, index, split)
            counterfactual = counterfactual_queries(contexts, seed)
            rank("rederive.in_context_counterfactual", split, counterfactual)
            rank("rederive.in_context_other", split, other_premise_queries(contexts, index))
            rank("rederive.latent", split, latent_queries(world, facts, index))
    if "output" in config.families:
        rows += output_rows(model, tokenizer, world, chosen["forget"], index, split="forget")
    if "hidden" in config.families:
        retain = _sample(splits.retain, config.hidden_train, seed, "hidden")
        rows += hidden_rows(model, tokenizer, world, retain, chosen["forget"], split="forget")
    if "deep" in config.families:
        rows += _deep(model, tokenizer, world, splits, rows, index, config)
    return rows


def _deep(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    world: World,
    splits: Splits,
    rows: list[ProbeRow],
    index: QueryIndex,
    config: SuiteConfig,
) -> list[ProbeRow]:
    """Deep-unlearning rows. The knowledge base is every fact ``recall.cloze_train``
    probed plus every fact of the targets' minimal deep-unlearning sets (probed the same
    way where missing); a fact is known when that probe ranks it top-1. Chains of thought
    are asked only of set members the model does not know."""
    sets_of = {
        t: [set(s) for s in world.minimal_deep_unlearning_sets(t).sets] for t in splits.forget
    }
    members = sorted({f for sets in sets_of.values() for s in sets for f in s})
    known: dict[str, bool] = {}
    for row in rows:
        if row.probe == "recall.cloze_train":
            known[row.item] = known.get(row.item, True) and row.correct
    missing = [f for f in members if str(f) not in known]
    queries = cloze_queries(
        world,
        missing,
        lambda t: t.training_frames(),
        index,
        per_fact=config.frames_per_fact,
        seed=config.seed,
    )
    for row in rank_queries(model, tokenizer, queries, probe="deep.known", split="knowledge"):
        known[row.item] = known.get(row.item, True) and row.correct
    by_name = {str(f): f for f in world.base_facts}
    knowledge = {by_name[item]: k for item, k in known.items() if item in by_name}
    unknown = [f for f in members if not knowledge[f]]
    cot = chain_of_thought(
        model, tokenizer, world, unknown, index=index, max_new_tokens=config.cot_tokens
    )
    rederived = {f: r["exact"] for f, r in zip(unknown, cot, strict=True)}
    return deep_rows(list(splits.forget), sets_of, knowledge, rederived)
