"""Report section "Which metric can you trust?" (kind ``metrics``): every metric graded
against what the world says each model knows, fact by fact.

Every metric gives each (model, fact) pair a value; :data:`GRADED` orients it so that
higher means "the model holds this fact". Three grades, each from the rows alone:

- **faithfulness**: the AUC separating pairs where the model holds the knowledge (the
  base model on the forget targets) from pairs where it never saw it (the oracle on the
  targets, the base model and the oracle on the holdout), with an interval resampling
  both sides (:func:`~unlearnlab.probes.stats.auc`); a constant metric scores 0.5;
- **robustness**: how far each change to the oracle moves the metric on the targets, as
  a share of the base-oracle gap (0: not at all; 1: as far as training on the targets):
  changes that leave knowledge as it is (4-bit and 8-bit quantization, relearning on
  unrelated facts) should move it less than :data:`KEEP`, relearning the targets more
  than :data:`RESTORE`;
- **re-derivation**: the AUC of the oracle's targets (never seen, derivable) against the
  deep oracle's (never seen, not derivable): a metric of what a model was trained on that
  rises above 0.5 is fooled by reasoning (its lower end above 0.5; not fooled: its upper
  end below :data:`FOOLED`).

The section also states the membership-inference bars: ``mia.loss`` separates the base
model's targets from the holdout with AUC at least :data:`MIA_AUC`, and the oracle's AUC
interval contains 0.5.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from unlearnlab.probes.stats import Rate, auc, bootstrap_mean
from unlearnlab.report.format import md_table
from unlearnlab.report.section import Section, save_figure
from unlearnlab.report.verdicts import Verdict, bullets, record, too_few

GRADED = {
    "recall.cloze_train": 1,
    "recall.cloze_heldout": 1,
    "recall.question": 1,
    "recall.mcq_text": 1,
    "rederive.cot": 1,
    "hidden.linear_probe": 1,
    "tofu.answer_prob": 1,
    "tofu.truth_ratio": -1,
    "gen.rouge_l": 1,
    "gen.exact_memorization": 1,
    "gen.extraction_strength": 1,
    "mia.loss": 1,
    "mia.zlib": 1,
    "mia.min_k": 1,
    "mia.min_k_plus_plus": 1,
    "mia.reference": 1,
    "mia.gradnorm": 1,
}
"""Every per-fact metric graded, with its orientation (+1: higher means "holds the fact";
``hidden.linear_probe`` is read at the last layer)."""
MODEL_LEVEL = ("tofu.forget_quality", "muse.privleak")
"""Metrics with one value per model, shown beside the grades (no per-fact grade)."""
KEEPS = ("quantize4", "quantize8", "relearn_unrelated")
"""Changes to the oracle that leave its knowledge of the targets as it is."""
RESTORES = "relearn_forget"
"""The change that brings the knowledge back: relearning the targets."""
KEEP = 0.25
"""Most a knowledge-keeping change may move a robust metric (share of the gap)."""
RESTORE = 0.5
"""Least relearning the targets must move a robust metric (share of the gap)."""
FOOLED = 0.65
"""Upper end of the re-derivation AUC below which a metric is not fooled."""
MIA_AUC = 0.9
"""Least ``mia.loss`` AUC on the base model (the issue's bar)."""


@dataclass(frozen=True)
class Grade:
    """One metric's grades."""

    metric: str
    faithfulness: Rate
    shifts: dict[str, Rate]
    """Shift on the targets under each change (share of the base-oracle gap)."""
    rederivation: Rate

    @property
    def robust(self) -> bool | None:
        """Whether every keeping change moves it less than :data:`KEEP` and relearning the
        targets more than :data:`RESTORE`; None without a gap to judge by (its faithfulness
        interval reaches 0.5), a change, or :data:`~unlearnlab.report.verdicts.MIN_N` facts."""
        keeps = [self.shifts[c] for c in KEEPS if c in self.shifts]
        restore = self.shifts.get(RESTORES)
        f = self.faithfulness
        if not keeps or restore is None or too_few(f.n) or not f.low > 0.5:
            return None
        return max(abs(s.value) for s in keeps) < KEEP and restore.value > RESTORE


def model_label(row: dict[str, Any]) -> str:
    """``base``, ``oracle``, ``deep_oracle``, or ``oracle+<change>``."""
    return row["role"] if not row.get("attack") else f"{row['role']}+{row['attack']}"


def _metric_of(probe: str, last_layer: str | None) -> str | None:
    if probe.startswith("hidden.linear_probe."):
        return "hidden.linear_probe" if probe == last_layer else None
    return probe if probe in GRADED else None


def fact_values(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, float]]:
    """``(metric, model, split) -> {fact: value}``, oriented (higher: holds the fact); a
    fact's rows (phrasings) are averaged; ``value`` where the rows carry one, else
    ``correct``."""
    layers = sorted(
        (r["probe"] for r in rows if r["probe"].startswith("hidden.linear_probe.")),
        key=lambda p: int(p.rsplit("layer", 1)[1]),
    )
    last = layers[-1] if layers else None
    sums: dict[tuple[str, str, str], dict[str, list[float]]] = {}
    for row in rows:
        metric = _metric_of(row["probe"], last)
        if metric is None or row["split"] not in ("forget", "holdout"):
            continue
        value = row["value"] if row["value"] is not None else float(row["correct"])
        key = (metric, model_label(row), row["split"])
        sums.setdefault(key, {}).setdefault(row["item"], []).append(GRADED[metric] * value)
    return {k: {i: sum(v) / len(v) for i, v in items.items()} for k, items in sums.items()}


