"""What the input-space attacks share (``prefix_search``, ``soft_prompt``): which facts a
prefix is optimised on and measured on, the objective, and recall with a prefix.

A prefix is ``length`` tokens between the tokenizer's special prefix (bos) and the prompt,
``[bos, p_1 .. p_L, prompt, answer]``. A soft prefix is a run of *virtual tokens*: ids past
the vocabulary whose embeddings are the optimised vectors (:func:`virtual_tokens`), so
discrete and soft prefixes are scored by the same code.

- ``per_fact``: every measured fact gets its own prefix, optimised on that fact alone (its
  training phrasings) and measured on it. The attacker knows the answer it asks for, so a
  long enough prefix can teach it; only the oracle, searched with the same budget and
  seed, tells recovery from teaching.
- ``universal``: one prefix is optimised on a seeded half of the measured facts and
  measured on the other half only; no fact is both optimised on and measured.

The objective is the mean, over a prefix's training queries (each fact in each training
phrasing), of the teacher-forced log-likelihood of the true answer followed by "." (the
score the recall ranking gives the truth). Curve point 0 is recall without any prefix,
the plain recall every attack starts from; point ``s`` is recall with the prefixes after
``s`` optimisation steps.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, field_validator
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearnlab.attacks.base import AttackTarget, Curve, check_schedule, kfold
from unlearnlab.corpus.templates import render
from unlearnlab.errors import UserError
from unlearnlab.models.data import continuation, encode_answer, encode_prompt
from unlearnlab.models.factory import load_model, load_tokenizer
from unlearnlab.probes.candidates import candidate_logprobs
from unlearnlab.probes.decoding import cache_argument
from unlearnlab.probes.knowledge import QueryIndex, recall_record
from unlearnlab.probes.scoring import pad_rows, pad_token_id, rank_scores
from unlearnlab.worlds.kg import Fact

Mode = Literal["per_fact", "universal"]

MAX_ROWS = 1024
"""Rows per forward pass when scoring many (prefix, query) pairs."""


class PrefixParams(BaseModel):
    """Mode, prefix length and the steps at which recall is measured."""

    model_config = ConfigDict(extra="forbid")

    mode: Mode = "universal"
    """One prefix per fact, or one prefix for a seeded half tested on the other half."""
    length: int = Field(8, ge=1, le=256)
    """Prefix tokens (or soft vectors)."""
    steps: tuple[int, ...] = (0, 10, 25, 50, 100)
    """Optimisation steps at which recall is measured; strictly increasing, from 0 (no
    prefix). The last one is the budget."""

    @field_validator("steps")
    @classmethod
    def _schedule(cls, steps: tuple[int, ...]) -> tuple[int, ...]:
        if len(check_schedule(steps)) < 2:
            raise ValueError("needs a step after 0 (the last step is the budget)")
        return steps


@dataclass(frozen=True)
class PrefixGroup:
    """The facts one prefix is optimised on and the facts it is measured on."""

    train: tuple[Fact, ...]
    test: tuple[Fact, ...]


def prefix_groups(facts: Sequence[Fact], mode: Mode, seed: int) -> list[PrefixGroup]:
    """One group per fact (``per_fact``), or one group that optimises on one of two seeded
    folds of ``facts`` and tests on the other (``universal``); facts keep their order."""
    if mode == "per_fact":
        if not facts:
            raise UserError("a per_fact prefix attack needs at least one measured fact")
        return [PrefixGroup((fact,), (fact,)) for fact in facts]
    if len(facts) < 2:
        raise UserError(
            f"a universal prefix needs at least 2 measured facts (one to optimise on, one "
            f"held out), got {len(facts)}; measure more facts or use mode per_fact"
        )
    train, test = (set(fold) for fold in kfold(facts, 2, seed))
    in_order = [tuple(f for f in facts if f in fold) for fold in (train, test)]
    return [PrefixGroup(*in_order)]


@dataclass(frozen=True)
class Query:
    """One fact in one training phrasing, encoded: ``head + prefix + body`` is the prompt."""

    fact: Fact
    template: str
    head: tuple[int, ...]
    """The prompt's leading special tokens (bos), which the prefix follows."""
    body: tuple[int, ...]
    """The rest of the prompt."""
    answer: tuple[int, ...]
    """The true answer and "."."""
    options: tuple[tuple[int, ...], ...]
    """Every filtered candidate answer and ".", the truth among them."""
    truth: int
    """Position of the true answer in ``options``."""


