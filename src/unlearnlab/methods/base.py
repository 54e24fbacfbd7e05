"""What an unlearning method is: a hyper-parameter model, a loss on a batch of forget,
retain and refusal rows, and optional hooks (which parameters train, set-up on the model,
a final weight edit). The shared loop in :mod:`unlearnlab.methods.loop` does the rest."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch
from pydantic import BaseModel

if TYPE_CHECKING:
    from pathlib import Path

    from unlearnlab.methods.config import UnlearnConfig
    from unlearnlab.methods.data import UnlearnData
    from unlearnlab.models.store import ModelStore
    from unlearnlab.substrate.build import Substrate

Kind = Literal["negative", "positive", "exact", "training", "control"]


def widen(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float32 at least (float64 stays float64, for exact hand-computed checks)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


@dataclass(frozen=True)
class Tokens:
    """Right-padded prompt/answer rows; loss only on answer tokens."""

    ids: torch.Tensor
    """``(batch, seq)`` input token ids."""
    labels: torch.Tensor
    """``(batch, seq)`` next-token targets, ``IGNORE`` (-100) where there is no loss."""
    mask: torch.Tensor
    """``(batch, seq)`` bool, True at real (not padding) input positions."""

    def to(self, device: torch.device) -> Tokens:
        """These rows with every tensor on ``device``."""
        return Tokens(self.ids.to(device), self.labels.to(device), self.mask.to(device))


@dataclass(frozen=True)
class Batch:
    """One step's data and the models a loss may read.

    ``refusal`` row ``i`` asks ``forget`` row ``i``'s question with a refusal as answer.
    """

    model: torch.nn.Module
    reference: torch.nn.Module | None
    forget: Tokens
    retain: Tokens
    refusal: Tokens

    seen: dict[int, torch.Tensor] = field(default_factory=dict, repr=False, compare=False)
    """The detached logits of the latest forward pass on each rows (by ``id``) this step:
    the loop logs the step's losses from them instead of running the model again."""

    def outputs(self, tokens: Tokens, *, hidden: bool = False) -> Any:
        """The trained model's forward pass on ``tokens`` (with gradients)."""
        out = self.model(input_ids=tokens.ids, output_hidden_states=hidden)
        self.seen[id(tokens)] = out.logits.detach()
        return out

    def logits(self, tokens: Tokens) -> torch.Tensor:
        """``(batch, seq, vocab)`` float32 logits of the trained model."""
        return widen(self.outputs(tokens).logits)

    def reference_outputs(self, tokens: Tokens, *, hidden: bool = False) -> Any:
        """The frozen reference model's forward pass (no gradients)."""
        if self.reference is None:
            raise RuntimeError("this method needs a reference model; set uses_reference")
        with torch.no_grad():
            return self.reference(input_ids=tokens.ids, output_hidden_states=hidden)

    def reference_logits(self, tokens: Tokens) -> torch.Tensor:
        """``(batch, seq, vocab)`` float32 logits of the reference (the model before)."""
        return widen(self.reference_outputs(tokens).logits)


class Method:
    """Base class of unlearning methods; subclasses register with ``@method(name)``.

    A subclass sets the class attributes below and overrides :meth:`loss`; an exact or a
    training-time method (``kind = "exact"`` or ``"training"``: its model is trained from
    the corpus, not unlearned from the base model) overrides :meth:`model_key` and
    :meth:`train_model` instead.
    """

    name: ClassVar[str]
    """Registered name (set by the decorator)."""
    Params: ClassVar[type[BaseModel]]
    """Hyper-parameters: pydantic, ``extra="forbid"``, ranges checked."""
    summary: ClassVar[str]
    """One line for ``unlearnlab list methods``."""
    paper: ClassVar[str]
    """The paper the method comes from."""
    kind: ClassVar[Kind]
    """negative ("not this"), positive ("this instead"), exact (retraining), training (a
    training-time method) or control (no forget term: the loop's drift, compared with every
    method)."""
    uses_reference: ClassVar[bool] = False
    """Whether the loss reads a frozen copy of the model before unlearning."""
    lr: ClassVar[float] = 1e-3
    """Default learning rate on the default world."""
    steps: ClassVar[int] = 30
    """Default number of optimizer steps on the default world."""
    hand_value: ClassVar[float | None] = None
    """The loss with default parameters on :data:`~unlearnlab.methods.handcase.HAND_CASE`,
    worked out by hand (the arithmetic is written beside each value)."""

    def __init__(self, params: BaseModel) -> None:
        self.params = params

    def prepare(self, model: torch.nn.Module, seed: int) -> None:
        """Set-up before the first step (e.g. draw a random direction)."""

    def trains(self, parameter_name: str) -> bool:
        """Whether the parameter named ``parameter_name`` is updated (default: all)."""
        return True

    def loss(self, batch: Batch) -> torch.Tensor:
        """The scalar loss of one step; the loop minimises it."""
        raise NotImplementedError(f"method {self.name!r} ({self.kind}) has no loss")

    def finalize(
        self, model: torch.nn.Module, base: dict[str, torch.Tensor], data: UnlearnData
    ) -> None:
        """Edit ``model``'s weights after the last step; ``base`` holds the weights before,
        ``data`` the run's rows (for a method that trains on after its steps)."""

    def model_key(self, substrate: Substrate, config: UnlearnConfig) -> str:
        """Exact and training-time methods: the store key of the model they train."""
        raise NotImplementedError(f"method {self.name!r} ({self.kind}) unlearns the base model")

    def train_model(
        self, substrate: Substrate, config: UnlearnConfig, store: ModelStore, *, show_progress: bool
    ) -> Path:
        """Exact and training-time methods: train their model from the corpus (or take it
        from the store) and return its folder; its sidecar's ``flops`` is the compute
        spent."""
        raise NotImplementedError(f"method {self.name!r} ({self.kind}) unlearns the base model")
