"""UNDIAL: self-distillation toward the reference's logits with the true token lowered.

    q_t = softmax(z_ref,t - β·onehot(y_t));  L = (1/N) Σ_t CE(q_t, π(·|x, y_<t)) + α·NLL(retain)

over the N answer tokens of the forget batch. Dong et al., "UNDIAL: Self-Distillation with
Adjusted Logits for Robust Unlearning in Large Language Models", arXiv 2024 (β = 10 and
no retain term in open-unlearning's configuration).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from unlearnlab.methods.base import Batch, Method
from unlearnlab.methods.losses import retain_term, soft_cross_entropy
from unlearnlab.methods.registry import method


class UNDIALParams(BaseModel):
    """Logit penalty and retain weight."""

    model_config = ConfigDict(extra="forbid")

    beta: float = Field(10.0, gt=0, le=1000)
    """How far the true token's reference logit is lowered (open-unlearning: 10)."""
    alpha: float = Field(0.0, ge=0, le=100)
    """Weight of the retain NLL (open-unlearning: 0)."""


@method("undial")
class UNDIAL(Method):
    """Distil the reference with the true token's logit lowered by β."""

    Params = UNDIALParams
    summary = "self-distillation toward reference logits with the true token lowered"
    paper = "Dong et al. 2024, UNDIAL: Self-Distillation with Adjusted Logits"
    kind = "negative"
    uses_reference = True
    lr = 1e-3
    steps = 30
    # Position 1: q = softmax(0.5, 1 - 10, 1) = (0.377530, 0.000028, 0.622442); model log
    # p = (-1.464369, -0.464369, -1.964369): CE = -Σ q log p = 1.775561. Position 2: q =
    # softmax(1, 0, 0 - 10) = (0.731050, 0.268938, 0.000012), model log p = (-1.766368,
    # -2.766368, -0.266368): CE = 2.035288. Mean 1.905425.
    hand_value = 1.905425

    def loss(self, batch: Batch) -> torch.Tensor:
        p = self.params
        labels = batch.forget.labels  # (batch, seq)
        reference = batch.reference_logits(batch.forget)  # (batch, seq, vocab)
        vocab = reference.shape[-1]
        lowered = F.one_hot(labels.clamp(min=0), vocab) * p.beta  # (batch, seq, vocab)
        target = torch.softmax(reference - lowered, dim=-1)  # (batch, seq, vocab)
        forget = soft_cross_entropy(batch.logits(batch.forget), target, labels)
        return forget + p.alpha * retain_term(batch, "nll") if p.alpha else forget
