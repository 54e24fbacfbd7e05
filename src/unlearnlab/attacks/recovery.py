"""Recovery metrics of an attack's curves on the unlearned model, the base model and the
oracle, with bootstrap intervals over facts (and unlearning seeds, crossed).

With recall ``u_s``, ``b_s``, ``o_s`` of the unlearned model, base and oracle after ``s``
attack steps, and the forgetting gap ``g = b_0 - u_0``:

- gains ``u_s - u_0`` (raw) and ``max(0, u_s - u_0) - max(0, o_s - o_0)`` (net of what
  the identical attack teaches the oracle, which never saw the facts; a loss counts as no
  gain on both sides, so the oracle attacked as if it were the unlearned model nets
  exactly 0). Reported as absolute points of recall regained, and as a share of the gap:
- recovery ``r_s = clamp(gain / g, 0, 1)``: the share of the forgotten recall that
  returns, bounded to [0, 1] (a further loss is no recovery, and more than the gap is
  full recovery);
- area: the mean recovery over the *attacked* points (every point but the untouched
  first one), so a one-shot attack (quantization: steps 0 and 1) and a long relearning
  curve are on the same [0, 1] scale: 1.0 means fully recovered at every attacked point;
- steps to 50% / 90%: the first measured step whose recovery reaches that level (None:
  not within the attack).

Recovery presupposes forgetting: ``forgotten`` holds only when the paired interval of the
gap lies above 0. When the gap is 0 or below there is nothing to recover: recovery is
undefined (NaN) and no durability verdict may be drawn ("not forgotten"). A bootstrap
resample whose gap is 0 or below counts as fully recovered (recovery 1), so an interval
never claims durability on resamples where nothing was forgotten.

Intervals resample facts with replacement (all phrasings of a fact, on all three models,
together) and, with several unlearning seeds, seeds crossed with facts; their upper ends
are raised to what the exact interval of the attacked recall allows
(:func:`exact_ceiling`), so a curve that stays at 0% of 20 facts is "0% [0, 17]", never
"0% [0, 0]".
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
from unlearnlab.probes.stats import Rate, clopper_pearson_pooled


def recall_matrix(curve: Curve) -> torch.Tensor:
    """``(points, items)`` float64 0/1 correctness of each record at each curve point."""
    return torch.tensor(
        [[1.0 if r["correct"] else 0.0 for r in point.records] for point in curve],
        dtype=torch.float64,
    )


def gain(unlearned: torch.Tensor, oracle: torch.Tensor | None = None) -> torch.Tensor:
    """``(points,)`` recall regained from recall curves ``(points,)``: raw, or net of the
    oracle's gain when ``oracle`` is given (see the module docstring)."""
    raw = unlearned - unlearned[0]  # (points,)
    if oracle is None:
        return raw
    return raw.clamp(min=0) - (oracle - oracle[0]).clamp(min=0)


def recovery(
    unlearned: torch.Tensor,
    base: torch.Tensor,
    oracle: torch.Tensor | None = None,
    *,
    unforgotten: float = float("nan"),
) -> torch.Tensor:
    """``(points,)`` recovery in [0, 1] from recall curves ``(points,)``: raw, or net of
    the oracle's gain when ``oracle`` is given; every point is ``unforgotten`` (NaN by
    default: undefined) when the gap is 0 or below (see the module docstring)."""
    gap = base[0] - unlearned[0]
    regained = gain(unlearned, oracle)
    if gap <= 0:
        return torch.full_like(regained, unforgotten)
    return (regained / gap).clamp(0.0, 1.0)


def steps_to(fraction: torch.Tensor, steps: Sequence[int], level: float) -> int | None:
    """The first of ``steps`` whose recovery ``fraction`` ``(points,)`` is at least
    ``level``; None if none is."""
    for step, value in zip(steps, fraction.tolist(), strict=True):
        if value >= level:
            return step
    return None


