"""Does a model know a fact, and can it re-derive one? Per-item probe records.

- :func:`recall_by_ranking`: the true answer ranked by likelihood against every entity of
  its type, in a given phrasing. Ranking is *filtered*: other correct answers to the same
  query (a second child, a second aunt) are removed from the candidates, so that a model
  is not punished for knowing them.
- :func:`chain_of_thought`: the model is asked for a chain of thought and must write the
  premises from memory and then the conclusion; scored on the conclusion (any correct
  answer, and the target's own answer) and on how many written premises are true.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearnlab.corpus.corpus import (
    answer_sets,
    cot_conclusion_prefix,
    cot_prompt,
    entities_by_type,
)
from unlearnlab.corpus.templates import (
    RelationText,
    Rendering,
    Template,
    relation_texts,
    render,
)
from unlearnlab.models.data import encode_answer
from unlearnlab.probes.decoding import greedy_decode
from unlearnlab.probes.scoring import (
    EncodedRanking,
    Ranking,
    encode_ranking,
    rank_encoded,
)
from unlearnlab.worlds.kg import Fact, World


@dataclass(frozen=True)
class QueryIndex:
    """Every correct answer of every (relation, given entity) query of a world."""

    texts: dict[str, RelationText]
    answers: dict[tuple[str, str], frozenset[str]]
    entities_by_type: dict[str, tuple[str, ...]]

    @staticmethod
    def build(world: World) -> QueryIndex:
        """Index the closure of ``world``."""
        texts = relation_texts(world)
        return QueryIndex(texts, answer_sets(world, texts), entities_by_type(world))

    def valid_answers(self, fact: Fact) -> frozenset[str]:
        """Every correct answer of the query ``fact`` is asked through."""
        text = self.texts[fact.relation]
        return self.answers.get((fact.relation, text.given(fact)), frozenset())

    def question(self, fact: Fact) -> Rendering:
        """``fact`` in its relation's question form ("Q: Who is the mother of X? A:")."""
        text = self.texts[fact.relation]
        return render(fact, text, text.question())

    def candidates(self, fact: Fact, entity_types: dict[str, str]) -> list[str]:
        """The entities of the answer's type, minus the other correct answers."""
        answer = self.texts[fact.relation].answer(fact)
        others = self.valid_answers(fact) - {answer}
        pool = self.entities_by_type.get(entity_types.get(answer, ""), (answer,))
        return [e for e in pool if e not in others]


@dataclass(frozen=True)
class RecallQueries:
    """Recall items (fact x phrasing) tokenized once; :meth:`records` ranks them on any
    model that shares the tokenizer (as :func:`recall_by_ranking` does)."""

    items: tuple[tuple[Fact, str], ...]
    """(fact, template name) of each item, in order."""
    ranking: EncodedRanking

    @staticmethod
    def build(
        tokenizer: PreTrainedTokenizerBase,
        world: World,
        facts: Sequence[Fact],
        phrasings: Callable[[RelationText], Sequence[Template]],
        *,
        index: QueryIndex | None = None,
        contexts: Mapping[Fact, str] | None = None,
    ) -> RecallQueries:
        """Items of ``facts`` in ``phrasings``, each prompt after its fact's text in
        ``contexts`` (if given) and a space."""
        index = index or QueryIndex.build(world)
        items, prompts, answers, candidates = [], [], [], []
        for fact in facts:
            text = index.texts[fact.relation]
            context = contexts[fact] if contexts is not None else ""
            for template in phrasings(text):
                rendering = render(fact, text, template)
                items.append((fact, template.name))
                prompts.append(f"{context} {rendering.prompt}".lstrip())
                answers.append(rendering.answer)
                candidates.append(index.candidates(fact, world.entity_types))
        ranking = encode_ranking(
            tokenizer, prompts, answers, candidates, suffix=".", reuse_prompt=True
        )
        return RecallQueries(tuple(items), ranking)

    def records(self, model: PreTrainedModel) -> list[dict[str, Any]]:
        """One record per item: rank of the true answer among filtered candidates (1 =
        top), whether it is top-1, its probability normalised over the candidates, and
        the chance level (1 / number of candidates)."""
        rankings = rank_encoded(model, self.ranking)
        return [
            recall_record(fact, template, ranking)
            for (fact, template), ranking in zip(self.items, rankings, strict=True)
        ]


