"""Gradient routing in the training loop: the loss on tokens of routed examples updates
only a region of the model's parameters, the loss on every other token everything else.

Each step's loss (the mean next-token loss over the step's loss positions, as in
:mod:`unlearnlab.models.training`) splits by the example each predicted token belongs to:
``L = L_rest + L_routed``; ``∇L_rest`` goes to the parameters outside the region and
``∇L_routed`` to those inside. A step without routed tokens is computed exactly as
unrouted training computes it, and the region's parameters then get no gradient at all
(not a zero one), so AdamW and gradient clipping leave them and everything else as an
unrouted run would. Cloud et al., "Gradient Routing: Masking Gradients to Localize
Computation in Neural Networks" (2024), Sec. 4.2 routes by a per-token mask in the same
way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from unlearnlab.models.data import IGNORE, Example, RowSource
from unlearnlab.models.training import TrainConfig, token_loss


@dataclass(frozen=True)
class Routing:
    """Which examples are routed, and into which parameters."""

    routed: Sequence[bool]
    """Per training example: whether its tokens' loss trains the region only."""
    region: Callable[[str], bool]
    """Whether the parameter of this name is in the region."""

    def rows(self, examples: Sequence[Example], config: TrainConfig) -> RowSource:
        """Rows laid out exactly as the training rows of ``examples``, whose labels are 1
        where the predicted token belongs to a routed example (0 elsewhere, ``IGNORE``
        where there is no loss)."""
        if len(self.routed) != len(examples):
            raise ValueError(f"{len(self.routed)} routing flags for {len(examples)} examples")
        flags = [
            Example(torch.full_like(ex.ids, int(flag)), ex.loss_mask)
            for ex, flag in zip(examples, self.routed, strict=True)
        ]
        return RowSource(
            flags, seq_len=config.seq_len, pad_id=0, pack=config.pack, seed=config.seed
        )

    def accumulate(
        self,
        model: torch.nn.Module,
        inputs: torch.Tensor,
        labels: torch.Tensor,
        routed: torch.Tensor,
        config: TrainConfig,
    ) -> float:
        """Backpropagate one step's loss over its micro-batches, routed; return the step's
        loss. ``inputs``, ``labels`` and ``routed`` (bool) are ``(rows_per_step, seq)``."""
        region = [p for n, p in model.named_parameters() if p.requires_grad and self.region(n)]
        rest = [p for n, p in model.named_parameters() if p.requires_grad and not self.region(n)]
        device = next(model.parameters()).device
        n_targets = (labels != IGNORE).sum().clamp(min=1)  # () loss positions in the step
        step_loss = 0.0
        for micro in range(config.grad_accum):
            part = slice(micro * config.batch_size, (micro + 1) * config.batch_size)
            x, y = inputs[part].to(device), labels[part].to(device)  # (batch, seq)
            flags = routed[part].to(device)  # (batch, seq)
            logits = model(input_ids=x).logits  # (batch, seq, vocab)
            losses, routes = [], []
            for group, params in ((~flags, rest), (flags, region)):
                if bool((group & (y != IGNORE)).any()):  # skipped: no gradient, not a zero one
                    losses.append(token_loss(logits, y.masked_fill(~group, IGNORE), n_targets))
                    routes.append(params)
            for i, (loss, params) in enumerate(zip(losses, routes, strict=True)):
                grads = torch.autograd.grad(
                    loss, params, retain_graph=i + 1 < len(losses), allow_unused=True
                )
                for param, grad in zip(params, grads, strict=True):
                    if grad is not None:
                        param.grad = grad if param.grad is None else param.grad + grad
                step_loss += loss.item()
        return step_loss
