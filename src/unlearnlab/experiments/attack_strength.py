"""Attack strength calibrated on the reference models, before any unlearned model is
attacked.

An attack that damages the models it is netted against measures damage, not recovery: a
relearning attack that lowers the oracle's recall by 30 points makes every method look
durable. With ``calibrate`` set, an attack's grid is run on the reference models first,
and the unlearned models are attacked only at the strongest grid point (the last in grid
order: list values from weakest to strongest) at which no calibrated reference loses more
than ``calibrate`` of its unattacked recall at any curve point. Where no point qualifies,
the weakest is used and the report's calibration section shows the damage.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from unlearnlab.attacks import attack_create
from unlearnlab.experiments.study_settings import AttackSpec
from unlearnlab.grid import grid_points
from unlearnlab.report.table import as_json

CALIBRATED_ROLES = ("base", "oracle")
"""The references whose recall an attack must keep (the deep oracle removed premises too,
so relearning them restores its knowledge by design)."""


def damage(rows: Iterable[dict[str, Any]], attack: str, params: str, role: str) -> float | None:
    """The largest fall of ``role``'s mean recall below its first curve point (the
    unattacked model) over the curve of ``attack`` at ``params`` (its resolved parameters
    as JSON), pooled over attack seeds; None without such rows."""
    by_step: dict[int, list[bool]] = {}
    for row in rows:
        if row["role"] == role and row["attack"] == attack and row["attack_params"] == params:
            by_step.setdefault(row["step"], []).append(bool(row["correct"]))
    if not by_step:
        return None
    steps = sorted(by_step)
    recall = [sum(by_step[s]) / len(by_step[s]) for s in steps]
    return max(0.0, recall[0] - min(recall))


def calibrated(spec: AttackSpec, rows: Sequence[dict[str, Any]]) -> AttackSpec:
    """``spec`` narrowed to its calibrated grid point (see the module docstring) from the
    reference models' attack ``rows``, or ``spec`` itself when it is not calibrated."""
    if spec.calibrate is None or not spec.grid:
        return spec
    points = grid_points(spec.grid)
    chosen = points[0]
    for point in points:
        params = attack_create(spec.attack, **{**spec.params, **point}).params
        text = as_json(params.model_dump(mode="json"))
        damages = [damage(rows, spec.name, text, role) for role in CALIBRATED_ROLES]
        if all(d is not None and d <= spec.calibrate + 1e-9 for d in damages):
            chosen = point
    return spec.model_copy(update={"grid": {k: [v] for k, v in chosen.items()}})
