"""Where models are scored: log-likelihoods of answers and rankings of candidates (greedy
decoding is in :mod:`unlearnlab.probes.decoding`).

Prompts are encoded with the tokenizer's special prefix (bos) and answers without it, and
the two id lists are concatenated (see :func:`~unlearnlab.models.data.encode_answer`), the
same convention as training on (prompt, answer) pairs. Every candidate of a prompt is
therefore scored after the same prompt tokens, and a multi-token answer counts only if
all its tokens are likely: sharing a first token with the truth is not enough.

Batches are padded (left by default, right on request) with attention masks and position
ids that follow the mask, so a padded row scores like the same row alone.
"""

from __future__ import annotations

import hashlib
import math
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearnlab.errors import UserError
from unlearnlab.models.data import continuation, encode_answer, encode_prompt
from unlearnlab.probes.candidates import PackedCandidates, pack_candidates, packed_logprobs

Side = Literal["left", "right"]


@dataclass(frozen=True)
class AnswerScore:
    """Teacher-forced log-likelihood of one answer given its prompt (natural log)."""

    logprob: float
    """Sum of the answer tokens' log-probabilities."""
    mean_logprob: float
    """``logprob / n_tokens``."""
    n_tokens: int
    """Number of answer tokens scored."""


@dataclass(frozen=True)
class Ranking:
    """Where the true answer lands among the candidates of one prompt."""

    rank: int
    """1 + number of other candidates scoring at least as high (ties count against it)."""
    probability: float
    """Probability of the true answer, normalised over the candidates (softmax of scores)."""
    correct: bool
    """True exactly when the true answer scores strictly higher than every other one."""
    scores: list[float]
    """Score of every candidate, in the order given."""


def model_device(model: PreTrainedModel) -> torch.device:
    """The device ``model``'s weights are on."""
    return next(model.parameters()).device


