"""Sanity bars: a method is compared only where it did what it is meant to do.

One verdict (``claim: "sanity"``) per method and forget set, from the results rows:

- ``idk`` and every other positive method but ``idk_dpo`` (refusal training): at its
  selected point it refuses (``output.refusal``) on at least :data:`REFUSAL_BAR` of the
  forget queries with retain recall at least :data:`RETAIN_BAR`;
- ``idk_dpo`` (refusal preference): at its selected point a refusal is more likely than
  the true answer (``output.prefers_refusal``) for at least :data:`PREFERENCE_BAR` of
  the forget queries;
- negative methods: direct recall of the forget targets is at most :data:`FORGET_BAR`
  at some grid point.

A method that misses its bar "did not converge at any grid point" (or, for a positive
method that passes elsewhere on its grid, not at its selected point) and must not be
compared as if it had worked. Fewer than :data:`~unlearnlab.report.verdicts.MIN_N`
items do not decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from unlearnlab.methods.registry import METHODS
from unlearnlab.probes.stats import Rate
from unlearnlab.report.format import pct, short
from unlearnlab.report.models import RowIndex
from unlearnlab.report.selection import FORGET, RETAIN, GridPoint, SelectionRule, grid, select
from unlearnlab.report.verdicts import Verdict, too_few

REFUSAL_BAR = 0.8
"""Least share of forget queries a refusal method must refuse at its selected point."""
RETAIN_BAR = 0.9
"""Least retain recall of a refusal method at its selected point."""
PREFERENCE_BAR = 0.8
"""Least share of forget queries where a preference method ranks a refusal first."""
FORGET_BAR = 0.1
"""Most direct recall of the forget targets a negative method must reach somewhere."""
REFUSAL = ("output.refusal", "forget")
PREFERENCE = ("output.prefers_refusal", "forget")


@dataclass(frozen=True)
class Bar:
    """One method's sanity bar: a (probe, split) rate compared with a threshold."""

    measure: tuple[str, str]
    threshold: float
    at_least: bool
    """Whether the rate must be at least (True) or at most (False) the threshold."""
    retain: float | None = None
    """Least retain recall required besides, if any."""
    anywhere: bool = False
    """Whether any grid point may pass (True) or the selected point must."""
    what: str = ""
    """What the bar asks, as a phrase."""

    def passes(self, rate: Rate, retain: Rate | None) -> bool:
        """Whether ``rate`` (and ``retain``, where required) clear the bar."""
        ok = rate.value >= self.threshold if self.at_least else rate.value <= self.threshold
        if self.retain is not None:
            ok = ok and retain is not None and retain.value >= self.retain
        return ok


REFUSES = Bar(
    REFUSAL,
    REFUSAL_BAR,
    at_least=True,
    retain=RETAIN_BAR,
    what=f"refuses on at least {pct(REFUSAL_BAR)} of forget queries with retain recall "
    f"at least {pct(RETAIN_BAR)} at its selected point",
)
PREFERS = Bar(
    PREFERENCE,
    PREFERENCE_BAR,
    at_least=True,
    what=f"ranks a refusal above the true answer on at least {pct(PREFERENCE_BAR)} of "
    "forget queries at its selected point",
)
FORGETS = Bar(
    FORGET,
    FORGET_BAR,
    at_least=False,
    anywhere=True,
    what=f"reaches direct recall of the forget targets at most {pct(FORGET_BAR)} at some "
    "grid point",
)


def bar_of(method: str) -> Bar | None:
    """The sanity bar of ``method`` (None for exact unlearning, which needs none)."""
    if method == "idk_dpo":
        return PREFERS
    kind = METHODS[method].kind if method in METHODS else None
    if kind == "positive":
        return REFUSES
    if kind == "negative":
        return FORGETS
    return None


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
