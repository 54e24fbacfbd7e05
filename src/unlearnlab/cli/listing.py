"""``unlearnlab list ...``: what the toolkit ships.

Methods, attacks, kinds and probes are read from their registries once per source version (see
:mod:`unlearnlab.cli.catalog`), so that listing does not import torch each time.
"""

from __future__ import annotations

import inspect
from typing import Any

import typer

from unlearnlab.cli.catalog import cached_listing
from unlearnlab.substrate.files import config_source, read_yaml, shipped_experiments

app = typer.Typer(
    help="List shipped experiments and kinds, world generators, unlearning methods, attacks,"
    " probes.",
    no_args_is_help=True,
)


def summary(cls: type) -> str:
    """The first paragraph of a class's docstring, on one line."""
    doc = inspect.getdoc(cls) or ""
    return " ".join(doc.split("\n\n")[0].split())


def _values(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items()) or "-"


def method_rows() -> list[dict[str, Any]]:
    """Every registered method: name, kind, summary, paper, defaults (loop and own)."""
    from unlearnlab.methods import METHODS

    rows = []
    for name in sorted(METHODS):
        cls = METHODS[name]
        own = cls.Params().model_dump(mode="json")
        trains = cls.kind in ("exact", "training")  # no unlearning loop: no lr, no steps
        defaults = own if trains else {"lr": cls.lr, "steps": cls.steps, **own}
        rows.append(
            {
                "name": name,
                "kind": cls.kind,
                "summary": cls.summary,
                "paper": cls.paper,
                "defaults": defaults,
            }
        )
    return rows


def attack_rows() -> list[dict[str, Any]]:
    """Every registered attack: name, summary, parameters with their defaults."""
    from unlearnlab.attacks import ATTACKS

    return [
        {
            "name": name,
            "summary": summary(ATTACKS[name]),
            "params": ATTACKS[name].Params().model_dump(mode="json"),
        }
        for name in sorted(ATTACKS)
    ]


def probe_rows() -> list[dict[str, Any]]:
    """Every registered probe in the suite's order: name, family, description."""
    from unlearnlab.probes.registry import ordered

    return [{"name": p.name, "family": p.family, "description": p.description} for p in ordered()]


def kind_rows() -> list[dict[str, Any]]:
    """Every registered experiment kind: name and summary."""
    from unlearnlab.experiments.kinds import EXPERIMENT_KINDS

    return [
        {"name": name, "summary": summary(EXPERIMENT_KINDS[name])}
        for name in sorted(EXPERIMENT_KINDS)
    ]


@app.command("experiments")
def experiments() -> None:
    """Shipped experiment configs (use the name with 'unlearnlab run NAME')."""
    for name in shipped_experiments():
        typer.echo(name)


@app.command("kinds")
def kinds() -> None:
    """Experiment kinds (a config's 'kind:', what 'unlearnlab run' does) and the shipped
    experiments of each."""
    shipped: dict[str, list[str]] = {}
    for name in shipped_experiments():
        source, text = config_source(name, "experiment")
        shipped.setdefault(read_yaml(text, source).get("kind", "unlearn"), []).append(name)
    for row in cached_listing("kinds", kind_rows):
        typer.echo(f"{row['name']:13} {row['summary']}")
        typer.echo(f"{'':13} shipped: {', '.join(shipped.get(row['name'], [])) or '-'}")


@app.command("generators")
def generators() -> None:
    """World generators (use with 'unlearnlab world generate NAME')."""
    from unlearnlab.worlds.generators import GENERATORS

    for name in sorted(GENERATORS):
        typer.echo(name)


@app.command("methods")
def methods() -> None:
    """Unlearning methods (use the name as unlearn.method): kind, summary, paper, defaults."""
    for row in cached_listing("methods", method_rows):
        typer.echo(f"{row['name']:12} {row['kind']:9} {row['summary']}")
        typer.echo(f"{'':12} paper: {row['paper']}")
        typer.echo(f"{'':12} defaults: {_values(row['defaults'])}")


@app.command("attacks")
def attacks() -> None:
    """Attacks (use the name with 'unlearnlab attack --attack NAME' or in a config's
    'attacks:'): summary, parameters with their defaults."""
    for row in cached_listing("attacks", attack_rows):
        typer.echo(f"{row['name']:18} {row['summary']}")
        typer.echo(f"{'':18} parameters: {_values(row['params'])}")


@app.command("probes")
def probes() -> None:
    """Probes of the suite (the 'probe' column of results tables), in the order it runs
    them: name ('{k}' stands for a layer number), family, description."""
    rows = cached_listing("probes", probe_rows)
    width = max(len(row["name"]) for row in rows)
    for row in rows:
        typer.echo(f"{row['name']:{width}} {row['family']:8} {row['description']}")
