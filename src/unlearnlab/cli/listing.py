"""``unlearnlab list ...``: what the toolkit ships."""

from __future__ import annotations

import typer

from unlearnlab.experiments.config import shipped_experiments
from unlearnlab.worlds.generators import GENERATORS

app = typer.Typer(help="List shipped experiments and world generators.", no_args_is_help=True)


@app.command("experiments")
def experiments() -> None:
    """Shipped experiment configs (use the name with 'unlearnlab train NAME')."""
    for name in shipped_experiments():
        typer.echo(name)


@app.command("generators")
def generators() -> None:
    """World generators (use with 'unlearnlab world generate NAME')."""
    for name in sorted(GENERATORS):
        typer.echo(name)
