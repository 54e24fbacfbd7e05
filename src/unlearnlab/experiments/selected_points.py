"""Which runs of the unlearning study go further than their grid: each method's selected
point (under the settings' selection rule) is attacked, and the sham control runs at its
learning rate and steps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from unlearnlab.experiments.study_settings import UnlearnSettings
from unlearnlab.methods.base import Method
from unlearnlab.methods.config import UnlearnConfig
from unlearnlab.methods.registry import get_method
from unlearnlab.report.selection import SelectionRule, select
from unlearnlab.report.table import as_json


def attacked_runs(
    runs: Sequence[UnlearnConfig], rows: Sequence[dict[str, Any]], settings: UnlearnSettings
) -> list[UnlearnConfig]:
    """The runs the attack suite targets: every run of each method's selected grid point
    (every run with ``attack_points: all``)."""
    if settings.attack_points == "all":
        return list(runs)
    return selected_runs(runs, rows, settings)


def sham_runs(selected: Sequence[UnlearnConfig]) -> list[UnlearnConfig]:
    """The sham control (the retain loss alone) at the forget set, learning rate, steps
    and seed of every unlearning run (negative or positive) in ``selected``, each once; on
    the same weights as a method that trains part of the model."""
    shams = {}
    for run in selected:
        method = get_method(run.method)
        if method.kind not in ("negative", "positive"):
            continue
        point = run.resolved_point()
        params: dict[str, Any] = {}
        if method.trains is not Method.trains:  # trains part of the model: the sham too
            params = {"like": run.method, "like_params": run.resolved_params().model_dump()}
        sham = run.model_copy(
            update={"method": "sham", "params": params, "lr": point["lr"], "steps": point["steps"]}
        )
        shams[(sham.forget_set, sham.lr, sham.seed, sham.steps, as_json(params))] = sham
    return [shams[key] for key in sorted(shams)]


def selected_runs(
    runs: Sequence[UnlearnConfig], rows: Sequence[dict[str, Any]], settings: UnlearnSettings
) -> list[UnlearnConfig]:
    """Every run of each method's selected grid point under the settings' rule (where no
    point qualifies, its point of least target knowledge)."""
    chosen = select(rows, settings.selection)
    fallback = select(rows, SelectionRule(rule="least_knowledge"))
    picked = []
    for run in runs:
        key = (run.method, run.forget_set)
        point = chosen.get(key) or fallback.get(key)
        if point is not None and point.model.params == as_json(run.resolved_point()):
            picked.append(run)
    return picked
