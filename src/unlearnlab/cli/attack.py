"""``unlearnlab attack``: attack unlearned models, their base model and their oracle alike,
and print recovery curves raw and net of the oracle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.console import Console
from rich.markup import escape

from unlearnlab.cli.options import JsonOption, StoreOption
from unlearnlab.errors import UserError
from unlearnlab.io import write_json_atomic

console = Console(stderr=True)


def _assignments(items: list[str], option: str) -> dict[str, Any]:
    """``key=value`` strings as a dict, each value read as YAML."""
    parsed = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"{option} {item!r}: write it as key=value, e.g. {option} lr=0.01")
        parsed[key.strip()] = yaml.safe_load(raw)
    return parsed


def attack_command(
    config_name: str = typer.Argument(
        "default", help="Shipped unlearn config name or path of a YAML file."
    ),
    attack_name: str = typer.Option("relearn", "--attack", help="Registered attack name."),
    params: list[str] = typer.Option(
        [], "--param", help="Attack parameter, e.g. --param source=forget; repeatable."
    ),
    grid: list[str] = typer.Option(
        [], "--grid", help="Values to sweep, e.g. --grid 'lr=[0.001, 0.01]'; repeatable."
    ),
    seeds: list[int] = typer.Option([0], "--seed", help="Attack seed; repeatable."),
    overrides: list[str] = typer.Option(
        [], "--set", help="Override a value of the unlearn config; repeatable."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Folder for curves.parquet (tidy curves) and recovery.json."
    ),
    store: Path | None = StoreOption,
    as_json: bool = JsonOption,
) -> None:
    """Unlearn as the config says (cached runs are reused), run the attack on each
    unlearned model, the base model and the oracle, and print recall and recovery per step
    and the worst case over the grid; with --out, write the curves and the recovery."""
    from unlearnlab.attacks import attack_create
    from unlearnlab.attacks.recovery import recall_matrix, summarize, worst_case
    from unlearnlab.attacks.results import write_curves
    from unlearnlab.attacks.run import ROLES, attack_grid
    from unlearnlab.experiments.config import load_config
    from unlearnlab.methods.config import load_unlearn_config
    from unlearnlab.methods.loop import unlearn
    from unlearnlab.models.store import ModelStore
    from unlearnlab.substrate.build import build_substrate

    fixed = _assignments(params, "--param")
    sweep = _assignments(grid, "--grid")
    for key, values in sweep.items():
        if not isinstance(values, list) or not values:
            raise UserError(f"--grid {key}: give a non-empty list, e.g. --grid '{key}=[1, 2]'")
    attack_create(attack_name, **fixed)
    for key, values in sweep.items():
        for value in values:
            attack_create(attack_name, **{**fixed, key: value})
    file = load_unlearn_config(config_name, overrides)
    substrate = build_substrate(load_config(file.experiment, file.experiment_set))
    models = ModelStore(store)
    rows, points = [], []
    for run in file.unlearn.expand():
        model = unlearn(substrate, run, models).path
        for point in attack_grid(attack_name, fixed, sweep, model, substrate, models, seeds=seeds):
            points.append(point)
            summary = summarize(point.curves, seed=point.seed)
            recall = {r: recall_matrix(point.curves[r]).mean(-1).tolist() for r in ROLES}
            rows.append(
                {
                    "method": run.method,
                    "model": str(model),
                    "attack": attack_name,
                    "params": point.params,
                    "seed": point.seed,
                    "recall": recall,
                    "recovery": summary,
                }
            )
            if not as_json:
                _print(run.method, point.params, point.seed, recall, summary)
    worst = worst_case([row["recovery"] for row in rows])
    report = {
        "runs": [{**row, "recovery": row["recovery"].to_dict()} for row in rows],
        "worst_case": worst,
    }
    if out is not None:
        write_curves(out / "curves.parquet", points)
        write_json_atomic(out / "recovery.json", report)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    top = rows[worst]
    console.print(
        f"worst case: {escape(top['method'])} {escape(json.dumps(top['params']))} "
        f"seed={top['seed']} net area {top['recovery'].net_area}"
    )


def _print(method: str, params: dict[str, Any], seed: int, recall: dict, summary: Any) -> None:
    console.print(f"[bold]{escape(method)}[/] attacked: {escape(json.dumps(params))} seed={seed}")
    typer.echo(
        f"{'step':>6} {'unlearned':>10} {'base':>6} {'oracle':>7} {'raw recovery':>22} "
        f"{'net recovery':>22}"
    )
    for i, step in enumerate(summary.steps):
        typer.echo(
            f"{step:>6} {recall['unlearned'][i]:>10.1%} {recall['base'][i]:>6.1%} "
            f"{recall['oracle'][i]:>7.1%} {summary.raw[i]!s:>22} {summary.net[i]!s:>22}"
        )
    typer.echo(
        f"area raw {summary.raw_area}, net {summary.net_area}; steps to 50%/90%: raw "
        f"{summary.steps_to_50} {summary.steps_to_50_ci}/{summary.steps_to_90} "
        f"{summary.steps_to_90_ci}, net {summary.net_steps_to_50} {summary.net_steps_to_50_ci}"
        f"/{summary.net_steps_to_90} {summary.net_steps_to_90_ci}"
    )
