"""Gradient ascent with a KL retain term.

    L = -γ·NLL(forget) + α·KL(π_ref || π) on retain answer positions

π_ref is the model before unlearning. The KL-regularised baseline of TOFU (Maini et al.,
"TOFU: A Task of Fictitious Unlearning for LLMs", 2024), γ = α = 1 there.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field

from unlearnlab.methods.base import Batch, Method
from unlearnlab.methods.losses import nll, retain_term
from unlearnlab.methods.registry import method


class GAKLParams(BaseModel):
    """Weights of the forget and KL terms."""

    model_config = ConfigDict(extra="forbid")

    gamma: float = Field(1.0, gt=0, le=100)
    """Weight of the forget term (TOFU: 1)."""
    alpha: float = Field(1.0, ge=0, le=100)
    """Weight of KL(reference || model) on retain data (TOFU: 1)."""


@method("ga_kl")
class GradientAscentKL(Method):
    """Gradient ascent on forget answers, KL to the reference on retain answers."""

    Params = GAKLParams
    summary = "gradient ascent on forget, KL(reference || model) on retain"
    paper = "Maini et al. 2024, TOFU: A Task of Fictitious Unlearning for LLMs"
    kind = "negative"
    uses_reference = True
    lr = 1e-3
    steps = 25
    # -NLL(forget) = -0.365368 (ga.py). KL at position 1: ref p = softmax(0.5, 1, 1) =
    # (0.232697, 0.383652, 0.383652), ref log p = (-1.458020, -0.958020, -0.958020), model
    # log p = (-1.464369, -0.464369, -1.964369): KL = Σ p (ref log p - model log p) =
    # 0.198175. Position 2: ref p = (0.576117, 0.211942, 0.211942), ref log p =
    # (-0.551445, -1.551445, -1.551445), model log p = (-1.766368, -2.766368, -0.266368):
    # KL = 0.685069. Mean 0.441622; total 0.076254.
    hand_value = 0.0762536

    def loss(self, batch: Batch) -> torch.Tensor:
        p = self.params
        forget = nll(batch.logits(batch.forget), batch.forget.labels)
        return -p.gamma * forget + p.alpha * retain_term(batch, "kl")
