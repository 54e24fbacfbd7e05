"""Probes of benchmark items (:mod:`unlearnlab.corpus.items`) on any causal LM: what
``unlearnlab audit`` measures on every model it is given.

- ``item.rank``: the right answer ranked by length-normalised log-likelihood (mean over
  its tokens, so long and short answers compete fairly) against the item's wrong
  answers: its perturbed answers, its other options, or, for items with neither, the
  answers of up to three other items of its file (:func:`wrong_answers`);
- ``item.paraphrase``: each paraphrased answer ranked against the same wrong answers;
- ``item.letter``: multiple choice by letter, the options listed under the question;
- ``item.generate``: the greedy answer, scored by ROUGE-L recall of the right answer's
  words (``value``) and by whether it contains the answer (``correct``).

Prompts come from a :class:`Prompter`: the checkpoint's chat template, or a template with
``{question}`` (default :data:`DEFAULT_PROMPT`).
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearnlab.corpus.items import BenchItem
from unlearnlab.errors import UserError
from unlearnlab.models.data import continuation
from unlearnlab.probes.decoding import greedy_decode
from unlearnlab.probes.results import ProbeRow
from unlearnlab.probes.scoring import EncodedRanking, encode_ranking, rank_encoded

DEFAULT_PROMPT = "Question: {question}\nAnswer:"
"""The prompt of checkpoints without a chat template."""
ITEM_PROBES = {
    "item.rank": "right answer ranked against the item's wrong answers (mean log-likelihood)",
    "item.paraphrase": "paraphrased right answer ranked against the same wrong answers",
    "item.letter": "multiple choice by letter, the options listed under the question",
    "item.generate": "greedy answer: ROUGE-L recall of the right answer, and containment",
}
"""Every item probe's stable name and one-line description."""
OTHER_ANSWERS = 3
"""Wrong answers drawn from other items for an item that has none of its own."""


@dataclass(frozen=True)
class Prompter:
    """How questions become prompts, and answers the text that follows them."""

    template: str | None
    """A template with ``{question}``; None: the tokenizer's chat template."""
    tokenizer: PreTrainedTokenizerBase

    def prompt(self, question: str) -> str:
        """The prompt of ``question`` (a chat template's leading bos is left to the
        tokenizer, which adds it when encoding)."""
        if self.template is not None:
            return self.template.format(question=question)
        chat = [{"role": "user", "content": question}]
        text = str(
            self.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        )
        bos = self.tokenizer.bos_token
        return text.removeprefix(bos) if bos and self._adds_bos() else text

    def _adds_bos(self) -> bool:
        ids = self.tokenizer("x", add_special_tokens=True)["input_ids"]
        return bool(ids) and ids[0] == self.tokenizer.bos_token_id

    def answer(self, text: str, prompt: str) -> str:
        """``text`` as it follows ``prompt``: after a space unless the prompt ends in
        whitespace (sub-word tokenizers mark the space inside the answer's first token)."""
        return continuation(prompt, text)


def prompter(tokenizer: PreTrainedTokenizerBase, template: str | None) -> Prompter:
    """The prompter of ``tokenizer``: ``template`` if given, else the tokenizer's chat
    template when it has one, else :data:`DEFAULT_PROMPT`."""
    if template is not None:
        check_template(template)
        return Prompter(template, tokenizer)
    if getattr(tokenizer, "chat_template", None):
        return Prompter(None, tokenizer)
    return Prompter(DEFAULT_PROMPT, tokenizer)


def check_template(template: str) -> str:
    """``template`` if it has ``{question}`` and no other field; a :class:`UserError`
    otherwise."""
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise UserError(f"--prompt {template!r}: {exc}; write braces as {{{{ and }}}}") from None
    if fields != {"question"}:
        raise UserError(
            f"--prompt {template!r} must contain {{question}} and no other field, e.g. "
            f"{DEFAULT_PROMPT!r}"
        )
    return template


