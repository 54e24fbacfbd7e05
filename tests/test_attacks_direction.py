"""Direction ablation: the projection by hand, no change on the base model itself (the
direction is zero), hooks that never outlive the attack, and the base model required."""

from __future__ import annotations

import pytest
import torch

from unlearnlab.attacks import AttackTarget, attack_create
from unlearnlab.attacks.direction_ablation import project_out
from unlearnlab.attacks.run import attack_models
from unlearnlab.errors import UserError
from unlearnlab.models.factory import load_model
from unlearnlab.probes.hidden import residual_hooks


def test_projection_by_hand() -> None:
    residual = torch.tensor([[3.0, 4.0, 0.0], [1.0, -2.0, 5.0]])  # (seq, hidden)
    unit = torch.tensor([0.6, 0.8, 0.0])
    out = project_out(residual, unit)  # 3*0.6 + 4*0.8 = 5; 0.6 - 1.6 = -1
    assert torch.allclose(out, torch.tensor([[0.0, 0.0, 0.0], [1.6, -1.2, 5.0]]))
    assert torch.allclose(out @ unit, torch.zeros(2), atol=1e-6)
    assert torch.allclose(project_out(out, unit), out)


def test_base_model_is_unchanged_and_the_oracle_is_ablated(tiny) -> None:
    substrate, store, base, oracle = tiny
    ablation = attack_create("direction_ablation")
    curves = attack_models(ablation, oracle, substrate, store)
    assert [p.step for p in curves["base"]] == [0, 1]
    assert curves["base"][1].records == curves["base"][0].records  # zero direction
    changed = curves["oracle"][1].records != curves["oracle"][0].records
    assert changed and curves["unlearned"] == curves["oracle"]
    last = attack_create("direction_ablation", positions="last")
    target = AttackTarget(substrate, substrate.splits.forget, base=base)
    assert last.run(base, target)[1].records == last.run(base, target)[0].records
    with pytest.raises(UserError, match="direction_ablation needs the base model"):
        ablation.run(oracle, AttackTarget(substrate, substrate.splits.forget))


def test_residual_hooks_are_removed_after_an_error(tiny) -> None:
    _, _, base, _ = tiny
    model = load_model(base)

    def fail(layer: int, residual: torch.Tensor) -> None:
        raise RuntimeError("inside the hook")

    with pytest.raises(RuntimeError, match="inside the hook"), residual_hooks(model, fail):
        model(input_ids=torch.tensor([[1, 2, 3]]))
    assert not any(m._forward_hooks for m in model.modules())
    seen = []
    with residual_hooks(model, lambda layer, r: seen.append(layer)):
        model(input_ids=torch.tensor([[1, 2, 3]]))
    assert seen == [0, 1]  # the embedding, then the one block
