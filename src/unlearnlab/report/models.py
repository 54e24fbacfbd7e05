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
from unlearnlab.attacks.recovery import RecoverySummary, summarize_seeds
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
        """``reference``, or the method's kind: negative, positive, exact, control."""
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


def reference(models: Sequence[ModelId], role: str) -> ModelId | None:
    """The reference model of ``role`` among ``models`` (None when the run has none)."""
    return next((m for m in models if m.role == role and m.is_reference), None)


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

    def rate(
        self, model: ModelId, probe: str, split: str, *, outcome: bool = False
    ) -> Rate | None:
        """Mean of ``value`` (numeric probes) or of ``correct`` (always, with
        ``outcome``), with its 95% interval over items and seeds; None when the model has
        no such rows."""
        rows = self.rows(model, probe, split)
        if not rows:
            return None
        values = [v for _, v in self.scores(model, probe, split, outcome=outcome)]
        return bootstrap_mean(values, [r["item"] for r in rows], [r["seed"] for r in rows])

    def scores(
        self, model: ModelId, probe: str, split: str, *, outcome: bool = False
    ) -> list[tuple[str, float]]:
        """(item, score) of each unattacked row, in row order: ``value`` where every row
        of the probe has one (numeric probes), else ``correct`` (always, with
        ``outcome``); what :meth:`rate` averages."""
        rows = self.rows(model, probe, split)
        numeric = not outcome and all(r["value"] is not None for r in rows)
        return [(r["item"], float(r["value"] if numeric else r["correct"])) for r in rows]

    def drop(self, model: ModelId, base: ModelId, probe: str, split: str) -> Rate | None:
        """``base``'s outcome minus ``model``'s, paired by item (the base model's rows of
        an item averaged), with its interval over items and ``model``'s seeds."""
        before: dict[str, list[float]] = {}
        for r in self.rows(base, probe, split):
            before.setdefault(r["item"], []).append(float(r["correct"]))
        rows = [r for r in self.rows(model, probe, split) if r["item"] in before]
        if not rows:
            return None
        return bootstrap_mean(
            [sum(before[r["item"]]) / len(before[r["item"]]) - float(r["correct"]) for r in rows],
            [r["item"] for r in rows],
            [r["seed"] for r in rows],
        )

    def chance(self, model: ModelId, probe: str, split: str) -> float | None:
        """Mean chance level of the rows (None where none is recorded)."""
        chances = [r["chance"] for r in self.rows(model, probe, split) if r["chance"] is not None]
        return sum(chances) / len(chances) if chances else None


@dataclass(frozen=True)
class AttackRun:
    """One attack setting (parameters and attack seed) on one model unlearned with one
    seed (a reference model: the run's seed): its recall curve."""

    model: ModelId
    attack: str
    params: str
    seed: int
    """The attack's seed (data order, folds)."""
    curve: Curve
    unlearn_seed: int = 0
    """The seed the model was unlearned (or trained) with."""


def attack_runs(rows: Iterable[dict[str, Any]]) -> list[AttackRun]:
    """Every attacked model's curve, in first-seen order; records keep the row order, so
    the same items line up on every model attacked with the same setting."""
    points: dict[tuple[ModelId, str, str, int, int], dict[int, list[dict[str, Any]]]] = {}
    for row in rows:
        if row["attack"] is None:
            continue
        key = (model_of(row), row["attack"], row["attack_params"], row["attack_seed"], row["seed"])
        record = {"fact": row["item"], "template": row["format"], "correct": row["correct"]}
        points.setdefault(key, {}).setdefault(row["step"], []).append(record)
    return [
        AttackRun(m, a, p, s, [CurvePoint(step, recs) for step, recs in sorted(by_step.items())], u)
        for (m, a, p, s, u), by_step in points.items()
    ]


@dataclass(frozen=True)
class Recovery:
    """One attack setting on one unlearned model, pooled over its unlearning seeds,
    against the references under the identical attack."""

    model: ModelId
    attack: str
    params: str
    seed: int
    """The attack's seed."""
    runs: list[AttackRun]
    """The unlearned model's runs, one per unlearning seed."""
    reference: str
    """The oracle it is netted against: ``deep_oracle`` for a deep forget set (when the
    run has one), else ``oracle``."""
    summary: RecoverySummary


def recoveries(runs: Sequence[AttackRun], *, resamples: int = 1000) -> list[Recovery]:
    """The recovery of every unlearned model under every attack setting it ran, its
    unlearning seeds pooled (facts crossed with seeds); settings without the base
    model's and the oracle's runs are left out."""
    refs = {(r.model.role, r.attack, r.params, r.seed): r for r in runs if r.model.is_reference}
    groups: dict[tuple[ModelId, str, str, int], list[AttackRun]] = {}
    for run in runs:
        if not run.model.is_reference:
            groups.setdefault((run.model, run.attack, run.params, run.seed), []).append(run)
    out = []
    for (model, attack, params, seed), members in groups.items():
        setting = (attack, params, seed)
        reference = "deep_oracle" if model.forget_set == "deep" else "oracle"
        if ("deep_oracle", *setting) not in refs:
            reference = "oracle"
        base, oracle = refs.get(("base", *setting)), refs.get((reference, *setting))
        if base is None or oracle is None:
            continue
        members = sorted(members, key=lambda r: r.unlearn_seed)
        summary = summarize_seeds(
            [r.curve for r in members], base.curve, oracle.curve, resamples=resamples, seed=seed
        )
        out.append(Recovery(model, attack, params, seed, members, reference, summary))
    return out


def curve_recall(curve: Curve) -> list[float]:
    """Mean recall at each point of ``curve``."""
    return [sum(r["correct"] for r in p.records) / max(1, len(p.records)) for p in curve]
