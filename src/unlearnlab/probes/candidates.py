"""Many candidate answers of one prompt scored in one forward pass (tree attention).

Ranking an answer against a hundred candidates needs the log-likelihood of each
candidate after the same prompt. Instead of one row per (prompt, candidate), each prompt
gets one row: the prompt, then the candidates' tokens as a prefix tree (candidates that
share leading tokens share those positions), under a 4D attention mask in which each tree
node sees the prompt, its ancestors and itself, and position ids that continue the prompt
along each branch. Every node's hidden state is therefore exactly that of the same
tokens appended to the prompt alone (up to float rounding), with no copied KV cache.

:func:`pack_candidates` builds the rows, mask and gather indices once (they depend on
token ids only); :func:`packed_logprobs` scores them on any model that takes a 4D
attention mask (models built on transformers' masking utilities, Llama among them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel

from unlearnlab.errors import UserError


@dataclass(frozen=True)
class _Chunk:
    """Rows scored in one forward pass."""

    ids: torch.Tensor
    """(rows, width) token ids, prompt first, then tree nodes, then padding."""
    positions: torch.Tensor
    """(rows, width) position ids: the prompt's, then prompt length + depth - 1."""
    allowed: torch.Tensor
    """(rows, width, width) bool: query position may attend key position."""
    row: torch.Tensor
    """(terms,) row of each log-probability term."""
    at: torch.Tensor
    """(terms,) position whose next-token distribution the term reads."""
    token: torch.Tensor
    """(terms,) the token whose log-probability the term is."""
    owner: torch.Tensor
    """(terms,) the candidate (numbered within the chunk) each term belongs to."""
    candidates: int
    """Number of candidates in the chunk."""


@dataclass(frozen=True)
class PackedCandidates:
    """Prompts and their candidates packed for :func:`packed_logprobs`."""

    chunks: tuple[_Chunk, ...]
    counts: tuple[int, ...]
    """Candidates per prompt, in input order."""


def _row(
    prompt: Sequence[int], group: Sequence[Sequence[int]]
) -> tuple[list, list, int, list, list]:
    """One prompt's row: ids, positions, the prompt's length, the tree positions each tree
    node attends (its ancestors and itself; every tree node also attends the whole prompt,
    and the prompt is causal), and each candidate's (position, token) terms."""
    n = len(prompt)
    ids, positions = list(prompt), list(range(n))
    tree: list[list[int]] = []  # per tree node: the tree positions it sees
    nodes: dict[tuple[int, ...], int] = {}
    terms = []
    for candidate in group:
        reads = [(n - 1, candidate[0])]
        for depth in range(1, len(candidate)):
            prefix = tuple(candidate[:depth])
            if prefix not in nodes:
                parent = tree[nodes[prefix[:-1]] - n] if depth > 1 else []
                nodes[prefix] = len(ids)
                tree.append([*parent, len(ids)])
                ids.append(prefix[-1])
                positions.append(n + depth - 1)
            reads.append((nodes[prefix], candidate[depth]))
        terms.append(reads)
    return ids, positions, n, tree, terms


def pack_candidates(
    prompt_ids: Sequence[Sequence[int]],
    candidate_ids: Sequence[Sequence[Sequence[int]]],
    *,
    pad_id: int,
    max_tokens: int = 16384,
) -> PackedCandidates:
    """Rows of ``prompt_ids[i]`` followed by the prefix tree of ``candidate_ids[i]``,
    chunked so that a forward pass holds at most ``max_tokens`` (rows x width) positions
    (a longer single row gets a chunk of its own)."""
    if len(prompt_ids) != len(candidate_ids):
        raise UserError(
            f"got {len(prompt_ids)} prompts but {len(candidate_ids)} candidate lists; pair them"
        )
    for i, (prompt, group) in enumerate(zip(prompt_ids, candidate_ids, strict=True)):
        if not prompt or not group or not all(group):
            raise UserError(f"item {i}: a prompt or candidate is empty; give non-empty text")
    rows = [_row(p, g) for p, g in zip(prompt_ids, candidate_ids, strict=True)]
    chunks, start = [], 0
    while start < len(rows):
        end, width = start + 1, len(rows[start][0])
        while end < len(rows) and max(width, len(rows[end][0])) * (end + 1 - start) <= max_tokens:
            width = max(width, len(rows[end][0]))
            end += 1
        chunks.append(_chunk(rows[start:end], width, pad_id))
        start = end
    return PackedCandidates(tuple(chunks), tuple(len(g) for g in candidate_ids))


