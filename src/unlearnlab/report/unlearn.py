"""Report sections of the unlearning study (kind ``unlearn``), from results rows alone.

Sections follow the questions: compositional re-derivation, negative versus positive
training, durability, evaluation validity. Verdicts are computed from the numbers; each
states its threshold. Two thresholds recur:

- a rate *fell* (or *rose*) when the 95% intervals of the two models do not overlap;
- a fact is *re-derived* when the lower end of the interval of chain-of-thought
  re-derivation is at least :data:`REDERIVED` (20%).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib import colormaps
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from unlearnlab.attacks.recovery import RecoverySummary, summarize
from unlearnlab.probes.stats import Rate
from unlearnlab.report.models import (
    WORLD,
    AttackRun,
    ModelId,
    RowIndex,
    attack_runs,
    curve_recall,
    labels,
    models_in,
    short,
)
from unlearnlab.report.section import FigureFile, Section, save_figure

REDERIVED = 0.2
"""Lower interval bound above which chain-of-thought re-derivation counts as re-derived."""
DURABLE = 0.1
"""Upper interval bound of net recovery area below which a method counts as durable."""
RECALL_FORMATS = (
    "recall.cloze_train",
    "recall.cloze_heldout",
    "recall.question",
    "recall.mcq_letter",
    "recall.mcq_text",
)
OUTPUTS = ("output.correct", "output.refusal", "output.fluent_wrong", "output.degenerate")
MEASURES = {
    "direct recall": ("recall.cloze_train", "forget"),
    "CoT re-derivation": ("rederive.cot", "forget"),
    "in-context re-derivation": ("rederive.in_context", "forget"),
    "premise retention": ("recall.cloze_train", "premise"),
    "unrelated retention": ("recall.cloze_train", "unrelated"),
}
"""The headline measures: display name -> (probe, split)."""


def fell(after: Rate | None, before: Rate | None) -> bool:
    """Whether ``after`` lies below ``before`` with disjoint 95% intervals."""
    return after is not None and before is not None and after.high < before.low


def rederived(rate: Rate | None) -> bool:
    """Whether chain-of-thought re-derivation counts as re-derived (see the module)."""
    return rate is not None and rate.n > 0 and rate.low >= REDERIVED


def _table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def _ref(models: Sequence[ModelId], role: str) -> ModelId | None:
    return next((m for m in models if m.role == role and m.is_reference), None)


def _bars(
    index: RowIndex,
    models: Sequence[ModelId],
    names: dict[ModelId, str],
    measures: dict[str, tuple[str, str]],
) -> Figure:
    figure = Figure(figsize=(max(6.0, 0.9 * len(models)), 3.6))
    ax = figure.subplots()
    width = 0.8 / len(measures)
    for j, (measure, (probe, split)) in enumerate(measures.items()):
        xs, ys, errs = [], [[], []], []
        for i, m in enumerate(models):
            r = index.rate(m, probe, split)
            if r is None:
                continue
            xs.append(i + (j - (len(measures) - 1) / 2) * width)
            errs.append(r.value)
            ys[0].append(max(0.0, r.value - r.low))
            ys[1].append(max(0.0, r.high - r.value))
        ax.bar(xs, errs, width, yerr=ys, capsize=2, label=measure)
    ax.set_xticks(range(len(models)), [names[m] for m in models], rotation=40, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("rate (95% CI)")
    ax.legend(fontsize=7, ncol=len(measures))
    return figure


def world_section(rows: Sequence[dict[str, Any]]) -> Section:
    """The world's size and what deep unlearning its targets would cost."""
    world = [r for r in rows if r["role"] == WORLD]
    counts = {r["item"]: int(r["value"]) for r in world if r["probe"] == "world.count"}
    sizes = [int(r["value"]) for r in world if r["probe"] == "deep.minimum_size"]
    sets = [r for r in world if r["probe"] == "deep.set_count"]
    text = [", ".join(f"{n} {name}" for name, n in counts.items()) + "."]
    if sizes:
        complete = sum(bool(r["correct"]) for r in sets)
        text += [
            "",
            f"Each of the {len(sizes)} forget targets is a stated fact that other stated "
            f"facts imply. Making a target underivable takes removing at least {min(sizes)} "
            f"to {max(sizes)} facts (mean {sum(sizes) / len(sizes):.2f}, the target "
            f"included): the exact minimum deep-unlearning sets, which the deep variants of "
            f"each method and the deep oracle remove. The targets have "
            f"{sum(int(r['value']) for r in sets)} minimal deep-unlearning sets in all "
            f"({complete} of {len(sets)} enumerations complete).",
        ]
    return Section("World and forget targets", "\n".join(text))


