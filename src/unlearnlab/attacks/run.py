"""One attack, identically, on the unlearned model, the base model and the oracle; and a
grid of an attack's parameters and seeds, each point run that way."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unlearnlab.attacks.base import Attack, AttackTarget, Curve
from unlearnlab.attacks.registry import attack_create
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


@dataclass(frozen=True)
class GridRun:
    """One grid point: the attack's resolved parameters, the seed and the three curves."""

    attack: str
    params: dict[str, Any]
    seed: int
    curves: dict[str, Curve]


def attack_grid(
    name: str,
    params: dict[str, Any],
    grid: dict[str, Sequence[Any]],
    unlearned: Path,
    substrate: Substrate,
    store: ModelStore,
    *,
    seeds: Sequence[int] = (0,),
    facts: Sequence[Fact] | None = None,
) -> list[GridRun]:
    """:func:`attack_models` for every combination of ``grid`` values (over ``params``)
    and every seed; every combination is validated before any attack runs."""
    keys = sorted(grid)
    attacks = [
        attack_create(name, **{**params, **dict(zip(keys, values, strict=True))})
        for values in itertools.product(*(grid[k] for k in keys))
    ]
    return [
        GridRun(
            name,
            attack.params.model_dump(mode="json"),
            seed,
            attack_models(attack, unlearned, substrate, store, facts=facts, seed=seed),
        )
        for attack in attacks
        for seed in seeds
    ]
