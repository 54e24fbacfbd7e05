"""The compositional frontier: target knowledge against premise retention, every grid
point of every method, with the base model, the oracle and the deep oracle marked.

It answers the compositional question directly: can a target C be removed *while its
premises A and B are kept*? Only points whose premise retention is within
:data:`WINDOW` of the oracle's count; among them, the lowest target knowledge any method
reaches is compared with the oracle's (which re-derives C from the kept premises). The
point is chosen on one half of the targets and read on the other
(:mod:`unlearnlab.report.crossfit`), so the lowest of many noisy points is not read on the
items that made it lowest; the verdict holds when that reading's 95% interval lies wholly
below the oracle's.

Target knowledge and premise retention are those of :mod:`unlearnlab.report.selection`,
with one difference: a refusal method's knowledge is its ranked recall, as every other
model's (the oracle's included), not what it says. The question is whether C is gone, and
a refusal that hides an answer the model still ranks first has not removed it.
Beside the frontier, *reasoning elsewhere*: chain-of-thought re-derivation of composites
that share no entity with the targets (split ``unrelated_composite``), so that "the
targets are no longer re-derived because the model stopped reasoning" is told apart from
a change local to the targets.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from unlearnlab.probes.stats import Rate
from unlearnlab.report.crossfit import cross_fit
from unlearnlab.report.format import (
    REFERENCE_COLORS,
    REFERENCE_MARKERS,
    md_table,
    model_colors,
    short,
)
from unlearnlab.report.models import REFERENCE_LABELS, ModelId, RowIndex, models_in
from unlearnlab.report.section import FigureFile, Section, save_figure
from unlearnlab.report.selection import (
    PREMISE,
    counted_knowledge,
    describe_knowledge,
)
from unlearnlab.report.verdicts import Verdict, too_few

ELSEWHERE = ("rederive.cot", "unrelated_composite")
"""(probe, split) of reasoning away from the targets."""
TARGET_COT = ("rederive.cot", "forget")
"""(probe, split) of chain-of-thought re-derivation of the targets."""
WINDOW = 0.05
"""How far (5 points) a point's premise retention may lie from the oracle's to count as
matched."""


def knowledge_rate(
    index: RowIndex, model: ModelId, counted: Sequence[tuple[str, str]]
) -> Rate | None:
    """The largest target-knowledge rate of ``model`` over the ``counted`` measures (ranked
    recall for every model, see the module docstring), with its interval; None without
    such rows."""
    rates = [r for m in counted if (r := index.rate(model, *m)) is not None and r.n]
    return max(rates, key=lambda r: r.value) if rates else None


def _label(model: ModelId) -> str:
    if model.is_reference:
        return REFERENCE_LABELS[model.role]
    name = model.method if model.forget_set == "targets" else f"{model.method} ({model.forget_set})"
    return f"{name} {model.params}"


def frontier(rows: Sequence[dict[str, Any]]) -> list[tuple[ModelId, Rate, Rate]]:
    """(model, target knowledge, premise retention) of every model that has both."""
    index, models = RowIndex(rows), models_in(rows)
    return _points(index, models, counted_knowledge(index, models))


def _points(
    index: RowIndex, models: Sequence[ModelId], counted: Sequence[tuple[str, str]]
) -> list[tuple[ModelId, Rate, Rate]]:
    """:func:`frontier` over an index already built, knowledge over ``counted``."""
    out = []
    for model in models:
        knowledge, premise = knowledge_rate(index, model, counted), index.rate(model, *PREMISE)
        if knowledge is not None and premise is not None:
            out.append((model, knowledge, premise))
    return out


def _item_scores(
    index: RowIndex, model: ModelId, counted: Sequence[tuple[str, str]]
) -> dict[str, list[tuple[str, float]]]:
    """(item, score) pairs of each target-knowledge measure of ``model``, as
    :meth:`RowIndex.rate` reads them."""
    return {probe: index.scores(model, probe, split) for probe, split in counted}


def frontier_verdict(rows: Sequence[dict[str, Any]], window: float = WINDOW) -> Verdict:
    """Whether some method goes below the oracle's target knowledge at premise retention
    within ``window`` of the oracle's (see the module docstring)."""
    index, models = RowIndex(rows), models_in(rows)
    counted = counted_knowledge(index, models)
    points = _points(index, models, counted)
    oracle = next(((k, p) for m, k, p in points if m == ModelId("oracle")), None)
    if oracle is None:
        return Verdict(
            "compositional",
            "frontier",
            "No oracle: the frontier has no reference.",
            None,
            None,
            0,
            None,
            None,
        )
    ok, op = oracle
    matched = [
        (m, k, p)
        for m, k, p in points
        if m.role == "unlearned" and abs(p.value - op.value) <= window
    ]
    if not matched:
        return Verdict(
            "compositional",
            "frontier",
            f"No grid point keeps premise retention within {100 * window:.0f} points of the "
            f"oracle's ({short(op)}): no method removes the targets while keeping their "
            "premises.",
            None,
            None,
            0,
            ok.value,
            None,
        )
    fit = cross_fit({m: _item_scores(index, m, counted) for m, _, _ in matched})
    if fit is None:
        return Verdict(
            "compositional", "frontier", "No target knowledge to compare.", None, None, 0,
            ok.value, None,
        )  # fmt: skip
    best, chosen = fit.rate, list(dict.fromkeys(fit.chosen))
    premises = {m: p for m, _, p in matched}
    where = " / ".join(f"{_label(m)} (premise retention {short(premises[m])})" for m in chosen)
    if too_few(best.n):
        return Verdict(
            "compositional",
            "frontier",
            f"Too few targets (n = {best.n}) to compare {where} with the oracle.",
            best.value,
            (best.low, best.high),
            best.n,
            ok.value,
            None,
        )
    holds: bool | None = best.high < ok.low
    verb = "goes below" if holds else "does not go clearly below"
    statement = (
        f"Among {len(matched)} grid point(s) whose premise retention is within "
        f"{100 * window:.0f} points of the oracle's ({short(op)}), the lowest target knowledge, "
        "chosen on one half of the targets and read on the other (both ways, pooled), "
        f"is {short(best)} (n = {best.n}) at {where}, which {verb} the oracle's {short(ok)}."
    )
    before = index.rate(ModelId("base"), *ELSEWHERE)
    for model in chosen:
        elsewhere = index.rate(model, *ELSEWHERE)
        if holds and elsewhere is not None and before is not None and elsewhere.high < before.low:
            holds = None
            statement += (
                f" But chain-of-thought on unrelated composites fell there too "
                f"({short(elsewhere)} against the base model's {short(before)}): the model "
                "stopped reasoning, so this is not a removal local to the targets."
            )
    return Verdict(
        "compositional",
        "frontier",
        statement,
        best.value,
        (best.low, best.high),
        best.n,
        ok.value,
        holds,
    )


