"""UNDO: unlearn, perturb a copy of the weights, distil the unlearned model into it.

    θ_T = the ``unlearn`` method's run from θ_base (the loop's steps; UNDO's loss is its loss)
    θ_S = (1 - α)·θ_T + α·θ_init          (shrink toward a fresh random initialisation)
    θ_S <- AdamW on KL(π_T || π_S)        (``distill_steps`` steps; π_T frozen)

Lee et al., "Distillation Robustifies Unlearning" (2025), Sec. 4 (UNDO: Unlearn, Noise,
Distill on Outputs): the larger the perturbation α, the more of the suppressed knowledge
the student never inherits, and the more distillation it needs to recover the teacher's
behaviour (the paper sweeps α from 0.1 to 0.8 and trades it against distillation
compute). Departures: the paper distils on its pretraining corpus; here on the run's
forget and retain rows (the teacher's outputs on forget prompts are the unlearned ones),
every real token position, half of each batch from each; its noise is scaled random
weights, here the architecture's own fresh initialisation (``θ_init``, seeded).
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from unlearnlab.methods.base import Batch, Method, Tokens
from unlearnlab.methods.data import UnlearnData, batch_rows, select
from unlearnlab.methods.losses import kl_to_reference
from unlearnlab.methods.registry import METHODS, method, method_create
from unlearnlab.models.data import IGNORE


class UNDOParams(BaseModel):
    """The unlearning method, the perturbation and the distillation."""

    model_config = ConfigDict(extra="forbid")

    unlearn: str = "npo"
    """The method whose run is the teacher (a registered loss method; paper: MaxEnt, RMU)."""
    unlearn_params: dict[str, Any] = Field(default_factory=dict)
    """Its hyper-parameters; unset ones take its defaults."""
    noise: float = Field(0.5, ge=0, le=1)
    """α, the weight of the fresh initialisation in the student (paper: 0.1 to 0.8)."""
    distill_steps: int = Field(100, ge=0, le=100000)
    """AdamW steps of distillation into the perturbed student (paper: thousands)."""
    distill_lr: float = Field(1e-3, gt=0, le=1)
    """Constant learning rate of the distillation."""
    distill_batch: int = Field(32, ge=2, le=4096)
    """Rows per distillation step, half forget and half retain."""

    @field_validator("unlearn")
    @classmethod
    def _loss_method(cls, name: str) -> str:
        if name not in METHODS:
            raise ValueError(str(METHODS.unknown(name)))
        if METHODS[name].kind not in ("negative", "positive") or name == "undo":
            raise ValueError(f"{name} is not an unlearning loss; name one such as npo or rmu")
        return name

    @model_validator(mode="after")
    def _check(self) -> UNDOParams:
        METHODS[self.unlearn].Params(**self.unlearn_params)
        return self


def fresh_weights(model: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """A freshly initialised model of ``model``'s architecture (a Hugging Face model),
    seeded, by parameter name; the global random state is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fresh = type(model)(model.config)
    return {n: p.detach() for n, p in fresh.named_parameters()}


def _positions(tokens: Tokens) -> torch.Tensor:
    """``(batch, seq)`` labels that select every real position (for the KL's average)."""
    return tokens.ids.masked_fill(~tokens.mask, IGNORE)


@method("undo")
class UNDO(Method):
    """Unlearn, mix the weights with a fresh initialisation, distil the teacher back in."""

    Params = UNDOParams
    summary = "unlearn, perturb toward a fresh init, distil the unlearned model into it"
    paper = "Lee et al. 2025, Distillation Robustifies Unlearning (UNDO)"
    kind = "negative"
    uses_reference = True
    lr = 1e-3
    steps = 25
    # The loss is the teacher's: npo with its defaults, 17.586033 (npo.py).
    hand_value = 17.586033

    def __init__(self, params: BaseModel) -> None:
        super().__init__(params)
        p = self.params
        self.teacher_method = method_create(p.unlearn, **p.unlearn_params)  # type: ignore[attr-defined]
        self.seed = 0

    def prepare(self, model: torch.nn.Module, seed: int) -> None:
        self.seed = seed
        self.teacher_method.prepare(model, seed)

    def trains(self, parameter_name: str) -> bool:
        return self.teacher_method.trains(parameter_name)

    def loss(self, batch: Batch) -> torch.Tensor:
        return self.teacher_method.loss(batch)

    def finalize(
        self, model: torch.nn.Module, base: dict[str, torch.Tensor], data: UnlearnData
    ) -> None:
        self.teacher_method.finalize(model, base, data)
        p = self.params
        teacher = deepcopy(model)
        fresh = fresh_weights(model, self.seed)
        with torch.no_grad():
            for name, param in model.named_parameters():
                param.mul_(1.0 - p.noise).add_(fresh[name].to(param.device), alpha=p.noise)
        self.distill(model, teacher, data)

    def distill(
        self, student: torch.nn.Module, teacher: torch.nn.Module, data: UnlearnData
    ) -> None:
        """``distill_steps`` AdamW steps of ``student`` toward ``teacher``'s next-token
        distributions on forget and retain rows; ``student`` is frozen again afterwards."""
        p = self.params
        params = list(student.parameters())
        for param in params:
            param.requires_grad_(True)
        optimizer = torch.optim.AdamW(params, lr=p.distill_lr, weight_decay=0.0)
        half = p.distill_batch // 2
        for step in range(p.distill_steps):
            loss = torch.zeros(())
            for part, tokens in (("forget", data.forget), ("retain", data.retain)):
                rows = select(tokens, batch_rows(len(tokens.ids), half, step, self.seed, part))
                logits = student(input_ids=rows.ids).logits.float()  # (batch, seq, vocab)
                with torch.no_grad():
                    target = teacher(input_ids=rows.ids).logits.float()  # (batch, seq, vocab)
                loss = loss + kl_to_reference(logits, target, _positions(rows)) / 2
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        for param in params:
            param.requires_grad_(False)
