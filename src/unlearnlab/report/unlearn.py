"""The unlearning study's report (kind ``unlearn``), from results rows and the run's
selection rule alone: a summary, the world, the fair comparison (sanity bars, selected
points, the frontier), then one section per question (:mod:`~unlearnlab.report.rederivation`,
:mod:`~unlearnlab.report.polarity`, :mod:`~unlearnlab.report.durability`,
:mod:`~unlearnlab.report.validity`, :mod:`~unlearnlab.report.calibration`), each with its
verdict records."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from unlearnlab.probes.registry import FORGET_UNDERIVABLE
from unlearnlab.report.calibration import calibration_section
from unlearnlab.report.contrast import contrast_section
from unlearnlab.report.durability import durability_section, worst_recoveries
from unlearnlab.report.format import short
from unlearnlab.report.frontier import frontier_section
from unlearnlab.report.in_context import in_context_section
from unlearnlab.report.models import WORLD, RowIndex, attack_runs, labels, model_of, models_in
from unlearnlab.report.polarity import polarity_section
from unlearnlab.report.rederivation import MEASURES, rederivation_section, sham_of
from unlearnlab.report.sanity import sanity_verdicts
from unlearnlab.report.section import Section
from unlearnlab.report.selection import SelectionRule, select, selection_section
from unlearnlab.report.summary import summary_section
from unlearnlab.report.validity import validity_section
from unlearnlab.report.verdicts import Verdict, bullets


def world_section(rows: Sequence[dict[str, Any]]) -> Section:
    """The world's size and what deep unlearning its targets would cost."""
    world = [r for r in rows if r["role"] == WORLD]
    counts = {r["item"]: int(r["value"]) for r in world if r["probe"] == "world.count"}
    derivable = [r for r in world if r["split"] == "forget"]
    sizes = [int(r["value"]) for r in derivable if r["probe"] == "deep.minimum_size"]
    sets = [r for r in derivable if r["probe"] == "deep.set_count"]
    underivable = {r["item"] for r in world if r["split"] == FORGET_UNDERIVABLE}
    text = [", ".join(f"{n} {name}" for name, n in counts.items()) + "."]
    if sizes:
        complete = sum(bool(r["correct"]) for r in sets)
        text += [
            "",
            f"Each of the {len(sizes)} forget targets is a stated fact that other stated "
            f"facts imply. Making a target underivable takes removing at least {min(sizes)} "
            f"to {max(sizes)} facts (mean {sum(sizes) / len(sizes):.2f}, the target "
            f"included): the exact minimum deep-unlearning sets, which the deep variants of "
            f"each method and the deep oracle remove. The targets have "
            f"{sum(int(r['value']) for r in sets)} minimal deep-unlearning sets in all "
            f"({complete} of {len(sets)} enumerations complete).",
        ]
    if underivable:
        text += [
            "",
            f"Beside them the forget set holds {len(underivable)} underivable targets, "
            "stated facts that nothing implies (their deep set is the target alone), so "
            "every method is also read on facts it cannot have re-derived "
            '(section "Derivable against underivable targets").',
        ]
    return Section("World and forget targets", "\n".join(text))


def compared_rows(
    rows: Sequence[dict[str, Any]], rule: SelectionRule, sanity: Sequence[Verdict]
) -> list[dict[str, Any]]:
    """The rows the per-question sections compare: the references, and each method's
    selected grid point under ``rule``, but not the points of a method that failed its
    sanity bar (it is reported as not converged, never compared as if it had worked)."""
    failed = {v.subject for v in sanity if v.holds is False}
    chosen = {
        point.model
        for (method, forget_set), point in select(rows, rule).items()
        if point is not None
        and (method if forget_set == "targets" else f"{method} ({forget_set})") not in failed
    }
    return [r for r in rows if r["role"] != "unlearned" or model_of(r) in chosen]


def shams_of(
    compared: Sequence[dict[str, Any]], controls: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The rows of the sham runs that match a compared model (same forget set, lr and
    steps)."""
    shams = models_in(controls)
    matched = {sham_of(m, shams) for m in models_in(compared) if not m.is_reference}
    return [r for r in controls if model_of(r) in matched]


def unlearn_sections(
    rows: Sequence[dict[str, Any]], figures: Path, rule: SelectionRule | None = None
) -> list[Section]:
    """The summary, the world, the fair-comparison sections (sanity bars and selected
    points, the compositional frontier over every grid point), then the per-question
    sections on the selected points of the methods that passed their sanity bar (the sham
    control runs only beside them in the re-derivation section)."""
    rule = rule or SelectionRule()
    controls = [r for r in rows if model_of(r).kind == "control"]
    rows = [r for r in rows if model_of(r).kind != "control"]
    sanity = sanity_verdicts(rows, rule)
    selection = selection_section(rows, rule)
    fair = Section(
        "Fair comparison: sanity bars and selected points",
        "\n".join([*bullets(sanity), "", selection.markdown]),
        [],
        sanity,
    )
    compared = compared_rows(rows, rule, sanity)
    sections = [
        fair,
        frontier_section(rows, figures),
        rederivation_section([*compared, *shams_of(compared, controls)], figures),
        *([contrast] if (contrast := contrast_section(compared)) else []),
        *([context] if (context := in_context_section(compared)) else []),
        polarity_section(compared, figures, rows),
        durability_section(compared, figures),
        validity_section(compared, figures),
        calibration_section(rows, figures),
    ]
    summary = summary_section([v for s in sections for v in s.verdicts])
    return [summary, world_section(rows), *sections]


def headline_table(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Per model: the headline measures, and the worst net recovery over attacks."""
    index, models = RowIndex(rows), models_in(rows)
    names = labels(models)
    worst = worst_recoveries(attack_runs(rows))
    body = []
    for m in models:
        areas = [f.summary.net_area for (mm, _), f in worst.items() if mm == m]
        top = max(areas, key=lambda r: r.value) if areas else None
        body.append(
            [
                names[m],
                *(short(index.rate(m, p, s)) for p, s in MEASURES.values()),
                "" if m.is_reference else short(top),
            ]
        )
    return ["model", *MEASURES, "worst net recovery"], body
