"""Compute: the floating-point operations spent to make a model.

The standard estimate of Kaplan et al., "Scaling Laws for Neural Language Models" (2020,
Sec. 2.1), also ``transformers``' ``floating_point_ops``: a forward pass costs ``2·N``
FLOPs per token and its backward pass ``4·N`` more, where ``N`` is the number of
non-embedding parameters (the attention-score term is left out, as there). Tokens are
every position a pass computes, padding included. So a training step on ``T`` tokens
costs ``6·N·T`` and a frozen model's forward pass (a reference, a teacher) ``2·N·T``.

:class:`FlopCounter` measures it: it watches models and adds each forward pass's cost,
``6·N·T`` when gradients are enabled and the model has trainable parameters, else
``2·N·T``. A deep copy of a watched model is watched too (the hook travels with the
module), so the inner loops and distillation copies of a method are counted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from unlearnlab.models.factory import SIDECAR

COMPUTE_PROBE = "compute.flops"
"""The probe name of the results row that records a model's FLOPs (``value``)."""
FORWARD = 2
"""FLOPs per parameter per token of a forward pass."""
TRAIN = 6
"""FLOPs per parameter per token of a forward and backward pass."""


def flop_params(model: torch.nn.Module) -> int:
    """``N``: the parameters of ``model`` outside its embedding tables (each tensor once,
    so a tied output projection is not counted either)."""
    embeddings = {
        id(p) for m in model.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters()
    }
    seen: set[int] = set()
    total = 0
    for param in model.parameters():
        if id(param) not in embeddings and id(param) not in seen:
            seen.add(id(param))
            total += param.numel()
    return total


def recorded_flops(folder: Path) -> float | None:
    """The FLOPs the sidecar of the model in ``folder`` records (None: not recorded)."""
    sidecar = json.loads((Path(folder) / SIDECAR).read_text(encoding="utf-8"))
    flops = sidecar.get("flops")
    return None if flops is None else float(flops)


def training_flops(params: int, tokens: int) -> float:
    """FLOPs of training ``params`` non-embedding parameters on ``tokens`` tokens."""
    return float(TRAIN * params * tokens)


def _tokens(args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    ids = kwargs.get("input_ids", args[0] if args else None)
    return int(ids.numel()) if isinstance(ids, torch.Tensor) else 0


class FlopCounter:
    """Adds up the FLOPs of the forward (and backward) passes of the models it watches."""

    def __init__(self) -> None:
        self.flops = 0.0
        """FLOPs counted so far."""
        self._paused = 0
        self._closed = False
        self._handles: list[Any] = []

    def watch(self, model: torch.nn.Module) -> None:
        """Count every forward pass of ``model`` (and of deep copies made of it later)."""
        params = flop_params(model)

        def hook(module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            if self._paused or self._closed:
                return
            trains = torch.is_grad_enabled() and any(p.requires_grad for p in module.parameters())
            self.flops += float((TRAIN if trains else FORWARD) * params * _tokens(args, kwargs))

        self._handles.append(model.register_forward_pre_hook(hook, with_kwargs=True))

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Passes inside this block are not counted (evaluations, logging)."""
        self._paused += 1
        try:
            yield
        finally:
            self._paused -= 1

    def close(self) -> None:
        """Stop counting: hooks are removed from the watched models, and those left on
        copies count nothing more."""
        self._closed = True
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


@contextmanager
def counting(*models: torch.nn.Module | None) -> Iterator[FlopCounter]:
    """A :class:`FlopCounter` watching ``models`` (None entries skipped) for the block."""
    counter = FlopCounter()
    for model in models:
        if model is not None:
            counter.watch(model)
    try:
        yield counter
    finally:
        counter.close()
