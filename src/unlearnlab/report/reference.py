"""The Markdown report of the reference models (base and oracle) of an experiment."""

from __future__ import annotations

from collections.abc import Sequence

from unlearnlab.experiments.reference import METRICS, ReferenceResult
from unlearnlab.substrate.build import Substrate
from unlearnlab.worlds.deduction import DeepUnlearningSets


def headline_rows(results: Sequence[ReferenceResult]) -> list[list[str]]:
    """One row per metric: description, then each model's rate with its 95% interval."""
    return [
        [description, *(str(r.metrics[name]) for r in results)]
        for name, description in METRICS.items()
    ]


def reference_report(
    substrate: Substrate,
    deep_sets: Sequence[DeepUnlearningSets],
    results: Sequence[ReferenceResult],
) -> str:
    """Markdown: the world, the cost of deep unlearning its targets, and what the base
    model and the oracle know; every sentence is computed from the numbers."""
    config, world, splits = substrate.config, substrate.world, substrate.splits
    by_role = {r.role: r for r in results}
    lines = [
        f"# unlearnlab: {config.name}",
        "",
        f"Config digest `{config.digest()}`, seed {config.seed}.",
        "",
        "## World",
        "",
        f"{world.metadata.get('name', 'world')}: {len(world.base_facts)} base facts, "
        f"{len(world.background_facts)} background facts, {len(world.rules)} rules, "
        f"{len(world.derived_facts)} derived facts. Splits: "
        + ", ".join(f"{len(getattr(splits, r))} {r}" for r in splits.ROLES)
        + ".",
        "",
        "## What deep unlearning would cost",
        "",
    ]
    complete = sum(d.complete for d in deep_sets)
    sizes = [d.minimum_size for d in deep_sets]
    lines += [
        f"Each of the {len(deep_sets)} forget targets is a stated fact that other stated facts "
        f"imply. Making a target underivable takes removing at least "
        f"{min(sizes)} to {max(sizes)} facts (mean {sum(sizes) / len(sizes):.2f}, the target "
        f"included); the targets have {sum(len(d) for d in deep_sets)} minimal "
        f"deep-unlearning sets in all ({complete} of {len(deep_sets)} enumerations complete).",
        "",
        "## Reference models",
        "",
        "Rates with 95% bootstrap intervals over items. Chance for ranked recall: "
        + ", ".join(f"{r.role} {100 * r.chance:.1f}%" for r in results)
        + ".",
        "",
        "| measure | " + " | ".join(r.role for r in results) + " |",
        "|---|" + "---|" * len(results),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in headline_rows(results)]
    lines += [
        "",
        "| training | " + " | ".join(r.role for r in results) + " |",
        "|---|" + "---|" * len(results),
    ]
    for key in ("steps", "seconds", "tokens_per_second", "final_loss"):
        values = [r.training.get(key) for r in results]
        shown = [f"{v:.3g}" if isinstance(v, float) else str(v) for v in values]
        lines.append(f"| {key} | " + " | ".join(shown) + " |")
    oracle = by_role.get("oracle")
    if oracle is not None:
        direct = oracle.metrics["forget_recall_direct"]
        cot = oracle.metrics["forget_cot_exact"]
        above_chance = direct.low > oracle.chance or cot.low > 0
        verdict = (
            "A fact that kept premises imply is not forgotten by removing the fact alone: "
            "approximate unlearning must be judged against this oracle, not against zero."
            if above_chance
            else "Within the intervals, the oracle does not recall the targets above chance: "
            "here, removing the facts from training removes them."
        )
        lines += [
            "",
            "## Finding",
            "",
            f"The oracle never saw the forget targets in any form; it recalls "
            f"{direct} of them directly (chance {100 * oracle.chance:.1f}%) and re-derives "
            f"{cot} by chain of thought from premises it kept. {verdict}",
        ]
    return "\n".join(lines) + "\n"
