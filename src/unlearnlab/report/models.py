"""Reading results rows model by model: which models a run holds, their rates with
intervals, and the recovery curves of their attacks.

A model of a run is identified by its role and, for unlearned models, method, forget
set and resolved parameters; rows of the same model with different seeds pool into one
rate whose interval bootstraps seeds and items (see
:func:`unlearnlab.probes.stats.bootstrap_mean`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from unlearnlab.attacks.base import Curve, CurvePoint
from unlearnlab.methods.registry import METHODS
from unlearnlab.probes.stats import Rate, bootstrap_mean

REFERENCE_ORDER = ("base", "oracle", "deep_oracle")
REFERENCE_LABELS = {"base": "base", "oracle": "oracle", "deep_oracle": "deep oracle"}
WORLD = "world"
"""The role of rows that describe the world, not a model."""


@dataclass(frozen=True, order=True)
class ModelId:
    """One model of a run (seeds pooled)."""

    role: str
    method: str = ""
    forget_set: str = ""
    params: str = ""

    @property
    def is_reference(self) -> bool:
        """Base model, oracle or deep oracle."""
        return self.role in REFERENCE_ORDER

    @property
    def kind(self) -> str:
        """``reference``, or the method's kind: negative, positive, exact."""
        if self.is_reference:
            return "reference"
        return METHODS[self.method].kind if self.method in METHODS else "unknown"


def model_of(row: dict[str, Any]) -> ModelId:
    """The model a results row belongs to."""
    if row["role"] in REFERENCE_ORDER and not row["method"]:
        return ModelId(row["role"])
    return ModelId(row["role"], row["method"] or "", row["forget_set"] or "", row["params"] or "")


def models_in(rows: Iterable[dict[str, Any]]) -> list[ModelId]:
    """The run's models: references first (base, oracle, deep oracle), then unlearned
    models in first-seen order."""
    seen: dict[ModelId, None] = {}
    for row in rows:
        if row["role"] != WORLD:
            seen.setdefault(model_of(row), None)
    refs = [m for r in REFERENCE_ORDER for m in seen if m.is_reference and m.role == r]
    return refs + [m for m in seen if not m.is_reference]


def labels(models: Sequence[ModelId]) -> dict[ModelId, str]:
    """Short, unique display names: ``npo``, ``npo (deep)``, plus the parameters that
    vary between runs of the same method and forget set."""
    out = {}
    groups: dict[tuple[str, str], list[ModelId]] = {}
    for m in models:
        if m.is_reference:
            out[m] = REFERENCE_LABELS[m.role]
        else:
            groups.setdefault((m.method, m.forget_set), []).append(m)
    for (method, forget_set), members in groups.items():
        name = method if forget_set == "targets" else f"{method} ({forget_set})"
        params = [json.loads(m.params) if m.params else {} for m in members]
        varying = sorted(
            k for k in set().union(*params) if len({json.dumps(p.get(k)) for p in params}) > 1
        )
        for m, p in zip(members, params, strict=True):
            shown = ", ".join(f"{k}={p.get(k)}" for k in varying)
            out[m] = f"{name} [{shown}]" if shown else name
    return out


class RowIndex:
    """Rows grouped by model, probe and split, for fast lookups."""

    def __init__(self, rows: Iterable[dict[str, Any]]) -> None:
        self.groups: dict[tuple[ModelId, str, str], list[dict[str, Any]]] = {}
        for row in rows:
            if row["attack"] is None:
                key = (model_of(row), row["probe"], row["split"])
                self.groups.setdefault(key, []).append(row)

    def rows(self, model: ModelId, probe: str, split: str) -> list[dict[str, Any]]:
        """The unattacked rows of one model, probe and split."""
        return self.groups.get((model, probe, split), [])

    def rate(self, model: ModelId, probe: str, split: str) -> Rate | None:
        """Mean of ``value`` (numeric probes) or of ``correct``, with its 95% interval
        over items and seeds; None when the model has no such rows."""
        rows = self.rows(model, probe, split)
        if not rows:
            return None
        numeric = all(r["value"] is not None for r in rows)
        values = [float(r["value"]) if numeric else float(r["correct"]) for r in rows]
        return bootstrap_mean(values, [r["seed"] for r in rows])

    def chance(self, model: ModelId, probe: str, split: str) -> float | None:
        """Mean chance level of the rows (None where none is recorded)."""
        chances = [r["chance"] for r in self.rows(model, probe, split) if r["chance"] is not None]
        return sum(chances) / len(chances) if chances else None


def short(rate: Rate | None) -> str:
    """``83% [76, 89]``; ``n/a`` for no rows."""
    if rate is None or rate.n == 0:
        return "n/a"
    return f"{100 * rate.value:.0f}% [{100 * rate.low:.0f}, {100 * rate.high:.0f}]"


@dataclass(frozen=True)
class AttackRun:
    """One attack setting (parameters and seed) on one model: its recall curve."""

    model: ModelId
    attack: str
    params: str
    seed: int
    curve: Curve


def attack_runs(rows: Iterable[dict[str, Any]]) -> list[AttackRun]:
    """Every attacked model's curve, in first-seen order; records keep the row order, so
    the same items line up on every model attacked with the same setting."""
    points: dict[tuple[ModelId, str, str, int], dict[int, list[dict[str, Any]]]] = {}
    for row in rows:
        if row["attack"] is None:
            continue
        key = (model_of(row), row["attack"], row["attack_params"], row["attack_seed"])
        record = {"fact": row["item"], "template": row["format"], "correct": row["correct"]}
        points.setdefault(key, {}).setdefault(row["step"], []).append(record)
    return [
        AttackRun(m, a, p, s, [CurvePoint(step, recs) for step, recs in sorted(by_step.items())])
        for (m, a, p, s), by_step in points.items()
    ]


def curve_recall(curve: Curve) -> list[float]:
    """Mean recall at each point of ``curve``."""
    return [sum(r["correct"] for r in p.records) / max(1, len(p.records)) for p in curve]
