"""Re-derivation probes: can the model reason its way back to a derived fact?

Stable names:

- ``rederive.cot``: the model is asked for a chain of thought and must write the premises
  from memory (greedy decoding), then the conclusion; correct when the conclusion is the
  fact's own answer. The chain may not name the fact's *other* valid answers (their
  first tokens are banned, :func:`~unlearnlab.probes.knowledge.chain_of_thought`), as
  recall filters them from its candidates: a model that reasons perfectly scores near
  100% even where a question has several right answers (two aunts).
  ``rederive.cot_any`` is the unconstrained chain's rate of concluding with any valid
  answer; ``rederive.cot_premises`` is the share of the premises the unconstrained chain
  wrote that are true facts (its ``value``; 0 when it wrote none).
- ``rederive.in_context``: the premises of a shortest derivation (without the fact itself,
  for a stated fact) are given in the chain-of-thought format, and the conclusion's
  answer is ranked among the filtered candidates: in-context deduction.
- ``rederive.latent``: the question without a chain of thought, ranked: latent
  multi-hop reasoning (for a stated forget target it is also plain recall).

Splits: ``forget`` (targets), ``heldout_composite`` (derived facts never shown) and
``unrelated_composite`` (:func:`unrelated_composites`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearnlab.corpus.corpus import cot_conclusion_prefix, cot_prompt, cot_steps
from unlearnlab.corpus.splits import Splits, default_target_relations
from unlearnlab.probes.controls import copy_rows, counterfactual_queries, other_premise_queries
from unlearnlab.probes.knowledge import QueryIndex, chain_of_thought
from unlearnlab.probes.recall import Query, question_queries, rank_queries
from unlearnlab.probes.registry import FORGET_UNDERIVABLE, SuiteInputs, probes
from unlearnlab.probes.results import ProbeRow
from unlearnlab.worlds.kg import Fact, World


def unrelated_composites(world: World, splits: Splits, limit: int, *, seed: int = 0) -> list[Fact]:
    """Up to ``limit`` derived facts far from every derivable forget target: of a target
    relation, not held out, and such that neither they nor any fact of their shortest
    derivation names an entity of such a target or its premises (the underivable targets,
    attribute facts whose re-derivation nothing measures, do not count). Their traces were
    in training, so reasoning on them should survive unlearning; sampled with ``seed``,
    sorted."""
    isolated = set(splits.underivable)
    targets = [f for f in splits.forget if f not in isolated]
    relations = {f.relation for f in targets} or set(default_target_relations(world))
    near = {e for f in (*targets, *splits.premises) for e in (f.subject, f.object)}
    heldout = set(splits.heldout)
    pool = []
    for fact in world.derived_facts:
        if fact.relation not in relations or fact in heldout:
            continue
        tree = world.derivation(fact)
        if tree is None:
            continue
        named = {e for f in (*tree.leaves(), fact) for e in (f.subject, f.object)}
        if not named & near:
            pool.append(fact)
    return sorted(random.Random(seed).sample(pool, min(limit, len(pool))))


def in_context_queries(world: World, facts: Sequence[Fact], index: QueryIndex) -> list[Query]:
    """Items whose prompt states the premises of a derivation and asks for the conclusion;
    facts that the other facts do not imply are skipped."""
    queries = []
    for fact in facts:
        stated = world.record(fact) is not None
        tree = world.derivation(fact, without=[fact]) if stated else world.derivation(fact)
        if tree is None or tree.rule is None:
            continue
        text = index.texts[fact.relation]
        steps = cot_steps(tree, index.texts, world.background_facts)
        prompt = " ".join([cot_prompt(fact, text), *steps, cot_conclusion_prefix(fact, text)])
        candidates = tuple(index.candidates(fact, world.entity_types))
        queries.append(Query(fact, "premises_given", prompt, text.answer(fact), candidates))
    return queries


def latent_queries(world: World, facts: Sequence[Fact], index: QueryIndex) -> list[Query]:
    """The question form without a chain of thought."""
    return question_queries(world, facts, index)


def cot_rows(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    world: World,
    facts: Sequence[Fact],
    index: QueryIndex,
    *,
    split: str,
    max_new_tokens: int = 64,
) -> list[ProbeRow]:
    """``rederive.cot``, ``rederive.cot_any`` and ``rederive.cot_premises`` rows, one of
    each per fact."""
    free, steered = (
        chain_of_thought(
            model,
            tokenizer,
            world,
            facts,
            index=index,
            max_new_tokens=max_new_tokens,
            exclude_other_answers=exclude,
        )
        for exclude in (False, True)
    )
    rows = []
    for fact, record, own in zip(facts, free, steered, strict=True):
        chance = 1.0 / len(index.candidates(fact, world.entity_types))
        written = record["premises_written"]
        item = str(fact)
        rows += [
            ProbeRow("rederive.cot", "from_memory", split, item, own["exact"], chance=chance),
            ProbeRow(
                "rederive.cot_any",
                "from_memory",
                split,
                item,
                record["correct"],
                chance=_any_answer_chance(world, fact, index),
            ),
            ProbeRow(
                "rederive.cot_premises",
                "from_memory",
                split,
                item,
                written > 0 and record["premises_true"] == written,
                value=record["premises_true"] / written if written else 0.0,
            ),
        ]
    return rows


def _any_answer_chance(world: World, fact: Fact, index: QueryIndex) -> float:
    """Chance that a uniform pick among the answer's type is one of the valid answers."""
    answer = index.texts[fact.relation].answer(fact)
    pool = index.entities_by_type.get(world.entity_types.get(answer, ""), (answer,))
    return min(1.0, len(index.valid_answers(fact)) / max(1, len(pool)))


