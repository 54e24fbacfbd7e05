"""Report section "Negative versus positive training": what each method makes the model
output on forget queries, and the forget-retain trade-off over every grid point.

A method's most common output is a verdict that holds when its rate's interval lies above
every other output class's interval (clearly the most common); otherwise it does not
conclude.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from unlearnlab.probes.outputs import CORRECT, DEGENERATE, ENTROPY, FLUENT_WRONG, REFUSAL
from unlearnlab.probes.recall import CLOZE_TRAIN
from unlearnlab.report.format import (
    REFERENCE_COLORS,
    REFERENCE_MARKERS,
    md_table,
    model_colors,
    pct,
    short,
)
from unlearnlab.report.models import ModelId, RowIndex, labels, models_in
from unlearnlab.report.section import Section, save_figure
from unlearnlab.report.verdicts import Verdict, bullets, record

OUTPUTS = (CORRECT, REFUSAL, FLUENT_WRONG, DEGENERATE)
"""The output classes of greedy answers to forget queries."""


def _name(probe: str) -> str:
    return probe.split(".")[1].replace("_", " ")


def output_verdict(index: RowIndex, model: ModelId, name: str) -> Verdict | None:
    """The model's most common output on forget queries (None without output rows)."""
    rates = {p: index.rate(model, p, "forget") for p in OUTPUTS}
    found = {p: r for p, r in rates.items() if r is not None}
    if not found:
        return None
    top = max(found, key=lambda p: found[p].value)
    others = [r for p, r in found.items() if p != top]
    clear = all(found[top].low > r.high for r in others)
    statement = (
        f"{name}: the most common output on forget queries is {_name(top)}, "
        f"{short(found[top])} of n = {found[top].n}"
        + ("." if clear else " (not clearly: its interval overlaps another class's).")
    )
    return record("polarity", name, statement, found[top], None, True if clear else None)


def _scatter(index: RowIndex, models: Sequence[ModelId], names: dict[ModelId, str]) -> Figure:
    figure = Figure(figsize=(5.5, 4.2))
    ax = figure.subplots()
    colors = model_colors(models)
    for m in models:
        f = index.rate(m, CLOZE_TRAIN, "forget")
        r = index.rate(m, CLOZE_TRAIN, "retain")
        if f is None or r is None:
            continue
        marker = REFERENCE_MARKERS.get(m.role, "o" if m.kind == "negative" else "^")
        hollow = not m.is_reference and m.forget_set != "targets"
        ax.scatter(
            [f.value],
            [r.value],
            marker=marker,
            s=120 if m.is_reference else 36,
            facecolors="none" if hollow else REFERENCE_COLORS.get(m.role, colors[m]),
            edgecolors=REFERENCE_COLORS.get(m.role, colors[m]),
            label=None if hollow else names[m],
            zorder=3 if m.is_reference else 2,
        )
    ax.set_xlabel("forget recall (lower is more forgotten)")
    ax.set_ylabel("retain recall")
    ax.set_xlim(-0.05, 1.05)
    ax.set_ylim(-0.05, 1.05)
    if ax.get_legend_handles_labels()[1]:
        ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return figure


def polarity_section(
    rows: Sequence[dict[str, Any]],
    figures: Path,
    grid_rows: Sequence[dict[str, Any]] | None = None,
) -> Section:
    """Outputs on forget queries per model of ``rows`` (each method's compared point),
    how much they move over every grid point of ``grid_rows`` (default: ``rows``), and
    the forget-retain scatter of every grid point."""
    index, models = RowIndex(rows), models_in(rows)
    names = labels(models)
    body = []
    for m in models:
        entropy = index.rate(m, ENTROPY, "forget")
        body.append(
            [
                names[m],
                m.kind,
                *(short(index.rate(m, p, "forget")) for p in OUTPUTS),
                "n/a" if entropy is None else f"{entropy.value:.2f}",
                short(index.rate(m, CLOZE_TRAIN, "retain")),
            ]
        )
    header = ["model", "kind", *(_name(p) for p in OUTPUTS), "entropy (nats)", "retain recall"]
    verdicts = [
        v
        for m in models
        if not m.is_reference and (v := output_verdict(index, m, names[m])) is not None
    ]
    text = [
        "What the model answers (greedy decoding of the question form) on forget queries, "
        "sorted into correct, refusal, fluent-but-wrong and degenerate; next-token entropy; "
        "recall of retain facts (collateral damage).",
        "",
        md_table(header, body),
        "",
        *bullets(verdicts),
    ]
    everything = rows if grid_rows is None else grid_rows
    grid_index, grid_models = RowIndex(everything), models_in(everything)
    by_method: dict[tuple[str, str], list[ModelId]] = {}
    for m in grid_models:
        if not m.is_reference:
            by_method.setdefault((m.method, m.forget_set), []).append(m)
    for (method, forget_set), members in by_method.items():
        forget = [grid_index.rate(m, CLOZE_TRAIN, "forget") for m in members]
        retain = [grid_index.rate(m, CLOZE_TRAIN, "retain") for m in members]
        outputs = {
            p: [r.value for m in members if (r := grid_index.rate(m, p, "forget"))]
            for p in OUTPUTS[1:]
        }
        fv = [r.value for r in forget if r]
        rv = [r.value for r in retain if r]
        if len(members) > 1 and fv and rv:
            moves = "; ".join(
                f"{_name(p)} {pct(min(v))}-{pct(max(v))}" for p, v in outputs.items() if v
            )
            text.append(
                f"- Stability of {method} ({forget_set}) over its {len(members)} grid points: "
                f"forget recall {pct(min(fv))}-{pct(max(fv))}, retain recall "
                f"{pct(min(rv))}-{pct(max(rv))}" + (f"; {moves}." if moves else ".")
            )
    scatter = save_figure(
        _scatter(grid_index, grid_models, labels(grid_models)),
        figures,
        "forget_retain",
        "Forget against retain recall for every run of every method's grid (circles: "
        "negative methods, triangles: positive; hollow: deep forget sets), the base model, "
        "the oracle and the deep oracle marked.",
    )
    return Section("Negative versus positive training", "\n".join(text), [scatter], verdicts)
