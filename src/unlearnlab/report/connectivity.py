"""Report section of the connectivity study (kind ``connectivity``): which facts can be
unlearned, from results rows only (the aggregates of :mod:`unlearnlab.report.strata`).

Verdicts: unlearning *holds* in a stratum when a model's worst-case knowledge of its
targets (the largest of direct recall, chain-of-thought re-derivation and post-attack
recall) is at most :data:`THRESHOLD` above the deep oracle's (the model never trained on
any fact of the targets' minimum deep-unlearning sets; the oracle when there is none).
Each method gets one sentence: whether unlearning holds in the least connected stratum,
and the first stratum where it stops holding. The bar of the isolated facts compares the
best method's recall after its worst attack with the oracle's after the oracle's worst.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from unlearnlab.probes.stats import Rate
from unlearnlab.report.section import FigureFile, Section, save_figure
from unlearnlab.report.strata import Cell, Line, Study, build_study

THRESHOLD = 0.10
"""Largest excess of worst-case knowledge over the reference's at which unlearning holds."""


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _points(value: float) -> str:
    return f"{round(100 * value)} points"


def describe(study: Study, stratum: str) -> str:
    """``stratum NAME (LOW-HIGH derivations)``, the range as found in the rows."""
    low, high = study.derivations[stratum]
    span = f"{low}" if low == high else f"{low}-{high}"
    return f"stratum {stratum} ({span} derivations)"


def reference_label(study: Study) -> str:
    """The line unlearning is held against: the deep oracle, else the oracle."""
    return "deep oracle" if study.has("deep oracle") else "oracle"


def verdict(study: Study, line: Line) -> str:
    """Whether unlearning holds for ``line`` in the least connected stratum, and the first
    stratum where it stops holding (see the module docstring)."""
    reference = reference_label(study)

    def compare(stratum: str) -> tuple[bool, str]:
        mine = study.cell(line.label, stratum).worst
        theirs = study.cell(reference, stratum).worst
        return mine - theirs <= THRESHOLD, f"{_pct(mine)} vs the {reference}'s {_pct(theirs)}"

    first = study.strata[0]
    holds, numbers = compare(first)
    name = f"**{line.label}**"
    above = f"more than {_points(THRESHOLD)} above"
    if not holds:
        return (
            f"{name}: unlearning does not hold even in the least connected "
            f"{describe(study, first)}: worst-case knowledge {numbers}, {above}."
        )
    start = (
        f"{name}: unlearning holds in the least connected {describe(study, first)} "
        f"(worst-case knowledge {numbers}, within {_points(THRESHOLD)})"
    )
    for stratum in study.strata[1:]:
        holds, numbers = compare(stratum)
        if not holds:
            return f"{start} and stops holding at {describe(study, stratum)}: {numbers}, {above}."
    return f"{start}, and in every stratum up to {describe(study, study.strata[-1])} ({numbers})."


def isolated_bar(study: Study) -> str:
    """In the least connected stratum: the best method's recall after its worst attack
    against the oracle's after the oracle's worst, within :data:`THRESHOLD` or not."""
    first = study.strata[0]
    attacked = [
        (line.label, study.cell(line.label, first).worst_attack)
        for line in study.lines
        if line.role == "unlearned"
    ]
    scored = [(label, worst) for label, worst in attacked if worst is not None]
    oracle = study.cell("oracle", first).worst_attack if study.has("oracle") else None
    if not scored or oracle is None:
        return "The isolated-facts bar needs attacked methods and an attacked oracle."
    label, (attack, rate) = min(scored, key=lambda s: (s[1][1].value, s[0]))
    oracle_attack, oracle_rate = oracle
    gap = rate.value - oracle_rate.value
    within = gap <= THRESHOLD
    return (
        f"In the least connected {describe(study, first)}, the best method after its worst "
        f"attack is {label} ({attack}): recall {rate} against the oracle's {oracle_rate} "
        f"({oracle_attack}), {100 * gap:+.1f} points: "
        + (
            f"within {_points(THRESHOLD)}, as exact unlearning."
            if within
            else f"more than {_points(THRESHOLD)} above. This is a finding: even on facts "
            "that nothing implies, the best method does not reach exact unlearning."
        )
    )


def _table(study: Study, value: Callable[[Cell], Rate | None], chance: bool) -> list[str]:
    rows = [
        "| model | " + " | ".join(describe(study, s) for s in study.strata) + " |",
        "|---" * (len(study.strata) + 1) + "|",
    ]
    for line in study.lines:
        cells = [value(study.cell(line.label, s)) for s in study.strata]
        if all(c is None for c in cells):
            continue
        shown = ["" if c is None else str(c) for c in cells]
        rows.append(f"| {line.label} | " + " | ".join(shown) + " |")
    if chance:
        rows.append("| chance | " + " | ".join(_pct(study.chance[s]) for s in study.strata) + " |")
    return rows


def _worst_rate(cell: Cell) -> Rate | None:
    worst = cell.worst_attack
    return None if worst is None else worst[1]


