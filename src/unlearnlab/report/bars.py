"""Sanity bars: what each method must do before it is compared (the verdicts are in
:mod:`unlearnlab.report.sanity`; the selection rule prefers the points that pass).

- ``idk`` and every other positive method but ``idk_dpo`` (refusal training): it refuses
  (``output.refusal``) on at least :data:`REFUSAL_BAR` of the forget queries with retain
  recall at least :data:`RETAIN_BAR` at its selected point;
- ``idk_dpo`` (refusal preference): a refusal is more likely than the true answer
  (``output.prefers_refusal``) for at least :data:`PREFERENCE_BAR` of the forget queries at
  its selected point;
- negative methods: direct recall of the forget targets is at most :data:`FORGET_BAR` at
  some grid point.
"""

from __future__ import annotations

from dataclasses import dataclass

from unlearnlab.methods.registry import METHODS
from unlearnlab.probes.stats import Rate
from unlearnlab.report.format import pct

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
FORGET = ("recall.cloze_train", "forget")
"""(probe, split) of direct recall of the forget targets."""
RETAIN = ("recall.cloze_train", "retain")
"""(probe, split) of retain recall."""


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
