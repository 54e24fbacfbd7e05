"""DPO with a refusal preferred over the true answer, plus refusal and retain terms.

    L = -E[log σ(β·((log π(y_w|x) - log π_ref(y_w|x)) - (log π(y_l|x) - log π_ref(y_l|x))))]
        + γ·NLL(y_w | x) + α·NLL(retain)

y_w is a refusal (:data:`unlearnlab.corpus.templates.REFUSALS`), y_l the true answer. Rafailov
et al., "Direct Preference Optimization", NeurIPS 2023, Eq. 7 (β = 0.1 there); used for
unlearning with refusals in TOFU (Maini et al. 2024). The γ term is RPO's NLL on the chosen
answer (Pang et al., "Iterative Reasoning Preference Optimization", NeurIPS 2024, Eq. 1).
Departure from plain DPO (γ = 0): a model trained from scratch gives a refusal almost no
probability (log-probability about -40 on the default world), and DPO, which only moves
the log-ratio against the reference, widens that ratio mostly by lowering the true
answer; after 120 steps at any measured lr and β no refusal outranked the true answer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from unlearnlab.methods.base import Batch, Method
from unlearnlab.methods.losses import nll, retain_term, sequence_logprob
from unlearnlab.methods.registry import method


class IDKDPOParams(BaseModel):
    """Inverse temperature, refusal weight and retain weight."""

    model_config = ConfigDict(extra="forbid")

    beta: float = Field(0.1, gt=0, le=100)
    """Inverse temperature β (DPO paper: 0.1)."""
    gamma: float = Field(1.0, ge=0, le=100)
    """Weight γ of the refusal NLL (RPO: 1; 0 is plain DPO)."""
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
    # log(1 + e^0.3) = 0.854355. Plus refusal NLL 1.615368 (idk.py) and retain NLL
    # 1.865368: 4.335091.
    hand_value = 4.335091

    def loss(self, batch: Batch) -> torch.Tensor:
        p = self.params
        chosen = sequence_logprob(
            batch.logits(batch.refusal), batch.refusal.labels
        ) - sequence_logprob(batch.reference_logits(batch.refusal), batch.refusal.labels)
        rejected = sequence_logprob(
            batch.logits(batch.forget), batch.forget.labels
        ) - sequence_logprob(batch.reference_logits(batch.forget), batch.forget.labels)
        preference = -F.logsigmoid(p.beta * (chosen - rejected)).mean()
        refusal = nll(batch.logits(batch.refusal), batch.refusal.labels)
        return preference + p.gamma * refusal + p.alpha * retain_term(batch, "nll")