def encode_queries(
    tokenizer: PreTrainedTokenizerBase,
    target: AttackTarget,
    facts: Sequence[Fact],
    index: QueryIndex,
) -> list[Query]:
    """The queries of ``facts`` in their training phrasings, as :func:`attacks.base.measure`
    asks them."""
    special = set(tokenizer.all_special_ids)
    world = target.substrate.world
    queries = []
    for fact in facts:
        text = index.texts[fact.relation]
        candidates = index.candidates(fact, world.entity_types)
        for template in text.training_frames():
            rendering = render(fact, text, template)
            ids = encode_prompt(tokenizer, rendering.prompt)
            cut = next((i for i, t in enumerate(ids) if t not in special), len(ids))
            answer = f"{rendering.answer}."
            queries.append(
                Query(
                    fact,
                    template.name,
                    tuple(ids[:cut]),
                    tuple(ids[cut:]),
                    tuple(encode_answer(tokenizer, continuation(rendering.prompt, answer))),
                    tuple(
                        tuple(encode_answer(tokenizer, continuation(rendering.prompt, f"{c}.")))
                        for c in candidates
                    ),
                    candidates.index(rendering.answer),
                )
            )
    return queries


def answer_logprobs(
    model: PreTrainedModel, pairs: Sequence[tuple[Query, Sequence[int]]], pad_id: int
) -> torch.Tensor:
    """``(pairs,)`` summed log-likelihood of each query's answer after ``head + prefix +
    body``, teacher-forced; differentiable (wrap in ``torch.no_grad`` to score only).

    Each distinct ``head + prefix`` runs once and its KV cache is copied to the rows that
    share it; only ``body + answer`` is computed per row, left-padded so that every answer
    ends the row (padding sits between the cached part and the body, masked out).
    """
    out = []
    device, cache_name = next(model.parameters()).device, cache_argument(model)
    for start in range(0, len(pairs), MAX_ROWS):
        chunk = pairs[start : start + MAX_ROWS]
        shared: dict[tuple[int, ...], int] = {}
        owner = [shared.setdefault((*q.head, *prefix), len(shared)) for q, prefix in chunk]
        ids, mask, positions = pad_rows(list(shared), pad_id, "left", device)  # (shared, P)
        head = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True)
        cache = getattr(head, cache_name)
        rows = torch.tensor(owner, device=device)  # (rows,)
        cache.batch_select_indices(rows)
        tails, tail_mask, tail_positions = pad_rows(
            [[*q.body, *q.answer] for q, _ in chunk], pad_id, "left", device
        )  # each (rows, T)
        span = max(len(q.answer) for q, _ in chunk)
        logits = model(
            input_ids=tails,
            attention_mask=torch.cat([mask[rows], tail_mask], dim=-1),
            position_ids=mask.sum(-1)[rows, None] + tail_positions,  # (rows, T)
            use_cache=True,
            logits_to_keep=span + 1,
            **{cache_name: cache},
        ).logits  # (rows, span + 1, vocab)
        logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)  # (rows, span, vocab)
        picked = logp.gather(-1, tails[:, -span:, None]).squeeze(-1)  # (rows, span)
        lengths = torch.tensor([len(q.answer) for q, _ in chunk], device=device)  # (rows,)
        in_answer = torch.arange(span, device=device) >= span - lengths[:, None]  # (rows, span)
        out.append((picked * in_answer).sum(-1))
    return torch.cat(out)


