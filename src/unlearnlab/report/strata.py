"""Per-stratum aggregates of the connectivity study, from results rows only.

Per connectivity stratum (ordered by the targets' mean number of derivations, the
``connectivity.derivations`` rows) and per model line (base, oracle, deep oracle, each
unlearning method and forget set):

- direct recall: ``recall.cloze_train`` on the stratum's targets;
- re-derivation: ``rederive.cot`` (chain of thought from memory);
- post-attack recall: ``attack.recall`` at an attack's last step, worst case (highest
  recall) over the attack's grid points, attack seeds pooled, the point chosen on one half
  of the targets and read on the other (:func:`worst_point`); and, for methods, the net
  recovery at that grid point's last step (:func:`unlearnlab.report.models.recoveries`,
  its first attack seed, :data:`NET_RESAMPLES` resamples);
- collateral damage: recall lost against the base model, item by item, on the stratum's
  neighbour facts (and on retain facts, over all strata);
- the world: ``connectivity.derivations``, ``connectivity.deep_collateral`` (the deep
  variant's cost: minimum deep-unlearning set size minus one) and
  ``connectivity.dependents``, per target.

A method with a grid is shown at one grid point: the lowest forget recall among the points
losing at most :data:`RETAIN_BUDGET` of retain recall (else the smallest loss). A model's
*worst-case knowledge* of a stratum is the largest of its direct recall, re-derivation and
post-attack recalls. Every rate carries a 95% bootstrap interval over facts (and seeds).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from unlearnlab.probes.recall import CLOZE_TRAIN
from unlearnlab.probes.rederivation import COT
from unlearnlab.probes.stats import Rate, bootstrap_mean
from unlearnlab.report.crossfit import cross_fit
from unlearnlab.report.models import (
    REFERENCE_ORDER,
    ModelId,
    attack_runs,
    labels,
    model_of,
    recoveries,
)

NET_RESAMPLES = 200
"""Bootstrap resamples of each net-recovery interval (a full recovery bootstrap per
stratum, attack and method; 1000 would dominate the report's time)."""
RETAIN_BUDGET = 0.10
"""Largest retain-recall loss a method's chosen grid point may have (when one does)."""
WORLD_FIGURES = ("derivations", "deep_collateral", "dependents")
"""Per-target world figures, as probes ``connectivity.<name>``."""

Row = dict[str, Any]


@dataclass(frozen=True)
class Line:
    """One model line: a reference model, or a method and forget set at one grid point."""

    label: str
    model: ModelId

    @property
    def role(self) -> str:
        """The model's role (base, oracle, deep_oracle or unlearned)."""
        return self.model.role


@dataclass
class Cell:
    """The measurements of one line in one stratum."""

    recall: Rate
    rederive: Rate
    attacked: dict[str, Rate] = field(default_factory=dict)
    """Post-attack recall per attack (worst grid point)."""
    net: dict[str, Rate] = field(default_factory=dict)
    """Net recovery at the last step per attack (methods only)."""
    neighbour_loss: Rate | None = None
    """Neighbour recall lost against the base model (None for the base model)."""

    @property
    def worst(self) -> float:
        """Worst-case knowledge: the largest of recall, re-derivation, post-attack recall."""
        rates = [self.recall, self.rederive, *self.attacked.values()]
        values = [r.value for r in rates if not math.isnan(r.value)]
        return max(values) if values else math.nan

    @property
    def worst_rate(self) -> Rate | None:
        """The rate behind :attr:`worst`, with its interval (None when all are NaN)."""
        rates = [self.recall, self.rederive, *self.attacked.values()]
        rates = [r for r in rates if not math.isnan(r.value)]
        return max(rates, key=lambda r: r.value) if rates else None

    @property
    def worst_attack(self) -> tuple[str, Rate] | None:
        """The attack with the highest post-attack recall (the first of equals), if any."""
        if not self.attacked:
            return None
        return max(self.attacked.items(), key=lambda item: item[1].value)


@dataclass
class Study:
    """Every line's cells per stratum, and the world's figures per stratum."""

    strata: list[str]
    """Stratum names, least connected first."""
    lines: list[Line]
    cells: dict[tuple[str, str], Cell]
    """By (line label, stratum)."""
    attacks: list[str]
    world: dict[str, dict[str, Rate]]
    """Per stratum: the mean of each of :data:`WORLD_FIGURES` over its targets."""
    derivations: dict[str, tuple[int, int]]
    """Per stratum: the fewest and most derivations of its targets."""
    chance: dict[str, float]
    """Per stratum: the mean chance level of direct recall."""
    retain_loss: dict[str, Rate]
    """Per line but the base model: retain recall lost against the base model."""

    def cell(self, label: str, stratum: str) -> Cell:
        """The cell of line ``label`` in ``stratum``."""
        return self.cells[(label, stratum)]

    def has(self, label: str) -> bool:
        """Whether a line is labelled ``label``."""
        return any(line.label == label for line in self.lines)


def strata_order(rows: Sequence[Row]) -> list[str]:
    """Strata by the mean number of derivations of their targets, then by name."""
    counts: dict[str, list[float]] = {}
    for row in rows:
        if row["probe"] == "connectivity.derivations":
            counts.setdefault(row["stratum"], []).append(row["value"])
    return sorted(counts, key=lambda s: (sum(counts[s]) / len(counts[s]), s))


def _rate(rows: Sequence[Row], group: str = "seed") -> Rate:
    hits = [1.0 if r["correct"] else 0.0 for r in rows]
    return bootstrap_mean(hits, [r["item"] for r in rows], [r[group] for r in rows])


def _probe(rows: Sequence[Row], probe: str, split: str, stratum: str | None) -> list[Row]:
    """Unattacked rows of ``probe`` on ``split`` (in ``stratum``, unless None)."""
    return [
        r
        for r in rows
        if r["probe"] == probe
        and r["split"] == split
        and r["attack"] is None
        and (stratum is None or r["stratum"] == stratum)
    ]


def _loss(mine: Sequence[Row], base: Sequence[Row], split: str, stratum: str | None) -> Rate:
    """Recall lost against the base model, paired item by item."""
    before = {r["item"]: r["correct"] for r in _probe(base, CLOZE_TRAIN, split, stratum)}
    rows = [r for r in _probe(mine, CLOZE_TRAIN, split, stratum) if r["item"] in before]
    return bootstrap_mean(
        [float(before[r["item"]]) - float(r["correct"]) for r in rows],
        [r["item"] for r in rows],
        [r["seed"] for r in rows],
    )


def _chosen_models(by_model: dict[ModelId, list[Row]], base: Sequence[Row]) -> list[ModelId]:
    """Per method and forget set, the chosen grid point (see the module docstring)."""
    runs: dict[tuple[str, str], list[ModelId]] = {}
    for model in by_model:
        if model.role == "unlearned":
            runs.setdefault((model.method, model.forget_set), []).append(model)
    chosen = []
    for _, models in sorted(runs.items()):
        scores = {}
        for model in models:
            rows = by_model[model]
            loss = _loss(rows, base, "retain", None).value if base else 0.0
            forget = _rate(_probe(rows, CLOZE_TRAIN, "forget", None)).value
            within = not loss > RETAIN_BUDGET
            scores[model] = (not within, forget if within else loss, model.params)
        chosen.append(min(models, key=lambda m: scores[m]))
    return chosen


def _final_points(rows: Sequence[Row], attack: str, stratum: str) -> dict[str, list[Row]]:
    """Rows of ``attack`` in ``stratum`` at each grid point's last step, by parameters."""
    by_point: dict[str, list[Row]] = {}
    for row in rows:
        if row["attack"] == attack and row["stratum"] == stratum:
            by_point.setdefault(row["attack_params"], []).append(row)
    final = {}
    for params, point in by_point.items():
        last = max(r["step"] for r in point)
        final[params] = [r for r in point if r["step"] == last]
    return final


def _net_recovery(
    mine: Sequence[Row], refs: dict[str, list[Row]], attack: str, params: str, stratum: str
) -> Rate:
    """Net recovery at the last step of one grid point (its first attack seed)."""
    seed = min(r["attack_seed"] for r in mine if r["attack"] == attack)

    def picked(rows: Sequence[Row]) -> list[Row]:
        return [
            r
            for r in rows
            if (r["attack"], r["attack_params"], r["attack_seed"], r["stratum"])
            == (attack, params, seed, stratum)
        ]

    runs = attack_runs([*picked(mine), *picked(refs["base"]), *picked(refs["oracle"])])
    (found,) = recoveries(runs, resamples=NET_RESAMPLES)
    return found.summary.net[-1]


def worst_point(points: dict[str, list[Row]]) -> tuple[str, Rate]:
    """The grid point of highest post-attack recall and its recall, without the winner's
    curse: with several points, the point is chosen on one half of the items and read on
    the other, both ways (:func:`~unlearnlab.report.crossfit.cross_fit`); the parameters
    returned are those chosen on the first half. One point is read as it is."""
    if len(points) == 1:
        ((params, rows),) = points.items()
        return params, _rate(rows, "attack_seed")
    scores = {
        params: {"recall": [(r["item"], float(r["correct"])) for r in rows]}
        for params, rows in sorted(points.items())
    }
    fit = cross_fit(scores, lowest=False, resamples=NET_RESAMPLES)
    if fit is None:  # too few items to halve: the plain maximum
        rates = {params: _rate(rows, "attack_seed") for params, rows in points.items()}
        worst = max(sorted(rates), key=lambda params: rates[params].value)
        return worst, rates[worst]
    return fit.chosen[0], fit.rate


def _cell(
    line: Line, mine: Sequence[Row], refs: dict[str, list[Row]], stratum: str, attacks: list[str]
) -> Cell:
    cell = Cell(
        _rate(_probe(mine, CLOZE_TRAIN, "forget", stratum)),
        _rate(_probe(mine, COT, "forget", stratum)),
        neighbour_loss=None
        if line.role == "base"
        else _loss(mine, refs["base"], "neighbour", stratum),
    )
    with_net = line.role == "unlearned" and bool(refs["base"]) and bool(refs["oracle"])
    for attack in attacks:
        points = _final_points(mine, attack, stratum)
        if not points:
            continue
        worst, cell.attacked[attack] = worst_point(points)
        if with_net:
            cell.net[attack] = _net_recovery(mine, refs, attack, worst, stratum)
    return cell


def build_study(rows: Sequence[Row]) -> Study:
    """Aggregate the connectivity study's rows (see the module docstring)."""
    strata = strata_order(rows)
    by_model: dict[ModelId, list[Row]] = {}
    for row in rows:
        if row["role"] != "world":
            by_model.setdefault(model_of(row), []).append(row)
    refs = {role: by_model.get(ModelId(role), []) for role in REFERENCE_ORDER}
    models = [ModelId(role) for role in REFERENCE_ORDER if refs[role]]
    models += _chosen_models(by_model, refs["base"])
    names = labels(models)
    lines = [Line(names[m], m) for m in models]
    attacks = sorted({r["attack"] for r in rows if r["attack"] is not None})
    cells, retain_loss = {}, {}
    for line in lines:
        mine = by_model[line.model]
        if line.role != "base" and refs["base"]:
            retain_loss[line.label] = _loss(mine, refs["base"], "retain", None)
        for stratum in strata:
            cells[(line.label, stratum)] = _cell(line, mine, refs, stratum, attacks)
    world: dict[str, dict[str, Rate]] = {s: {} for s in strata}
    derivations = {}
    chance = {}
    for stratum in strata:
        for name in WORLD_FIGURES:
            values = [
                r["value"]
                for r in rows
                if r["probe"] == f"connectivity.{name}" and r["stratum"] == stratum
            ]
            world[stratum][name] = bootstrap_mean(values)
            if name == "derivations":
                derivations[stratum] = (int(min(values)), int(max(values)))
        items = _probe(rows, CLOZE_TRAIN, "forget", stratum)
        chance[stratum] = sum(r["chance"] for r in items) / len(items) if items else math.nan
    return Study(strata, lines, cells, attacks, world, derivations, chance, retain_loss)
