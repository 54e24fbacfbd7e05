"""Exact unlearning: the oracle, retrained from scratch without any forget document.

Not a loss: the loop returns the experiment's oracle from the model store (trained once,
a cache hit afterwards). Bourtoule et al., "Machine Unlearning", IEEE S&P 2021, is the
reference for exact unlearning by retraining.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from unlearnlab.methods.base import Method
from unlearnlab.methods.config import UnlearnConfig
from unlearnlab.methods.registry import method
from unlearnlab.models.store import ModelStore
from unlearnlab.substrate.build import Substrate, train_reference_model


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

    def model_key(self, substrate: Substrate, config: UnlearnConfig) -> str:
        return substrate.key("oracle")

    def train_model(
        self, substrate: Substrate, config: UnlearnConfig, store: ModelStore, *, show_progress: bool
    ) -> Path:
        return train_reference_model(substrate, "oracle", store, show_progress=show_progress)
