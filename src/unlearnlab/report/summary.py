"""The report's opening "Summary": one short paragraph per question, from the verdict
records of the other sections (so it never says more than they do)."""

from __future__ import annotations

from collections.abc import Sequence

from unlearnlab.report.section import Section
from unlearnlab.report.verdicts import MIN_N, Verdict

QUESTIONS = {
    "sanity": "Did every method do what it is supposed to do?",
    "compositional": "Compositional re-derivation",
    "contrast": "Derivable against underivable targets",
    "polarity": "Negative versus positive training",
    "durability": "Durability",
    "connectivity": "Which facts can be unlearned",
    "dualuse": "Dual use",
    "validity": "Evaluation validity",
    "calibration": "Is the instrument calibrated?",
}
"""Claims in the order the summary answers them, with their headings."""


def _names(verdicts: Sequence[Verdict]) -> str:
    return ", ".join(v.subject for v in verdicts) or "none"


def _paragraph(claim: str, verdicts: Sequence[Verdict]) -> str:
    held = [v for v in verdicts if v.holds is True]
    failed = [v for v in verdicts if v.holds is False]
    open_ = [v for v in verdicts if v.holds is None]
    if claim in ("compositional", "polarity"):
        return " ".join(v.statement for v in verdicts)
    if claim == "contrast":
        widest = max((v.half_width or 0.0 for v in open_), default=0.0)
        return (
            f"Derivable targets stay more known than underivable ones: {_names(held)}. "
            f"No contrast: {_names(failed)}. Undecided (half-widths up to {widest:.0%}): "
            f"{_names(open_)}."
        )
    if claim == "durability":
        judged = [v for v in open_ if v.value == v.value and v.value is not None and v.n >= MIN_N]
        widest = max(((v.ci[1] - v.ci[0]) / 2 for v in judged if v.ci), default=0.0)
        return (
            f"Durable (worst net recovery's upper end below the threshold): {_names(held)}. "
            f"Recovered (lower end at or above it): {_names(failed)}. Undecided (the interval "
            f"straddles the threshold; half-widths up to {widest:.0%}): {_names(judged)}. "
            "Not forgotten or too few items, so not judged: "
            f"{_names([v for v in open_ if v not in judged])}."
        )
    parts = [f"{len(held)} of {len(verdicts)} checks hold."]
    if failed:
        parts.append("Failing: " + " ".join(v.statement for v in failed))
    if open_:
        parts.append(f"Undecided: {_names(open_)}.")
    return " ".join(parts)


def summary_section(verdicts: Sequence[Verdict]) -> Section:
    """One paragraph per question that has verdicts, in :data:`QUESTIONS` order; each
    record with its value, interval and n is in ``verdicts.json``."""
    lines = [
        "Each paragraph condenses the verdicts of its section below; every verdict states "
        "its number, its 95% interval, n and its threshold, and `verdicts.json` holds them "
        "as records. A verdict over too few items, or about a method that did not forget, "
        "does not conclude.",
    ]
    claims = list(QUESTIONS) + sorted({v.claim for v in verdicts} - set(QUESTIONS))
    for claim in claims:
        mine = [v for v in verdicts if v.claim == claim]
        if mine:
            heading = QUESTIONS.get(claim, claim)
            heading += "" if heading.endswith("?") else "."
            lines += ["", f"**{heading}** {_paragraph(claim, mine)}"]
    return Section("Summary", "\n".join(lines))
