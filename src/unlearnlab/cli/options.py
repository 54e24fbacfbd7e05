"""Command-line options that several commands share, defined once."""

from __future__ import annotations

import typer

StoreOption = typer.Option(
    None, "--store", help="Model store folder (default: $UNLEARNLAB_HOME/models)."
)
JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON only.")
ExperimentOverrides = typer.Option(
    [], "--set", help="Override a config value, e.g. --set train.epochs=10; repeatable."
)
