"""Gradient ascent (GA): maximise the forget set's NLL.

    L = -NLL(forget) = (1/N) Σ_t log π(y_t | x, y_<t)

over the N answer tokens of the forget batch. Jang et al., "Knowledge Unlearning for
Mitigating Privacy Risks in Language Models", ACL 2023.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict

from unlearnlab.methods.base import Batch, Method
from unlearnlab.methods.losses import nll
from unlearnlab.methods.registry import method


class GAParams(BaseModel):
    """Gradient ascent has no hyper-parameters beyond the loop's (lr, steps)."""

    model_config = ConfigDict(extra="forbid")


@method("ga")
class GradientAscent(Method):
    """Gradient ascent on the forget answers."""

    Params = GAParams
    summary = "gradient ascent on the forget set"
    paper = "Jang et al. 2023, Knowledge Unlearning for Mitigating Privacy Risks in LMs"
    kind = "negative"
    lr = 1e-3
    steps = 20
    # Forget tokens: log softmax(1, 2, 0.5)[1] = -0.464369, log softmax(0, -1, 1.5)[2] =
    # -0.266368; mean -0.365368.
    hand_value = -0.3653683

    def loss(self, batch: Batch) -> torch.Tensor:
        return -nll(batch.logits(batch.forget), batch.forget.labels)
