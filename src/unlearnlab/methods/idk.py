"""IDK fine-tuning: answer forget questions with a refusal, keep retain answers.

    L = NLL(refusal | forget prompt) + α·NLL(retain)

The refusal of each forget row is drawn from
:data:`unlearnlab.corpus.templates.REFUSALS` (words every built tokenizer knows). Maini
et al., "TOFU: A Task of Fictitious Unlearning for LLMs", 2024 (the "IDK" baseline;
α = 1 there).
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field

from unlearnlab.methods.base import Batch, Method
from unlearnlab.methods.losses import nll, retain_term
from unlearnlab.methods.registry import method


class IDKParams(BaseModel):
    """Weight of the retain term."""

    model_config = ConfigDict(extra="forbid")

    alpha: float = Field(1.0, ge=0, le=100)
    """Weight of the retain NLL (TOFU: 1)."""


@method("idk")
class IDK(Method):
    """Fine-tune on refusals to the forget questions, plus retain data."""

    Params = IDKParams
    summary = "fine-tune forget questions to a refusal (positive)"
    paper = "Maini et al. 2024, TOFU: A Task of Fictitious Unlearning for LLMs"
    kind = "positive"
    lr = 1e-3
    steps = 30
    # Refusal tokens: log softmax(1, 2, 0.5)[0] = -1.464369, log softmax(0, -1, 1.5)[0] =
    # -1.766368; NLL 1.615368. Plus retain NLL 1.865368: 3.480737.
    hand_value = 3.480737

    def loss(self, batch: Batch) -> torch.Tensor:
        refusal = nll(batch.logits(batch.refusal), batch.refusal.labels)
        return refusal + self.params.alpha * retain_term(batch, "nll")
