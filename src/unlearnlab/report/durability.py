"""Report section "Durability": recovery under each attack, raw and net of the oracle,
worst case over the attack's grid and seeds, unlearning seeds pooled.

Recovery is defined in :mod:`unlearnlab.attacks.recovery`: a share of the forgotten gap in
[0, 1], averaged over the attacked points, and absolute points of recall regained. A
method is *durable* under an attack when it forgot (the gap's interval lies above 0) and
the upper end of its worst net recovery's interval is below :data:`DURABLE`, *recovered*
when the lower end is at least :data:`DURABLE`, and undecided otherwise; when it did not
forget, the verdict says "not forgotten" and does not conclude.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from unlearnlab.report.format import md_table, model_colors, pct, short
from unlearnlab.report.models import (
    AttackRun,
    ModelId,
    Recovery,
    attack_runs,
    curve_recall,
    labels,
    models_in,
    recoveries,
)
from unlearnlab.report.section import Section, save_figure
from unlearnlab.report.verdicts import Verdict, bullets, record

DURABLE = 0.1
"""Upper interval bound of net recovery below which a method counts as durable."""


def _strength(found: Recovery) -> float:
    """Net recovery area; undefined (nothing forgotten) counts as full recovery."""
    value = found.summary.net_area.value
    return 1.0 if math.isnan(value) else value


def worst_recoveries(runs: Sequence[AttackRun]) -> dict[tuple[ModelId, str], Recovery]:
    """Per unlearned model and attack, the setting (parameters, attack seed) with the
    largest net recovery area."""
    worst: dict[tuple[ModelId, str], Recovery] = {}
    for found in recoveries(runs):
        key = (found.model, found.attack)
        if key not in worst or _strength(found) > _strength(worst[key]):
            worst[key] = found
    return worst


def durability_verdict(found: Recovery, name: str) -> Verdict:
    """Whether the model is durable under the attack (see the module docstring)."""
    s = found.summary
    subject = f"{name} / {found.attack}"
    if not s.forgotten:
        return record(
            "durability",
            subject,
            f"{name} under {found.attack}: not forgotten (recall gap to the base model "
            f"{short(s.gap)}, n = {s.gap.n}), so durability cannot be judged.",
            s.net_area,
            DURABLE,
            None,
        )
    durable: bool | None = True if s.net_area.high < DURABLE else None
    if s.net_area.low >= DURABLE:
        durable = False
    word = {True: "durable", False: "recovered", None: "undecided (the interval straddles it)"}
    return record(
        "durability",
        subject,
        f"{name} under {found.attack}: net recovery {short(s.net_area)} of the forgotten gap "
        f"(n = {s.net_area.n}; {s.net_points.value * 100:+.0f} points of recall regained net "
        f"of the {found.reference.replace('_', ' ')}): {word[durable]} (durable: upper end "
        f"< {pct(DURABLE)}; recovered: lower end ≥ it).",
        s.net_area,
        DURABLE,
        durable,
    )


def varying_params(runs: Sequence[AttackRun]) -> dict[str, list[str]]:
    """Per attack: the parameters whose values differ between its settings (its grid),
    so the worst setting is named by what was varied, whatever the attack."""
    values: dict[str, dict[str, set[str]]] = {}
    for run in runs:
        for key, value in json.loads(run.params).items():
            values.setdefault(run.attack, {}).setdefault(key, set()).add(json.dumps(value))
    return {a: sorted(k for k, v in keys.items() if len(v) > 1) for a, keys in values.items()}


def _setting(found: Recovery, varying: Sequence[str]) -> str:
    params = json.loads(found.params)
    shown = ", ".join(f"{k}={params[k]}" for k in varying if k in params)
    return f"{shown or 'its only setting'}, attack seed {found.seed}"


def _figure(
    runs: Sequence[AttackRun],
    worst: dict[tuple[ModelId, str], Recovery],
    models: Sequence[ModelId],
    names: dict[ModelId, str],
) -> Figure:
    attacks = list(dict.fromkeys(r.attack for r in runs))
    figure = Figure(figsize=(4.2 * len(attacks), 3.6))
    axes = figure.subplots(1, len(attacks), squeeze=False)[0]
    colors = model_colors(models)
    for ax, attack in zip(axes, attacks, strict=True):
        for m in models:
            if m.is_reference:
                ref = next((r for r in runs if r.model == m and r.attack == attack), None)
                if ref is None:
                    continue
                curve, style = ref.curve, "--"
            elif (m, attack) in worst:
                curve = worst[(m, attack)].runs[0].curve
                style = ":" if m.forget_set != "targets" else "-"
            else:
                continue
            ax.plot(
                [p.step for p in curve],
                curve_recall(curve),
                style,
                marker=None if m.is_reference else ".",
                linewidth=2 if m.is_reference else 1,
                label=names[m],
                color=colors[m],
            )
        ax.set_title(attack)
        ax.set_xlabel("attack step (optimizer steps, or 0/1 before/after an edit)")
        ax.set_ylabel("forget recall")
        ax.set_ylim(-0.05, 1.05)
        last = max((p.step for r in runs if r.attack == attack for p in r.curve), default=1)
        if last > 8:
            ax.set_xscale("symlog", linthresh=1)
            ax.set_xlim(0, last * 1.15)
    axes[-1].legend(fontsize=6, loc="center left", bbox_to_anchor=(1, 0.5))
    return figure


def durability_section(rows: Sequence[dict[str, Any]], figures: Path) -> Section:
    """Recovery per attack and model, worst case over the grid, with verdicts."""
    runs = attack_runs(rows)
    if not runs:
        return Section("Durability", "No attack was configured for this run.")
    models = models_in(rows)
    names = labels(models)
    worst = worst_recoveries(runs)
    varying = varying_params(runs)
    body = [
        [
            names[m],
            attack,
            short(found.summary.gap),
            short(found.summary.raw_area),
            short(found.summary.net_area),
            f"{found.summary.net_points.value * 100:+.0f}",
            "never"
            if found.summary.net_steps_to_50 is None
            else str(found.summary.net_steps_to_50),
            _setting(found, varying[attack]),
        ]
        for (m, attack), found in worst.items()
    ]
    verdicts = [durability_verdict(found, names[m]) for (m, _), found in worst.items()]
    text = [
        "Each attack ran identically (same data, same seed) on every unlearned model, the "
        "base model and the oracles. Gap: base recall minus unlearned recall before the "
        "attack (recovery presupposes it is above 0). Recovery: the share of the gap that "
        "returns, in [0, 1], averaged over the attacked points; net: less the oracle's gain "
        "under the identical attack (the deep oracle's for deep forget sets). Net points: "
        "recall regained net of the oracle, in points. Worst case over the attack's grid "
        "and seeds; unlearning seeds pooled, facts crossed with seeds in the intervals. "
        f"Durable: forgotten, and the net recovery's upper end below {pct(DURABLE)}.",
        "",
        md_table(
            [
                "model",
                "attack",
                "gap",
                "raw recovery",
                "net recovery",
                "net points",
                "steps to 50% net",
                "worst setting",
            ],
            body,
        ),
        "",
        *bullets(verdicts),
    ]
    curves = save_figure(
        _figure(runs, worst, models, names),
        figures,
        "recovery_curves",
        "Forget recall along each attack (worst case of each method's grid, first "
        "unlearning seed); dashed: the base model and the oracles under the identical "
        "attack; dotted: deep forget sets.",
    )
    return Section("Durability", "\n".join(text), [curves], verdicts)