@dataclass(frozen=True)
class PrefixTask:
    """A loaded model (weights frozen) and the queries each prefix is optimised on and
    measured on."""

    model: PreTrainedModel
    groups: tuple[PrefixGroup, ...]
    train: tuple[tuple[Query, ...], ...]
    """Each group's training queries."""
    test: tuple[tuple[Query, ...], ...]
    """Each group's measured queries."""
    allowed: torch.Tensor
    """``(vocab,)`` bool: the tokens a discrete prefix may use (no special tokens)."""
    pad_id: int

    @staticmethod
    def load(model_dir: Path, target: AttackTarget, mode: Mode) -> PrefixTask:
        """The model in ``model_dir`` (never modified on disk) and ``target``'s groups."""
        tokenizer = load_tokenizer(model_dir)
        model = load_model(model_dir)
        model.requires_grad_(False)
        index = QueryIndex.build(target.substrate.world)
        groups = tuple(prefix_groups(target.facts, mode, target.seed))
        vocab = model.get_input_embeddings().num_embeddings
        allowed = torch.arange(vocab) < len(tokenizer)  # (vocab,)
        allowed[[i for i in tokenizer.all_special_ids if i < vocab]] = False
        return PrefixTask(
            model,
            groups,
            tuple(tuple(encode_queries(tokenizer, target, g.train, index)) for g in groups),
            tuple(tuple(encode_queries(tokenizer, target, g.test, index)) for g in groups),
            allowed,
            pad_token_id(tokenizer),
        )

    def initial_prefixes(self, length: int, seed: int) -> torch.Tensor:
        """``(groups, length)`` allowed token ids drawn uniformly with ``seed``."""
        pool = self.allowed.nonzero().squeeze(-1)  # (allowed,)
        generator = torch.Generator().manual_seed(seed)
        draws = torch.randint(len(pool), (len(self.groups), length), generator=generator)
        return pool[draws]

    def objective(self, prefixes: torch.Tensor) -> torch.Tensor:
        """Mean answer log-likelihood of each group's training queries after prefixes
        ``(groups, ..., length)`` of token (or virtual) ids; shape ``(groups, ...)``."""
        shape = (len(self.groups), math.prod(prefixes.shape[1:-1]), prefixes.shape[-1])
        flat = prefixes.reshape(shape)  # (groups, c, length)
        lists = flat.tolist()
        pairs, owner = [], []
        for g, queries in enumerate(self.train):
            for c, prefix in enumerate(lists[g]):
                pairs.extend((q, prefix) for q in queries)
                owner.extend([g * flat.shape[1] + c] * len(queries))
        values = answer_logprobs(self.model, pairs, self.pad_id)  # (pairs,)
        index = torch.tensor(owner, device=values.device)
        sums = torch.zeros(flat.shape[0] * flat.shape[1], device=values.device)
        counts = torch.zeros_like(sums).index_add_(0, index, torch.ones_like(values))
        means = sums.index_add(0, index, values) / counts  # (groups * c,)
        return means.reshape(prefixes.shape[:-1])

    def recall(self, prefixes: torch.Tensor | None) -> list[dict[str, Any]]:
        """Recall records of every group's measured queries after its prefix in
        ``prefixes`` ``(groups, length)`` (None: no prefix), in the measured facts' order."""
        lists = [[]] * len(self.groups) if prefixes is None else prefixes.tolist()
        pairs = [(q, lists[g]) for g, queries in enumerate(self.test) for q in queries]
        sums = candidate_logprobs(
            self.model,
            [[*q.head, *prefix, *q.body] for q, prefix in pairs],
            [q.options for q, _ in pairs],
            pad_id=self.pad_id,
        )
        return [
            recall_record(q.fact, q.template, rank_scores(scores, q.truth))
            for (q, _), scores in zip(pairs, sums, strict=True)
        ]


@dataclass(frozen=True)
class PrefixRun:
    """What an input-space attack found on one model."""

    groups: tuple[PrefixGroup, ...]
    initial: torch.Tensor
    """``(groups, length)`` the seeded tokens the prefixes start from (a soft prompt starts
    from their embeddings); the same on every model for one seed."""
    curve: Curve
    prefixes: tuple[torch.Tensor, ...]
    """The prefixes at each curve point: ``(groups, length)`` token ids, or ``(groups,
    length, hidden)`` soft vectors; at point 0 the initial ones (recall there uses none)."""
    objective: torch.Tensor
    """``(steps + 1, groups)``: each prefix's objective initially and after every step."""


class _VirtualEmbedding(torch.nn.Module):
    """An input embedding extended by rows ``vectors`` at ids ``vocab ..``."""

    def __init__(self, base: torch.nn.Embedding, vectors: torch.Tensor) -> None:
        super().__init__()
        self.base = base
        self.vectors = vectors

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        weight = torch.cat([self.base.weight, self.vectors.to(self.base.weight.dtype)])
        return F.embedding(ids, weight)  # (..., hidden)


@contextmanager
def virtual_tokens(model: PreTrainedModel, vectors: torch.Tensor) -> Iterator[torch.Tensor]:
    """Within the block, the yielded ids ``(n,)`` embed as the rows of ``vectors`` ``(n,
    hidden)`` (gradients flow into them); the model's own embedding is restored after."""
    original = model.get_input_embeddings()
    model.set_input_embeddings(_VirtualEmbedding(original, vectors))
    try:
        yield original.num_embeddings + torch.arange(len(vectors))
    finally:
        model.set_input_embeddings(original)