Wrong = dict[str, tuple[str, tuple[str, ...]]]
"""Per item id: where its wrong answers come from, and the wrong answers."""


def wrong_answers(items: Sequence[BenchItem], seed: int = 0) -> Wrong:
    """Per item id: ``(source, wrong answers)``: ``perturbed``, ``choices`` (the other
    options), or ``others`` (up to :data:`OTHER_ANSWERS` answers of other items, drawn
    with ``seed``); items with no possible wrong answer are left out."""
    answers = sorted({i.answer for i in items})
    out: Wrong = {}
    for item in items:
        if item.perturbed_answers:
            out[item.id] = ("perturbed", item.perturbed_answers)
        elif item.choices:
            out[item.id] = ("choices", tuple(c for c in item.choices if c != item.answer))
        else:
            pool = [a for a in answers if a != item.answer and a not in item.paraphrased_answers]
            drawn = random.Random(f"{seed}:{item.id}").sample(pool, min(OTHER_ANSWERS, len(pool)))
            if drawn:
                out[item.id] = ("others", tuple(drawn))
    return out


@dataclass(frozen=True)
class Entry:
    """One ranking query: an item asked in one way."""

    item: BenchItem
    format: str
    """How it is asked (the rows' ``format``): the wrong answers' source, ``paraphrase``
    or ``letter``."""
    question: str
    answer: str
    wrong: tuple[str, ...]


def rank_entries(items: Sequence[BenchItem], wrong: Wrong) -> list[Entry]:
    """``item.rank``'s queries: each item's answer against its wrong answers."""
    return [
        Entry(i, wrong[i.id][0], i.question, i.answer, wrong[i.id][1])
        for i in items
        if i.id in wrong
    ]


def paraphrase_entries(items: Sequence[BenchItem], wrong: Wrong) -> list[Entry]:
    """``item.paraphrase``'s queries: each paraphrased answer against the wrong answers."""
    return [
        Entry(i, "paraphrase", i.question, p, wrong[i.id][1])
        for i in items
        if i.id in wrong
        for p in i.paraphrased_answers
        if p not in wrong[i.id][1]
    ]


def letter_entries(items: Sequence[BenchItem]) -> list[Entry]:
    """``item.letter``'s queries: the options listed under the question as ``A. ...``,
    the right letter against the others."""
    entries = []
    for item in items:
        if not item.choices or item.answer_index is None or len(item.choices) > 26:
            continue
        letters = string.ascii_uppercase[: len(item.choices)]
        listed = "\n".join(f"{k}. {c}" for k, c in zip(letters, item.choices, strict=True))
        right = letters[item.answer_index]
        others = tuple(k for k in letters if k != right)
        entries.append(Entry(item, "letter", f"{item.question}\n{listed}", right, others))
    return entries


@dataclass(frozen=True)
class ItemQueries:
    """Ranking queries tokenized once; :meth:`records` ranks them on any model that
    shares the tokenizer (the measurement attacks repeat at every curve point)."""

    entries: tuple[Entry, ...]
    ranking: EncodedRanking
    batch_size: int = 16

    @staticmethod
    def build(prompter: Prompter, entries: Sequence[Entry], batch_size: int = 16) -> ItemQueries:
        """Tokenize ``entries`` with ``prompter``'s tokenizer."""
        prompts = [prompter.prompt(e.question) for e in entries]
        answers = [prompter.answer(e.answer, p) for e, p in zip(entries, prompts, strict=True)]
        options = [
            [a, *(prompter.answer(w, p) for w in e.wrong)]
            for e, a, p in zip(entries, answers, prompts, strict=True)
        ]
        ranking = encode_ranking(prompter.tokenizer, prompts, answers, options)
        return ItemQueries(tuple(entries), ranking, batch_size)

    def records(self, model: PreTrainedModel) -> list[dict[str, Any]]:
        """One record per entry: the right answer's rank (1 = top), whether it is top-1,
        its probability over the candidates, its mean log-likelihood and chance."""
        if not self.entries:
            return []
        rankings = rank_encoded(
            model, self.ranking, length_normalized=True, batch_size=self.batch_size
        )
        return [
            {
                "fact": e.item.id,
                "template": e.format,
                "split": e.item.split,
                "rank": r.rank,
                "correct": r.correct,
                "probability": r.probability,
                "logprob": r.scores[0],
                "chance": 1.0 / len(r.scores),
            }
            for e, r in zip(self.entries, rankings, strict=True)
        ]


