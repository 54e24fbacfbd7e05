"""Report section "Durability against data filtering": each attacked method's worst case
over the whole attack suite (every attack, every point of its grid, every attack seed),
net of the oracle, beside the compute spent to make the model.

The oracle is data filtering done exactly: retrained from scratch without the forget
documents, so its own recovery net of itself is 0 by definition, and its compute is a
whole training run. A method comes *within the margin* of the oracle's durability when it
forgot (the recall gap's interval lies above 0) and the upper end of its worst net
recovery's interval is below :data:`~unlearnlab.report.durability.DURABLE`; it falls
short when the lower end is at least that; otherwise the verdict is undecided.

Compute is read from the ``compute.flops`` rows (:mod:`unlearnlab.models.compute`): for a
method that unlearns, the FLOPs of unlearning from the base model (distillation and inner
adversary loops included); for the oracle and a training-time method, a whole training
run from scratch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from unlearnlab.attacks.recovery import worst_case
from unlearnlab.models.compute import COMPUTE_PROBE
from unlearnlab.report.durability import DURABLE, worst_recoveries
from unlearnlab.report.format import (
    REFERENCE_COLORS,
    REFERENCE_MARKERS,
    md_table,
    model_colors,
    pct,
    short,
)
from unlearnlab.report.models import (
    AttackRun,
    ModelId,
    Recovery,
    RowIndex,
    attack_runs,
    labels,
    models_in,
)
from unlearnlab.report.section import Section, save_figure
from unlearnlab.report.verdicts import Verdict, bullets, record


def flops(index: RowIndex, model: ModelId) -> float | None:
    """The FLOPs recorded for ``model`` (mean over its seeds), or None."""
    rate = index.rate(model, COMPUTE_PROBE, "model")
    return None if rate is None else rate.value


def _flops_text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2e}"


def worst_over_suite(runs: Sequence[AttackRun]) -> dict[ModelId, Recovery]:
    """Per attacked model, the attack setting with the largest net recovery over every
    attack of the suite (nothing forgotten counts as full recovery)."""
    found: dict[ModelId, list[Recovery]] = {}
    for (model, _), recovery in worst_recoveries(runs).items():
        found.setdefault(model, []).append(recovery)
    return {m: rs[worst_case([r.summary for r in rs])] for m, rs in found.items()}


def filtering_verdict(
    found: Recovery, name: str, compute: float | None, oracle: float | None
) -> Verdict:
    """Whether the model comes within the margin of the oracle's durability under the
    worst attack of the suite (see the module docstring)."""
    s = found.summary
    cost = f"{_flops_text(compute)} FLOPs against the oracle's {_flops_text(oracle)}"
    if not s.forgotten:
        return record(
            "filtering",
            name,
            f"{name}: not forgotten (recall gap to the base model {short(s.gap)}, n = "
            f"{s.gap.n}), so its durability cannot be set against the oracle's ({cost}).",
            s.net_area,
            DURABLE,
            None,
        )
    holds: bool | None = True if s.net_area.high < DURABLE else None
    if s.net_area.low >= DURABLE:
        holds = False
    word = {
        True: "within the margin of the oracle's durability",
        False: "short of the oracle's durability",
        None: "undecided (the interval straddles the margin)",
    }
    return record(
        "filtering",
        name,
        f"{name}: worst case over the attack suite ({found.attack}) net recovery "
        f"{short(s.net_area)} of the forgotten gap (n = {s.net_area.n}), at {cost}: "
        f"{word[holds]} (margin: upper end < {pct(DURABLE)}).",
        s.net_area,
        DURABLE,
        holds,
    )


def _figure(
    worst: dict[ModelId, Recovery],
    compute: dict[ModelId, float | None],
    models: Sequence[ModelId],
    names: dict[ModelId, str],
) -> Figure:
    figure = Figure(figsize=(6.0, 4.2))
    ax = figure.subplots()
    colors = model_colors(models)
    for m in models:
        x = compute.get(m)
        if x is None:
            continue
        if m.role == "oracle":
            ax.scatter(
                [x],
                [0.0],
                marker=REFERENCE_MARKERS["oracle"],
                s=160,
                zorder=3,
                color=REFERENCE_COLORS["oracle"],
                label="oracle (data filtering)",
            )
            continue
        if m not in worst:
            continue
        s = worst[m].summary
        forgot = s.forgotten and not math.isnan(s.net_area.value)
        y = s.net_area.value if forgot else 1.0
        spread = [[y - s.net_area.low], [s.net_area.high - y]] if forgot else None
        ax.errorbar(
            [x],
            [y],
            yerr=spread,
            fmt="o",
            color=colors[m],
            capsize=3,
            mfc=colors[m] if forgot else "none",
            label=names[m] if forgot else f"{names[m]} (not forgotten)",
        )
    ax.axhline(DURABLE, color="gray", linestyle="--", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlabel("FLOPs to make the model (unlearning from the base; oracle: retraining)")
    ax.set_ylabel("worst-case net recovery (share of the gap)")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return figure


def filtering_section(rows: Sequence[dict[str, Any]], figures: Path) -> Section:
    """Every attacked model's worst case over the attack suite, net of the oracle, with
    its compute, the figure of one against the other, and verdicts."""
    runs = attack_runs(rows)
    if not runs:
        return Section("Durability against data filtering", "No attack was configured.")
    index, models = RowIndex(rows), models_in(rows)
    names = labels(models)
    compute = {m: flops(index, m) for m in models}
    oracle = next((compute[m] for m in models if m.role == "oracle"), None)
    worst = worst_over_suite(runs)
    body = [
        [names[m], _flops_text(compute[m]), "(reference)", "", "", ""]
        for m in models
        if m.is_reference
    ]
    verdicts = []
    for m, found in worst.items():
        verdicts.append(filtering_verdict(found, names[m], compute[m], oracle))
        s = found.summary
        net = short(s.net_area) if s.forgotten else "not forgotten"
        gap = short(s.gap)
        body.append([names[m], _flops_text(compute[m]), found.attack, gap, net, str(s.gap.n)])
    text = [
        "Each method at its compared point (the selection rule's, or where none qualifies its "
        "point of least target knowledge) against data filtering (the oracle), under the "
        "worst case of the whole attack suite: every attack, every point of its grid, every "
        "attack seed; recovery net of what the identical attack teaches the oracle. FLOPs: "
        "unlearning from the base model (distillation and inner adversary loops included); "
        "base, oracle and training-time methods: a whole training run. "
        f"Within the margin: forgotten, and the worst net recovery's upper end below "
        f"{pct(DURABLE)}.",
        "",
        md_table(["model", "FLOPs", "worst attack", "gap", "worst net recovery", "n"], body),
        "",
        *bullets(verdicts),
    ]
    figure = save_figure(
        _figure(worst, compute, models, names),
        figures,
        "filtering_compute",
        "Worst-case recovery net of the oracle (95% interval) against the FLOPs spent to make "
        "each model; the star is data filtering (the oracle, 0 by definition); dashed: the "
        "durability margin; hollow at 1: not forgotten.",
    )
    return Section("Durability against data filtering", "\n".join(text), [figure], verdicts)
