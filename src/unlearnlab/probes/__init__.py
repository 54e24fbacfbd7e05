"""Probes: batched scoring and decoding; recall, re-derivation and retention build on it."""

from unlearnlab.probes.scoring import (
    AnswerScore,
    Generation,
    Ranking,
    answer_logprobs,
    greedy_decode,
    rank_answers,
    score_answers,
)

__all__ = [
    "AnswerScore",
    "Generation",
    "Ranking",
    "answer_logprobs",
    "greedy_decode",
    "rank_answers",
    "score_answers",
]
