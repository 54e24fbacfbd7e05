"""``unlearnlab probe MODEL_DIR``: the full probe suite on one model.

The world and splits default to those of the experiment recorded in the model's
``unlearnlab.json`` sidecar (rebuilt from its config); ``--world DIR`` loads a world folder
instead, with the ``splits.json`` next to it (or in its parent, as ``unlearnlab run``
writes them), else splits drawn by the sidecar's split config. Writes ``results.parquet``
(the tidy table) and ``aggregate.parquet`` to ``--out``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from unlearnlab.errors import UserError

if TYPE_CHECKING:
    from unlearnlab.corpus.splits import Splits
    from unlearnlab.substrate.config import ExperimentConfig
    from unlearnlab.worlds.kg import World

console = Console(stderr=True)


def _experiment(model_dir: Path) -> ExperimentConfig:
    from unlearnlab.models.factory import SIDECAR
    from unlearnlab.substrate.config import ExperimentConfig

    sidecar = model_dir / SIDECAR
    if not sidecar.is_file():
        raise UserError(
            f"{model_dir} has no {SIDECAR}; give --world DIR and a model unlearnlab made"
        )
    data = json.loads(sidecar.read_text(encoding="utf-8"))
    base = model_dir.parent / str(data.get("base_key"))
    if data.get("role") == "unlearned" and (base / SIDECAR).is_file():
        return _experiment(base)  # an unlearned model records its run; its base, the world
    if "config" not in data:
        raise UserError(f"{sidecar} records no experiment config; give the world with --world DIR")
    try:
        return ExperimentConfig(**data["config"])
    except ValidationError as exc:
        raise UserError(
            f"{sidecar}: the recorded config is invalid: {exc.errors()[0]['msg']}"
        ) from None


def _world_and_splits(config: ExperimentConfig, world_dir: Path | None) -> tuple[World, Splits]:
    if world_dir is None:
        from unlearnlab.substrate.build import build_substrate

        substrate = build_substrate(config)
        return substrate.world, substrate.splits
    from unlearnlab.corpus.splits import Splits, make_splits
    from unlearnlab.worlds.io import load_world

    world = load_world(world_dir)
    for candidate in (world_dir / "splits.json", world_dir.parent / "splits.json"):
        if candidate.is_file():
            return world, Splits.load(candidate)
    return world, make_splits(world, config.splits)


def probe_command(
    model_dir: Path = typer.Argument(..., help="A model folder (config.json, safetensors)."),
    world_dir: Path | None = typer.Option(
        None, "--world", help="World folder (default: the one recorded with the model)."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Folder for the Parquet tables (default: runs/probes/MODEL_NAME)."
    ),
    sample: int = typer.Option(30, "--sample", min=1, help="Facts probed per large split."),
    seed: int = typer.Option(0, "--seed", help="Seed of samples, distractors and bootstrap."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON only."),
) -> None:
    """Probe one model: recall, re-derivation, retention, outputs, hidden states."""
    from unlearnlab.models.factory import load_model, load_tokenizer
    from unlearnlab.probes.results import (
        METRIC_SCHEMA,
        SCHEMA,
        aggregate,
        metric_rows,
        tidy_rows,
        write_parquet,
    )
    from unlearnlab.probes.suite import SuiteConfig, run_suite

    config = _experiment(model_dir)
    world, splits = _world_and_splits(config, world_dir)
    model, tokenizer = load_model(model_dir), load_tokenizer(model_dir)
    rows = run_suite(model, tokenizer, world, splits, SuiteConfig(sample=sample, seed=seed))
    table = tidy_rows(rows, model=model_dir.name, seed=config.seed, config_hash=config.digest())
    metrics = aggregate(table, seed=seed)
    folder = out or Path("runs") / "probes" / model_dir.name
    write_parquet(folder / "results.parquet", table, SCHEMA)
    write_parquet(folder / "aggregate.parquet", metric_rows(metrics), METRIC_SCHEMA)
    if as_json:
        typer.echo(json.dumps({"metrics": [m.to_json() for m in metrics]}, indent=2))
        return
    shown = Table("probe", "split", "value", "95% CI", "chance", "n", title=escape(model_dir.name))
    for m in metrics:
        chance = "" if m.chance is None else f"{m.chance:.3g}"
        shown.add_row(
            m.probe,
            m.split,
            f"{m.value:.3f}",
            f"[{m.ci_low:.3f}, {m.ci_high:.3f}]",
            chance,
            str(m.n),
        )
    Console().print(shown)
    console.print(f"tables: [bold]{escape(str(folder))}[/]")
