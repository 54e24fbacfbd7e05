"""Selection rules: which grid point of each method the report compares, declared in the
experiment's settings and applied identically to every method.

Every unlearned model (method, forget set and resolved parameters, seeds pooled) is a
grid point. Its measures, read from the unattacked results rows:

- target knowledge: the largest of direct recall, chain-of-thought re-derivation and
  in-context re-derivation of the forget targets (:data:`KNOWLEDGE`, those the run has);
  in-context re-derivation counts only where the copy-the-last-name baseline shows it can
  tell reasoning from copying (:func:`counted_knowledge`), else a model that merely copies
  the context's last name would "know" every target.
  For a positive (refusal) method, direct recall is what it answers (``output.correct``)
  rather than the ranking of the true answer among entities: such a method claims to
  change what the model says, and a refusal is not among the ranked candidates;
- premise retention and retain recall (:data:`PREMISE`, :data:`RETAIN`).

Rules, by name:

- ``matched_retention``: among the points whose premise retention and retain recall are
  each at most ``margin`` below the oracle's, the one with the least target knowledge
  (none if no point qualifies, or the run has no oracle);
- ``least_knowledge``: the point with the least target knowledge at any cost.

Under either rule a method whose sanity bar is judged at its selected point (the refusal
methods, :mod:`unlearnlab.report.bars`) is chosen among the candidates that pass it, when
any do: a refusal method is compared where it refuses, not where it knows least.

Ties go to the higher premise retention, then the higher retain recall, then the
parameters' JSON, so a selection never depends on row order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from unlearnlab.probes.rederivation import IN_CONTEXT
from unlearnlab.report.bars import FORGET, RETAIN, bar_of
from unlearnlab.report.format import md_table, pct
from unlearnlab.report.in_context import copy_verdict
from unlearnlab.report.models import ModelId, RowIndex, models_in
from unlearnlab.report.section import Section

KNOWLEDGE = (
    FORGET,
    ("rederive.cot", "forget"),
    (IN_CONTEXT, "forget"),
)
"""(probe, split) of each kind of target knowledge; a point's knowledge is the largest."""
SAID = ("output.correct", "forget")
"""(probe, split) that replaces direct recall in the knowledge of positive methods."""
PREMISE = ("recall.cloze_train", "premise")
"""(probe, split) of premise retention."""


class SelectionRule(BaseModel):
    """The rule that picks each method's compared grid point."""

    model_config = ConfigDict(extra="forbid")

    rule: Literal["matched_retention", "least_knowledge"] = "matched_retention"
    """``matched_retention`` or ``least_knowledge`` (see the module docstring)."""
    margin: float = Field(0.1, ge=0, le=1)
    """With ``matched_retention``: how far (a fraction, 0.1 = 10 points) premise retention
    and retain recall may fall below the oracle's."""

    def describe(self) -> str:
        """The rule as a sentence."""
        sane = "; a refusal method among its points that pass its sanity bar, where any do"
        if self.rule == "least_knowledge":
            return f"the grid point with the least target knowledge, at any cost{sane}"
        return (
            "the grid point with the least target knowledge among those whose premise "
            f"retention and retain recall are at most {100 * self.margin:.0f} points below the "
            f"oracle's{sane}"
        )


@dataclass(frozen=True)
class GridPoint:
    """One unlearned model's measures (means over items and seeds; NaN where missing)."""

    model: ModelId
    knowledge: float
    """Target knowledge: the largest of the :data:`KNOWLEDGE` rates the run has."""
    premise: float
    """Premise retention."""
    retain: float
    """Retain recall."""
    sane: bool | None = None
    """Whether the point passes its method's sanity bar, where that bar is judged at the
    selected point (None for the other methods, and the references)."""

    @property
    def params(self) -> dict[str, Any]:
        """The point's resolved parameters (lr and steps included)."""
        return json.loads(self.model.params) if self.model.params else {}


def _mean(index: RowIndex, model: ModelId, measure: tuple[str, str]) -> float:
    rate = index.rate(model, *measure)
    return float("nan") if rate is None else rate.value


def counted_knowledge(index: RowIndex, models: Sequence[ModelId]) -> tuple[tuple[str, str], ...]:
    """The :data:`KNOWLEDGE` measures that count in this run: in-context re-derivation is
    left out unless the copy baseline's verdict holds (:func:`copy_verdict`; runs without
    the baseline keep it)."""
    copying = copy_verdict(index, models)
    if copying is not None and copying.holds is not True:
        return tuple(m for m in KNOWLEDGE if m[0] != IN_CONTEXT)
    return KNOWLEDGE


