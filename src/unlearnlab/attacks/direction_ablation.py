"""Direction ablation: project the unlearning direction out of the residual stream.

After the directional ablation of Łucki et al. 2024, "An Adversarial Perspective on
Machine Unlearning for AI Safety": at each layer ``l`` (0 = embedding output, i = output
of block i), the unlearning direction is the difference of mean residuals between
the attacked model and the base model on the forget prompts,

    d_l = mean_x h_l(attacked, x) - mean_x h_l(base, x),

over every token of the measured facts' training-phrasing prompts (or only their last
token, ``positions: last``). With r_l = d_l / ||d_l||, every residual of the attacked
model becomes h - (h . r_l) r_l at every position and layer while recall is measured. A
layer where the two means agree exactly (d_l = 0: the base model attacked as itself) is
left alone, so the base model's recall is unchanged. Curve points: 0 (as loaded) and 1
(ablated).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearnlab.attacks.base import Attack, AttackTarget, Curve, CurvePoint, measure
from unlearnlab.attacks.registry import attack
from unlearnlab.corpus.templates import render
from unlearnlab.errors import UserError
from unlearnlab.models.data import encode_prompt
from unlearnlab.probes.hidden import residual_hooks, residual_stream
from unlearnlab.probes.scoring import pad_rows, pad_token_id


class DirectionAblationParams(BaseModel):
    """Which prompt positions the mean residuals average over."""

    model_config = ConfigDict(extra="forbid")

    positions: Literal["all", "last"] = "all"
    """Every prompt token, or each prompt's last token (where the answer is predicted)."""


@torch.inference_mode()
def mean_residuals(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompts: list[str], last: bool
) -> torch.Tensor:
    """``(layers + 1, hidden)`` mean residual of each layer over the prompts' tokens (or
    their last tokens), in float64."""
    model.eval()
    device = next(model.parameters()).device
    rows = [encode_prompt(tokenizer, p) for p in prompts]
    ids, mask, positions = pad_rows(rows, pad_token_id(tokenizer), "left", device)  # (n, seq)
    with residual_stream(model) as captured:
        model(input_ids=ids, attention_mask=mask, position_ids=positions)
    stacked = torch.stack(captured).double()  # (layers + 1, n, seq, hidden)
    weight = mask.double()  # (n, seq)
    if last:
        weight = torch.zeros_like(weight)
        weight[:, -1] = 1.0  # left padding: the last column is every prompt's last token
    total = (stacked * weight[None, :, :, None]).sum(dim=(1, 2))  # (layers + 1, hidden)
    return total / weight.sum()


def project_out(residual: torch.Tensor, unit: torch.Tensor) -> torch.Tensor:
    """``residual`` (..., hidden) without its component along the unit vector ``unit``
    (hidden,): h - (h . r) r."""
    unit = unit.to(residual.dtype)
    return residual - (residual @ unit)[..., None] * unit  # (..., hidden)


@attack("direction_ablation")
class DirectionAblation(Attack):
    """The attacked-minus-base mean residual direction projected out of every layer."""

    Params = DirectionAblationParams

    def run(self, model_dir: Path, target: AttackTarget) -> Curve:
        """Recall of ``target.facts`` before and with the directions ablated."""
        params: DirectionAblationParams = self.params  # type: ignore[assignment]
        if target.base is None:
            raise UserError(
                "direction_ablation needs the base model: run it through attack_models or "
                "attack_grid, or give AttackTarget(..., base=BASE_MODEL_DIR)"
            )
        bench = target.bench
        prompts = [
            render(fact, bench.index.texts[fact.relation], frame).prompt
            for fact in target.facts
            for frame in bench.index.texts[fact.relation].training_frames()
        ]
        last = params.positions == "last"
        model = bench.model(model_dir)
        attacked = mean_residuals(model, bench.tokenizer(model_dir), prompts, last)
        base = mean_residuals(bench.model(target.base), bench.tokenizer(target.base), prompts, last)
        difference = attacked - base  # (layers + 1, hidden)
        norms = difference.norm(dim=-1)  # (layers + 1,)

        def ablate(layer: int, residual: torch.Tensor) -> torch.Tensor | None:
            if norms[layer] == 0:
                return None
            return project_out(residual, difference[layer] / norms[layer])

        with residual_hooks(model, ablate):
            ablated = measure(model, bench.queries(model_dir, target.facts))
        untouched = bench.untouched(model_dir, target.facts)
        return [CurvePoint(0, untouched), CurvePoint(1, ablated)]
