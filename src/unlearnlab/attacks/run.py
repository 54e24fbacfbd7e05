"""One attack, identically, on the unlearned model, the base model and the oracle; and a
grid of an attack's parameters and seeds, each point run that way."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unlearnlab.attacks.base import Attack, AttackTarget, Curve
from unlearnlab.attacks.registry import attack_create
from unlearnlab.grid import grid_points
from unlearnlab.models.store import ModelStore
from unlearnlab.substrate.build import Substrate, train_reference_model
from unlearnlab.worlds.kg import Fact

ROLES = ("unlearned", "base", "oracle")
"""The models every attack runs on, in this order."""


def reference_paths(unlearned: Path, substrate: Substrate, store: ModelStore) -> dict[str, Path]:
    """The model directory of each role: ``unlearned``, and ``substrate``'s base model and
    oracle from the store (trained if missing)."""
    return {
        "unlearned": unlearned,
        "base": train_reference_model(substrate, "base", store, show_progress=False),
        "oracle": train_reference_model(substrate, "oracle", store, show_progress=False),
    }


def _target(
    substrate: Substrate, facts: Sequence[Fact] | None, seed: int, paths: dict[str, Path]
) -> AttackTarget:
    measured = tuple(substrate.splits.forget if facts is None else facts)
    return AttackTarget(substrate, measured, seed, base=paths["base"])


def _on_roles(attack: Attack, paths: dict[str, Path], target: AttackTarget) -> dict[str, Curve]:
    return {role: attack.run(paths[role], target) for role in ROLES}


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
    paths = reference_paths(unlearned, substrate, store)
    return _on_roles(attack, paths, _target(substrate, facts, seed, paths))


@dataclass(frozen=True)
class GridRun:
    """One grid point: the attack's resolved parameters, the seed, the three curves and
    the models they were measured on."""

    attack: str
    params: dict[str, Any]
    seed: int
    curves: dict[str, Curve]
    models: dict[str, Path]
    """The model directory of each role."""


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
    and every seed; every combination is validated before any attack runs. The runs of a
    seed share one target, so each model is loaded, and each untouched model measured,
    once."""
    attacks = [attack_create(name, **{**params, **point}) for point in grid_points(grid)]
    paths = reference_paths(unlearned, substrate, store)
    targets = {seed: _target(substrate, facts, seed, paths) for seed in seeds}
    return [
        GridRun(
            name,
            attack.params.model_dump(mode="json"),
            seed,
            _on_roles(attack, paths, targets[seed]),
            paths,
        )
        for attack in attacks
        for seed in seeds
    ]
