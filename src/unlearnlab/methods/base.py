"""What an unlearning method is: a hyper-parameter model, a loss on a batch of forget,
retain and refusal rows, and optional hooks (which parameters train, set-up on the model,
a final weight edit). The shared loop in :mod:`unlearnlab.methods.loop` does the rest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from pydantic import BaseModel

Kind = Literal["negative", "positive", "exact", "control"]


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

    def outputs(self, tokens: Tokens, *, hidden: bool = False) -> Any:
        """The trained model's forward pass on ``tokens`` (with gradients)."""
        return self.model(input_ids=tokens.ids, output_hidden_states=hidden)

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

    A subclass sets the class attributes below and overrides :meth:`loss` (or, for exact
    unlearning, sets ``kind = "exact"`` and has no loss).
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
    """negative ("not this"), positive ("this instead"), exact (retraining) or control
    (no forget term: the loop's drift, compared with every method)."""
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

    def finalize(self, model: torch.nn.Module, base: dict[str, torch.Tensor]) -> None:
        """Edit ``model``'s weights after the last step; ``base`` holds the weights before."""
