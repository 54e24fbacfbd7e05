"""Sham unlearning: the retain loss alone, a control, not a method.

    L = α·NLL(retain)

The same loop, data, learning rate and steps as a method's run, without any forget term:
what changes under it (reasoning on composites, premise retention) is the drift of the
unlearning loop itself, which a method's own change must exceed before it is attributed to
forgetting. The study runs it at every method's selected learning rate and steps.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field

from unlearnlab.methods.base import Batch, Method
from unlearnlab.methods.losses import retain_term
from unlearnlab.methods.registry import method, method_create


class ShamParams(BaseModel):
    """Weight of the retain NLL (the only term)."""

    model_config = ConfigDict(extra="forbid")

    alpha: float = Field(1.0, gt=0, le=100)
    """Weight of the retain NLL."""
    like: str | None = None
    """A method whose trained weights the sham trains (rmu: a few MLP projections), built
    with ``like_params``; None trains every weight."""
    like_params: dict[str, Any] = Field(default_factory=dict)
    """Hyper-parameters of ``like``."""


@method("sham")
class Sham(Method):
    """The retain loss alone: the loop's drift, for comparison with every method."""

    Params = ShamParams
    summary = "control: the retain loss alone, same loop, lr and steps"
    paper = "control run (no forget term); see the design notes on controls"
    kind = "control"
    lr = 1e-3
    steps = 25
    # Retain tokens: log softmax(1, 2, 0.5)[2] = -1.964369, log softmax(0, -1, 1.5)[0] =
    # -1.766368; NLL = mean 1.865368 (gd.py).
    hand_value = 1.8653685

    def __init__(self, params: BaseModel) -> None:
        super().__init__(params)
        like = self.params.like
        self.like = None if like is None else method_create(like, **self.params.like_params)

    def prepare(self, model: torch.nn.Module, seed: int) -> None:
        if self.like is not None:
            self.like.prepare(model, seed)

    def trains(self, parameter_name: str) -> bool:
        return self.like is None or self.like.trains(parameter_name)

    def loss(self, batch: Batch) -> torch.Tensor:
        return self.params.alpha * retain_term(batch, "nll")
