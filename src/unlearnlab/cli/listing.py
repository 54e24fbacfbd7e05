"""``unlearnlab list ...``: what the toolkit ships."""

from __future__ import annotations

import typer

from unlearnlab.methods import METHODS
from unlearnlab.substrate.files import shipped_experiments
from unlearnlab.worlds.generators import GENERATORS

app = typer.Typer(
    help="List shipped experiments, world generators and unlearning methods.", no_args_is_help=True
)


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


@app.command("methods")
def methods() -> None:
    """Unlearning methods (use the name as unlearn.method): kind, summary, paper, defaults."""
    for name in sorted(METHODS):
        cls = METHODS[name]
        defaults = {"lr": cls.lr, "steps": cls.steps, **cls.Params().model_dump()}
        if cls.kind == "exact":
            defaults = {}
        typer.echo(f"{name:12} {cls.kind:9} {cls.summary}")
        typer.echo(f"{'':12} paper: {cls.paper}")
        typer.echo(f"{'':12} defaults: {', '.join(f'{k}={v}' for k, v in defaults.items()) or '-'}")
