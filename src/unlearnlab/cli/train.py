"""``unlearnlab train``: train (or fetch from the store) an experiment's base and oracle."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from unlearnlab.cli.options import ExperimentOverrides, JsonOption, StoreOption

console = Console(stderr=True)


def train_command(
    experiment: str = typer.Argument(
        "compositional", help="Shipped experiment name or path of a YAML config."
    ),
    overrides: list[str] = ExperimentOverrides,
    store: Path | None = StoreOption,
    as_json: bool = JsonOption,
) -> None:
    """Train the base model (all data) and the oracle (without the forget targets)."""
    from unlearnlab.experiments.config import load_config
    from unlearnlab.models.store import ModelStore
    from unlearnlab.substrate.build import build_substrate, train_reference_model

    config = load_config(experiment, overrides)
    models = ModelStore(store)
    substrate = build_substrate(config)
    console.print(
        f"[bold]{escape(config.name)}[/]: {len(substrate.world.base_facts)} base facts, "
        f"{len(substrate.splits.forget)} forget targets, {len(substrate.corpus)} documents "
        f"({len(substrate.oracle_corpus)} for the oracle)"
    )
    paths = {}
    for role in ("base", "oracle"):
        key = substrate.key(role)
        cached = models.get(key) is not None
        start = time.perf_counter()
        paths[role] = train_reference_model(substrate, role, models, show_progress=not as_json)
        how = "cached" if cached else f"trained in {time.perf_counter() - start:.0f} s"
        console.print(f"{role}: {escape(str(paths[role]))} ({how})")
    if as_json:
        typer.echo(json.dumps({role: str(path) for role, path in paths.items()}, indent=2))
