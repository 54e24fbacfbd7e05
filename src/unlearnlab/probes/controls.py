"""Controls for in-context re-derivation: is an answer ranked after premises in context
known or reasoned, or copied from the premises?

Each control derives from the ``rederive.in_context`` items of a split
(:func:`~unlearnlab.probes.rederivation.in_context_queries`). Stable names:

- ``rederive.in_context_copy``: the copy-the-last-name baseline, no model: correct when
  the last candidate named before the conclusion is the answer. Where it is near 100%,
  ``rederive.in_context`` cannot tell reasoning from copying.
- ``rederive.in_context_counterfactual``: the same premises with the answer's name
  replaced throughout by another candidate's, so that they imply a wrong answer; the
  true answer is ranked. A model that knows the fact keeps it, a copier follows the
  premises.
- ``rederive.in_context_other``: the next item's premises before this item's question
  and conclusion; the true answer is ranked. Premises that say nothing about the item
  leave only what the model knows.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from unlearnlab.corpus.corpus import cot_conclusion_prefix, cot_prompt
from unlearnlab.probes.knowledge import QueryIndex
from unlearnlab.probes.recall import Query
from unlearnlab.probes.results import ProbeRow


def _name_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(name)}(?!\w)")


def last_named(text: str, names: Sequence[str]) -> str | None:
    """The name of ``names`` whose last whole-word mention in ``text`` ends last (the
    longer name on a tie, so "Al Li" inside "Al Lin" never counts); None if none is."""
    best: tuple[int, int, str] | None = None
    for name in names:
        for match in _name_pattern(name).finditer(text):
            key = (match.end(), len(name), name)
            if best is None or key > best:
                best = key
    return None if best is None else best[2]


def _premises(query: Query, index: QueryIndex) -> str:
    text = index.texts[query.fact.relation]
    start, end = cot_prompt(query.fact, text), cot_conclusion_prefix(query.fact, text)
    return query.prompt.removeprefix(start).removesuffix(end).strip()


def copy_rows(queries: Sequence[Query], index: QueryIndex, split: str) -> list[ProbeRow]:
    """``rederive.in_context_copy``: the last candidate named in each item's premises."""
    return [
        ProbeRow(
            probe="rederive.in_context_copy",
            format=q.format,
            split=split,
            item=str(q.fact),
            correct=last_named(_premises(q, index), q.candidates) == q.answer,
            chance=1.0 / len(q.candidates),
        )
        for q in queries
    ]


def counterfactual_queries(queries: Sequence[Query], seed: int) -> list[Query]:
    """Each item with its answer's name replaced in the prompt by a candidate the prompt
    does not name (drawn with ``seed``); items without such a candidate are skipped."""
    out = []
    for q in queries:
        free = [c for c in q.candidates if c != q.answer and not _name_pattern(c).search(q.prompt)]
        if not free:
            continue
        other = random.Random(f"{seed}:counterfactual:{q.fact}").choice(free)
        prompt = _name_pattern(q.answer).sub(other, q.prompt)
        out.append(Query(q.fact, "counterfactual", prompt, q.answer, q.candidates))
    return out


def other_premise_queries(queries: Sequence[Query], index: QueryIndex) -> list[Query]:
    """Each item asked after the next item's premises (cyclically); none for one item."""
    if len(queries) < 2:
        return []
    out = []
    for q, other in zip(queries, [*queries[1:], queries[0]], strict=True):
        text = index.texts[q.fact.relation]
        parts = (
            cot_prompt(q.fact, text),
            _premises(other, index),
            cot_conclusion_prefix(q.fact, text),
        )
        out.append(Query(q.fact, "other_premises", " ".join(parts), q.answer, q.candidates))
    return out
