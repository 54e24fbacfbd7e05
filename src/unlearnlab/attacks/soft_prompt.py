"""Soft-prompt attack: continuous prefix embeddings optimised with Adam.

Instead of tokens, the prefix is ``length`` free vectors in the model's input-embedding
space (prompt tuning, Lester et al. 2021, "The Power of Scale for Parameter-Efficient
Prompt Tuning", used as an attack), initialised as the embeddings of seeded random tokens
(the tokens :mod:`unlearnlab.attacks.prefix_search` starts from with the same seed) and
trained to maximise the objective of :mod:`unlearnlab.attacks.prefix`. No token sequence
need embed to the vectors found, so the recall it reaches bounds what any prompt of that
length can do.
"""

from __future__ import annotations

from pathlib import Path

import torch
from pydantic import Field

from unlearnlab.attacks.base import Attack, AttackTarget, Curve, CurvePoint
from unlearnlab.attacks.prefix import PrefixParams, PrefixRun, PrefixTask, virtual_tokens
from unlearnlab.attacks.registry import attack


class SoftPromptParams(PrefixParams):
    """The optimiser: Adam's learning rate."""

    lr: float = Field(1e-2, gt=0, le=10)
    """Constant Adam learning rate on the prefix vectors."""


@attack("soft_prompt")
class SoftPrompt(Attack):
    """Adam on prefix embeddings; curve steps are optimiser steps (0: no prefix)."""

    Params = SoftPromptParams

    def run(self, model_dir: Path, target: AttackTarget) -> Curve:
        """Recall of the measured facts after 0, ..., ``steps[-1]`` optimiser steps."""
        return self.search(model_dir, target).curve

    def search(self, model_dir: Path, target: AttackTarget) -> PrefixRun:
        """The optimisation on the model in ``model_dir``: curve, vectors and objective."""
        params: SoftPromptParams = self.params  # type: ignore[assignment]
        task = PrefixTask.load(model_dir, target, params.mode)
        groups, length = len(task.groups), params.length
        weight = task.model.get_input_embeddings().weight  # (vocab, hidden)
        initial = task.initial_prefixes(length, target.seed)  # (groups, length)
        start = weight[initial].detach()  # (groups, length, hidden)
        vectors = start.reshape(groups * length, -1).clone().requires_grad_()  # (g*l, hidden)
        optimizer = torch.optim.Adam([vectors], lr=params.lr)
        curve, prefixes, objective = [CurvePoint(0, task.recall(None))], [start], []
        with virtual_tokens(task.model, vectors) as virtual:
            ids = virtual.reshape(groups, length)  # (groups, length)
            for step in range(params.steps[-1] + 1):
                value = task.objective(ids)  # (groups,)
                objective.append(value.detach())
                if step in params.steps[1:]:
                    curve.append(CurvePoint(step, task.recall(ids)))
                    prefixes.append(vectors.detach().reshape(groups, length, -1).clone())
                if step < params.steps[-1]:
                    optimizer.zero_grad(set_to_none=True)
                    (-value.sum()).backward()
                    optimizer.step()
        return PrefixRun(task.groups, initial, curve, tuple(prefixes), torch.stack(objective))
