"""``unlearnlab unlearn``: unlearn an experiment's forget set from its base model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from unlearnlab.cli.options import JsonOption, StoreOption

console = Console(stderr=True)


def _row(record: dict[str, Any]) -> str:
    if "loss" in record:
        return (
            f"{record['step']:>6} {record['loss']:>10.4f} {record['forget_nll']:>11.4f} "
            f"{record['retain_nll']:>11.4f}"
        )
    return (
        f"{'eval':>6} {'':>10} forget recall {record['forget_recall']:.0%}, "
        f"retain recall {record['retain_recall']:.0%} (step {record['step']})"
    )


def unlearn_command(
    config_name: str = typer.Argument(
        "default", help="Shipped unlearn config name or path of a YAML file."
    ),
    overrides: list[str] = typer.Option(
        [], "--set", help="Override a value, e.g. --set unlearn.method=ga; repeatable."
    ),
    store: Path | None = StoreOption,
    as_json: bool = JsonOption,
) -> None:
    """Unlearn the forget set (one run per grid combination but its steps: a grid of steps
    stops one run at each); print each step's forget and retain loss and where each
    model is."""
    from unlearnlab.experiments.config import load_config
    from unlearnlab.methods.config import load_unlearn_config, trajectories
    from unlearnlab.methods.loop import at_steps, unlearn_trajectory
    from unlearnlab.models.store import ModelStore
    from unlearnlab.substrate.build import build_substrate

    file = load_unlearn_config(config_name, overrides)
    experiment = load_config(file.experiment, file.experiment_set)
    substrate = build_substrate(experiment)
    models = ModelStore(store)
    results = []
    for run, steps in trajectories(file.unlearn.expand()):
        params = json.dumps(run.resolved_params().model_dump())
        console.print(
            f"[bold]{escape(run.method)}[/] {escape(params)} forget_set={run.forget_set} "
            f"adapter={run.adapter} seed={run.seed} lr={run.resolved_lr()} "
            f"steps={','.join(map(str, steps))}"
        )
        if not as_json:
            typer.echo(f"{'step':>6} {'loss':>10} {'forget_nll':>11} {'retain_nll':>11}")
        points = unlearn_trajectory(
            substrate,
            run,
            steps,
            models,
            on_step=None if as_json else lambda r: typer.echo(_row(r)),
            show_progress=not as_json,
        )
        for k, result in zip(steps, points, strict=True):
            if result.cached and not as_json:
                for record in result.history + result.evals:
                    typer.echo(_row(record))
            how = "cached" if result.cached else f"{result.seconds:.0f} s"
            console.print(f"model after {k} steps: {escape(str(result.path))} ({how})")
            results.append(
                {
                    "method": run.method,
                    **at_steps(run, k).resolved_point(),
                    "path": str(result.path),
                    "cached": result.cached,
                }
            )
    if as_json:
        typer.echo(json.dumps(results, indent=2))
