"""What a report is made of: sections, each a title, Markdown computed from results, and
figures saved as PNG and SVG.

Every experiment contributes sections through a function ``(rows, figures_dir) ->
list[Section]`` that reads only the tidy results rows; the report writer
(:mod:`unlearnlab.report.writer`) puts them into ``report.md`` and ``report.html``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib.figure import Figure

from unlearnlab.io import write_atomic
from unlearnlab.report.verdicts import Verdict


@dataclass(frozen=True)
class FigureFile:
    """A figure saved next to the report: ``<stem>.png`` and ``<stem>.svg``."""

    stem: str
    """File name without suffix, unique within the report."""
    caption: str
    """One sentence saying what the figure shows."""


@dataclass(frozen=True)
class Section:
    """One section of the report."""

    title: str
    """Heading (the question the section answers)."""
    markdown: str
    """Body: tables with confidence intervals (:class:`unlearnlab.probes.stats.Rate`)
    and verdict sentences, each computed from the numbers with its threshold stated."""
    figures: list[FigureFile] = field(default_factory=list)
    """Figures shown under the body, in order."""
    verdicts: list[Verdict] = field(default_factory=list)
    """The section's conclusions as records (``verdicts.json``); their statements are
    also in ``markdown``."""


def save_figure(figure: Figure, folder: Path, stem: str, caption: str) -> FigureFile:
    """Save ``figure`` (a ``matplotlib.figure.Figure`` made directly, never through
    pyplot, so no global state or display backend is involved) as ``folder/<stem>.png``
    (150 dpi) and ``folder/<stem>.svg``, atomically."""
    for suffix, dpi in (("png", 150), ("svg", None)):
        buffer = io.BytesIO()
        figure.savefig(buffer, format=suffix, dpi=dpi, bbox_inches="tight")
        write_atomic(folder / f"{stem}.{suffix}", buffer.getvalue())
    return FigureFile(stem, caption)
