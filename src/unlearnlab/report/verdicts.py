"""Verdict records: every conclusion the report prints, as data.

A verdict is a claim about a subject (a method, a model, a format) computed from the
numbers: the value it rests on, that value's 95% interval, the number of items ``n``,
the threshold it was compared with, and whether it holds. ``holds`` is None when the
data cannot decide (too few items, nothing forgotten, no reference to compare with);
the statement then says why. The report prints each statement; ``verdicts.json`` keeps
every record, so a CI job can gate on it.

Minimum numbers of items (:data:`MIN_N`): a verdict over fewer items than its kind needs
says "too few items" instead of concluding.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from unlearnlab.io import write_atomic
from unlearnlab.probes.stats import Rate

MIN_N = 8
"""Fewest items a verdict over a rate may rest on; below it the verdict does not conclude.
At n = 8 an observed 0% has a 95% Wilson upper bound of 32%, the widest interval we let
decide a 20-point threshold."""

VERDICTS_FILE = "verdicts.json"
"""File name of the verdict records, next to the report."""


@dataclass(frozen=True)
class Verdict:
    """One conclusion of the report."""

    claim: str
    """Which question it answers: ``compositional``, ``polarity``, ``durability``,
    ``sanity``, ``validity``, ``calibration``, ``connectivity``, ``dualuse``, ..."""
    subject: str
    """What it is about: a method (with its variant), a model, a format."""
    statement: str
    """The sentence the report prints."""
    value: float | None
    """The number it rests on (a rate, a difference, an area), or None."""
    ci: tuple[float, float] | None
    """95% interval of ``value`` ([low, high]), or None."""
    n: int
    """Number of items (facts, routes) behind ``value``."""
    threshold: float | None
    """What ``value`` (or an end of its interval) was compared with."""
    holds: bool | None
    """True or False when the data decide; None when they cannot (the statement says
    why)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``ci`` as a two-element list, NaN as null, plus ``half_width`` (the
        verdict's resolution: a difference smaller than it cannot be told apart)."""
        data = asdict(self)
        data["ci"] = None if self.ci is None else [_finite(x) for x in self.ci]
        data["value"] = _finite(self.value)
        data["threshold"] = _finite(self.threshold)
        data["half_width"] = _finite(self.half_width)
        return data

    @property
    def half_width(self) -> float | None:
        """Half the width of the interval (the verdict's resolution), or None."""
        if self.ci is None:
            return None
        return (self.ci[1] - self.ci[0]) / 2


def _finite(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else float(x)


def too_few(n: int, minimum: int = MIN_N) -> bool:
    """Whether ``n`` items are too few for a verdict."""
    return n < minimum


def write_verdicts(path: Path, verdicts: Iterable[Verdict]) -> None:
    """Write the records as a JSON list, atomically."""
    data = [v.to_dict() for v in verdicts]
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def read_verdicts(path: Path) -> list[Verdict]:
    """The records of a ``verdicts.json``."""
    out = []
    for d in json.loads(Path(path).read_text()):
        d.pop("half_width", None)
        ci = d.pop("ci")
        out.append(Verdict(**d, ci=None if ci is None else (ci[0], ci[1])))
    return out


def bullets(verdicts: Sequence[Verdict]) -> list[str]:
    """The statements as Markdown bullet lines."""
    return [f"- {v.statement}" for v in verdicts]


def fell(after: Rate | None, before: Rate | None) -> bool:
    """Whether ``after`` lies below ``before`` with disjoint 95% intervals."""
    return after is not None and before is not None and after.high < before.low


def record(
    claim: str,
    subject: str,
    statement: str,
    rate: Rate | None,
    threshold: float | None,
    holds: bool | None,
    *,
    minimum: int = MIN_N,
) -> Verdict:
    """A verdict resting on ``rate``; with fewer than ``minimum`` items it does not
    conclude (``holds`` None) and the statement says so."""
    n = 0 if rate is None else rate.n
    if rate is None or too_few(n, minimum):
        holds = None
        statement += f" Too few items to decide (n = {n}; at least {minimum} needed)."
    return Verdict(
        claim,
        subject,
        statement,
        None if rate is None else rate.value,
        None if rate is None else (rate.low, rate.high),
        n,
        threshold,
        holds,
    )
