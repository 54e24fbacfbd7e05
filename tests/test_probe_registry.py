"""The probe registry: the suite runs exactly the rows the hand-written suite ran before the
registry, in the same order; a probe is one registered function, found without other edits."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearnlab.corpus.splits import Splits
from unlearnlab.models.factory import load_model, load_tokenizer
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
from unlearnlab.probes.rederivation import cot_rows, in_context_queries, latent_queries
from unlearnlab.probes.results import ProbeRow
from unlearnlab.probes.suite import SuiteConfig, probe_splits, run_suite
from unlearnlab.worlds.kg import World

CONFIG = SuiteConfig(sample=6, composites=3, hidden_train=20, cot_tokens=16)
"""Small samples: every family runs on the tiny model in seconds."""


def _hand_written_suite(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    world: World,
    splits: Splits,
    config: SuiteConfig,
) -> list[ProbeRow]:
    """The suite as it was written before the registry: every call, in order."""
    index = QueryIndex.build(world)
    chosen = probe_splits(world, splits, config)
    labels = option_labels(tokenizer, {w for e in world.entity_types for w in e.split()})
    seed, per_fact = config.seed, config.frames_per_fact
    rows: list[ProbeRow] = []

    def rank(probe: str, split: str, queries: list) -> None:
        rows.extend(rank_queries(model, tokenizer, queries, probe=probe, split=split))

    def cloze(facts: Sequence, frames) -> list:
        return cloze_queries(world, facts, frames, index, per_fact=per_fact, seed=seed)

    for split in ("forget", "premise", "neighbour", "retain", "unrelated"):
        facts = chosen[split]
        rank("recall.cloze_train", split, cloze(facts, lambda t: t.training_frames()))
        rank("recall.cloze_heldout", split, cloze(facts, lambda t: t.heldout_frames()))
        rank("recall.question", split, question_queries(world, facts, index))
        for by in ("letter", "text"):
            rank(f"recall.mcq_{by}", split, mcq_queries(world, facts, index, labels, by, seed=seed))
    for split in ("forget", "heldout_composite", "unrelated_composite"):
        facts = chosen[split]
        rows += cot_rows(
            model, tokenizer, world, facts, index, split=split, max_new_tokens=config.cot_tokens
        )
        rank("rederive.in_context", split, in_context_queries(world, facts, index))
        rank("rederive.latent", split, latent_queries(world, facts, index))
    rows += output_rows(model, tokenizer, world, chosen["forget"], index, split="forget")
    ordered = sorted(splits.retain)
    sample = sorted(
        random.Random(f"{seed}:hidden").sample(ordered, min(config.hidden_train, len(ordered)))
    )
    rows += hidden_rows(model, tokenizer, world, sample, chosen["forget"], split="forget")
    sets_of = {
        t: [set(s) for s in world.minimal_deep_unlearning_sets(t).sets] for t in splits.forget
    }
    members = sorted({f for sets in sets_of.values() for s in sets for f in s})
    known: dict[str, bool] = {}
    for row in rows:
        if row.probe == "recall.cloze_train":
            known[row.item] = known.get(row.item, True) and row.correct
    missing = [f for f in members if str(f) not in known]
    queries = cloze(missing, lambda t: t.training_frames())
    for row in rank_queries(model, tokenizer, queries, probe="deep.known", split="knowledge"):
        known[row.item] = known.get(row.item, True) and row.correct
    by_name = {str(f): f for f in world.base_facts}
    knowledge = {by_name[item]: k for item, k in known.items() if item in by_name}
    unknown = [f for f in members if not knowledge[f]]
    cot = chain_of_thought(
        model, tokenizer, world, unknown, index=index, max_new_tokens=config.cot_tokens
    )
    rederived = {f: r["exact"] for f, r in zip(unknown, cot, strict=True)}
    return rows + deep_rows(list(splits.forget), sets_of, knowledge, rederived)


@pytest.fixture(scope="module")
def base(tiny):
    """The tiny substrate with its base model and tokenizer."""
    substrate, _, path, _ = tiny
    return substrate, load_model(path), load_tokenizer(path)


def test_suite_rows_are_those_of_the_hand_written_suite(base) -> None:
    """Same probes, same rows in the same order, same values (rows of probes added since
    are left out of the comparison, wherever they run)."""
    substrate, model, tokenizer = base
    world, splits = substrate.world, substrate.splits
    expected = _hand_written_suite(model, tokenizer, world, splits, CONFIG)
    names = {r.probe for r in expected}
    assert {n.split(".")[0] for n in names} == {"recall", "rederive", "output", "hidden", "deep"}
    rows = run_suite(model, tokenizer, world, splits, CONFIG)
    assert [r for r in rows if r.probe in names] == expected
