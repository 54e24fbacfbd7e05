"""Task-vector negation: fine-tune on the forget set, then subtract the difference.

    θ_ft = argmin NLL(forget) from θ_base (the loop's steps);  θ = θ_base - λ·(θ_ft - θ_base)

Ilharco et al., "Editing Models with Task Arithmetic", ICLR 2023 (λ chosen on validation
data from [0, 1] there; a model that has memorised its forget set moves little when
fine-tuned on it, so a larger λ is needed here).
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field

from unlearnlab.methods.base import Batch, Method
from unlearnlab.methods.data import UnlearnData
from unlearnlab.methods.losses import nll
from unlearnlab.methods.registry import method


class TaskVectorParams(BaseModel):
    """Scale of the negated task vector."""

    model_config = ConfigDict(extra="forbid")

    scale: float = Field(5.0, ge=0, le=1000)
    """λ, the multiple of (θ_ft - θ_base) subtracted from the base (paper: [0, 1])."""


@method("task_vector")
class TaskVector(Method):
    """Fine-tune toward the forget set, then move the base weights the other way."""

    Params = TaskVectorParams
    summary = "fine-tune on forget, subtract λ x (fine-tuned - base) from the base"
    paper = "Ilharco et al. 2023, Editing Models with Task Arithmetic"
    kind = "negative"
    lr = 1e-2
    steps = 20
    # The fine-tuning loss is NLL(forget) = 0.365368 (ga.py, negated).
    hand_value = 0.3653683

    def loss(self, batch: Batch) -> torch.Tensor:
        return nll(batch.logits(batch.forget), batch.forget.labels)

    def finalize(
        self, model: torch.nn.Module, base: dict[str, torch.Tensor], data: UnlearnData
    ) -> None:
        scale = self.params.scale
        with torch.no_grad():
            for name, param in model.named_parameters():
                start = base[name].to(param.device)
                param.copy_(start - scale * (param - start))