def rederivation_section(rows: Sequence[dict[str, Any]], figures: Path) -> Section:
    """Direct recall against re-derivation against premise retention, per model."""
    index, models = RowIndex(rows), models_in(rows)
    names = labels(models)
    base, oracle = _ref(models, "base"), _ref(models, "oracle")
    body = [[names[m], *(short(index.rate(m, p, s)) for p, s in MEASURES.values())] for m in models]
    chance = index.chance(base, *MEASURES["direct recall"]) if base else None
    text = [
        "Recall of the forget targets asked directly, re-derived by chain of thought from "
        "memory, and with the premises given in context; retention of the targets' premises "
        f"and of unrelated facts. Chance for direct recall: {_pct(chance)}.",
        "",
        _table(["model", *MEASURES], body),
        "",
    ]
    direct_probe = MEASURES["direct recall"]
    cot_probe = MEASURES["CoT re-derivation"]
    known = base is not None and index.rate(base, *direct_probe) is not None
    if known and chance is not None and index.rate(base, *direct_probe).low <= chance:
        text.append(
            f"- The base model recalls {short(index.rate(base, *direct_probe))} of the targets, "
            f"not above chance ({_pct(chance)}): there is nothing to forget, so no method's "
            "numbers below can show forgetting."
        )
    if oracle is not None:
        ocot = index.rate(oracle, *cot_probe)
        if rederived(ocot):
            text.append(
                f"- The oracle, never trained on the targets, re-derives {short(ocot)} of them "
                "by chain of thought: the targets are entailed by kept premises, so removing "
                f"their statements does not remove them (re-derived: interval's lower end "
                f"≥ {_pct(REDERIVED)})."
            )
        else:
            text.append(
                f"- The oracle re-derives {short(ocot)} of the targets by chain of thought: "
                f"below the re-derivation threshold (lower end ≥ {_pct(REDERIVED)})."
            )
    for m in models:
        if m.is_reference or base is None:
            continue
        direct, bdirect = index.rate(m, *direct_probe), index.rate(base, *direct_probe)
        cot, bcot = index.rate(m, *cot_probe), index.rate(base, *cot_probe)
        premise = index.rate(m, *MEASURES["premise retention"])
        bpremise = index.rate(base, *MEASURES["premise retention"])
        dropped = fell(direct, bdirect)
        moved = "fell" if dropped else "did not fall (intervals overlap)"
        sentence = (
            f"- {names[m]}: direct recall of targets {moved} from {_pct(bdirect and bdirect.value)}"
            f" to {short(direct)}; chain-of-thought re-derivation "
        )
        if rederived(cot):
            sentence += f"stayed at {short(cot)} (base {_pct(bcot and bcot.value)}): "
            sentence += (
                "shallow, the model re-derives what it no longer states"
                if dropped
                else "not forgotten, the model still states and derives the targets"
            )
        else:
            sentence += f"is {short(cot)} (base {_pct(bcot and bcot.value)}): not re-derived"
        if fell(premise, bpremise):
            sentence += f"; premise retention fell to {short(premise)} (collateral damage)"
        text.append(sentence + ".")
    figure = save_figure(
        _bars(
            index,
            models,
            names,
            {k: MEASURES[k] for k in list(MEASURES)[:2]}
            | {"premise retention": MEASURES["premise retention"]},
        ),
        figures,
        "rederivation",
        "Direct recall of forget targets, chain-of-thought re-derivation and premise "
        "retention per model (95% CIs).",
    )
    return Section("Compositional re-derivation", "\n".join(text), [figure])


