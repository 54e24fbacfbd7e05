"""Probes: batched scoring and decoding; recall, re-derivation and retention build on it.

Every module of this package is imported here, so that its probes register
(:mod:`unlearnlab.probes.registry`): adding a probe is adding one file.
"""

from unlearnlab.probes.decoding import Generation, greedy_decode
from unlearnlab.probes.registry import discover
from unlearnlab.probes.scoring import (
    AnswerScore,
    Ranking,
    answer_logprobs,
    rank_answers,
    score_answers,
)

discover(__path__, __name__)

__all__ = [
    "AnswerScore",
    "Generation",
    "Ranking",
    "answer_logprobs",
    "greedy_decode",
    "rank_answers",
    "score_answers",
]