def recall_by_ranking(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    world: World,
    facts: Sequence[Fact],
    phrasings: Callable[[RelationText], Sequence[Template]],
    *,
    index: QueryIndex | None = None,
) -> list[dict[str, Any]]:
    """One record per (fact, phrasing) (see :meth:`RecallQueries.records`)."""
    return RecallQueries.build(tokenizer, world, facts, phrasings, index=index).records(model)


def recall_record(fact: Fact, template: str, ranking: Ranking) -> dict[str, Any]:
    """The record of ``fact`` asked in phrasing ``template``: its answer's rank (1 = top),
    top-1 correctness, probability over the candidates and the chance level."""
    return {
        "fact": str(fact),
        "relation": fact.relation,
        "template": template,
        "rank": ranking.rank,
        "correct": ranking.correct,
        "probability": ranking.probability,
        "chance": 1.0 / len(ranking.scores),
    }


_SENTENCE = re.compile(r"(?<=\.)\s+")


def chain_of_thought(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    world: World,
    facts: Sequence[Fact],
    *,
    index: QueryIndex | None = None,
    max_new_tokens: int = 64,
    batch_size: int = 64,
    exclude_other_answers: bool = False,
) -> list[dict[str, Any]]:
    """One record per fact: the generated chain, its conclusion, whether the conclusion is
    a correct answer (``correct``) and the fact's own answer (``exact``), and how many of
    the written premises are true facts of the world.

    With ``exclude_other_answers`` the chain may not name the fact's *other* valid answers
    (their first tokens are banned from the greedy continuation), so a model that reasons
    perfectly reaches this fact's own answer even where a question has several (two
    aunts): the chain-of-thought analogue of recall's filtered candidates."""
    index = index or QueryIndex.build(world)
    texts = index.texts
    prompts = [cot_prompt(f, texts[f.relation]) for f in facts]
    banned = (
        [other_answer_tokens(tokenizer, f, index) for f in facts] if exclude_other_answers else None
    )
    generations = greedy_decode(
        model,
        tokenizer,
        prompts,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        banned=banned,
    )
    closure = world.closure()
    premise_readers = _premise_readers(texts)
    records = []
    for fact, generation in zip(facts, generations, strict=True):
        text = texts[fact.relation]
        prefix = cot_conclusion_prefix(fact, text)
        body, _, tail = generation.text.partition(prefix)
        conclusion = tail.strip().removesuffix(".").strip() if tail else None
        premises = [s for s in _SENTENCE.split(body.strip()) if s]
        read = [_read_premise(s, premise_readers) for s in premises]
        records.append(
            {
                "fact": str(fact),
                "relation": fact.relation,
                "generation": generation.text,
                "conclusion": conclusion,
                "correct": conclusion in index.valid_answers(fact),
                "exact": conclusion == text.answer(fact),
                "premises_written": len(premises),
                "premises_true": sum(1 for p in read if p is not None and p in closure),
            }
        )
    return records


def other_answer_tokens(
    tokenizer: PreTrainedTokenizerBase, fact: Fact, index: QueryIndex
) -> set[int]:
    """First tokens of ``fact``'s other valid answers (with and without a leading space,
    for sub-word tokenizers), less any token of its own answer."""
    answer = index.texts[fact.relation].answer(fact)
    own = {t for text in (answer, f" {answer}") for t in encode_answer(tokenizer, text)}
    first = {
        ids[0]
        for other in index.valid_answers(fact) - {answer}
        for text in (other, f" {other}")
        if (ids := encode_answer(tokenizer, text))
    }
    return first - own


_Reader = tuple[re.Pattern[str], RelationText, bool]


def _premise_readers(texts: dict[str, RelationText]) -> list[_Reader]:
    """Patterns that read a premise sentence back into a fact: the canonical phrasing
    ("The noun of GIVEN is ANSWER.") and, for person relations, the converse."""
    readers = []
    for text in texts.values():
        noun = re.escape(text.noun)
        readers.append((re.compile(rf"^The {noun} of (.+) is (.+)\.$"), text, False))
        if text.asks_subject:
            readers.append((re.compile(rf"^(.+) is the {noun} of (.+)\.$"), text, True))
    return readers


def _read_premise(sentence: str, readers: list[_Reader]) -> Fact | None:
    for pattern, text, converse in readers:
        match = pattern.match(sentence.strip())
        if match is None:
            continue
        first, second = match.groups()
        if converse:
            return Fact(first, text.relation, second)
        return (
            Fact(second, text.relation, first)
            if text.asks_subject
            else Fact(first, text.relation, second)
        )
    return None
