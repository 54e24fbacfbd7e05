"""Recall probes: does the model still know a fact, in which phrasing?

Each probe turns facts into :class:`Query` items (a prompt, the true answer and the
candidates it is ranked against) and scores them all through the scoring engine's
filtered likelihood ranking (:func:`~unlearnlab.probes.scoring.rank_answers`, with the
answer followed by ``"."`` so that a candidate sharing the truth's first token is not
recall). Formats, by their stable names:

- ``recall.cloze_train``: a training phrasing ("The mother of Bea Lee is");
- ``recall.cloze_heldout``: a phrasing never trained for the relation;
- ``recall.question``: "Q: Who is the mother of Bea Lee? A:";
- ``recall.mcq_letter`` / ``recall.mcq_text``: the question with four options, answered by
  the option's label or by its full text; distractors are entities of the answer's type
  that are not correct answers, drawn and shuffled deterministically per fact and seed.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearnlab.corpus.templates import MCQ_LABELS, RelationText, Template, mcq_prompt, render
from unlearnlab.errors import UserError
from unlearnlab.probes.knowledge import QueryIndex
from unlearnlab.probes.registry import DEEP_UNDERIVABLE, FACT_SPLITS, SuiteInputs, probes
from unlearnlab.probes.results import ProbeRow
from unlearnlab.probes.scoring import rank_answers
from unlearnlab.worlds.kg import Fact, World


@dataclass(frozen=True)
class Query:
    """One ranked question: ``answer`` is ranked among ``candidates`` after ``prompt``."""

    fact: Fact
    format: str
    prompt: str
    answer: str
    candidates: tuple[str, ...]


def _pick(fact: Fact, options: Sequence[Template], k: int, seed: int) -> list[Template]:
    """``k`` of ``options`` (all of them when ``k`` is 0), rotated by fact and seed."""
    if k == 0 or k >= len(options):
        return list(options)
    start = random.Random(f"{seed}:{fact}").randrange(len(options))
    return [options[(start + i) % len(options)] for i in range(k)]


def cloze_queries(
    world: World,
    facts: Sequence[Fact],
    frames: Callable[[RelationText], Sequence[Template]],
    index: QueryIndex,
    *,
    per_fact: int = 0,
    seed: int = 0,
) -> list[Query]:
    """Cloze items in ``frames`` of each relation (``per_fact`` of them, 0 = all)."""
    queries = []
    for fact in facts:
        text = index.texts[fact.relation]
        candidates = tuple(index.candidates(fact, world.entity_types))
        for template in _pick(fact, frames(text), per_fact, seed):
            r = render(fact, text, template)
            queries.append(Query(fact, template.name, r.prompt, r.answer, candidates))
    return queries


def question_queries(world: World, facts: Sequence[Fact], index: QueryIndex) -> list[Query]:
    """Question-form items ("Q: Who is the mother of X? A:")."""
    return cloze_queries(world, facts, lambda t: (t.question(),), index)


def option_labels(tokenizer: PreTrainedTokenizerBase, avoid: set[str]) -> tuple[str, ...]:
    """Four option labels, each one known token: A-D, or else (a word-level tokenizer built
    from a world's corpus may lack them) the first four known whole words of the
    vocabulary, by token id, that are not in ``avoid`` (the words of entity names)."""

    def known(word: str) -> bool:
        ids = tokenizer(word, add_special_tokens=False)["input_ids"]
        return len(ids) == 1 and ids[0] != tokenizer.unk_token_id

    if all(known(label) for label in MCQ_LABELS):
        return MCQ_LABELS
    vocabulary = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    words = [tokenizer.convert_tokens_to_string([t]).strip() for t, _ in vocabulary]
    labels = [w for w in words if w.isalpha() and w not in avoid and known(w)]
    if len(labels) < len(MCQ_LABELS):
        raise UserError("the tokenizer knows fewer than four words to label options with")
    return tuple(labels[: len(MCQ_LABELS)])


def mcq_queries(
    world: World,
    facts: Sequence[Fact],
    index: QueryIndex,
    labels: Sequence[str],
    by: Literal["letter", "text"],
    *,
    seed: int = 0,
) -> list[Query]:
    """Multiple-choice items with up to ``len(labels)`` options: the truth and distractors
    of its type, drawn and ordered by a generator seeded with ``seed`` and the fact."""
    queries = []
    for fact in facts:
        text = index.texts[fact.relation]
        question = render(fact, text, text.question())
        rng = random.Random(f"{seed}:{fact}")
        pool = [c for c in index.candidates(fact, world.entity_types) if c != question.answer]
        options = [question.answer, *rng.sample(pool, min(len(labels) - 1, len(pool)))]
        rng.shuffle(options)
        prompt = mcq_prompt(question.prompt, tuple(labels), options)
        if by == "letter":
            answer = labels[options.index(question.answer)]
            candidates = tuple(labels[: len(options)])
        else:
            answer, candidates = question.answer, tuple(options)
        queries.append(Query(fact, by, prompt, answer, candidates))
    return queries


def rank_queries(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    queries: Sequence[Query],
    *,
    probe: str,
    split: str,
) -> list[ProbeRow]:
    """Rank every query's answer among its candidates; one row per query."""
    if not queries:
        return []
    rankings = rank_answers(
        model,
        tokenizer,
        [q.prompt for q in queries],
        [q.answer for q in queries],
        [q.candidates for q in queries],
        suffix=".",
        reuse_prompt=True,
    )
    return [
        ProbeRow(
            probe=probe,
            format=q.format,
            split=split,
            item=str(q.fact),
            correct=r.correct,
            rank=r.rank,
            logprob=r.scores[q.candidates.index(q.answer)],
            probability=r.probability,
            chance=1.0 / len(q.candidates),
        )
        for q, r in zip(queries, rankings, strict=True)
    ]


CLOZE_TRAIN = "recall.cloze_train"
CLOZE_HELDOUT = "recall.cloze_heldout"
QUESTION = "recall.question"
MCQ_LETTER = "recall.mcq_letter"
MCQ_TEXT = "recall.mcq_text"


@probes(
    "recall",
    {
        CLOZE_TRAIN: 'a training phrasing ("The mother of Bea Lee is"), answer ranked',
        CLOZE_HELDOUT: "a phrasing never trained for the relation, answer ranked",
        QUESTION: '"Q: Who is the mother of Bea Lee? A:", answer ranked',
        MCQ_LETTER: "the question with four options, answered by the option's label",
        MCQ_TEXT: "the question with four options, answered by the option's text",
    },
)
def recall_suite(inputs: SuiteInputs, earlier: Sequence[ProbeRow]) -> list[ProbeRow]:
    """Every recall probe on every split of stated facts, split by split."""
    model, tokenizer, world, index = inputs.model, inputs.tokenizer, inputs.world, inputs.index
    seed, per_fact = inputs.config.seed, inputs.config.frames_per_fact
    labels = option_labels(tokenizer, {w for e in world.entity_types for w in e.split()})
    rows: list[ProbeRow] = []

    def rank(probe: str, split: str, queries: list[Query]) -> None:
        rows.extend(rank_queries(model, tokenizer, queries, probe=probe, split=split))

    for split in FACT_SPLITS:
        facts = inputs.facts[split]
        train = cloze_queries(
            world, facts, lambda t: t.training_frames(), index, per_fact=per_fact, seed=seed
        )
        rank(CLOZE_TRAIN, split, train)
        heldout = cloze_queries(
            world, facts, lambda t: t.heldout_frames(), index, per_fact=per_fact, seed=seed
        )
        rank(CLOZE_HELDOUT, split, heldout)
        rank(QUESTION, split, question_queries(world, facts, index))
        rank(MCQ_LETTER, split, mcq_queries(world, facts, index, labels, "letter", seed=seed))
        rank(MCQ_TEXT, split, mcq_queries(world, facts, index, labels, "text", seed=seed))
    floor = inputs.facts.get(DEEP_UNDERIVABLE, [])
    train = cloze_queries(
        world, floor, lambda t: t.training_frames(), index, per_fact=per_fact, seed=seed
    )
    rank(CLOZE_TRAIN, DEEP_UNDERIVABLE, train)
    rank(QUESTION, DEEP_UNDERIVABLE, question_queries(world, floor, index))
    return rows
