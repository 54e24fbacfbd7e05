"""Sanity verdicts: a method is compared only where it did what it is meant to do.

One verdict (``claim: "sanity"``) per method and forget set, from the results rows, on the
method's bar (:mod:`unlearnlab.report.bars`). A method that misses its bar "did not
converge at any grid point" (or, for a positive method that passes elsewhere on its grid,
not at its selected point) and must not be compared as if it had worked. Fewer than
:data:`~unlearnlab.report.verdicts.MIN_N` items do not decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from unlearnlab.report.bars import RETAIN, Bar, bar_of
from unlearnlab.report.format import short
from unlearnlab.report.models import RowIndex
from unlearnlab.report.selection import GridPoint, SelectionRule, grid, select
from unlearnlab.report.verdicts import Verdict, too_few


def sanity_verdict(
    index: RowIndex, subject: str, bar: Bar, points: Sequence[GridPoint], chosen: GridPoint | None
) -> Verdict:
    """The sanity verdict of one method's grid ``points`` (``chosen``: its selected point)."""
    rates = {p.model: index.rate(p.model, *bar.measure, outcome=True) for p in points}
    retains = {p.model: index.rate(p.model, *RETAIN) for p in points}
    measured = [p for p in points if rates[p.model] is not None]
    passing = [p for p in measured if bar.passes(rates[p.model], retains[p.model])]
    unselected = not bar.anywhere and chosen is None
    if bar.anywhere or unselected:
        pool = passing or measured
        best = max if bar.at_least else min
        shown = best(pool, key=lambda p: rates[p.model].value) if pool else None
    else:
        shown = chosen if rates.get(chosen.model) is not None else None
    rate = rates[shown.model] if shown is not None else None
    if rate is None or too_few(rate.n):
        n = 0 if rate is None else rate.n
        return Verdict(
            "sanity",
            subject,
            f"{subject}: too few items to check that it {bar.what} (n = {n}).",
            None if rate is None else rate.value,
            None if rate is None else (rate.low, rate.high),
            n,
            bar.threshold,
            None,
        )
    holds: bool | None = shown in passing
    if unselected and passing:
        holds = None
        statement = (
            f"{subject} passes its bar at {len(passing)} grid point(s) ({short(rate)}, "
            f"n = {rate.n}) but no point of its grid meets the selection rule."
        )
    elif holds:
        statement = f"{subject} {bar.what}: {short(rate)} (n = {rate.n})."
    elif passing:
        statement = (
            f"{subject} passes its bar at {len(passing)} grid point(s) but not at its "
            f"selected point ({short(rate)}, n = {rate.n}); it {bar.what}."
        )
    else:
        statement = (
            f"{subject} did not converge at any grid point (its bar: it {bar.what}); its "
            f"best of {len(points)} point(s) reaches {short(rate)} (n = {rate.n})."
        )
    return Verdict(
        "sanity",
        subject,
        statement,
        rate.value,
        (rate.low, rate.high),
        rate.n,
        bar.threshold,
        holds,
    )


def sanity_verdicts(rows: Sequence[dict[str, Any]], rule: SelectionRule) -> list[Verdict]:
    """One sanity verdict per method and forget set of the run (see the module)."""
    index = RowIndex(rows)
    selected = select(rows, rule)
    verdicts = []
    for (method, forget_set), points in grid(rows).items():
        bar = bar_of(method)
        if bar is None:
            continue
        subject = method if forget_set == "targets" else f"{method} ({forget_set})"
        verdicts.append(sanity_verdict(index, subject, bar, points, selected[(method, forget_set)]))
    return verdicts
