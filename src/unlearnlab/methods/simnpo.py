"""SimNPO: reference-free, length-normalised NPO, with an optional retain term.

    L = -(2/β)·E[log σ(-(β/|y|)·log π(y|x) - γ)] + α·NLL(retain)

Fan et al., "Simplicity Prevails: Rethinking Negative Preference Optimization for LLM
Unlearning", 2024, Eq. 4. The paper tunes β (about 1 to 5) and the margin γ (0 to 2) per
benchmark; its retain weight is 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from unlearnlab.methods.base import Batch, Method
from unlearnlab.methods.losses import answer_lengths, retain_term, sequence_logprob
from unlearnlab.methods.registry import method


class SimNPOParams(BaseModel):
    """Inverse temperature, reward margin and retain weight."""

    model_config = ConfigDict(extra="forbid")

    beta: float = Field(2.5, gt=0, le=100)
    """Inverse temperature β (paper: tuned in about [1, 5])."""
    gamma: float = Field(0.0, ge=0, le=10)
    """Reward margin γ (paper: tuned in [0, 2])."""
    alpha: float = Field(1.0, ge=0, le=100)
    """Weight of the retain NLL (paper: 1)."""


@method("simnpo")
class SimNPO(Method):
    """NPO without a reference model, on length-normalised log-likelihoods."""

    Params = SimNPOParams
    summary = "reference-free, length-normalised NPO"
    paper = "Fan et al. 2024, Simplicity Prevails: Rethinking NPO for LLM Unlearning"
    kind = "negative"
    lr = 1e-3
    steps = 25
    # log π(y|x)/|y| = -0.730737 / 2 = -0.365368; -(2/2.5)·log σ(2.5·0.365368) =
    # 0.8·log(1 + e^-0.913421) = 0.269834. Plus retain NLL 1.865368: 2.135203.
    hand_value = 2.135203

    def loss(self, batch: Batch) -> torch.Tensor:
        p = self.params
        labels = batch.forget.labels
        mean_logp = sequence_logprob(batch.logits(batch.forget), labels) / answer_lengths(labels)
        forget = -(2.0 / p.beta) * F.logsigmoid(-p.beta * mean_logp - p.gamma).mean()
        return forget + p.alpha * retain_term(batch, "nll") if p.alpha else forget