def _get(values: dict, metric: str, model: str, split: str) -> dict[str, float]:
    return values.get((metric, model, split), {})


def grade(values: dict, metric: str, changes: Sequence[str]) -> Grade:
    """The grades of ``metric`` from :func:`fact_values` (see the module docstring)."""
    held = list(_get(values, metric, "base", "forget").values())
    unseen = [
        v
        for model, split in (("oracle", "forget"), ("base", "holdout"), ("oracle", "holdout"))
        for v in _get(values, metric, model, split).values()
    ]
    base, oracle = _get(values, metric, "base", "forget"), _get(values, metric, "oracle", "forget")
    gap = _mean(list(base.values())) - _mean(list(oracle.values()))
    shifts = {}
    for change in changes:
        after = _get(values, metric, f"oracle+{change}", "forget")
        common = sorted(set(after) & set(oracle))
        moved = [(after[i] - oracle[i]) / gap for i in common] if abs(gap) > 1e-12 else []
        shifts[change] = bootstrap_mean(moved, common if moved else None)
    deep = list(_get(values, metric, "deep_oracle", "forget").values())
    return Grade(metric, auc(held, unseen), shifts, auc(list(oracle.values()), deep))


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _auc_text(rate: Rate) -> str:
    if rate.n == 0:
        return "n/a"
    return f"{rate.value:.2f} [{rate.low:.2f}, {rate.high:.2f}]"


def _shift_text(rate: Rate | None) -> str:
    if rate is None or rate.n == 0:
        return "n/a"
    return f"{100 * rate.value:+.0f}% [{100 * rate.low:+.0f}, {100 * rate.high:+.0f}]"


def _verdicts(g: Grade) -> list[Verdict]:
    f = g.faithfulness
    faithful = None if f.n == 0 else f.low >= 0.75
    found = [
        record(
            "metrics",
            f"{g.metric} / faithfulness",
            f"{g.metric} separates held from never-seen knowledge with AUC {_auc_text(f)} "
            f"(faithful: lower end at least 0.75).",
            f,
            0.75,
            faithful,
        )
    ]
    keeps = [c for c in KEEPS if c in g.shifts]
    moves = ", ".join(f"{c} {_shift_text(g.shifts[c])}" for c in keeps)
    restore = _shift_text(g.shifts.get(RESTORES))
    verdict = {
        True: "robust",
        False: "not robust",
        None: "undecided (too few facts, or no base-oracle gap to judge by)",
    }
    found.append(
        Verdict(
            "metrics",
            f"{g.metric} / robustness",
            f"{g.metric} moves by {moves} of the base-oracle gap under changes that keep "
            f"knowledge, {restore} under relearning the targets: {verdict[g.robust]} "
            f"(keeping changes below {KEEP:.0%}, relearning above {RESTORE:.0%}).",
            max((abs(g.shifts[c].value) for c in keeps), default=None),
            None,
            g.faithfulness.n,
            KEEP,
            g.robust,
        )
    )
    r = g.rederivation
    fooled = None if r.n == 0 else (True if r.low > 0.5 else False if r.high < FOOLED else None)
    word = {True: "fooled", False: "not fooled", None: "undecided"}[fooled]
    found.append(
        record(
            "metrics",
            f"{g.metric} / re-derivation",
            f"{g.metric} on facts the oracle can derive against facts the deep oracle cannot: "
            f"AUC {_auc_text(r)}: {word} by re-derivation (fooled: lower end above 0.5; "
            f"not fooled: upper end below {FOOLED}).",
            r,
            0.5,
            fooled,
        )
    )
    return found


