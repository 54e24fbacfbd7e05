"""The unlearning study's report (kind ``unlearn``), from results rows alone: a summary,
the world, then one section per question (:mod:`~unlearnlab.report.rederivation`,
:mod:`~unlearnlab.report.polarity`, :mod:`~unlearnlab.report.durability`,
:mod:`~unlearnlab.report.validity`, :mod:`~unlearnlab.report.calibration`), each with its
verdict records."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from unlearnlab.report.calibration import calibration_section
from unlearnlab.report.durability import durability_section, worst_recoveries
from unlearnlab.report.format import short
from unlearnlab.report.models import WORLD, RowIndex, attack_runs, labels, models_in
from unlearnlab.report.polarity import polarity_section
from unlearnlab.report.rederivation import MEASURES, rederivation_section
from unlearnlab.report.section import Section
from unlearnlab.report.summary import summary_section
from unlearnlab.report.validity import validity_section


def world_section(rows: Sequence[dict[str, Any]]) -> Section:
    """The world's size and what deep unlearning its targets would cost."""
    world = [r for r in rows if r["role"] == WORLD]
    counts = {r["item"]: int(r["value"]) for r in world if r["probe"] == "world.count"}
    sizes = [int(r["value"]) for r in world if r["probe"] == "deep.minimum_size"]
    sets = [r for r in world if r["probe"] == "deep.set_count"]
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
    return Section("World and forget targets", "\n".join(text))


def unlearn_sections(rows: Sequence[dict[str, Any]], figures: Path) -> list[Section]:
    """The summary, the world, then the sections of the unlearning study."""
    sections = [
        rederivation_section(rows, figures),
        polarity_section(rows, figures),
        durability_section(rows, figures),
        validity_section(rows, figures),
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
