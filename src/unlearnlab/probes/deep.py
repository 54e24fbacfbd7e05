"""Deep-unlearning scores: given which facts a model still knows, how much of a target's
minimal deep-unlearning sets is gone, and what else was lost?

:func:`edu_relat_scores` is the measure of EDU-RELAT (Wu et al., 2024, "Evaluating Deep
Unlearning in Large Language Models", ``calculate_recall_and_acc.py``). With K the
knowledge base, Ũ the facts of K the model no longer knows and S the target's minimal
deep-unlearning sets:

- recall = max over U in S of |U ∩ Ũ| / |U|; U* is the first set reaching it;
- accuracy = 1 - |Ũ \\ U*| / (|K| - |U*|): the share of the facts outside U* still known;
- :func:`edu_relat_accuracy_all` folds in the accuracy on facts outside K (biographies).

unlearnlab's stronger version (``deep.rederive_recall``) counts a fact as gone only when
the model neither recalls it nor re-derives it by its own chain of thought, instead of
trusting that a fact the model cannot recall cannot come back through the closure.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from unlearnlab.errors import UserError
from unlearnlab.probes.knowledge import chain_of_thought
from unlearnlab.probes.recall import CLOZE_TRAIN, cloze_queries, rank_queries
from unlearnlab.probes.registry import SuiteInputs, probes
from unlearnlab.probes.results import ProbeRow
from unlearnlab.worlds.kg import Fact

T = TypeVar("T", bound=Hashable)

EDU_RELAT_RECALL = "deep.edu_relat_recall"
EDU_RELAT_ACCURACY = "deep.edu_relat_accuracy"
REDERIVE_RECALL = "deep.rederive_recall"


@dataclass(frozen=True)
class DeepScore(Generic[T]):
    """EDU-RELAT's recall and accuracy for one target."""

    recall: float
    accuracy: float
    best_set: frozenset[T]
    """U*: the first minimal set with the highest recall."""


def edu_relat_scores(
    sets: Sequence[Collection[T]], forgotten: Collection[T], knowledge_size: int
) -> DeepScore[T]:
    """Recall and accuracy of one target (see the module docstring); ``forgotten`` is Ũ,
    a subset of the knowledge base of ``knowledge_size`` facts."""
    if not sets:
        raise UserError("the target has no minimal deep-unlearning sets; is it derivable?")
    gone = set(forgotten)
    best, best_recall = frozenset(sets[0]), -1.0
    for candidate in sets:
        covered = len(gone.intersection(candidate)) / len(candidate)
        if covered > best_recall:
            best, best_recall = frozenset(candidate), covered
    if knowledge_size <= len(best):
        raise UserError(
            f"the knowledge base has {knowledge_size} facts, no more than the set's {len(best)}"
        )
    accuracy = 1.0 - len(gone - best) / (knowledge_size - len(best))
    return DeepScore(best_recall, accuracy, best)


def edu_relat_accuracy_all(
    accuracy: float, other_accuracy: float, other_size: int, knowledge_size: int, best_size: int
) -> float:
    """EDU-RELAT's overall accuracy: the accuracy on K outside U* and on ``other_size``
    facts outside K, weighted by their numbers."""
    inside = knowledge_size - best_size
    return (other_size * other_accuracy + inside * accuracy) / (other_size + inside)


def deep_rows(
    targets: Sequence[Fact],
    sets_of: dict[Fact, Sequence[Collection[Fact]]],
    known: dict[Fact, bool],
    rederived: dict[Fact, bool],
    *,
    split: str = "forget",
) -> list[ProbeRow]:
    """Per target: ``deep.edu_relat_recall`` and ``deep.edu_relat_accuracy`` over the
    knowledge base ``known`` (every probed base fact: known or not), and
    ``deep.rederive_recall``, where a fact is gone only if not ``rederived`` either.

    Targets are unlearned together, so a target's knowledge base leaves out the *other*
    targets and every fact of their minimal deep-unlearning sets (that is not also in one
    of its own sets): forgetting them is intended, not damage to this target's
    neighbourhood (EDU-RELAT unlearns one target at a time)."""
    forgotten = {f for f, k in known.items() if not k}
    really_gone = {f for f in forgotten if not rederived.get(f, False)}
    members = {t: {t}.union(*sets_of[t]) for t in targets}
    rows = []
    for target in targets:
        sets = sets_of[target]
        intended = set().union(*(members[t] for t in targets if t != target)) - members[target]
        size = sum(1 for f in known if f not in intended)
        symbolic = edu_relat_scores(sets, forgotten - intended, size)
        stronger = edu_relat_scores(sets, really_gone - intended, size)
        item = str(target)
        rows += [
            ProbeRow(
                EDU_RELAT_RECALL,
                "recall",
                split,
                item,
                symbolic.recall == 1.0,
                value=symbolic.recall,
            ),
            ProbeRow(
                EDU_RELAT_ACCURACY,
                "recall",
                split,
                item,
                symbolic.accuracy == 1.0,
                value=symbolic.accuracy,
            ),
            ProbeRow(
                REDERIVE_RECALL,
                "recall_or_cot",
                split,
                item,
                stronger.recall == 1.0,
                value=stronger.recall,
            ),
        ]
    return rows


@probes(
    "deep",
    {
        EDU_RELAT_RECALL: "EDU-RELAT recall: the most of a minimal deep-unlearning set gone",
        EDU_RELAT_ACCURACY: "EDU-RELAT accuracy: the share of other known facts still known",
        REDERIVE_RECALL: "EDU-RELAT recall where a fact re-derived by chain of thought is kept",
    },
)
def deep_suite(inputs: SuiteInputs, earlier: Sequence[ProbeRow]) -> list[ProbeRow]:
    """Deep-unlearning rows of the forget targets. The knowledge base is every fact
    ``recall.cloze_train`` probed (in ``earlier``) plus every fact of the targets' minimal
    deep-unlearning sets (probed the same way where missing); a fact is known when that
    probe ranks it top-1. Chains of thought are asked only of set members the model does
    not know."""
    model, tokenizer, world, config = inputs.model, inputs.tokenizer, inputs.world, inputs.config
    targets = list(inputs.splits.forget)
    sets_of = {t: [set(s) for s in world.minimal_deep_unlearning_sets(t).sets] for t in targets}
    members = sorted({f for sets in sets_of.values() for s in sets for f in s})
    known: dict[str, bool] = {}
    for row in earlier:
        if row.probe == CLOZE_TRAIN:
            known[row.item] = known.get(row.item, True) and row.correct
    missing = [f for f in members if str(f) not in known]
    queries = cloze_queries(
        world,
        missing,
        lambda t: t.training_frames(),
        inputs.index,
        per_fact=config.frames_per_fact,
        seed=config.seed,
    )
    for row in rank_queries(model, tokenizer, queries, probe="deep.known", split="knowledge"):
        known[row.item] = known.get(row.item, True) and row.correct
    by_name = {str(f): f for f in world.base_facts}
    knowledge = {by_name[item]: k for item, k in known.items() if item in by_name}
    unknown = [f for f in members if not knowledge[f]]
    cot = chain_of_thought(
        model, tokenizer, world, unknown, index=inputs.index, max_new_tokens=config.cot_tokens
    )
    rederived = {f: r["exact"] for f, r in zip(unknown, cot, strict=True)}
    return deep_rows(targets, sets_of, knowledge, rederived)