def polarity_section(rows: Sequence[dict[str, Any]], figures: Path) -> Section:
    """What each method makes the model output on forget queries, and the forget-retain
    trade-off over every grid point."""
    index, models = RowIndex(rows), models_in(rows)
    names = labels(models)
    base, oracle = _ref(models, "base"), _ref(models, "oracle")
    body = []
    for m in models:
        cells = [short(index.rate(m, probe, "forget")) for probe in OUTPUTS]
        entropy = index.rate(m, "output.entropy", "forget")
        body.append(
            [
                names[m],
                m.kind,
                *cells,
                "n/a" if entropy is None else f"{entropy.value:.2f}",
                short(index.rate(m, "recall.cloze_train", "retain")),
            ]
        )
    header = [
        "model",
        "kind",
        "correct",
        "refusal",
        "fluent wrong",
        "degenerate",
        "entropy (nats)",
        "retain recall",
    ]
    text = [
        "What the model answers (greedy decoding of the question form) on forget queries, "
        "sorted into correct, refusal, fluent-but-wrong and degenerate; next-token entropy; "
        "recall of retain facts (collateral damage).",
        "",
        _table(header, body),
        "",
    ]
    for kind in ("negative", "positive"):
        members = [m for m in models if m.kind == kind and m.forget_set == "targets"]
        if not members:
            continue
        parts = []
        for probe in OUTPUTS[1:]:
            values = [index.rate(m, probe, "forget") for m in members]
            values = [v.value for v in values if v is not None]
            if values:
                name = probe.split(".")[1].replace("_", " ")
                parts.append(f"{name} {_pct(min(values))}-{_pct(max(values))}")
        top = max(
            OUTPUTS[1:],
            key=lambda p: sum(
                (index.rate(m, p, "forget") or Rate(0, 0, 0, 0)).value for m in members
            ),
        )
        text.append(
            f"- {kind.capitalize()} methods ({', '.join(sorted({m.method for m in members}))}) "
            f"on forget queries: {'; '.join(parts)}; their most common output is "
            f"{top.split('.')[1].replace('_', ' ')}."
        )
    by_method: dict[tuple[str, str], list[ModelId]] = {}
    for m in models:
        if not m.is_reference:
            by_method.setdefault((m.method, m.forget_set), []).append(m)
    for (method, forget_set), members in by_method.items():
        if len(members) < 2:
            continue
        forget = [index.rate(m, "recall.cloze_train", "forget") for m in members]
        retain = [index.rate(m, "recall.cloze_train", "retain") for m in members]
        fv = [r.value for r in forget if r]
        rv = [r.value for r in retain if r]
        text.append(
            f"- {method} ({forget_set}) over its {len(members)} grid points: forget recall "
            f"{_pct(min(fv))}-{_pct(max(fv))}, retain recall {_pct(min(rv))}-{_pct(max(rv))}."
        )
    figure = Figure(figsize=(5.5, 4.2))
    ax = figure.subplots()
    colors = model_colors(models)
    for m in models:
        f = index.rate(m, "recall.cloze_train", "forget")
        r = index.rate(m, "recall.cloze_train", "retain")
        if f is None or r is None:
            continue
        marker = {"base": "s", "oracle": "*", "deep_oracle": "P"}.get(
            m.role, "o" if m.kind == "negative" else "^"
        )
        hollow = not m.is_reference and m.forget_set != "targets"
        ax.scatter(
            [f.value],
            [r.value],
            marker=marker,
            s=120 if m.is_reference else 36,
            facecolors="none" if hollow else colors[m],
            edgecolors=colors[m],
            label=None if hollow else names[m],
        )
    ax.set_xlabel("forget recall (lower is more forgotten)")
    ax.set_ylabel("retain recall")
    ax.set_xlim(-0.05, 1.05)
    ax.set_ylim(-0.05, 1.05)
    ax.legend(fontsize=6, loc="lower right", ncol=2)
    scatter = save_figure(
        figure,
        figures,
        "forget_retain",
        "Forget against retain recall for every run of every method's grid (circles: "
        "negative methods, triangles: positive; hollow: deep forget sets), the base model, "
        "the oracle and the deep oracle marked.",
    )
    del base, oracle
    return Section("Negative versus positive training", "\n".join(text), [scatter])


def _summaries(
    runs: Sequence[AttackRun],
) -> dict[tuple[ModelId, str], tuple[RecoverySummary, AttackRun]]:
    """The worst case (largest net recovery area over parameters and seeds) of each
    attack on each unlearned model."""
    refs = {(r.model.role, r.attack, r.params, r.seed): r for r in runs if r.model.is_reference}
    worst: dict[tuple[ModelId, str], tuple[RecoverySummary, AttackRun]] = {}
    for run in runs:
        if run.model.is_reference:
            continue
        base = refs.get(("base", run.attack, run.params, run.seed))
        oracle = refs.get(("oracle", run.attack, run.params, run.seed))
        if base is None or oracle is None:
            continue
        summary = summarize(
            {"unlearned": run.curve, "base": base.curve, "oracle": oracle.curve}, seed=run.seed
        )
        key = (run.model, run.attack)
        if key not in worst or summary.net_area.value > worst[key][0].net_area.value:
            worst[key] = (summary, run)
    return worst