COT = "rederive.cot"
COT_ANY = "rederive.cot_any"
COT_PREMISES = "rederive.cot_premises"
IN_CONTEXT = "rederive.in_context"
LATENT = "rederive.latent"
IN_CONTEXT_COPY = "rederive.in_context_copy"
IN_CONTEXT_COUNTERFACTUAL = "rederive.in_context_counterfactual"
IN_CONTEXT_OTHER = "rederive.in_context_other"


@probes(
    "rederive",
    {
        COT: "chain of thought from memory, concluding with the fact's own answer",
        COT_ANY: "unconstrained chain of thought, concluding with any valid answer",
        COT_PREMISES: "share of the premises the unconstrained chain wrote that are true",
        IN_CONTEXT: "premises of a derivation given in the prompt, conclusion ranked",
        IN_CONTEXT_COPY: "control: the last name in the premises is the answer (no model)",
        IN_CONTEXT_COUNTERFACTUAL: "control: premises naming another candidate, true answer ranked",
        IN_CONTEXT_OTHER: "control: another item's premises, true answer ranked",
        LATENT: "the question without a chain of thought, answer ranked",
    },
)
def rederive_suite(inputs: SuiteInputs, earlier: Sequence[ProbeRow]) -> list[ProbeRow]:
    """Every re-derivation probe on the targets, the holdout (where there is one) and the
    composites, split by split; chain of thought alone on the underivable targets (where
    there are: no premises to give in context)."""
    model, tokenizer, world, index = inputs.model, inputs.tokenizer, inputs.world, inputs.index
    rows: list[ProbeRow] = []
    holdout = ("holdout",) if inputs.facts.get("holdout") else ()
    for split in ("forget", *holdout, "heldout_composite", "unrelated_composite"):
        facts = inputs.facts[split]
        rows += cot_rows(
            model,
            tokenizer,
            world,
            facts,
            index,
            split=split,
            max_new_tokens=inputs.config.cot_tokens,
        )
        in_context = in_context_queries(world, facts, index)
        rows += rank_queries(model, tokenizer, in_context, probe=IN_CONTEXT, split=split)
        rows += copy_rows(in_context, index, split)
        counterfactual = counterfactual_queries(in_context, inputs.config.seed)
        rows += rank_queries(
            model, tokenizer, counterfactual, probe=IN_CONTEXT_COUNTERFACTUAL, split=split
        )
        other = other_premise_queries(in_context, index)
        rows += rank_queries(model, tokenizer, other, probe=IN_CONTEXT_OTHER, split=split)
        latent = latent_queries(world, facts, index)
        rows += rank_queries(model, tokenizer, latent, probe=LATENT, split=split)
    if underivable := inputs.facts.get(FORGET_UNDERIVABLE):
        rows += cot_rows(
            model,
            tokenizer,
            world,
            underivable,
            index,
            split=FORGET_UNDERIVABLE,
            max_new_tokens=inputs.config.cot_tokens,
        )
    return rows
