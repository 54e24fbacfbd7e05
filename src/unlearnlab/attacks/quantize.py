"""Quantization: every linear layer's weight rounded to 8 or 4 bits and de-quantized.

``backend: rtn`` (any machine): symmetric round-to-nearest. Each output channel (row of a
``(out, in)`` weight) is cut into groups of ``group_size`` input columns (default: the
whole row); each group gets its own scale, max|w| / qmax with qmax = 2^(bits-1) - 1, and
its weights become round(w / scale) * scale, clamped to [-qmax, qmax] levels.

``backend: bnb`` (a CUDA GPU and the ``gpu`` extra): bitsandbytes' own quantizers, 8-bit
row-wise absmax as in LLM.int8() (Dettmers et al. 2022, without the outlier split) and
4-bit NF4 in blocks of ``group_size`` (default 64) as in QLoRA (Dettmers et al. 2023).

The model stays in float32 with the de-quantized weights, so recall measures only the
rounding (the "quantization undoes unlearning" effect, Zhang et al. 2024, "Catastrophic
Failure of LLM Unlearning via Quantization"), not int kernels.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from unlearnlab.attacks.base import Attack, AttackTarget, Curve, CurvePoint, measure
from unlearnlab.attacks.registry import attack
from unlearnlab.errors import UserError


class QuantizeParams(BaseModel):
    """Bit width, group size and backend."""

    model_config = ConfigDict(extra="forbid")

    bits: Literal[4, 8] = 8
    """Bits per weight (symmetric: 2^bits - 1 levels)."""
    group_size: int | None = Field(None, ge=1)
    """Input columns sharing one scale; null: one scale per output channel (rtn), blocks
    of 64 (bnb 4-bit). bnb 8-bit is always per row."""
    backend: Literal["rtn", "bnb"] = "rtn"
    """rtn: round-to-nearest here; bnb: bitsandbytes on a CUDA GPU."""


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


def bnb_available() -> None:
    """Nothing if bitsandbytes can run here; a :class:`UserError` naming the fix if not."""
    if importlib.util.find_spec("bitsandbytes") is None:
        raise UserError(
            "quantize.backend bnb needs bitsandbytes: pip install 'unlearnlab[gpu]' "
            "(or use backend: rtn, which runs anywhere)"
        )
    if not torch.cuda.is_available():
        raise UserError(
            "quantize.backend bnb needs a CUDA GPU, and none is visible; "
            "use backend: rtn on this machine"
        )


def quantize_bnb(weight: torch.Tensor, bits: int, group_size: int | None = None) -> torch.Tensor:
    """The ``(out, in)`` ``weight`` through bitsandbytes' quantizer and back (on the GPU),
    in the weight's dtype and device."""
    bnb_available()
    import bitsandbytes.functional as bnbf

    on_gpu = weight.detach().to("cuda", torch.float16)  # (out, in)
    if bits == 8:
        levels, row_scale, _ = bnbf.int8_vectorwise_quant(on_gpu)  # (out, in), (out,)
        back = bnbf.int8_vectorwise_dequant(levels, row_scale)
    else:
        packed, state = bnbf.quantize_4bit(on_gpu, blocksize=group_size or 64, quant_type="nf4")
        back = bnbf.dequantize_4bit(packed, state)
    return back.to(weight.device, weight.dtype)


def quantize_model(model: torch.nn.Module, params: QuantizeParams) -> None:
    """Quantize every ``torch.nn.Linear`` weight of ``model`` in place (de-quantized back
    to its dtype) with ``params``' bits, group size and backend."""
    quantizer = quantize_rtn if params.backend == "rtn" else quantize_bnb
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Linear):
                module.weight.copy_(quantizer(module.weight, params.bits, params.group_size))


@attack("quantize")
class Quantize(Attack):
    """Quantization of every ``torch.nn.Linear`` weight; curve points 0 (as loaded) and 1
    (quantized)."""

    Params = QuantizeParams
    on_items = True

    def run(self, model_dir: Path, target: AttackTarget) -> Curve:
        """Recall of ``target.facts`` before and after quantizing the model."""
        params: QuantizeParams = self.params  # type: ignore[assignment]
        bench = target.bench
        model = bench.model(model_dir)
        quantize_model(model, params)
        after = measure(model, bench.queries(model_dir, target.facts))
        return [CurvePoint(0, bench.untouched(model_dir, target.facts)), CurvePoint(1, after)]