def _steps(value: int | None) -> str:
    return "never" if value is None else str(value)


REFERENCE_COLORS = {"base": "black", "oracle": "red", "deep_oracle": "purple"}


def model_colors(models: Sequence[ModelId]) -> dict[ModelId, str]:
    """One colour per method (tab10, tab20 beyond ten methods), shared by its forget-set
    variants; the references' fixed colours. Figures tell variants apart by line style
    or marker fill, so a method looks the same in every figure."""
    methods = list(dict.fromkeys(m.method for m in models if not m.is_reference))
    palette = colormaps["tab10" if len(methods) <= 10 else "tab20"]
    by_method = {method: to_hex(palette(i % palette.N)) for i, method in enumerate(methods)}
    return {
        m: REFERENCE_COLORS.get(m.role, "gray") if m.is_reference else by_method[m.method]
        for m in models
    }


def durability_section(rows: Sequence[dict[str, Any]], figures: Path) -> Section:
    """Recovery under each attack, raw and net of the oracle, worst case over the grid."""
    runs = attack_runs(rows)
    if not runs:
        return Section("Durability", "No attack was configured for this run.")
    models = models_in(rows)
    names = labels(models)
    worst = _summaries(runs)
    attacks = list(dict.fromkeys(r.attack for r in runs))
    text = [
        "Each attack ran identically (same data, same seed) on every unlearned model, the "
        "base model, the oracle and the deep oracle. Raw recovery: the share of the "
        "forgotten recall that returns, (attacked - unlearned) / (base - unlearned); net: "
        "the same less the oracle's gain under the identical attack (what the attack itself "
        "teaches). Areas are mean recovery over the curve; worst case over the attack's grid "
        f"and seeds. A method counts as durable when the upper end of its net area's "
        f"interval is below {_pct(DURABLE)}.",
        "",
    ]
    body = []
    for (m, attack), (summary, run) in worst.items():
        end_recall = curve_recall(run.curve)[-1]
        body.append(
            [
                names[m],
                attack,
                _pct(curve_recall(run.curve)[0]),
                _pct(end_recall),
                short(summary.raw_area),
                short(summary.net_area),
                _steps(summary.steps_to_50),
                _steps(summary.net_steps_to_50),
                ", ".join(
                    f"{k}={v}"
                    for k, v in json.loads(run.params).items()
                    if k in ("lr", "source", "bits", "shots")
                )
                + f", seed {run.seed}",
            ]
        )
    text.append(
        _table(
            [
                "model",
                "attack",
                "recall before",
                "recall after",
                "raw recovery area",
                "net recovery area",
                "steps to 50% raw",
                "steps to 50% net",
                "worst setting",
            ],
            body,
        )
    )
    text.append("")
    for attack in attacks:
        held = [
            names[m]
            for (m, a), (s, _) in worst.items()
            if a == attack and s.net_area.high < DURABLE
        ]
        undone = [
            names[m]
            for (m, a), (s, _) in worst.items()
            if a == attack and s.net_area.high >= DURABLE
        ]
        text.append(
            f"- {attack}: durable for {', '.join(held) or 'no method'}; recovered (net area "
            f"upper end ≥ {_pct(DURABLE)}) for {', '.join(undone) or 'no method'}."
        )
    figure = Figure(figsize=(4.2 * len(attacks), 3.6))
    axes = figure.subplots(1, len(attacks), squeeze=False)[0]
    colors = model_colors(models)
    for ax, attack in zip(axes, attacks, strict=True):
        shown = {key[0]: run for key, (_, run) in worst.items() if key[1] == attack}
        for m in models:
            if m.is_reference:
                ref = next((r for r in runs if r.model == m and r.attack == attack), None)
                if ref is None:
                    continue
                steps = [p.step for p in ref.curve]
                ax.plot(
                    steps,
                    curve_recall(ref.curve),
                    "--",
                    linewidth=2,
                    label=names[m],
                    color=colors[m],
                )
            elif m in shown:
                steps = [p.step for p in shown[m].curve]
                ax.plot(
                    steps,
                    curve_recall(shown[m].curve),
                    ":" if m.forget_set != "targets" else "-",
                    marker=".",
                    label=names[m],
                    color=colors[m],
                )
        ax.set_title(attack)
        ax.set_xlabel("attack step")
        ax.set_ylabel("forget recall")
        ax.set_ylim(-0.05, 1.05)
        last = max((p.step for r in runs if r.attack == attack for p in r.curve), default=1)
        if last > 8:
            ax.set_xscale("symlog", linthresh=1)
            ax.set_xlim(0, last * 1.15)  # no negative decade left of step 0
    axes[-1].legend(fontsize=6, loc="center left", bbox_to_anchor=(1, 0.5))
    curves = save_figure(
        figure,
        figures,
        "recovery_curves",
        "Forget recall along each attack (worst case of each method's grid); dashed: the "
        "base model and the oracles under the identical attack; dotted: deep forget sets.",
    )
    return Section("Durability", "\n".join(text), [curves])


