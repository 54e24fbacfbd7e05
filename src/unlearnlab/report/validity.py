"""Report section "Evaluation validity": forget recall in every answer format.

A format can show forgetting only where the base model answers the targets above chance
(the lower end of its interval above the chance level): one verdict per format. A method
whose forgetting holds in some informative formats but not in others is flagged (a
verdict that does not hold).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from unlearnlab.probes.recall import CLOZE_HELDOUT, CLOZE_TRAIN, MCQ_LETTER, MCQ_TEXT, QUESTION
from unlearnlab.probes.stats import Rate
from unlearnlab.report.format import md_table, pct, short, with_n
from unlearnlab.report.models import ModelId, RowIndex, labels, models_in, reference
from unlearnlab.report.section import FigureFile, Section, save_figure
from unlearnlab.report.verdicts import Verdict, bullets, fell, record

RECALL_FORMATS = (CLOZE_TRAIN, CLOZE_HELDOUT, QUESTION, MCQ_LETTER, MCQ_TEXT)
"""The answer formats of direct recall."""


def _fmt(probe: str) -> str:
    return probe.split(".")[1]


def format_verdicts(index: RowIndex, base: ModelId) -> list[Verdict]:
    """Per format: whether the base model's recall of the targets is above chance."""
    out = []
    for fmt in RECALL_FORMATS:
        rate = index.rate(base, fmt, "forget")
        if rate is None:
            continue
        chance = index.chance(base, fmt, "forget") or 0.0
        above = rate.low > chance
        out.append(
            record(
                "validity",
                _fmt(fmt),
                f"{_fmt(fmt)}: the base model recalls {with_n(rate)} of the targets against "
                f"chance {pct(chance)}: "
                + (
                    "this format can show forgetting."
                    if above
                    else "not above chance; this format cannot show forgetting."
                ),
                rate,
                chance,
                above,
            )
        )
    return out


def flag_verdict(
    index: RowIndex, model: ModelId, base: ModelId, informative: Sequence[str], name: str
) -> Verdict | None:
    """A flag when forgetting holds in some informative formats only (None otherwise)."""
    holds = [
        f
        for f in informative
        if fell(index.rate(model, f, "forget"), index.rate(base, f, "forget"))
    ]
    if not holds or len(holds) == len(informative):
        return None
    missing = [f for f in informative if f not in holds]
    first = index.rate(model, holds[0], "forget")
    return record(
        "validity",
        name,
        f"FLAG {name}: forgetting holds in {', '.join(map(_fmt, holds))} but not in "
        f"{', '.join(map(_fmt, missing))} (fell = intervals disjoint from the base model's).",
        first,
        None,
        False,
    )


def _heatmap(index: RowIndex, models: Sequence[ModelId], names: dict[ModelId, str]) -> Figure:
    figure = Figure(figsize=(6.0, max(2.5, 0.35 * len(models) + 1)))
    ax = figure.subplots()
    grid = [
        [(index.rate(m, f, "forget") or Rate(float("nan"), 0, 0, 0)).value for f in RECALL_FORMATS]
        for m in models
    ]
    image = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(RECALL_FORMATS)), map(_fmt, RECALL_FORMATS), rotation=30, ha="right")
    ax.set_yticks(range(len(models)), [names[m] for m in models])
    figure.colorbar(image, ax=ax, label="forget recall")
    return figure


def validity_section(rows: Sequence[dict[str, Any]], figures: Path) -> Section:
    """Forget recall per model and format, the formats' validity and the flags."""
    index, models = RowIndex(rows), models_in(rows)
    names = labels(models)
    base = reference(models, "base")
    body = [
        [names[m], *(short(index.rate(m, f, "forget")) for f in RECALL_FORMATS)] for m in models
    ]
    if base is not None:
        chances = [index.chance(base, f, "forget") for f in RECALL_FORMATS]
        body.append(["chance", *(pct(c) for c in chances)])
    verdicts: list[Verdict] = []
    if base is not None:
        verdicts = format_verdicts(index, base)
        informative = [f"recall.{v.subject}" for v in verdicts if v.holds]
        verdicts += [
            v
            for m in models
            if not m.is_reference
            and (v := flag_verdict(index, m, base, informative, names[m])) is not None
        ]
    text = [
        "Recall of the forget targets in each answer format (cloze in training and held-out "
        "phrasings, question, multiple choice by letter and by answer text).",
        "",
        md_table(["model", *map(_fmt, RECALL_FORMATS)], body),
        "",
        *bullets(verdicts),
    ]
    heat: FigureFile = save_figure(
        _heatmap(index, models, names), figures, "formats", "Forget recall per model and format."
    )
    return Section("Evaluation validity", "\n".join(text), [heat], verdicts)
