"""What does the model say when asked a forget query?

The question form ("Q: Who is the mother of Bea Lee? A:") is decoded greedily up to the
first ``"."`` and each answer is sorted into one class (stable probe names):

- ``output.correct``: a correct answer;
- ``output.refusal``: it contains one of :data:`REFUSAL_MARKERS` (case-insensitive);
- ``output.fluent_wrong``: a well-formed wrong answer, an entity of the answer's type;
- ``output.degenerate``: anything else: nothing, end-of-text, a token repeated
  :data:`REPEAT` times in a row, or text that is not an entity of the right type.

``output.entropy`` is the entropy (nats) of the next-token distribution after the
prompt, in ``value``, with the uniform distribution's entropy as its ``chance``.
``output.prefers_refusal`` is true when some refusal of :data:`REFUSALS` is more likely
(summed log-probability, ``"."`` included) than the true answer after the question; its
``value`` is the best refusal's log-probability minus the answer's (what refusal
preference training such as ``idk_dpo`` raises).
Negative methods (gradient ascent) tend to make output degenerate; positive ones
(refusal training) make it refuse; a method that only moves the answer makes it
fluently wrong.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearnlab.corpus.templates import REFUSALS, render
from unlearnlab.probes.decoding import Generation, greedy_decode
from unlearnlab.probes.hidden import states_at
from unlearnlab.probes.knowledge import QueryIndex
from unlearnlab.probes.registry import FORGET_UNDERIVABLE, SuiteInputs, probes
from unlearnlab.probes.results import ProbeRow
from unlearnlab.probes.scoring import rank_answers
from unlearnlab.worlds.kg import Fact, World

REFUSAL_MARKERS = tuple(
    sorted(
        {r.lower() for r in REFUSALS}
        | {
            "i do not know",
            "i don't remember",
            "i can't",
            "i cannot",
            "i'm not sure",
            "i'm sorry",
            "no idea",
            "unknown",
            "not known",
        }
    )
)
"""An answer that contains one of these (lower-cased) is a refusal: the refusals that
refusal training teaches (:data:`unlearnlab.corpus.templates.REFUSALS`) and common others."""
REPEAT = 3
"""A token repeated this many times in a row makes an output degenerate."""

Kind = Literal["correct", "refusal", "fluent_wrong", "degenerate"]
KINDS: tuple[Kind, ...] = ("correct", "refusal", "fluent_wrong", "degenerate")


def is_refusal(text: str) -> bool:
    """Whether ``text`` contains a refusal template (case and curly quotes ignored)."""
    normal = " ".join(text.lower().replace("\u2019", "'").split())
    return any(marker in normal for marker in REFUSAL_MARKERS)


def _repeats(ids: Sequence[int]) -> bool:
    return any(len(set(ids[i : i + REPEAT])) == 1 for i in range(len(ids) - REPEAT + 1))


def classify(generation: Generation, valid: frozenset[str], pool: frozenset[str]) -> Kind:
    """The class of one answer, given the correct answers and the entities of its type."""
    answer = generation.text.strip().removesuffix(".").strip()
    if answer in valid:
        return "correct"
    if is_refusal(answer):
        return "refusal"
    if not answer or _repeats(generation.token_ids):
        return "degenerate"
    return "fluent_wrong" if answer in pool else "degenerate"


def entropy(logp: torch.Tensor) -> torch.Tensor:
    """Entropy in nats of each row of log-probabilities: (n, vocab) -> (n,)."""
    return -(logp.exp() * logp).nan_to_num().sum(-1)


def output_rows(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    world: World,
    facts: Sequence[Fact],
    index: QueryIndex,
    *,
    split: str,
    max_new_tokens: int = 12,
) -> list[ProbeRow]:
    """One row per fact and ``output.*`` probe (see the module docstring)."""
    if not facts:
        return []
    questions = [(f, index.texts[f.relation]) for f in facts]
    texts = [render(f, text, text.question()).prompt for f, text in questions]
    generations = greedy_decode(model, tokenizer, texts, max_new_tokens=max_new_tokens, stop=["."])
    _, logp = states_at(model, tokenizer, texts, [1] * len(texts))
    entropies = entropy(logp).tolist()  # (n,)
    answers = [render(f, text, text.question()).answer for f, text in questions]
    preferences = rank_answers(
        model,
        tokenizer,
        texts,
        answers,
        [(*REFUSALS, answer) for answer in answers],
        suffix=".",
    )
    rows = []
    for fact, generation, h, preference in zip(
        facts, generations, entropies, preferences, strict=True
    ):
        pool = frozenset(index.candidates(fact, world.entity_types)) | index.valid_answers(fact)
        kind = classify(generation, index.valid_answers(fact), pool)
        item = str(fact)
        for name in KINDS:
            rows.append(ProbeRow(f"output.{name}", "question", split, item, kind == name))
        uniform = math.log(logp.shape[-1])
        rows.append(
            ProbeRow("output.entropy", "question", split, item, False, value=h, chance=uniform)
        )
        margin = max(preference.scores[:-1]) - preference.scores[-1]
        rows.append(
            ProbeRow("output.prefers_refusal", "question", split, item, margin > 0, value=margin)
        )
    return rows


CORRECT = "output.correct"
REFUSAL = "output.refusal"
FLUENT_WRONG = "output.fluent_wrong"
DEGENERATE = "output.degenerate"
ENTROPY = "output.entropy"
PREFERS_REFUSAL = "output.prefers_refusal"


@probes(
    "output",
    {
        CORRECT: "the greedy answer to the question is a correct one",
        REFUSAL: "the greedy answer is a refusal, such as 'I don't know'",
        FLUENT_WRONG: "the greedy answer is a wrong entity of the answer's type",
        DEGENERATE: "the greedy answer is empty, repetitive or not an entity of its type",
        ENTROPY: "entropy (nats) of the next token after the question, in value",
        PREFERS_REFUSAL: "a refusal is more likely than the true answer (margin in value)",
    },
)
def output_suite(inputs: SuiteInputs, earlier: Sequence[ProbeRow]) -> list[ProbeRow]:
    """The output probes on the forget targets (and the underivable ones, where drawn)."""
    return [
        row
        for split in ("forget", FORGET_UNDERIVABLE)
        for row in output_rows(
            inputs.model,
            inputs.tokenizer,
            inputs.world,
            inputs.facts.get(split, []),
            inputs.index,
            split=split,
        )
    ]
