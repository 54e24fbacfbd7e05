"""``report.md`` and ``report.html`` of a run, from its record and results rows alone.

The kind of the run's config makes the sections (``ExperimentKind.sections``, called by the
command line, which hands them here); this module adds the header (what ran, on which
code, with which packages) and renders both files. The HTML is self-contained apart from
the figures, which it loads from ``figures/`` next to it (PNG; an SVG of each lies beside
it for papers).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import markdown

from unlearnlab.io import write_atomic
from unlearnlab.report.record import RunRecord
from unlearnlab.report.section import Section
from unlearnlab.report.verdicts import VERDICTS_FILE, write_verdicts

FIGURES = "figures"
"""Folder of the figures, next to the report."""

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1000px; margin: 2em auto;
       padding: 0 1em; line-height: 1.45; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f3f3f3; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; }
figcaption { font-size: 0.9em; color: #555; }
code { background: #f5f5f5; padding: 0 0.2em; }
"""


def _header(record: RunRecord) -> str:
    git = record.git
    commit = "not a git checkout" if git.commit is None else git.commit[:12]
    if git.dirty:
        commit += " (uncommitted changes)"
    packages = ", ".join(f"{k} {v}" for k, v in sorted(record.packages.items()))
    seconds = "" if record.seconds is None else f" in {record.seconds:.0f} s"
    return "\n".join(
        [
            f"# unlearnlab: {record.config['name']}",
            "",
            f"Experiment `{record.experiment}`, profile `{record.profile}`"
            + (f", overrides `{' '.join(record.overrides)}`" if record.overrides else "")
            + f"; config hash `{record.config_hash}`, seed {record.config.get('seed', 0)}. "
            f"Run {record.status}{seconds}, started {record.started}. Code: {commit}. "
            f"Python {record.python} on {record.machine}; {packages}.",
            "",
            "Every rate is shown with its 95% bootstrap interval (over items, and over seeds "
            "where there are several) beside the base model, the oracle (never trained on "
            "the forget targets), the deep oracle (never trained on a minimum "
            "deep-unlearning set of each target) and chance.",
        ]
    )


def render_markdown(record: RunRecord, sections: Sequence[Section]) -> str:
    """The Markdown report: header, then each section with its figures (PNG links)."""
    parts = [_header(record)]
    for section in sections:
        parts += ["", f"## {section.title}", "", section.markdown.strip()]
        for figure in section.figures:
            parts += [
                "",
                f"![{figure.caption}]({FIGURES}/{figure.stem}.png)",
                "",
                f"*{figure.caption}*",
            ]
    return "\n".join(parts) + "\n"


def render_html(record: RunRecord, sections: Sequence[Section]) -> str:
    """The HTML report: the same content as the Markdown one, figures as ``<figure>``."""
    body = [markdown.markdown(_header(record), extensions=["tables"])]
    for section in sections:
        body.append(f"<h2>{html.escape(section.title)}</h2>")
        body.append(markdown.markdown(section.markdown, extensions=["tables"]))
        for figure in section.figures:
            caption = html.escape(figure.caption)
            body.append(
                f'<figure><img src="{FIGURES}/{figure.stem}.png" alt="{caption}">'
                f"<figcaption>{caption} "
                f'(<a href="{FIGURES}/{figure.stem}.svg">SVG</a>)</figcaption></figure>'
            )
    title = html.escape(f"unlearnlab: {record.config['name']}")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{_STYLE}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def write_report(record: RunRecord, sections: Sequence[Section], run_dir: Path) -> Path:
    """Write ``report.md``, ``report.html`` and ``verdicts.json`` of a run from its kind's
    ``sections`` (their figures already under ``run_dir/figures``); return the HTML's path."""
    write_verdicts(run_dir / VERDICTS_FILE, [v for s in sections for v in s.verdicts])
    write_atomic(run_dir / "report.md", render_markdown(record, sections))
    path = run_dir / "report.html"
    write_atomic(path, render_html(record, sections))
    return path
