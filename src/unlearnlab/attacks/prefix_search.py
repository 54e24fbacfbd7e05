"""Discrete prefix search: greedy coordinate gradient (GCG) over prefix tokens.

Zou et al. 2023, "Universal and Transferable Adversarial Attacks on Aligned Language
Models", Algorithm 1 (and Algorithm 2 for a universal prefix over several prompts). Each
step takes the gradient of the objective (:mod:`unlearnlab.attacks.prefix`) with respect
to the one-hot prefix tokens, ``grad_e · W_E[v]`` for every token ``v`` at every position;
keeps the ``top_k`` tokens per position; samples ``batch`` single-token swaps (a uniform
position, a uniform one of its top-k tokens); scores them all in batched forward passes;
and keeps the best. Unlike the paper, the current prefix competes with its swaps, so the
objective never decreases. Special tokens (pad, bos, eos, unk) are never candidates.
"""

from __future__ import annotations

from pathlib import Path

import torch
from pydantic import Field

from unlearnlab.attacks.base import Attack, AttackTarget, Curve, CurvePoint
from unlearnlab.attacks.prefix import PrefixParams, PrefixRun, PrefixTask, virtual_tokens
from unlearnlab.attacks.registry import attack
from unlearnlab.errors import UserError


class PrefixSearchParams(PrefixParams):
    """The search budget: candidate tokens per position and swaps scored per step."""

    top_k: int = Field(32, ge=1)
    """Candidate tokens per position: the largest linearised gains (GCG's k; paper 256)."""
    batch: int = Field(32, ge=1)
    """Single-token swaps scored per step and prefix (GCG's B; paper 512)."""


def gcg_step(
    task: PrefixTask, ids: torch.Tensor, top_k: int, batch: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One GCG step from prefixes ``ids`` ``(groups, length)``: the objective of ``ids``
    ``(groups,)``, the new prefixes and their objective ``(groups,)``."""
    groups, length = ids.shape
    weight = task.model.get_input_embeddings().weight  # (vocab, hidden)
    vectors = weight[ids].detach().reshape(groups * length, -1).requires_grad_()  # (g*l, hidden)
    with virtual_tokens(task.model, vectors) as virtual:
        current = task.objective(virtual.reshape(groups, length))  # (groups,)
    (grad,) = torch.autograd.grad(current.sum(), vectors)  # (g*l, hidden)
    gain = (grad @ weight.T).reshape(groups, length, -1)  # (groups, length, vocab)
    gain = gain.masked_fill(~task.allowed, float("-inf"))
    top = gain.topk(top_k, dim=-1).indices  # (groups, length, top_k)
    positions = torch.randint(length, (groups, batch), generator=generator)  # (groups, batch)
    picks = torch.randint(top_k, (groups, batch), generator=generator)  # (groups, batch)
    tokens = top[torch.arange(groups)[:, None], positions, picks]  # (groups, batch)
    candidates = ids[:, None, :].repeat(1, batch, 1)  # (groups, batch, length)
    candidates.scatter_(-1, positions[..., None], tokens[..., None])
    with torch.no_grad():
        scores = task.objective(candidates)  # (groups, batch)
    best, pick = scores.max(-1)  # (groups,)
    current = current.detach()
    better = best > current  # (groups,)
    chosen = candidates[torch.arange(groups), pick]  # (groups, length)
    new_ids = torch.where(better[:, None], chosen, ids)
    return current, new_ids, torch.where(better, best, current)


@attack("prefix_search")
class PrefixSearch(Attack):
    """GCG prefix search; curve steps are search steps (0: no prefix)."""

    Params = PrefixSearchParams

    def run(self, model_dir: Path, target: AttackTarget) -> Curve:
        """Recall of the measured facts after 0, ..., ``steps[-1]`` search steps."""
        return self.search(model_dir, target).curve

    def search(self, model_dir: Path, target: AttackTarget) -> PrefixRun:
        """The search on the model in ``model_dir``: curve, prefixes and objective."""
        params: PrefixSearchParams = self.params  # type: ignore[assignment]
        task = PrefixTask.load(model_dir, target, params.mode)
        usable = int(task.allowed.sum())
        if params.top_k > usable:
            raise UserError(
                f"prefix_search.top_k {params.top_k} exceeds the {usable} tokens a prefix "
                "can use; lower it"
            )
        ids = task.initial_prefixes(params.length, target.seed)
        generator = torch.Generator().manual_seed(target.seed)
        curve, prefixes, objective = [CurvePoint(0, task.recall(None))], [ids], []
        for step in range(1, params.steps[-1] + 1):
            before, ids, after = gcg_step(task, ids, params.top_k, params.batch, generator)
            if step == 1:
                objective.append(before)
            objective.append(after)
            if step in params.steps:
                curve.append(CurvePoint(step, task.recall(ids)))
                prefixes.append(ids)
        return PrefixRun(task.groups, prefixes[0], curve, tuple(prefixes), torch.stack(objective))