def _chunk(rows: Sequence[tuple[list, list, int, list, list]], width: int, pad_id: int) -> _Chunk:
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)  # (rows, width)
    positions = torch.zeros((len(rows), width), dtype=torch.long)  # (rows, width)
    allowed = torch.eye(width, dtype=torch.bool).repeat(len(rows), 1, 1)  # (rows, width, width)
    causal = torch.ones((width, width), dtype=torch.bool).tril()  # (width, width)
    tree_row, tree_query, tree_key = [], [], []
    row_of, at, token, owner = [], [], [], []
    candidate = 0
    for r, (row_ids, row_positions, n, tree, terms) in enumerate(rows):
        ids[r, : len(row_ids)] = torch.tensor(row_ids)
        positions[r, : len(row_positions)] = torch.tensor(row_positions)
        allowed[r, :n, :n] = causal[:n, :n]
        allowed[r, n : len(row_ids), :n] = True
        for query, keys in enumerate(tree, start=n):
            tree_row.extend([r] * len(keys))
            tree_query.extend([query] * len(keys))
            tree_key.extend(keys)
        for reads in terms:
            for position, next_token in reads:
                row_of.append(r)
                at.append(position)
                token.append(next_token)
                owner.append(candidate)
            candidate += 1
    as_long = {"dtype": torch.long}
    allowed[
        torch.tensor(tree_row, **as_long),
        torch.tensor(tree_query, **as_long),
        torch.tensor(tree_key, **as_long),
    ] = True
    return _Chunk(
        ids,
        positions,
        allowed,
        torch.tensor(row_of, **as_long),
        torch.tensor(at, **as_long),
        torch.tensor(token, **as_long),
        torch.tensor(owner, **as_long),
        candidate,
    )


@torch.inference_mode()
def packed_logprobs(model: PreTrainedModel, packed: PackedCandidates) -> list[list[float]]:
    """Summed log-likelihood of every candidate after its prompt, grouped per prompt."""
    model.eval()
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    totals = []
    for chunk in packed.chunks:
        mask = torch.zeros(chunk.allowed.shape, dtype=dtype, device=device)
        mask.masked_fill_(~chunk.allowed.to(device), torch.finfo(dtype).min)
        logits = model(
            input_ids=chunk.ids.to(device),
            attention_mask=mask[:, None],  # (rows, 1, width, width)
            position_ids=chunk.positions.to(device),
        ).logits  # (rows, width, vocab)
        logp = torch.log_softmax(logits.float(), dim=-1)  # (rows, width, vocab)
        terms = logp[chunk.row.to(device), chunk.at.to(device), chunk.token.to(device)]  # (terms,)
        sums = torch.zeros(chunk.candidates, dtype=torch.float64, device=device)
        sums.index_add_(0, chunk.owner.to(device), terms.double())  # (candidates,)
        totals.extend(sums.tolist())
    grouped, offset = [], 0
    for count in packed.counts:
        grouped.append(totals[offset : offset + count])
        offset += count
    return grouped


def candidate_logprobs(
    model: PreTrainedModel,
    prompt_ids: Sequence[Sequence[int]],
    candidate_ids: Sequence[Sequence[Sequence[int]]],
    *,
    pad_id: int,
    max_tokens: int = 16384,
) -> list[list[float]]:
    """Summed log-likelihood of every ``candidate_ids[i][j]`` after ``prompt_ids[i]``: equal
    to :func:`unlearnlab.probes.scoring.answer_logprobs` on each (prompt, candidate) pair,
    each prompt run once with its candidates as a prefix tree (see the module docstring)."""
    packed = pack_candidates(prompt_ids, candidate_ids, pad_id=pad_id, max_tokens=max_tokens)
    return packed_logprobs(model, packed)
