"""Negative preference optimisation (NPO), with an optional retain term.

    L = -(2/β)·E[log σ(-β·(log π(y|x) - log π_ref(y|x)))] + α·NLL(retain)

Zhang et al., "Negative Preference Optimization: From Catastrophic Collapse to Effective
Unlearning", COLM 2024, Eq. 3 (NPO) and Sec. 5 (NPO-RT, the retain term). As β -> 0 the
gradient becomes gradient ascent's on the summed sequence log-likelihood.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field

from unlearnlab.methods.base import Batch, Method
from unlearnlab.methods.losses import npo_term, retain_term, sequence_logprob
from unlearnlab.methods.registry import method


class NPOParams(BaseModel):
    """Inverse temperature and retain weight."""

    model_config = ConfigDict(extra="forbid")

    beta: float = Field(0.1, gt=0, le=100)
    """Inverse temperature β (paper: 0.1)."""
    alpha: float = Field(1.0, ge=0, le=100)
    """Weight of the retain NLL (paper's NPO-RT: 1; 0 gives plain NPO)."""


@method("npo")
class NPO(Method):
    """Negative preference optimisation against the model before unlearning."""

    Params = NPOParams
    summary = "negative preference optimisation (bounded gradient ascent vs reference)"
    paper = "Zhang et al. 2024, Negative Preference Optimization"
    kind = "negative"
    uses_reference = True
    lr = 1e-3
    steps = 25
    # log π(y|x) = -0.464369 - 0.266368 = -0.730737; log π_ref(y|x) = log softmax(0.5, 1,
    # 1)[1] + log softmax(1, 0, 0)[2] = -0.958020 - 1.551445 = -2.509465; r = 1.778728.
    # -(2/0.1)·log σ(-0.1778728) = 20·log(1 + e^0.1778728) = 15.720665. Retain NLL
    # 1.865368 (gd.py). Total 17.586033.
    hand_value = 17.586033

    def loss(self, batch: Batch) -> torch.Tensor:
        p = self.params
        policy = sequence_logprob(batch.logits(batch.forget), batch.forget.labels)  # (batch,)
        reference = sequence_logprob(
            batch.reference_logits(batch.forget), batch.forget.labels
        )  # (batch,)
        forget = npo_term(policy - reference, p.beta)
        return forget + p.alpha * retain_term(batch, "nll") if p.alpha else forget