def frontier_figure(
    rows: Sequence[dict[str, Any]], folder: Path, window: float = WINDOW
) -> FigureFile:
    """Target knowledge against premise retention, one colour per method, references
    marked, the oracle's matched band shaded; saved as ``frontier``."""
    figure = Figure(figsize=(6, 4.5))
    ax = figure.add_subplot()
    points = frontier(rows)
    colours = model_colors([model for model, _, _ in points])
    shown: set[str] = set()
    for model, knowledge, premise in points:
        if model.is_reference:
            ax.scatter(
                premise.value,
                knowledge.value,
                marker=REFERENCE_MARKERS[model.role],
                s=90,
                color=REFERENCE_COLORS[model.role],
                label=REFERENCE_LABELS[model.role],
                zorder=3,
            )
            if model.role == "oracle":
                ax.axvspan(
                    premise.value - window, premise.value + window, color="tab:red", alpha=0.08
                )
            continue
        first = model.method not in shown
        shown.add(model.method)
        colour = colours[model]
        hollow = model.forget_set != "targets"
        ax.scatter(
            premise.value,
            knowledge.value,
            s=30,
            edgecolors=colour,
            facecolors="none" if hollow else colour,
            label=model.method if first else None,
        )
    ax.set_xlabel("premise retention")
    ax.set_ylabel("target knowledge (largest of recall and re-derivation)")
    ax.set_xlim(-0.03, 1.03)
    ax.set_ylim(-0.03, 1.03)
    ax.legend(fontsize=7, loc="best")
    return save_figure(
        figure,
        folder,
        "frontier",
        "Target knowledge against premise retention at every grid point (hollow: larger "
        "forget sets); the shaded band is the oracle's premise retention within "
        f"{100 * window:.0f} points.",
    )


def frontier_section(rows: Sequence[dict[str, Any]], folder: Path) -> Section:
    """The frontier table (references first) with reasoning elsewhere beside it, the
    figure and the verdict."""
    index = RowIndex(rows)
    body = [
        [
            _label(m),
            short(k),
            short(p),
            short(index.rate(m, *TARGET_COT)),
            short(index.rate(m, *ELSEWHERE)),
        ]
        for m, k, p in frontier(rows)
        if m.is_reference or m.role == "unlearned"
    ]
    verdict = frontier_verdict(rows)
    counted = describe_knowledge(counted_knowledge(index, models_in(rows)))
    header = [
        "model",
        "target knowledge",
        "premise retention",
        "CoT re-derivation of targets",
        "CoT elsewhere (unrelated composites)",
    ]
    text = f"{verdict.statement} {counted}\n\n{md_table(header, body)}"
    return Section("Compositional frontier", text, [frontier_figure(rows, folder)], [verdict])
