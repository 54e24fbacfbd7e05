"""DPO with a refusal preferred over the true answer, plus a retain term.

    L = -E[log σ(β·((log π(y_w|x) - log π_ref(y_w|x)) - (log π(y_l|x) - log π_ref(y_l|x))))]
        + α·NLL(retain)

y_w is a refusal (:data:`unlearnlab.corpus.templates.REFUSALS`), y_l the true answer. Rafailov
et al., "Direct Preference Optimization", NeurIPS 2023, Eq. 7 (β = 0.1 there); used for
unlearning with refusals in TOFU (Maini et al. 2024).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from unlearnlab.methods.base import Batch, Method
from unlearnlab.methods.losses import retain_term, sequence_logprob
from unlearnlab.methods.registry import method


class IDKDPOParams(BaseModel):
    """Inverse temperature and retain weight."""

    model_config = ConfigDict(extra="forbid")

    beta: float = Field(0.1, gt=0, le=100)
    """Inverse temperature β (DPO paper: 0.1)."""
    alpha: float = Field(1.0, ge=0, le=100)
    """Weight of the retain NLL (TOFU: 1)."""


@method("idk_dpo")
class IDKDPO(Method):
    """Direct preference optimisation: refusal preferred, true answer rejected."""

    Params = IDKDPOParams
    summary = "DPO with the refusal preferred over the true answer (positive)"
    paper = "Rafailov et al. 2023, Direct Preference Optimization"
    kind = "positive"
    uses_reference = True
    lr = 1e-3
    steps = 30
    # Chosen (refusal) log-ratio: (-1.464369 - 1.766368) - (log softmax(0.5, 1, 1)[0] +
    # log softmax(1, 0, 0)[0]) = -3.230737 - (-1.458020 - 0.551445) = -1.221272. Rejected
    # (forget) log-ratio 1.778728 (npo.py); difference -3. -log σ(0.1·(-3)) =
    # log(1 + e^0.3) = 0.854355. Plus retain NLL 1.865368: 2.719724.
    hand_value = 2.719724

    def loss(self, batch: Batch) -> torch.Tensor:
        p = self.params
        chosen = sequence_logprob(
            batch.logits(batch.refusal), batch.refusal.labels
        ) - sequence_logprob(batch.reference_logits(batch.refusal), batch.refusal.labels)
        rejected = sequence_logprob(
            batch.logits(batch.forget), batch.forget.labels
        ) - sequence_logprob(batch.reference_logits(batch.forget), batch.forget.labels)
        preference = -F.logsigmoid(p.beta * (chosen - rejected)).mean()
        return preference + p.alpha * retain_term(batch, "nll")
