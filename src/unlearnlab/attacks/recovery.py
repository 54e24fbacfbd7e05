"""Recovery metrics of an attack's curves on the unlearned model, the base model and the
oracle, with bootstrap confidence intervals over facts.

With recall ``u_s``, ``b_s``, ``o_s`` of the unlearned model, base and oracle after ``s``
attack steps, and the forgetting gap ``g = b_0 - u_0``:

- raw recovery ``r_s = (u_s - u_0) / g``: the share of the forgotten recall that returns;
- net recovery ``n_s = (max(0, u_s - u_0) - max(0, o_s - o_0)) / g``: the gain, less what
  the identical attack teaches the oracle, which never saw the facts. Losses count as no
  gain on both sides: an attack that lowers the oracle's recall (relearning one fold can
  disturb the others) is not credited as recovery, and the oracle attacked as if it were
  the unlearned model nets exactly 0;
- steps to 50% / 90%: the first measured step whose recovery reaches that level (None:
  not within the attack), with the interval of the same over the resamples;
- area: mean recovery over the attack, the trapezoid area under ``r_s`` divided by the
  step span (1.0: fully recovered from step 0 on).

When nothing was forgotten (``g <= 0``) there is nothing to recover and every recovery is
0 by definition. Intervals resample facts with replacement (all phrasings of a fact, on
all three models, together), so they reflect which facts were drawn.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from unlearnlab.attacks.base import Curve
from unlearnlab.attacks.run import ROLES
from unlearnlab.errors import UserError
from unlearnlab.probes.stats import Rate


def recall_matrix(curve: Curve) -> torch.Tensor:
    """``(points, items)`` float64 0/1 correctness of each record at each curve point."""
    return torch.tensor(
        [[1.0 if r["correct"] else 0.0 for r in point.records] for point in curve],
        dtype=torch.float64,
    )


def recovery(
    unlearned: torch.Tensor, base: torch.Tensor, oracle: torch.Tensor | None = None
) -> torch.Tensor:
    """``(points,)`` recovery from recall curves ``(points,)``: raw, or net of the oracle's
    gain when ``oracle`` is given (see the module docstring)."""
    gap = base[0] - unlearned[0]
    gain = unlearned - unlearned[0]  # (points,)
    if oracle is not None:
        gain = gain.clamp(min=0) - (oracle - oracle[0]).clamp(min=0)
    if gap <= 0:
        return torch.zeros_like(gain)
    return gain / gap


def steps_to(fraction: torch.Tensor, steps: Sequence[int], level: float) -> int | None:
    """The first of ``steps`` whose recovery ``fraction`` ``(points,)`` is at least
    ``level``; None if none is."""
    for step, value in zip(steps, fraction.tolist(), strict=True):
        if value >= level:
            return step
    return None


def area(fraction: torch.Tensor, steps: Sequence[int]) -> float:
    """Trapezoid area under recovery ``(points,)`` over ``steps``, per step of span."""
    x = torch.tensor(list(steps), dtype=torch.float64)  # (points,)
    span = float(x[-1] - x[0])
    if span <= 0:
        raise UserError("the area under a recovery curve needs at least two distinct steps")
    return float(torch.trapezoid(fraction, x)) / span


@dataclass(frozen=True)
class StepsInterval:
    """Percentile-bootstrap interval of a steps-to-recovery; None: the level is not reached
    within the attack (beyond its last step)."""

    low: int | None
    high: int | None

    def __str__(self) -> str:
        return f"[{_never(self.low)}, {_never(self.high)}]"

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"low": self.low, "high": self.high}


def _never(step: int | None) -> str:
    return "never" if step is None else str(step)


def _steps_interval(draws: list[int | None], steps: Sequence[int], level: float) -> StepsInterval:
    """The percentile interval of ``draws`` ordered by step, never reached last."""
    order = sorted(draws, key=lambda s: len(steps) if s is None else list(steps).index(s))
    tail = (1.0 - level) / 2
    return StepsInterval(
        order[math.floor(tail * (len(order) - 1))],
        order[math.ceil((1.0 - tail) * (len(order) - 1))],
    )


@dataclass(frozen=True)
class RecoverySummary:
    """Recovery metrics of one attack, each with a bootstrap interval over facts."""

    steps: list[int]
    raw: list[Rate]
    """Raw recovery at each step."""
    net: list[Rate]
    """Recovery net of the oracle's gain at each step."""
    raw_area: Rate
    net_area: Rate
    steps_to_50: int | None
    """First step with raw recovery >= 0.5 (None: never)."""
    steps_to_90: int | None
    """First step with raw recovery >= 0.9 (None: never)."""
    net_steps_to_50: int | None
    net_steps_to_90: int | None
    steps_to_50_ci: StepsInterval
    """Bootstrap interval of ``steps_to_50``; likewise the three below."""
    steps_to_90_ci: StepsInterval
    net_steps_to_50_ci: StepsInterval
    net_steps_to_90_ci: StepsInterval

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "steps": self.steps,
            "raw": [r.to_dict() for r in self.raw],
            "net": [r.to_dict() for r in self.net],
            "raw_area": self.raw_area.to_dict(),
            "net_area": self.net_area.to_dict(),
            "steps_to_50": self.steps_to_50,
            "steps_to_90": self.steps_to_90,
            "net_steps_to_50": self.net_steps_to_50,
            "net_steps_to_90": self.net_steps_to_90,
            "steps_to_50_ci": self.steps_to_50_ci.to_dict(),
            "steps_to_90_ci": self.steps_to_90_ci.to_dict(),
            "net_steps_to_50_ci": self.net_steps_to_50_ci.to_dict(),
            "net_steps_to_90_ci": self.net_steps_to_90_ci.to_dict(),
        }


