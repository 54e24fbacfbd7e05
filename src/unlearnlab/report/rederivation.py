"""Report section "Compositional re-derivation": direct recall of the forget targets
against their re-derivation by chain of thought, premise retention and reasoning
elsewhere, per model, with one verdict per model.

Thresholds:

- a rate *fell* when its 95% interval lies below the base model's (disjoint intervals);
- a target set is *re-derived* when the lower end of the interval of chain-of-thought
  re-derivation is at least :data:`REDERIVED`;
- a drop is *specific* to the targets only when reasoning elsewhere (chain of thought on
  composites that share no entity with any target or premise) did not fall;
- a drop *comes from the forget term* when the method's re-derivation lies below that of
  the sham run (the retain loss alone, same learning rate and steps; disjoint intervals).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from unlearnlab.probes.recall import CLOZE_TRAIN
from unlearnlab.probes.rederivation import COT, IN_CONTEXT
from unlearnlab.probes.registry import DEEP_UNDERIVABLE
from unlearnlab.probes.stats import Rate
from unlearnlab.report.format import md_table, pct, short, with_n
from unlearnlab.report.models import ModelId, RowIndex, labels, models_in, reference
from unlearnlab.report.section import Section, save_figure
from unlearnlab.report.verdicts import Verdict, bullets, fell, record

REDERIVED = 0.2
"""Lower interval bound above which chain-of-thought re-derivation counts as re-derived."""
FLOOR_GAP = 0.2
"""Most the deep oracle's direct recall of its targets may exceed its guessing floor."""
UNDERPOWERED = 0.2
"""A "did not fall" whose paired drop interval reaches this many points says it is
underpowered rather than negative."""
MEASURES = {
    "direct recall": (CLOZE_TRAIN, "forget"),
    "CoT re-derivation": (COT, "forget"),
    "in-context re-derivation": (IN_CONTEXT, "forget"),
    "premise retention": (CLOZE_TRAIN, "premise"),
    "reasoning elsewhere": (COT, "unrelated_composite"),
    "unrelated retention": (CLOZE_TRAIN, "unrelated"),
    "held-out retention": (CLOZE_TRAIN, "retain_heldout"),
}
"""The section's measures: display name -> (probe, split)."""


def rederived(rate: Rate | None) -> bool | None:
    """Whether chain-of-thought re-derivation counts as re-derived: True when the lower
    end of its interval is at least :data:`REDERIVED`, False when the upper end is below
    it, None when the interval straddles it (or there are no items)."""
    if rate is None or rate.n == 0:
        return None
    if rate.low >= REDERIVED:
        return True
    return False if rate.high < REDERIVED else None


STRADDLES = f"undecided (the interval straddles {pct(REDERIVED)})"
"""What a re-derivation verdict says when its interval straddles the threshold."""


def reference_verdicts(index: RowIndex, models: Sequence[ModelId]) -> list[Verdict]:
    """Whether the base model knew the targets, and whether the oracles re-derive them."""
    out = []
    base = reference(models, "base")
    direct, cot = MEASURES["direct recall"], MEASURES["CoT re-derivation"]
    if base is not None:
        known = index.rate(base, *direct)
        chance = index.chance(base, *direct) or 0.0
        above = known is not None and known.low > chance
        out.append(
            record(
                "compositional",
                "base",
                f"The base model recalls {with_n(known)} of the targets against chance "
                f"{pct(chance)}: "
                + (
                    "there is something to forget."
                    if above
                    else "nothing to forget, so no method below can show forgetting."
                ),
                known,
                chance,
                above,
            )
        )
    for role in ("oracle", "deep_oracle"):
        model = reference(models, role)
        if model is None:
            continue
        rate = index.rate(model, *cot)
        name = role.replace("_", " ")
        never = "the targets" if role == "oracle" else "a minimum deep-unlearning set of each"
        verb = {
            True: "re-derives them: removing their statements does not remove entailed facts",
            False: "does not re-derive them",
            None: f"cannot be said to re-derive them or not (the interval straddles "
            f"{pct(REDERIVED)})",
        }[rederived(rate)]
        out.append(
            record(
                "compositional",
                name,
                f"The {name}, never trained on {never}, re-derives {with_n(rate)} of the "
                f"targets by chain of thought; it {verb} (re-derived: lower end ≥ "
                f"{pct(REDERIVED)}; not re-derived: upper end below it).",
                rate,
                REDERIVED,
                rederived(rate),
            )
        )
    floor = floor_verdict(index, models)
    if floor is not None:
        out.append(floor)
    return out


