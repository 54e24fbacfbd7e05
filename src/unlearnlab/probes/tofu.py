"""The metrics of TOFU (Maini et al. 2024, "TOFU: A Task of Fictitious Unlearning for
LLMs", section 2.5), on a world's facts. Stable probe names:

- ``tofu.answer_prob``: the answer's length-normalised probability given the question,
  ``P(a | q) ** (1 / |a|)`` (TOFU's "Probability" on the forget set);
- ``tofu.truth_ratio``: ``R_truth = mean_k P(â_k | q) ** (1 / |â_k|) / P(ã | q) ** (1 / |ã|)``,
  the perturbed answers' normalised probability over the paraphrased answer's (below 1:
  the model prefers the truth);
- ``tofu.forget_quality``: the p-value of the two-sample Kolmogorov-Smirnov test between
  the model's truth ratios on the forget targets and the oracle's (TOFU's retain model):
  high when they are indistinguishable.

A world's answers are entity names, so where TOFU paraphrases the answer sentence this
paraphrases the question: ``q`` is the fact in a phrasing never trained for its relation
(its first held-out frame), ``ã`` the true answer and ``â_k`` :data:`PERTURBED` entities of
the answer's type that are not correct answers, drawn per fact (TOFU also gives five
perturbed answers). Every answer is scored with its closing ``"."``, as the corpus ends it.
The mean over perturbed answers is arithmetic, as the paper writes it (TOFU's code takes
it in log space; with one perturbed answer they agree).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearnlab.probes.knowledge import QueryIndex
from unlearnlab.probes.registry import SuiteInputs, member_facts, probes
from unlearnlab.probes.results import ProbeRow
from unlearnlab.probes.scoring import score_answers
from unlearnlab.probes.stats import ks_two_sample
from unlearnlab.worlds.kg import Fact, World

PERTURBED = 5
"""Perturbed answers per fact, as in TOFU."""


def truth_ratio(paraphrased: float, perturbed: Sequence[float]) -> float:
    """``R_truth`` from mean per-token log-likelihoods: the paraphrased answer's and each
    perturbed answer's (see the module docstring)."""
    mean = sum(math.exp(lp) for lp in perturbed) / len(perturbed)
    return mean / math.exp(paraphrased)


def answer_probabilities(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    facts: Sequence[Fact],
    index: QueryIndex,
) -> list[float]:
    """``P(a | q) ** (1 / |a|)`` of each fact's answer after its question."""
    questions = [index.question(f) for f in facts]
    scores = score_answers(
        model, tokenizer, [q.prompt for q in questions], [f"{q.answer}." for q in questions]
    )
    return [math.exp(s.mean_logprob) for s in scores]


def truth_ratios(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    world: World,
    facts: Sequence[Fact],
    index: QueryIndex,
    *,
    seed: int = 0,
) -> list[float]:
    """``R_truth`` of each fact (see the module docstring)."""
    prompts, answers, sizes = [], [], []
    for fact in facts:
        text = index.texts[fact.relation]
        prompt = text.heldout_frames()[0].prompt(text.noun, text.given(fact))
        truth = text.answer(fact)
        pool = [c for c in index.candidates(fact, world.entity_types) if c != truth]
        wrong = random.Random(f"{seed}:truth_ratio:{fact}").sample(pool, min(PERTURBED, len(pool)))
        options = [truth, *wrong]
        prompts += [prompt] * len(options)
        answers += [f"{o}." for o in options]
        sizes.append(len(options))
    scores = [s.mean_logprob for s in score_answers(model, tokenizer, prompts, answers)]
    ratios, start = [], 0
    for size in sizes:
        group = scores[start : start + size]
        start += size
        ratios.append(truth_ratio(group[0], group[1:]) if size > 1 else float("nan"))
    return ratios


ANSWER_PROB = "tofu.answer_prob"
TRUTH_RATIO = "tofu.truth_ratio"
FORGET_QUALITY = "tofu.forget_quality"


@probes(
    "tofu",
    {
        ANSWER_PROB: "P(answer | question) ** (1 / answer tokens), in value",
        TRUTH_RATIO: "perturbed over paraphrased answers' normalised probability, in value",
        FORGET_QUALITY: "KS-test p-value of forget truth ratios against the oracle's, in value",
    },
)
def tofu_suite(inputs: SuiteInputs, earlier: Sequence[ProbeRow]) -> list[ProbeRow]:
    """The TOFU metrics on the forget targets and the holdout; forget quality needs the
    oracle (``inputs.reference``)."""
    model, tokenizer, world, index = inputs.model, inputs.tokenizer, inputs.world, inputs.index
    seed = inputs.config.seed
    rows: list[ProbeRow] = []
    for split, facts in member_facts(inputs).items():
        probabilities = answer_probabilities(model, tokenizer, facts, index)
        ratios = truth_ratios(model, tokenizer, world, facts, index, seed=seed)
        for fact, p, r in zip(facts, probabilities, ratios, strict=True):
            rows.append(ProbeRow(ANSWER_PROB, "question", split, str(fact), p > 0.5, value=p))
            rows.append(ProbeRow(TRUTH_RATIO, "heldout", split, str(fact), r < 1, value=r))
        if split == "forget" and inputs.reference is not None:
            oracle = truth_ratios(inputs.reference, tokenizer, world, facts, index, seed=seed)
            _, p_value = ks_two_sample(ratios, oracle)
            item = f"{len(facts)} forget targets"
            rows.append(ProbeRow(FORGET_QUALITY, "ks", split, item, p_value > 0.05, value=p_value))
    return rows