def _aligned(curves: dict[str, Curve]) -> tuple[list[int], list[str], list[torch.Tensor]]:
    """Steps, each record's fact and the unlearned, base and oracle matrices; a curve that
    does not measure the same items at the same steps is a :class:`UserError`."""
    missing = set(ROLES) - set(curves)
    if missing:
        raise UserError(f"recovery needs curves of {', '.join(sorted(missing))} too")
    steps = [p.step for p in curves["unlearned"]]
    items = [(r["fact"], r["template"]) for r in curves["unlearned"][0].records]
    for role in ROLES:
        for point in curves[role]:
            if [(r["fact"], r["template"]) for r in point.records] != items:
                raise UserError(f"the {role} curve measures other items than the unlearned one")
        if [p.step for p in curves[role]] != steps:
            raise UserError(f"the {role} curve has steps other than the unlearned one")
    matrices = [recall_matrix(curves[role]) for role in ROLES]
    return steps, [fact for fact, _ in items], matrices


def _interval(value: float, draws: list[float], n: int, level: float) -> Rate:
    draws = sorted(draws)
    tail = (1.0 - level) / 2
    low = draws[math.floor(tail * (len(draws) - 1))]
    high = draws[math.ceil((1.0 - tail) * (len(draws) - 1))]
    return Rate(value, low, high, n)


def summarize(
    curves: dict[str, Curve], *, resamples: int = 1000, level: float = 0.95, seed: int = 0
) -> RecoverySummary:
    """Recovery metrics of the ``unlearned``, ``base`` and ``oracle`` curves of one attack
    (from :func:`unlearnlab.attacks.run.attack_models`), intervals from ``resamples``
    fact-level bootstrap resamples drawn with ``seed``."""
    steps, facts, (u, b, o) = _aligned(curves)
    columns: dict[str, list[int]] = {}
    for column, fact in enumerate(facts):
        columns.setdefault(fact, []).append(column)
    groups = list(columns.values())

    def metrics(pick: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        means = [m[:, pick].mean(-1) for m in (u, b, o)]  # each (points,)
        return recovery(means[0], means[1]), recovery(means[0], means[1], means[2])

    raw, net = metrics([c for group in groups for c in group])
    rng = random.Random(seed)
    draws_raw, draws_net = [], []
    for _ in range(resamples):
        drawn = rng.choices(groups, k=len(groups))
        r, n = metrics([c for group in drawn for c in group])
        draws_raw.append(r)
        draws_net.append(n)
    count = len(groups)

    def rates(point: torch.Tensor, draws: list[torch.Tensor]) -> list[Rate]:
        return [
            _interval(float(point[i]), [float(d[i]) for d in draws], count, level)
            for i in range(len(steps))
        ]

    return RecoverySummary(
        steps,
        rates(raw, draws_raw),
        rates(net, draws_net),
        _interval(area(raw, steps), [area(d, steps) for d in draws_raw], count, level),
        _interval(area(net, steps), [area(d, steps) for d in draws_net], count, level),
        steps_to(raw, steps, 0.5),
        steps_to(raw, steps, 0.9),
        steps_to(net, steps, 0.5),
        steps_to(net, steps, 0.9),
        *(
            _steps_interval([steps_to(d, steps, at) for d in draws], steps, level)
            for draws in (draws_raw, draws_net)
            for at in (0.5, 0.9)
        ),
    )


def worst_case(summaries: Sequence[RecoverySummary]) -> int:
    """Index of the summary with the largest net recovery area (the first of equals): a
    durability claim must hold against the strongest attack of a grid."""
    if not summaries:
        raise UserError("the worst case of a grid needs at least one run")
    areas = [s.net_area.value for s in summaries]
    return areas.index(max(areas))
