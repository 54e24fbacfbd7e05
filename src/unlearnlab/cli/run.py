"""``unlearnlab run``: the main job, end to end, from a fresh checkout.

World -> splits -> exact deep-unlearning sets of the forget targets -> base and oracle
models (cached; an interrupted run resumes) -> probes -> ``report.md`` and
``results.json`` in the run folder.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from unlearnlab.cli.options import ExperimentOverrides, StoreOption
from unlearnlab.experiments.config import load_config
from unlearnlab.experiments.reference import probe_reference
from unlearnlab.experiments.substrate import build_substrate, train_reference_model
from unlearnlab.io import write_atomic, write_json_atomic
from unlearnlab.models.store import ModelStore
from unlearnlab.report.reference import headline_rows, reference_report
from unlearnlab.worlds.io import save_world

console = Console()


def run(
    experiment: str = typer.Argument(
        "compositional", help="Shipped experiment name or path of a YAML config."
    ),
    overrides: list[str] = ExperimentOverrides,
    out: Path = typer.Option(Path("runs"), "--out", help="Folder for run outputs."),
    store: Path | None = StoreOption,
    sample: int = typer.Option(400, "--sample", min=1, help="Trained facts to probe."),
) -> None:
    """Run an experiment end to end and write its report."""
    config = load_config(experiment, overrides)
    run_dir = out / config.name
    substrate = build_substrate(config)
    world, splits = substrate.world, substrate.splits
    save_world(world, run_dir / "world")
    splits.save(run_dir / "splits.json")
    console.print(
        f"[bold]{escape(config.name)}[/]: {len(world.base_facts)} base facts, "
        f"{len(world.derived_facts)} derived, {len(splits.forget)} forget targets, "
        f"{len(splits.heldout)} held-out composites"
    )
    deep_sets = [world.minimal_deep_unlearning_sets(t) for t in splits.forget]
    models = ModelStore(store)
    results = []
    for role in ("base", "oracle"):
        path = train_reference_model(substrate, role, models)
        console.print(f"probing the {role} model ({escape(str(path))})")
        results.append(probe_reference(substrate, role, path, sample=sample, seed=config.seed))
    write_json_atomic(
        run_dir / "results.json",
        {
            "config": config.model_dump(mode="json"),
            "config_digest": config.digest(),
            "deep_unlearning": [d.to_dict(world) for d in deep_sets],
            "models": [r.to_dict() for r in results],
        },
    )
    report = reference_report(substrate, deep_sets, results)
    write_atomic(run_dir / "report.md", report)
    table = Table("measure", *(r.role for r in results), title=f"{config.name}: reference models")
    for row in headline_rows(results):
        table.add_row(*row)
    console.print(table)
    console.print(f"report: [bold]{escape(str(run_dir / 'report.md'))}[/]")