def floor_verdict(index: RowIndex, models: Sequence[ModelId]) -> Verdict | None:
    """Whether the deep oracle's direct recall of its targets lies within
    :data:`FLOOR_GAP` of its recall of facts it never saw and cannot derive (its guessing
    floor): then "underivable" is underivable in the model too, not only in the rules.
    None without the deep oracle or the floor split."""
    model = reference(models, "deep_oracle")
    if model is None:
        return None
    targets = index.rate(model, CLOZE_TRAIN, "forget")
    floor = index.rate(model, CLOZE_TRAIN, DEEP_UNDERIVABLE)
    if targets is None or floor is None:
        return None
    gap = Rate(
        targets.value - floor.value,
        targets.low - floor.high,
        targets.high - floor.low,
        min(targets.n, floor.n),
    )
    holds = gap.value <= FLOOR_GAP
    verb = "within" if holds else "more than"
    return record(
        "validity",
        "deep oracle floor",
        f"The deep oracle recalls {with_n(targets)} of its targets directly and "
        f"{with_n(floor)} of facts it never saw and cannot derive (its guessing floor): "
        f"{verb} {100 * FLOOR_GAP:.0f} points of it (gap {100 * gap.value:+.0f} points, "
        f"conservative interval [{100 * gap.low:+.0f}, {100 * gap.high:+.0f}]); "
        + (
            "its targets are as unknown to it as facts it never met."
            if holds
            else "it reaches its targets by a route the rules do not name, or guesses them "
            "better than other facts."
        ),
        gap,
        FLOOR_GAP,
        holds,
    )


def sham_of(model: ModelId, models: Sequence[ModelId]) -> ModelId | None:
    """The sham control run of ``model``: same forget set, learning rate, steps (and
    unlearning seeds pooled alike); None when the run has none."""
    point = json.loads(model.params or "{}")
    for other in models:
        if other.kind == "control" and other.forget_set == model.forget_set:
            params = json.loads(other.params or "{}")
            if all(params.get(k) == point.get(k) for k in ("lr", "steps")):
                return other
    return None


def _against_sham(index: RowIndex, model: ModelId, sham: ModelId) -> str:
    """The sham run's re-derivation and reasoning elsewhere beside ``model``'s."""
    cot, ref = (index.rate(m, *MEASURES["CoT re-derivation"]) for m in (model, sham))
    elsewhere = index.rate(sham, *MEASURES["reasoning elsewhere"])
    text = (
        f"; the sham run (retain loss alone, same lr and steps) re-derives {short(ref)} "
        f"and reasons elsewhere at {short(elsewhere)}"
    )
    if fell(cot, ref):
        return text + ", so the fall of re-derivation comes from the forget term"
    return text + ", so the loop's drift alone could explain the re-derivation left"


def model_verdict(
    index: RowIndex, model: ModelId, base: ModelId, name: str, sham: ModelId | None = None
) -> Verdict:
    """One unlearned model: did direct recall fall, is the target re-derived, at what
    cost to premises, is the loss of reasoning specific to the targets, and does it
    exceed the sham run's (``sham``: the control at the same lr and steps)?"""
    rates = {k: index.rate(model, *v) for k, v in MEASURES.items()}
    before = {k: index.rate(base, *v) for k, v in MEASURES.items()}
    direct, cot = rates["direct recall"], rates["CoT re-derivation"]
    dropped = fell(direct, before["direct recall"])
    statement = (
        f"{name}: direct recall of targets "
        + (
            f"fell from {pct(before['direct recall'] and before['direct recall'].value)} "
            if dropped
            else "did not fall (intervals overlap) from "
            f"{pct(before['direct recall'] and before['direct recall'].value)} "
        )
        + f"to {with_n(direct)}; chain-of-thought re-derivation is {short(cot)} (base "
        f"{pct(before['CoT re-derivation'] and before['CoT re-derivation'].value)}): "
    )
    if not dropped:
        statement += "not forgotten"
        holds = None
        paired = index.drop(model, base, *MEASURES["direct recall"])
        if paired is not None and paired.high >= UNDERPOWERED:
            statement += (
                f", or underpowered: the paired drop {short(paired)} does not exclude a "
                f"drop of {pct(UNDERPOWERED)} or more"
            )
    else:
        holds = rederived(cot)
        statement += {
            True: "shallow, the model re-derives what it no longer states",
            False: "not re-derived",
            None: STRADDLES,
        }[holds]
    costs = []
    if fell(rates["premise retention"], before["premise retention"]):
        costs.append(f"premise retention fell to {short(rates['premise retention'])}")
    if fell(rates["reasoning elsewhere"], before["reasoning elsewhere"]):
        costs.append(
            f"reasoning on unrelated composites fell to {short(rates['reasoning elsewhere'])}, "
            "so the drop is not specific to the targets"
        )
    if costs:
        statement += " (" + "; ".join(costs) + ")"
    if sham is not None and dropped:
        statement += _against_sham(index, model, sham)
    if model.kind == "positive":
        refusal = index.rate(model, "output.refusal", "forget", outcome=True)
        statement += (
            f"; a refusal method (it refuses on {short(refusal)} of forget queries): its "
            "chain of thought shows what it says, and the ranked direct recall above what "
            "it still knows"
        )
    return record("compositional", name, statement + ".", cot, REDERIVED, holds)