PANELS: list[tuple[str, Callable[[Cell], Rate | None]]] = [
    ("direct recall", lambda c: c.recall),
    ("re-derivation (chain of thought)", lambda c: c.rederive),
    ("recall after the worst attack", _worst_rate),
]
STYLES = {"base": ("grey", "-"), "oracle": ("black", "--"), "deep oracle": ("black", ":")}


def connectivity_figure(study: Study, folder: Path) -> FigureFile:
    """Recall, re-derivation and post-attack recall against the strata, one line per
    model with its 95% band, the references in black and grey, chance dash-dotted."""
    figure = Figure(figsize=(13, 4))
    x = list(range(len(study.strata)))
    ticks = [describe(study, s).removeprefix("stratum ") for s in study.strata]
    for k, (title, pick) in enumerate(PANELS):
        axes = figure.add_subplot(1, len(PANELS), k + 1)
        for line in study.lines:
            rates = [pick(study.cell(line.label, s)) for s in study.strata]
            if any(r is None for r in rates):
                continue
            color, style = STYLES.get(line.label, (None, "-"))
            values = [r.value for r in rates if r is not None]
            axes.plot(x, values, style, color=color, marker="o", label=line.label)
            lows = [r.low for r in rates if r is not None]
            highs = [r.high for r in rates if r is not None]
            axes.fill_between(x, lows, highs, color=color, alpha=0.12)
        chance = [study.chance[s] for s in study.strata]
        axes.plot(x, chance, "-.", color="grey", linewidth=0.8, label="chance")
        axes.set_xticks(x, ticks, fontsize=7)
        axes.set_ylim(-0.02, 1.02)
        axes.set_title(title)
        axes.set_xlabel("connectivity stratum")
    figure.axes[0].set_ylabel("share of forget targets")
    figure.axes[-1].legend(fontsize=7)
    return save_figure(
        figure,
        folder,
        "connectivity",
        "Direct recall, chain-of-thought re-derivation and recall after the worst attack of "
        "the forget targets against their connectivity: one line per model, 95% bands.",
    )


def _world_table(study: Study) -> list[str]:
    def mean(rate: Rate) -> str:
        return f"{rate.value:.2f} [{rate.low:.2f}, {rate.high:.2f}]"

    rows = [
        "| stratum | targets | derivations | deep collateral | dependents |",
        "|---|---|---|---|---|",
    ]
    for s in study.strata:
        figures = study.world[s]
        rows.append(
            f"| {s} | {figures['derivations'].n} | {mean(figures['derivations'])} | "
            f"{mean(figures['deep_collateral'])} | {mean(figures['dependents'])} |"
        )
    return rows


def connectivity_sections(rows: Sequence[dict[str, Any]], figures: Path) -> list[Section]:
    """The section "Which facts can be unlearned" (none without connectivity rows)."""
    if not any(r["probe"] == "connectivity.derivations" for r in rows):
        return []
    study = build_study(rows)
    reference = reference_label(study)
    judged = [line for line in study.lines if line.role in ("unlearned", "oracle")]
    parts = [
        "Forget targets are drawn per connectivity stratum: the number of derivations of "
        "each target from the other facts. A model's worst-case knowledge of a stratum is "
        "the largest of its direct recall, chain-of-thought re-derivation and recall after "
        f"each attack; unlearning holds there when it is at most {_points(THRESHOLD)} above "
        f"the {reference}'s. Methods with a grid are shown at their lowest forget recall "
        "among the grid points that lose at most 10 points of retain recall.",
        "",
        *[f"- {verdict(study, line)}" for line in judged],
        "",
        isolated_bar(study),
        "",
        "**Direct recall** (`recall.cloze_train`)",
        "",
        *_table(study, lambda c: c.recall, True),
        "",
        "**Re-derivation** (`rederive.cot`, chain of thought from memory)",
        "",
        *_table(study, lambda c: c.rederive, True),
    ]
    for attack in study.attacks:
        parts += [
            "",
            f"**Recall after {attack}** (last step, worst grid point)",
            "",
            *_table(study, lambda c, a=attack: c.attacked.get(a), True),
            "",
            f"**Net recovery under {attack}** (last step, net of the oracle's gain)",
            "",
            *_table(study, lambda c, a=attack: c.net.get(a), False),
        ]
    retain = ", ".join(f"{label} {rate}" for label, rate in study.retain_loss.items())
    parts += [
        "",
        "**Collateral damage**: neighbour recall lost against the base model (neighbours of "
        f"one stratum's targets only); retain recall lost: {retain}.",
        "",
        *_table(study, lambda c: c.neighbour_loss, False),
        "",
        "**The world**: derivations of each target, the deep variant's collateral cost "
        "(facts beyond the target that its minimum deep-unlearning set removes: facts the "
        "user wanted to keep) and the facts that stop holding without the target.",
        "",
        *_world_table(study),
    ]
    figure = connectivity_figure(study, figures)
    return [Section("Which facts can be unlearned", "\n".join(parts), [figure])]


def headline_table(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Per model line: worst-case knowledge of the targets in each stratum."""
    study = build_study(rows)
    table = [
        [line.label, *(_pct(study.cell(line.label, s).worst) for s in study.strata)]
        for line in study.lines
    ]
    return ["model", *(describe(study, s) for s in study.strata)], table