def validity_section(rows: Sequence[dict[str, Any]], figures: Path) -> Section:
    """Forget recall in every answer format; results that hold in some formats only are
    flagged."""
    index, models = RowIndex(rows), models_in(rows)
    names = labels(models)
    base = _ref(models, "base")
    body = [
        [names[m], *(short(index.rate(m, f, "forget")) for f in RECALL_FORMATS)] for m in models
    ]
    chances = [index.chance(base, f, "forget") if base else None for f in RECALL_FORMATS]
    body.append(["chance", *(_pct(c) for c in chances)])
    fmt_names = [f.split(".")[1] for f in RECALL_FORMATS]
    text = [
        "Recall of the forget targets in each answer format (cloze in training and held-out "
        "phrasings, question, multiple choice by letter and by answer text).",
        "",
        _table(["model", *fmt_names], body),
        "",
    ]
    if base is not None:
        informative = []
        for fmt, name, chance in zip(RECALL_FORMATS, fmt_names, chances, strict=True):
            r = index.rate(base, fmt, "forget")
            if r is not None and chance is not None and r.low > chance:
                informative.append((fmt, name))
            elif r is not None:
                text.append(
                    f"- {name}: the base model's recall {short(r)} is not above chance "
                    f"({_pct(chance)}); this format cannot show forgetting."
                )
        for m in models:
            if m.is_reference:
                continue
            holds = [
                n
                for f, n in informative
                if fell(index.rate(m, f, "forget"), index.rate(base, f, "forget"))
            ]
            if holds and len(holds) < len(informative):
                missing = [n for _, n in informative if n not in holds]
                text.append(
                    f"- FLAG {names[m]}: forgetting holds in {', '.join(holds)} but not in "
                    f"{', '.join(missing)} (fell = intervals disjoint from the base model's)."
                )
    figure = Figure(figsize=(6.0, max(2.5, 0.35 * len(models) + 1)))
    ax = figure.subplots()
    grid = [
        [(index.rate(m, f, "forget") or Rate(float("nan"), 0, 0, 0)).value for f in RECALL_FORMATS]
        for m in models
    ]
    image = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(fmt_names)), fmt_names, rotation=30, ha="right")
    ax.set_yticks(range(len(models)), [names[m] for m in models])
    figure.colorbar(image, ax=ax, label="forget recall")
    heat: FigureFile = save_figure(
        figure, figures, "formats", "Forget recall per model and answer format."
    )
    return Section("Evaluation validity", "\n".join(text), [heat])


def unlearn_sections(rows: Sequence[dict[str, Any]], figures: Path) -> list[Section]:
    """The world, then the four sections of the unlearning study."""
    return [
        world_section(rows),
        rederivation_section(rows, figures),
        polarity_section(rows, figures),
        durability_section(rows, figures),
        validity_section(rows, figures),
    ]


def headline_table(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Per model: the headline measures, and the worst net recovery area over attacks."""
    index, models = RowIndex(rows), models_in(rows)
    names = labels(models)
    worst = _summaries(attack_runs(rows))
    body = []
    for m in models:
        areas = [s.net_area for (mm, _), (s, _) in worst.items() if mm == m]
        top = max(areas, key=lambda r: r.value) if areas else None
        body.append(
            [
                names[m],
                *(short(index.rate(m, p, s)) for p, s in MEASURES.values()),
                "" if m.is_reference else short(top),
            ]
        )
    return ["model", *MEASURES, "worst net recovery"], body
