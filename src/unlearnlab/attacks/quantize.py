"""Quantization: symmetric round-to-nearest (RTN) weight quantization of every linear layer.

Each output channel (row of a ``(out, in)`` weight) is cut into groups of ``group_size``
input columns (default: the whole row); each group gets its own scale, max|w| / qmax with
qmax = 2^(bits-1) - 1, and its weights become round(w / scale) * scale, clamped to
[-qmax, qmax] levels. The model is de-quantized in float32, so recall measures only the
rounding (the "quantization undoes unlearning" effect), not int kernels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from unlearnlab.attacks.base import Attack, AttackTarget, Curve, CurvePoint, measure
from unlearnlab.attacks.registry import attack
from unlearnlab.errors import UserError
from unlearnlab.models.factory import load_model, load_tokenizer
from unlearnlab.probes.knowledge import QueryIndex


class QuantizeParams(BaseModel):
    """Bit width and group size."""

    model_config = ConfigDict(extra="forbid")

    bits: Literal[4, 8] = 8
    """Bits per weight (symmetric: 2^bits - 1 levels)."""
    group_size: int | None = Field(None, ge=1)
    """Input columns sharing one scale; null: one scale per output channel."""


def quantize_rtn(weight: torch.Tensor, bits: int, group_size: int | None = None) -> torch.Tensor:
    """The ``(out, in)`` ``weight`` rounded to ``bits``-bit levels per output channel and
    group (see the module docstring), de-quantized to the weight's dtype."""
    rows, columns = weight.shape
    group = group_size or columns
    if columns % group:
        raise UserError(
            f"quantize.group_size {group} does not divide a layer's {columns} input columns; "
            "use a divisor of every layer's width or null (one group per row)"
        )
    grouped = weight.float().reshape(rows, columns // group, group)  # (out, groups, group)
    qmax = 2 ** (bits - 1) - 1
    scale = grouped.abs().amax(-1, keepdim=True) / qmax  # (out, groups, 1)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    levels = torch.round(grouped / scale).clamp(-qmax, qmax)  # (out, groups, group)
    return (levels * scale).reshape(rows, columns).to(weight.dtype)


@attack("quantize")
class Quantize(Attack):
    """RTN quantization of every ``torch.nn.Linear`` weight; curve points 0 (as loaded)
    and 1 (quantized)."""

    Params = QuantizeParams

    def run(self, model_dir: Path, target: AttackTarget) -> Curve:
        """Recall of ``target.facts`` before and after quantizing the model."""
        params: QuantizeParams = self.params  # type: ignore[assignment]
        tokenizer = load_tokenizer(model_dir)
        model = load_model(model_dir)
        index = QueryIndex.build(target.substrate.world)
        before = measure(model, tokenizer, target, target.facts, index)
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, torch.nn.Linear):
                    module.weight.copy_(quantize_rtn(module.weight, params.bits, params.group_size))
        after = measure(model, tokenizer, target, target.facts, index)
        return [CurvePoint(0, before), CurvePoint(1, after)]
