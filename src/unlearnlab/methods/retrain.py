"""Exact unlearning: the oracle, retrained from scratch without any forget document.

Not a loss: the loop returns the experiment's oracle from the model store (trained once,
a cache hit afterwards). Bourtoule et al., "Machine Unlearning", IEEE S&P 2021, is the
reference for exact unlearning by retraining.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from unlearnlab.methods.base import Method
from unlearnlab.methods.registry import method


class RetrainParams(BaseModel):
    """Retraining has no hyper-parameters: it is the oracle of the experiment."""

    model_config = ConfigDict(extra="forbid")


@method("retrain")
class Retrain(Method):
    """The oracle model (retrained without the forget targets)."""

    Params = RetrainParams
    summary = "exact unlearning: the oracle retrained without the forget targets"
    paper = "Bourtoule et al. 2021, Machine Unlearning"
    kind = "exact"