def _mia_bars(values: dict) -> list[Verdict]:
    found = []
    for model in ("base", "oracle"):
        members = list(_get(values, "mia.loss", model, "forget").values())
        others = list(_get(values, "mia.loss", model, "holdout").values())
        if not members or not others:
            continue
        rate = auc(members, others)
        if model == "base":
            holds = rate.value >= MIA_AUC
            claim = f"at least {MIA_AUC}"
        else:
            holds = rate.low <= 0.5 <= rate.high
            claim = "an interval containing 0.5"
        found.append(
            record(
                "metrics",
                f"mia.loss / {model}",
                f"mia.loss on the {model} model: forget targets against holdout facts, AUC "
                f"{_auc_text(rate)} ({len(others)} holdout facts; bar: {claim}).",
                rate,
                MIA_AUC if model == "base" else 0.5,
                holds,
            )
        )
    return found


def _figure(grades: Sequence[Grade], folder: Path) -> Any:
    figure = Figure(figsize=(7, 0.35 * len(grades) + 1.2))
    ax = figure.subplots()
    for y, g in enumerate(grades):
        for rate, color, label in (
            (g.faithfulness, "tab:blue", "faithfulness"),
            (g.rederivation, "tab:orange", "re-derivation (oracle vs deep oracle)"),
        ):
            if rate.n:
                ax.errorbar(
                    rate.value,
                    y,
                    xerr=[[rate.value - rate.low], [rate.high - rate.value]],
                    fmt="o",
                    color=color,
                    label=label if y == 0 else None,
                )
    ax.axvline(0.5, color="gray", linestyle=":", linewidth=1)
    ax.set_yticks(range(len(grades)), [g.metric for g in grades])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("AUC (95% interval)")
    ax.legend(loc="lower left", fontsize="small")
    return save_figure(
        figure,
        folder,
        "metrics_trust",
        "Each metric's faithfulness AUC (held knowledge against never-seen facts) and its "
        "re-derivation AUC (derivable against underivable unseen facts), best first.",
    )


def metrics_section(rows: Sequence[dict[str, Any]], figures: Path) -> Section:
    """The section "Which metric can you trust?" from the run's rows."""
    values = fact_values(rows)
    changes = sorted({r["attack"] for r in rows if r.get("attack")})
    metrics = [m for m in GRADED if (m, "base", "forget") in values]
    grades = sorted(
        (grade(values, m, changes) for m in metrics),
        key=lambda g: (-_finite(g.faithfulness.value), -_finite(g.faithfulness.low)),
    )
    header = ["rank", "metric", "faithfulness AUC", *changes, "re-derivation AUC", "robust"]
    body = [
        [
            str(i),
            g.metric,
            _auc_text(g.faithfulness),
            *(_shift_text(g.shifts.get(c)) for c in changes),
            _auc_text(g.rederivation),
            {True: "yes", False: "no", None: "n/a"}[g.robust],
        ]
        for i, g in enumerate(grades, start=1)
    ]
    verdicts = [v for g in grades for v in _verdicts(g)] + _mia_bars(values)
    levels = _model_level(rows)
    markdown = "\n\n".join(
        [
            "Every metric on the same models and facts, graded against what each model "
            "holds: ranked by faithfulness (AUC of held against never-seen knowledge); "
            "the change columns give how far each change to the oracle moves the metric "
            "on the targets, as a share of the base-oracle gap.",
            md_table(header, body),
            *([levels] if levels else []),
            "\n".join(bullets(verdicts)),
        ]
    )
    figure = [_figure(grades, figures)] if grades else []
    return Section("Which metric can you trust?", markdown, figure, verdicts)


def _model_level(rows: Sequence[dict[str, Any]]) -> str:
    found: dict[str, dict[str, float]] = {}
    for row in rows:
        if row["probe"] in MODEL_LEVEL and row["value"] is not None:
            found.setdefault(model_label(row), {})[row["probe"]] = row["value"]
    if not found:
        return ""
    body = [
        [model, *(f"{found[model].get(m, math.nan):.3g}" for m in MODEL_LEVEL)]
        for model in sorted(found)
    ]
    return "One value per model:\n\n" + md_table(["model", *MODEL_LEVEL], body)


def _finite(x: float) -> float:
    return -1.0 if math.isnan(x) else x