def area(fraction: torch.Tensor) -> float:
    """Mean of ``fraction`` ``(points,)`` over the attacked points (all but the first)."""
    if len(fraction) < 2:
        raise UserError("a recovery curve needs an attacked point besides its start")
    return float(fraction[1:].mean())


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
    """Recovery metrics of one attack, each with a bootstrap interval over facts (and
    unlearning seeds)."""

    steps: list[int]
    gap: Rate
    """Forgetting before the attack: base recall minus unlearned recall at the first
    point, paired by fact."""
    forgotten: bool
    """Whether the gap's interval lies above 0; recovery means nothing otherwise."""
    raw: list[Rate]
    """Raw recovery at each step (share of the gap, in [0, 1])."""
    net: list[Rate]
    """Recovery net of the oracle's gain at each step (share of the gap, in [0, 1])."""
    raw_area: Rate
    """Mean raw recovery over the attacked points."""
    net_area: Rate
    """Mean net recovery over the attacked points."""
    raw_points: Rate
    """Mean recall regained over the attacked points, in absolute points (may be < 0)."""
    net_points: Rate
    """The same net of the oracle's gain."""
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
            "gap": self.gap.to_dict(),
            "forgotten": self.forgotten,
            "raw": [r.to_dict() for r in self.raw],
            "net": [r.to_dict() for r in self.net],
            "raw_area": self.raw_area.to_dict(),
            "net_area": self.net_area.to_dict(),
            "raw_points": self.raw_points.to_dict(),
            "net_points": self.net_points.to_dict(),
            "steps_to_50": self.steps_to_50,
            "steps_to_90": self.steps_to_90,
            "net_steps_to_50": self.net_steps_to_50,
            "net_steps_to_90": self.net_steps_to_90,
            "steps_to_50_ci": self.steps_to_50_ci.to_dict(),
            "steps_to_90_ci": self.steps_to_90_ci.to_dict(),
            "net_steps_to_50_ci": self.net_steps_to_50_ci.to_dict(),
            "net_steps_to_90_ci": self.net_steps_to_90_ci.to_dict(),
        }


def _items(curve: Curve) -> list[tuple[str, str]]:
    return [(r["fact"], r["template"]) for r in curve[0].records]


def _check(curve: Curve, role: str, items: list[tuple[str, str]], steps: list[int]) -> None:
    """A curve that does not measure ``items`` at ``steps`` is a :class:`UserError`."""
    for point in curve:
        if [(r["fact"], r["template"]) for r in point.records] != items:
            raise UserError(f"the {role} curve measures other items than the unlearned one")
    if [p.step for p in curve] != steps:
        raise UserError(f"the {role} curve has steps other than the unlearned one")


def _interval(value: float, draws: list[float], n: int, level: float) -> Rate:
    draws = sorted(draws)
    tail = (1.0 - level) / 2
    low = draws[math.floor(tail * (len(draws) - 1))]
    high = draws[math.ceil((1.0 - tail) * (len(draws) - 1))]
    if not math.isnan(value):
        low, high = min(low, value), max(high, value)
    return Rate(value, low, high, n)


@dataclass(frozen=True)
class _Point:
    """Every metric of one draw of facts and seeds."""

    gap: float
    raw: torch.Tensor
    net: torch.Tensor
    raw_points: float
    net_points: float


def _metrics(u: torch.Tensor, b: torch.Tensor, o: torch.Tensor, unforgotten: float) -> _Point:
    """Metrics of mean recall curves ``(points,)``."""
    return _Point(
        float(b[0] - u[0]),
        recovery(u, b, unforgotten=unforgotten),
        recovery(u, b, o, unforgotten=unforgotten),
        float(gain(u)[1:].mean()),
        float(gain(u, o)[1:].mean()),
    )


def exact_ceiling(recall: torch.Tensor, gap: float, n: int, level: float) -> torch.Tensor:
    """``(points,)`` the largest recovery the exact (Clopper-Pearson) interval of the
    attacked recall ``(points,)`` over ``n`` facts allows: a bootstrap of a curve that
    stays at 0% has no spread, but 0 of 20 facts cannot rule out 17% (NaN when nothing
    was forgotten). It bounds net recovery too, whose gain never exceeds the raw one."""
    if gap <= 0:
        return torch.full_like(recall, float("nan"))
    highs = [clopper_pearson_pooled(float(r), n, level)[1] for r in recall]
    regained = torch.tensor(highs, dtype=torch.float64) - recall[0]
    regained[0] = 0.0  # the untouched first point recovers nothing by definition
    return (regained / gap).clamp(0.0, 1.0)


def _raised(rate: Rate, ceiling: float) -> Rate:
    """``rate`` with its upper end raised to ``ceiling`` where that is higher."""
    if math.isnan(ceiling) or math.isnan(rate.value):
        return rate
    return Rate(rate.value, rate.low, max(rate.high, ceiling), rate.n)


