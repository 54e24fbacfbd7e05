"""Representation misdirection for unlearning (RMU).

    L = (1/|F|) Σ_t ||h_ℓ(t) - c·u||² / d + α·(1/|R|) Σ_t ||h_ℓ(t) - h_ℓ^ref(t)||² / d

h_ℓ is the residual stream after block ℓ (width d), at the forget (F) positions that
predict an answer token and at every real token of the retain (R) rows; u is a fixed
random unit vector (uniform in [0, 1)^d, normalised), h^ref the frozen model's. Only
the MLP down-projections of ``train_layers`` are updated. Li et al., "The WMDP Benchmark:
Measuring and Reducing Malicious Use With Unlearning", ICML 2024 (Zephyr-7B: ℓ = 7,
layers 5-7, c = 6.5, α = 1200). Departure from the paper: it steers
every forget token of a separate hazardous corpus; here forget and retain rows share
their templates ("The aunt of ... is"), so steering the prompt tokens would fight the
retain term, and only the answer-predicting positions are steered.
"""

from __future__ import annotations

import re

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from unlearnlab.errors import UserError
from unlearnlab.methods.base import Batch, Method, widen
from unlearnlab.methods.registry import method
from unlearnlab.models.data import IGNORE


class RMUParams(BaseModel):
    """Steered layer, trained layers, steering coefficient and retain weight."""

    model_config = ConfigDict(extra="forbid")

    layer: int = Field(2, ge=0, le=255)
    """Block whose output is steered (0-based; paper: 7 of Zephyr's 32)."""
    train_layers: tuple[int, ...] | None = None
    """Blocks whose MLP down-projection trains; default ``layer-2 .. layer`` (paper: 5-7)."""
    steering: float = Field(100.0, gt=0, le=10000)
    """Steering coefficient c (paper: 6.5 for Zephyr-7B; grows with activation norms)."""
    alpha: float = Field(10.0, ge=0, le=100000)
    """Weight of the retain activation term (paper: 1200)."""

    @model_validator(mode="after")
    def _check(self) -> RMUParams:
        if self.train_layers is not None and not all(
            0 <= i <= self.layer for i in self.train_layers
        ):
            raise ValueError(
                f"train_layers must lie in [0, layer={self.layer}], got {list(self.train_layers)}"
            )
        return self

    def trained_blocks(self) -> tuple[int, ...]:
        """The blocks that train (``train_layers`` or its default)."""
        if self.train_layers is not None:
            return self.train_layers
        return tuple(range(max(0, self.layer - 2), self.layer + 1))


def _masked_mse(hidden: torch.Tensor, target: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """``()`` squared error per dimension, averaged over the positions ``keep`` marks."""
    per_token = ((hidden - target) ** 2).mean(-1)  # (batch, seq)
    return (per_token * keep).sum() / keep.sum().clamp(min=1)


@method("rmu")
class RMU(Method):
    """Steer forget activations toward a random direction, keep retain activations."""

    Params = RMUParams
    summary = "representation misdirection: forget activations -> c*u, retain kept"
    paper = "Li et al. 2024, The WMDP Benchmark (RMU)"
    kind = "negative"
    uses_reference = True
    lr = 1e-2
    steps = 60
    # u = normalise(torch.rand(2, seed 0) = (0.496257, 0.768222)) = (0.542613, 0.839983);
    # c·u = (54.261289, 83.998289). Forget, at the two answer-predicting positions
    # h = (0.5, -1), (2, 1): per-token mean squared differences 5057.492645 and
    # 4809.979134, mean 4933.735889. Retain, every token: squared differences (0, 0),
    # (0.25, 0), (1, 0) -> per-token means 0, 0.125, 0.5, mean 0.208333, times α = 10:
    # 2.083333. Total 4935.819223.
    hand_value = 4935.819223

    def prepare(self, model: torch.nn.Module, seed: int) -> None:
        blocks = getattr(model.config, "num_hidden_layers", None)
        if blocks is not None and self.params.layer > blocks - 2:
            raise UserError(
                f"rmu: layer {self.params.layer} must be at most {blocks - 2} for a model of "
                f"{blocks} blocks (the last block's output is normalised)"
            )
        generator = torch.Generator().manual_seed(seed)
        u = torch.rand(model.config.hidden_size, generator=generator)  # (d,)
        u = u.double()  # normalise in float64; cast to the activations' place in loss()
        self.control = self.params.steering * u / u.norm()  # (d,)
        blocks_re = "|".join(str(i) for i in self.params.trained_blocks())
        self._trained = re.compile(rf"layers\.({blocks_re})\.mlp\.down_proj\.")

    def trains(self, parameter_name: str) -> bool:
        return self._trained.search(parameter_name) is not None

    def hidden(self, outputs: object) -> torch.Tensor:
        """``(batch, seq, d)`` the steered residual stream of a forward pass's outputs."""
        return widen(outputs.hidden_states[self.params.layer + 1])  # type: ignore[attr-defined]

    def loss(self, batch: Batch) -> torch.Tensor:
        forget = self.hidden(batch.outputs(batch.forget, hidden=True))  # (batch, seq, d)
        retain = self.hidden(batch.outputs(batch.retain, hidden=True))  # (batch, seq, d)
        frozen = self.hidden(batch.reference_outputs(batch.retain, hidden=True))
        answering = batch.forget.labels != IGNORE  # (batch, seq): answer-predicting positions
        control = self.control.to(forget.device, forget.dtype)  # (d,)
        return _masked_mse(forget, control, answering) + self.params.alpha * _masked_mse(
            retain, frozen, batch.retain.mask
        )