def knowledge_of(model: ModelId, counted: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """The (probe, split) measures of ``model``'s target knowledge: ``counted``, with what a
    positive method says (:data:`SAID`) in place of direct recall."""
    if model.kind == "positive":
        return tuple(SAID if m == FORGET else m for m in counted)
    return tuple(counted)


def describe_knowledge(counted: Sequence[tuple[str, str]]) -> str:
    """What target knowledge is in this run, as a sentence."""
    if any(m[0] == IN_CONTEXT for m in counted):
        return (
            "Target knowledge is the largest of direct recall, chain-of-thought and "
            "in-context re-derivation of the forget targets."
        )
    return (
        "Target knowledge is the larger of direct recall and chain-of-thought re-derivation "
        "of the forget targets (in-context re-derivation is left out: the copy baseline "
        "shows it cannot tell reasoning from copying here)."
    )


def measure(
    index: RowIndex, model: ModelId, counted: Sequence[tuple[str, str]] = KNOWLEDGE
) -> GridPoint:
    """The measures of ``model`` (see :class:`GridPoint`), its knowledge over ``counted``."""
    measures = knowledge_of(model, counted)
    known = [v for m in measures if (v := _mean(index, model, m)) == v]
    knowledge = max(known) if known else float("nan")
    bar = bar_of(model.method) if model.role == "unlearned" else None
    sane = None
    if bar is not None and not bar.anywhere:
        rate = index.rate(model, *bar.measure, outcome=True)
        sane = rate is not None and bar.passes(rate, index.rate(model, *RETAIN))
    premise, retain = _mean(index, model, PREMISE), _mean(index, model, RETAIN)
    return GridPoint(model, knowledge, premise, retain, sane)


def grid(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, str], list[GridPoint]]:
    """Every unlearned model's measures, grouped by (method, forget set), in first-seen
    order; control runs (the sham) are no method and are left out."""
    rows = list(rows)
    index, models = RowIndex(rows), models_in(rows)
    counted = counted_knowledge(index, models)
    out: dict[tuple[str, str], list[GridPoint]] = {}
    for model in models:
        if model.role == "unlearned" and model.kind != "control":
            point = measure(index, model, counted)
            out.setdefault((model.method, model.forget_set), []).append(point)
    return out


def oracle_point(rows: Iterable[dict[str, Any]]) -> GridPoint | None:
    """The oracle's measures, or None when the rows hold no oracle."""
    rows = list(rows)
    oracle, models = ModelId("oracle"), models_in(rows)
    if oracle not in models:
        return None
    index = RowIndex(rows)
    return measure(index, oracle, counted_knowledge(index, models))


def _order(point: GridPoint) -> tuple[float, float, float, str]:
    nan_last = float("inf")
    knowledge = point.knowledge if point.knowledge == point.knowledge else nan_last
    return (knowledge, -point.premise, -point.retain, point.model.params)


def eligible(
    points: Sequence[GridPoint], rule: SelectionRule, oracle: GridPoint | None
) -> list[GridPoint]:
    """The points ``rule`` may choose from."""
    if rule.rule == "least_knowledge":
        return list(points)
    if oracle is None:
        return []
    return [
        p
        for p in points
        if p.premise >= oracle.premise - rule.margin and p.retain >= oracle.retain - rule.margin
    ]


def select_point(
    points: Sequence[GridPoint], rule: SelectionRule, oracle: GridPoint | None
) -> GridPoint | None:
    """The point of ``points`` (one method's grid) that ``rule`` selects, or None."""
    candidates = eligible(points, rule, oracle)
    candidates = [p for p in candidates if p.sane] or candidates
    return min(candidates, key=_order) if candidates else None


def select(
    rows: Sequence[dict[str, Any]], rule: SelectionRule
) -> dict[tuple[str, str], GridPoint | None]:
    """Each (method, forget set)'s selected point under ``rule``."""
    oracle = oracle_point(rows)
    return {key: select_point(points, rule, oracle) for key, points in grid(rows).items()}


def _shown(point: GridPoint) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(point.params.items()))


def selection_section(rows: Sequence[dict[str, Any]], rule: SelectionRule) -> Section:
    """The rule, and every method's selected point with its measures."""
    oracle = oracle_point(rows)
    points = grid(rows)
    counted = counted_knowledge(RowIndex(rows), models_in(rows))
    body = []
    for (method, forget_set), members in points.items():
        chosen = select_point(members, rule, oracle)
        label = method if forget_set == "targets" else f"{method} ({forget_set})"
        if chosen is None:
            body.append([label, "none qualifies", "", "", "", str(len(members))])
            continue
        body.append(
            [
                label,
                _shown(chosen),
                pct(chosen.knowledge),
                pct(chosen.premise),
                pct(chosen.retain),
                str(len(members)),
            ]
        )
    header = ["method", "selected point", "target knowledge", "premises", "retain", "points"]
    reference = (
        "The run has no oracle."
        if oracle is None
        else f"Oracle: premise retention {pct(oracle.premise)}, retain recall "
        f"{pct(oracle.retain)}, target knowledge {pct(oracle.knowledge)}."
    )
    text = (
        f"Selection rule `{rule.rule}`: {rule.describe()}. {describe_knowledge(counted)} "
        f"{reference}\n\n{md_table(header, body)}"
    )
    return Section("Selected grid points", text)
