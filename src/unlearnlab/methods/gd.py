"""Gradient difference (GD): ascend on the forget set, descend on the retain set.

    L = -γ·NLL(forget) + α·NLL(retain)

Liu et al., "Continual Learning and Private Unlearning", CoLLAs 2022 (the TOFU
benchmark's GradDiff baseline, Maini et al. 2024, uses γ = α = 1).
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field

from unlearnlab.methods.base import Batch, Method
from unlearnlab.methods.losses import nll, retain_term
from unlearnlab.methods.registry import method


class GDParams(BaseModel):
    """Weights of the forget and retain terms."""

    model_config = ConfigDict(extra="forbid")

    gamma: float = Field(1.0, gt=0, le=100)
    """Weight of the forget term (TOFU: 1)."""
    alpha: float = Field(1.0, ge=0, le=100)
    """Weight of the retain NLL (TOFU: 1)."""


@method("gd")
class GradientDifference(Method):
    """Gradient ascent on forget answers plus descent on retain answers."""

    Params = GDParams
    summary = "gradient ascent on forget, descent on retain"
    paper = "Liu et al. 2022, Continual Learning and Private Unlearning"
    kind = "negative"
    lr = 1e-3
    steps = 25
    # -NLL(forget) = -0.365368 (ga.py). Retain tokens: log softmax(1, 2, 0.5)[2] =
    # -1.964369, log softmax(0, -1, 1.5)[0] = -1.766368; NLL 1.865368. Sum: 1.5 exactly.
    hand_value = 1.5

    def loss(self, batch: Batch) -> torch.Tensor:
        p = self.params
        forget = nll(batch.logits(batch.forget), batch.forget.labels)
        return -p.gamma * forget + p.alpha * retain_term(batch, "nll")