def pad_rows(
    rows: Sequence[Sequence[int]], pad_id: int, side: Side, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pad ``rows`` to one length: ``(ids, attention_mask, position_ids)``, each (batch, seq).

    Position ids count only real tokens, so left padding does not shift positions.
    """
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)  # (batch, seq)
    mask = torch.zeros((len(rows), width), dtype=torch.long)  # (batch, seq)
    for i, row in enumerate(rows):
        start = width - len(row) if side == "left" else 0
        ids[i, start : start + len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, start : start + len(row)] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)  # (batch, seq)
    return ids.to(device), mask.to(device), positions.to(device)


def _check_pairs(prompt_ids: Sequence[Sequence[int]], answer_ids: Sequence[Sequence[int]]) -> None:
    if len(prompt_ids) != len(answer_ids):
        raise UserError(f"got {len(prompt_ids)} prompts but {len(answer_ids)} answers; pair them")
    for i, (p, a) in enumerate(zip(prompt_ids, answer_ids, strict=True)):
        if not p or not a:
            part = "prompt" if not p else "answer"
            raise UserError(f"item {i}: the {part} encodes to no tokens; give non-empty text")


@torch.inference_mode()
def answer_logprobs(
    model: PreTrainedModel,
    prompt_ids: Sequence[Sequence[int]],
    answer_ids: Sequence[Sequence[int]],
    *,
    pad_id: int,
    batch_size: int = 64,
    padding_side: Side = "left",
) -> list[AnswerScore]:
    """Log-likelihood of each ``answer_ids[i]`` following ``prompt_ids[i]``, in batches.

    Rows are batched by length (longest first) to waste little padding; results come back
    in input order.
    """
    _check_pairs(prompt_ids, answer_ids)
    model.eval()
    device = model_device(model)
    order = sorted(range(len(prompt_ids)), key=lambda i: -(len(prompt_ids[i]) + len(answer_ids[i])))
    results: dict[int, AnswerScore] = {}
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        rows = [[*prompt_ids[i], *answer_ids[i]] for i in chunk]
        ids, mask, positions = pad_rows(rows, pad_id, padding_side, device)
        width = ids.shape[1]
        # Logits are needed from the token before the earliest answer start onwards.
        first = min(
            (width - len(r) if padding_side == "left" else 0) + len(prompt_ids[i]) - 1
            for r, i in zip(rows, chunk, strict=True)
        )
        keep = width - first
        logits = model(
            input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=keep
        ).logits  # (batch, keep, vocab)
        logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)  # (batch, keep - 1, vocab)
        targets = ids[:, first + 1 :]  # (batch, keep - 1)
        token_logp = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (batch, keep - 1)
        for row, (seq, i) in enumerate(zip(rows, chunk, strict=True)):
            end = width if padding_side == "left" else len(seq)
            n = len(answer_ids[i])
            total = token_logp[row, end - n - first - 1 : end - first - 1].sum().item()
            results[i] = AnswerScore(logprob=total, mean_logprob=total / n, n_tokens=n)
    return [results[i] for i in range(len(prompt_ids))]


def score_answers(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    answers: Sequence[str],
    *,
    batch_size: int = 64,
    padding_side: Side = "left",
) -> list[AnswerScore]:
    """Log-likelihood of each answer text after its prompt text (see :func:`answer_logprobs`)."""
    return answer_logprobs(
        model,
        [encode_prompt(tokenizer, p) for p in prompts],
        [
            encode_answer(tokenizer, continuation(p, a))
            for p, a in zip(prompts, answers, strict=True)
        ],
        pad_id=pad_token_id(tokenizer),
        batch_size=batch_size,
        padding_side=padding_side,
    )


def pad_token_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """The id that pads batches: the tokenizer's pad token, else its eos token."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad is None:
        raise UserError("the tokenizer has neither a pad nor an eos token; set tokenizer.pad_token")
    return int(pad)


@dataclass(frozen=True)
class EncodedRanking:
    """Ranking queries tokenized (and, for one-pass scoring, packed) once, to be scored on
    any model that shares the tokenizer (see :func:`rank_encoded`)."""

    prompt_ids: list[list[int]]
    option_ids: list[list[list[int]]]
    """Each prompt's candidates, suffix included, tokenized as answers."""
    truth: list[int]
    """Index of the true answer among each prompt's candidates."""
    pad_id: int
    packed: PackedCandidates | None
    """The prompts and candidates as prefix-tree rows (with ``reuse_prompt``), else None."""


ENCODED_CACHE = 256
"""Encoded rankings kept per process (:func:`encode_ranking`): every model of a run is
asked the same queries, so each is tokenized and packed once."""
_encoded: OrderedDict[tuple, EncodedRanking] = OrderedDict()
_tokenizer_keys: weakref.WeakKeyDictionary[PreTrainedTokenizerBase, str] = (
    weakref.WeakKeyDictionary()
)


def tokenizer_key(tokenizer: PreTrainedTokenizerBase) -> str:
    """A digest of everything that decides how ``tokenizer`` encodes text (its whole
    serialisation, special tokens included), computed once per tokenizer object."""
    key = _tokenizer_keys.get(tokenizer)
    if key is None:
        backend = getattr(tokenizer, "backend_tokenizer", None)
        text = backend.to_str() if backend is not None else repr(sorted(tokenizer.get_vocab()))
        text += repr(
            (
                type(tokenizer).__name__,
                tokenizer.bos_token,
                getattr(tokenizer, "add_bos_token", None),
            )
        )
        key = hashlib.sha256(text.encode("utf-8")).hexdigest()
        _tokenizer_keys[tokenizer] = key
    return key


def encode_ranking(
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    answers: Sequence[str],
    candidates: Sequence[Sequence[str]],
    *,
    suffix: str = "",
    reuse_prompt: bool = False,
) -> EncodedRanking:
    """The queries of :func:`rank_answers`, checked and tokenized; the same queries with a
    tokenizer that encodes alike are answered from a bounded cache (:data:`ENCODED_CACHE`)."""
    key = (
        tokenizer_key(tokenizer),
        tuple(prompts),
        tuple(answers),
        tuple(map(tuple, candidates)),
        suffix,
        reuse_prompt,
    )
    if key in _encoded:
        _encoded.move_to_end(key)
        return _encoded[key]
    encoded = _encode_ranking(tokenizer, prompts, answers, candidates, suffix, reuse_prompt)
    _encoded[key] = encoded
    if len(_encoded) > ENCODED_CACHE:
        _encoded.popitem(last=False)
    return encoded


def _encode_ranking(
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    answers: Sequence[str],
    candidates: Sequence[Sequence[str]],
    suffix: str,
    reuse_prompt: bool,
) -> EncodedRanking:
    if not len(prompts) == len(answers) == len(candidates):
        raise UserError(
            f"got {len(prompts)} prompts, {len(answers)} answers and {len(candidates)} "
            "candidate lists; give one of each per item"
        )
    for i, (answer, options) in enumerate(zip(answers, candidates, strict=True)):
        if len(set(options)) != len(options) or answer not in options:
            raise UserError(
                f"item {i}: candidates must be distinct and contain the answer {answer!r}"
            )
    prompt_ids = [encode_prompt(tokenizer, p) for p in prompts]
    texts = [
        [continuation(p, o + suffix) for o in options]
        for p, options in zip(prompts, candidates, strict=True)
    ]
    unique = dict.fromkeys(t for options in texts for t in options)  # each tokenized once
    encoded = {t: encode_answer(tokenizer, t) for t in unique}
    option_ids = [[encoded[t] for t in options] for options in texts]
    pad = pad_token_id(tokenizer)
    packed = pack_candidates(prompt_ids, option_ids, pad_id=pad) if reuse_prompt else None
    truth = [list(options).index(a) for a, options in zip(answers, candidates, strict=True)]
    return EncodedRanking(prompt_ids, option_ids, truth, pad, packed)


def rank_encoded(
    model: PreTrainedModel,
    queries: EncodedRanking,
    *,
    length_normalized: bool = False,
    batch_size: int = 64,
) -> list[Ranking]:
    """Rank each true answer of ``queries`` among its candidates on ``model`` (see
    :func:`rank_answers`)."""
    if queries.packed is not None:
        sums = packed_logprobs(model, queries.packed)
    else:
        pairs = [
            (p, o)
            for p, opts in zip(queries.prompt_ids, queries.option_ids, strict=True)
            for o in opts
        ]
        flat = answer_logprobs(
            model,
            [p for p, _ in pairs],
            [o for _, o in pairs],
            pad_id=queries.pad_id,
            batch_size=batch_size,
        )
        sums, offset = [], 0
        for opts in queries.option_ids:
            sums.append([s.logprob for s in flat[offset : offset + len(opts)]])
            offset += len(opts)
    rankings = []
    for truth_index, group, ids in zip(queries.truth, sums, queries.option_ids, strict=True):
        values = (
            [s / len(i) for s, i in zip(group, ids, strict=True)] if length_normalized else group
        )
        rankings.append(rank_scores(values, truth_index))
    return rankings


def rank_answers(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    answers: Sequence[str],
    candidates: Sequence[Sequence[str]],
    *,
    suffix: str = "",
    length_normalized: bool = False,
    batch_size: int = 64,
    reuse_prompt: bool = False,
) -> list[Ranking]:
    """Rank each true answer among its prompt's candidates by log-likelihood.

    ``candidates[i]`` must contain ``answers[i]`` once. ``suffix`` (for example ``"."``)
    is appended to every candidate's text and scored with it: without it a candidate that
    is a token prefix of the truth ("Lee" for "Leeds") can never score lower than the
    truth. Scores are summed log-probabilities, or per-token means with
    ``length_normalized``. ``reuse_prompt`` scores each prompt once with its candidates
    as a prefix tree (:mod:`unlearnlab.probes.candidates`; needs a model that takes a 4D
    attention mask), which is much faster with many candidates.
    """
    queries = encode_ranking(
        tokenizer, prompts, answers, candidates, suffix=suffix, reuse_prompt=reuse_prompt
    )
    return rank_encoded(model, queries, length_normalized=length_normalized, batch_size=batch_size)


def rank_scores(values: Sequence[float], truth: int) -> Ranking:
    """The :class:`Ranking` of candidate ``truth`` among the candidates' scores ``values``."""
    score = values[truth]
    beaten_by = sum(v >= score for v in values) - 1
    top = max(values)
    normaliser = sum(math.exp(v - top) for v in values)
    return Ranking(
        rank=1 + beaten_by,
        probability=math.exp(score - top) / normaliser,
        correct=beaten_by == 0,
        scores=list(values),
    )
