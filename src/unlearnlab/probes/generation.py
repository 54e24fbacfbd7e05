"""Memorisation metrics of the answer to a fact's question ("Q: Who is the mother of X?
A:"), as open-unlearning computes them. Stable probe names:

- ``gen.rouge_l``: ROUGE-L recall (Lin 2004) of the greedy answer (decoded up to the first
  ``"."``) against the true answer: the longest common subsequence of their words over
  the true answer's word count (TOFU reports the recall);
- ``gen.exact_memorization``: the share of answer tokens that are the model's most likely
  next token under teacher forcing (Tirumala et al. 2022);
- ``gen.extraction_strength``: ``1 - k / |a|`` for the shortest prefix ``k`` of the
  answer after which the model's greedy predictions give the whole rest of the answer
  (0 when even the last token is missed; Carlini et al. 2021, as open-unlearning
  defines it).

Teacher-forced answers are scored with their closing ``"."``, as the corpus ends them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from unlearnlab.probes.decoding import greedy_decode
from unlearnlab.probes.registry import SuiteInputs, member_facts, probes
from unlearnlab.probes.results import ProbeRow
from unlearnlab.probes.tokens import answer_token_stats


def words(text: str) -> list[str]:
    """Lower-cased words of ``text`` (runs of letters and digits)."""
    return re.findall(r"[a-z0-9]+", text.lower())


def rouge_l_recall(generated: str, reference: str) -> float:
    """ROUGE-L recall: the longest common word subsequence over the reference's length."""
    gen, ref = words(generated), words(reference)
    if not ref:
        raise ValueError("the reference has no words")
    lcs = [0] * (len(gen) + 1)  # lcs[j]: LCS of the reference so far with gen[:j]
    for r in ref:
        previous = 0
        for j, g in enumerate(gen, start=1):
            diagonal, previous = previous, lcs[j]
            lcs[j] = diagonal + 1 if r == g else max(lcs[j], lcs[j - 1])
    return lcs[-1] / len(ref)


def exact_memorization(hits: Sequence[bool]) -> float:
    """The share of answer tokens predicted by the model's argmax."""
    return sum(hits) / len(hits)


def extraction_strength(hits: Sequence[bool]) -> float:
    """``1 - k / n``, ``k`` the shortest prefix after which every prediction hits."""
    n = len(hits)
    k = next((k for k in range(n) if all(hits[k:])), n)
    return 1 - k / n


ROUGE_L = "gen.rouge_l"
EXACT_MEMORIZATION = "gen.exact_memorization"
EXTRACTION_STRENGTH = "gen.extraction_strength"


@probes(
    "gen",
    {
        ROUGE_L: "ROUGE-L recall of the greedy answer against the true answer, in value",
        EXACT_MEMORIZATION: "share of answer tokens the model's argmax predicts, in value",
        EXTRACTION_STRENGTH: "1 - (shortest answer prefix that extracts the rest) / length",
    },
)
def generation_suite(inputs: SuiteInputs, earlier: Sequence[ProbeRow]) -> list[ProbeRow]:
    """The memorisation metrics on the forget targets and the holdout."""
    model, tokenizer = inputs.model, inputs.tokenizer
    rows: list[ProbeRow] = []
    for split, facts in member_facts(inputs).items():
        questions = [inputs.index.question(f) for f in facts]
        prompts = [q.prompt for q in questions]
        generations = greedy_decode(model, tokenizer, prompts, max_new_tokens=12, stop=["."])
        stats = answer_token_stats(model, tokenizer, prompts, [f"{q.answer}." for q in questions])
        for fact, q, g, s in zip(facts, questions, generations, stats, strict=True):
            item = str(fact)
            rouge = rouge_l_recall(g.text, q.answer)
            em = exact_memorization(s.hits)
            es = extraction_strength(s.hits)
            rows += [
                ProbeRow(ROUGE_L, "question", split, item, rouge == 1, value=rouge),
                ProbeRow(EXACT_MEMORIZATION, "question", split, item, em == 1, value=em),
                ProbeRow(EXTRACTION_STRENGTH, "question", split, item, es == 1, value=es),
            ]
    return rows