def words(text: str) -> list[str]:
    """Lower-cased word tokens of ``text`` (letters and digits)."""
    return re.findall(r"\w+", text.lower())


def rouge_l_recall(reference: str, candidate: str) -> float:
    """ROUGE-L recall: the longest common word subsequence of ``candidate`` and
    ``reference`` over the reference's length (Lin 2004), 0 for an empty reference."""
    ref, cand = words(reference), words(candidate)
    if not ref:
        return 0.0
    previous = [0] * (len(cand) + 1)
    for r in ref:
        current = [0]
        for j, c in enumerate(cand):
            current.append(previous[j] + 1 if r == c else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1] / len(ref)


def contains_answer(answer: str, generation: str) -> bool:
    """Whether the answer's words appear, in order and next to each other, in the
    generation's words."""
    needle, hay = " ".join(words(answer)), " ".join(words(generation))
    return bool(needle) and f" {needle} " in f" {hay} "


def generation_rows(
    model: PreTrainedModel,
    prompter: Prompter,
    items: Sequence[BenchItem],
    *,
    max_new_tokens: int,
    batch_size: int = 16,
) -> list[ProbeRow]:
    """``item.generate``: each item's greedy answer (ending at eos, a blank line or the
    next "Question:"), scored against its right answer."""
    prompts = [prompter.prompt(i.question) for i in items]
    generations = greedy_decode(
        model,
        prompter.tokenizer,
        prompts,
        max_new_tokens=max_new_tokens,
        stop=("\n\n", "\nQuestion:"),
        batch_size=batch_size,
    )
    return [
        ProbeRow(
            probe="item.generate",
            format=item.kind,
            split=item.split,
            item=item.id,
            correct=contains_answer(item.answer, g.text),
            value=rouge_l_recall(item.answer, g.text),
        )
        for item, g in zip(items, generations, strict=True)
    ]


def ranking_rows(probe: str, records: Sequence[Mapping[str, Any]]) -> list[ProbeRow]:
    """Rows of probe ``probe`` from :meth:`ItemQueries.records`."""
    return [
        ProbeRow(
            probe=probe,
            format=r["template"],
            split=r["split"],
            item=r["fact"],
            correct=bool(r["correct"]),
            rank=r["rank"],
            logprob=r["logprob"],
            probability=r["probability"],
            chance=r["chance"],
        )
        for r in records
    ]


def item_rows(
    model: PreTrainedModel,
    prompter: Prompter,
    items: Sequence[BenchItem],
    wrong: Wrong,
    *,
    max_new_tokens: int,
    batch_size: int = 16,
) -> list[ProbeRow]:
    """Every item probe on ``model``, in :data:`ITEM_PROBES` order."""
    rows: list[ProbeRow] = []
    for probe, entries in (
        ("item.rank", rank_entries(items, wrong)),
        ("item.paraphrase", paraphrase_entries(items, wrong)),
        ("item.letter", letter_entries(items)),
    ):
        queries = ItemQueries.build(prompter, entries, batch_size)
        rows += ranking_rows(probe, queries.records(model))
    rows += generation_rows(
        model, prompter, items, max_new_tokens=max_new_tokens, batch_size=batch_size
    )
    return rows


def item_pairs(prompter: Prompter, items: Sequence[BenchItem]) -> list[tuple[str, str]]:
    """(prompt, answer) training pairs of ``items``: what relearning trains on."""
    pairs = []
    for item in items:
        prompt = prompter.prompt(item.question)
        pairs.append((prompt, prompter.answer(item.answer, prompt)))
    return pairs