def summarize(
    curves: dict[str, Curve], *, resamples: int = 1000, level: float = 0.95, seed: int = 0
) -> RecoverySummary:
    """Recovery metrics of the ``unlearned``, ``base`` and ``oracle`` curves of one attack
    (from :func:`unlearnlab.attacks.run.attack_models`); see :func:`summarize_seeds`."""
    missing = set(ROLES) - set(curves)
    if missing:
        raise UserError(f"recovery needs curves of {', '.join(sorted(missing))} too")
    return summarize_seeds(
        [curves["unlearned"]],
        curves["base"],
        curves["oracle"],
        resamples=resamples,
        level=level,
        seed=seed,
    )


def summarize_seeds(
    unlearned: Sequence[Curve],
    base: Curve,
    oracle: Curve,
    *,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> RecoverySummary:
    """Recovery metrics of one attack on the models unlearned with each of several seeds
    (``unlearned``: one curve per seed, over the same items and steps) against the base
    model's and the oracle's curves; intervals from ``resamples`` bootstrap resamples
    drawn with ``seed``, facts crossed with unlearning seeds."""
    if not unlearned:
        raise UserError("recovery needs at least one unlearned curve")
    steps = [p.step for p in unlearned[0]]
    items = _items(unlearned[0])
    for role, curve in [*(("unlearned", c) for c in unlearned), ("base", base), ("oracle", oracle)]:
        _check(curve, role, items, steps)
    u = torch.stack([recall_matrix(c) for c in unlearned])  # (seeds, points, columns)
    b, o = recall_matrix(base), recall_matrix(oracle)  # (points, columns)
    columns: dict[str, list[int]] = {}
    for column, (fact, _) in enumerate(items):
        columns.setdefault(fact, []).append(column)
    groups = list(columns.values())

    def metrics(pick: list[int], seeds: list[int], unforgotten: float) -> _Point:
        means = [u[seeds][:, :, pick].mean((0, 2)), b[:, pick].mean(-1), o[:, pick].mean(-1)]
        return _metrics(*means, unforgotten)

    all_seeds = list(range(len(unlearned)))
    point = metrics([c for g in groups for c in g], all_seeds, float("nan"))
    rng = random.Random(seed)
    draws = []
    for _ in range(resamples):
        drawn = rng.choices(groups, k=len(groups))
        seeds = rng.choices(all_seeds, k=len(all_seeds))
        draws.append(metrics([c for g in drawn for c in g], seeds, 1.0))
    n = len(groups)

    ceiling = exact_ceiling(u.mean((0, 2)), point.gap, n, level)

    def rates(value: torch.Tensor, field: str) -> list[Rate]:
        return [
            _raised(
                _interval(float(value[i]), [float(getattr(d, field)[i]) for d in draws], n, level),
                float(ceiling[i]),
            )
            for i in range(len(steps))
        ]

    def areas(value: torch.Tensor, field: str) -> Rate:
        found = _interval(area(value), [area(getattr(d, field)) for d in draws], n, level)
        return _raised(found, area(ceiling))

    gap = _interval(point.gap, [d.gap for d in draws], n, level)
    return RecoverySummary(
        steps,
        gap,
        gap.low > 0,
        rates(point.raw, "raw"),
        rates(point.net, "net"),
        areas(point.raw, "raw"),
        areas(point.net, "net"),
        _interval(point.raw_points, [d.raw_points for d in draws], n, level),
        _interval(point.net_points, [d.net_points for d in draws], n, level),
        steps_to(point.raw, steps, 0.5),
        steps_to(point.raw, steps, 0.9),
        steps_to(point.net, steps, 0.5),
        steps_to(point.net, steps, 0.9),
        *(
            _steps_interval([steps_to(getattr(d, f), steps, at) for d in draws], steps, level)
            for f in ("raw", "net")
            for at in (0.5, 0.9)
        ),
    )


def worst_case(summaries: Sequence[RecoverySummary]) -> int:
    """Index of the summary with the largest net recovery area (the first of equals; an
    undefined area, nothing forgotten, counts as full recovery): a durability claim must
    hold against the strongest attack of a grid."""
    if not summaries:
        raise UserError("the worst case of a grid needs at least one run")
    areas = [1.0 if math.isnan(s.net_area.value) else s.net_area.value for s in summaries]
    return areas.index(max(areas))