def _bars(index: RowIndex, models: Sequence[ModelId], names: dict[ModelId, str]) -> Figure:
    shown = ["direct recall", "CoT re-derivation", "premise retention", "reasoning elsewhere"]
    figure = Figure(figsize=(max(6.0, 0.9 * len(models)), 3.6))
    ax = figure.subplots()
    width = 0.8 / len(shown)
    for j, measure in enumerate(shown):
        xs, heights, errs = [], [], ([], [])
        for i, m in enumerate(models):
            r = index.rate(m, *MEASURES[measure])
            if r is None:
                continue
            xs.append(i + (j - (len(shown) - 1) / 2) * width)
            heights.append(r.value)
            errs[0].append(max(0.0, r.value - r.low))
            errs[1].append(max(0.0, r.high - r.value))
        bars = ax.bar(xs, heights, width, yerr=errs, capsize=2, label=measure)
        # a bar at 0 has no height: a tick at its value keeps it visible
        ax.scatter(
            xs,
            heights,
            marker="_",
            s=60,
            color=bars.patches[0].get_facecolor() if bars.patches else None,
            zorder=3,
        )
    ax.set_xticks(range(len(models)), [names[m] for m in models], rotation=40, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("rate (95% CI)")
    ax.legend(fontsize=7, ncol=len(shown), loc="lower center", bbox_to_anchor=(0.5, 1.0))
    return figure


def rederivation_section(rows: Sequence[dict[str, Any]], figures: Path) -> Section:
    """Direct recall against re-derivation, premise retention and reasoning elsewhere."""
    index, models = RowIndex(rows), models_in(rows)
    names = labels(models)
    base = reference(models, "base")
    body = [[names[m], *(short(index.rate(m, *v)) for v in MEASURES.values())] for m in models]
    verdicts = reference_verdicts(index, models)
    if base is not None:
        verdicts += [
            model_verdict(index, m, base, names[m], sham_of(m, models))
            for m in models
            if not m.is_reference and m.kind != "control"
        ]
    text = [
        "Recall of the forget targets asked directly, re-derived by chain of thought from "
        "memory (a chain that may not name the fact's other valid answers), and with the "
        "premises given in context; retention of the targets' "
        "premises; reasoning elsewhere (chain of thought on composites sharing no entity "
        "with any target or premise: a drop there is a loss of reasoning, not of the "
        "targets); retention of unrelated facts, and of stated facts kept out of every retain loss "
        "(held-out retention). Sham rows are the control: the retain "
        "loss alone at a method's learning rate and steps (the drift of the loop itself). "
        "95% intervals; n items per cell.",
        "",
        md_table(["model", *MEASURES], body),
        "",
        *bullets(verdicts),
    ]
    figure = save_figure(
        _bars(index, models, names),
        figures,
        "rederivation",
        "Direct recall of forget targets, chain-of-thought re-derivation, premise retention "
        "and reasoning on unrelated composites per model (95% CIs).",
    )
    return Section("Compositional re-derivation", "\n".join(text), [figure], verdicts)
