"""One attack, identically, on the unlearned model, the base model and the oracle."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from unlearnlab.attacks.base import Attack, AttackTarget, Curve
from unlearnlab.experiments.substrate import Substrate, train_reference_model
from unlearnlab.models.store import ModelStore
from unlearnlab.worlds.kg import Fact

ROLES = ("unlearned", "base", "oracle")
"""The models every attack runs on, in this order."""


def attack_models(
    attack: Attack,
    unlearned: Path,
    substrate: Substrate,
    store: ModelStore,
    *,
    facts: Sequence[Fact] | None = None,
    seed: int = 0,
) -> dict[str, Curve]:
    """The curves of ``attack`` on the model in ``unlearned`` and on ``substrate``'s base
    model and oracle (from the store, trained if missing), with one target and seed:
    ``facts`` (default: the forget targets)."""
    measured = tuple(substrate.splits.forget if facts is None else facts)
    target = AttackTarget(substrate, measured, seed)
    paths = {
        "unlearned": unlearned,
        "base": train_reference_model(substrate, "base", store, show_progress=False),
        "oracle": train_reference_model(substrate, "oracle", store, show_progress=False),
    }
    return {role: attack.run(paths[role], target) for role in ROLES}
