"""``unlearnlab models list|show|prune``: the content-addressed model store."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from unlearnlab.cli.options import JsonOption, StoreOption
from unlearnlab.errors import UserError

if TYPE_CHECKING:
    from unlearnlab.models.store import ModelStore, StoreEntry

app = typer.Typer(
    help="The model store (list, show, prune) and model import (import-gguf).",
    no_args_is_help=True,
)
console = Console()
ROLES = ("base", "oracle", "deep_oracle", "unlearned", "attacked")


def _store(folder: Path | None) -> ModelStore:
    """The model store in ``folder`` (the default store when None)."""
    from unlearnlab.models.store import ModelStore

    return ModelStore(folder)


def _entry_json(entry: StoreEntry) -> dict[str, Any]:
    return {
        "key": entry.key,
        "path": str(entry.path),
        "role": entry.role,
        "world": entry.world,
        "created": entry.created.isoformat(),
        "meta": entry.meta,
    }


@app.command("list")
def list_models(store: Path | None = StoreOption, as_json: bool = JsonOption) -> None:
    """Every stored model with its role, world and cache key."""
    entries = _store(store).list()
    if as_json:
        typer.echo(json.dumps([_entry_json(e) for e in entries], indent=2))
        return
    table = Table("key", "role", "world", "created", "path")
    for entry in entries:
        table.add_row(
            entry.key[:12],
            entry.role,
            entry.world,
            entry.created.strftime("%Y-%m-%d %H:%M"),
            escape(str(entry.path)),
        )
    console.print(table)


@app.command("show")
def show(
    key: str = typer.Argument(..., help="Cache key or a prefix of at least 6 characters."),
    store: Path | None = StoreOption,
    as_json: bool = JsonOption,
) -> None:
    """One stored model in full."""
    entry = _store(store).show(key)
    data = _entry_json(entry)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    console.print_json(json.dumps(data))


@app.command("prune")
def prune(
    role: str | None = typer.Option(None, "--role", help=f"Only this role ({', '.join(ROLES)})."),
    world: str | None = typer.Option(None, "--world", help="Only models of this world."),
    older_than_days: float | None = typer.Option(
        None, "--older-than-days", min=0, help="Only models older than this."
    ),
    store: Path | None = StoreOption,
    as_json: bool = JsonOption,
) -> None:
    """Delete stored models matching every given filter (all models if none is given)."""
    if role is not None and role not in ROLES:
        raise UserError(f"unknown role {role!r} (known: {', '.join(ROLES)})")
    older = timedelta(days=older_than_days) if older_than_days is not None else None
    removed = _store(store).prune(role=role, world=world, older_than=older)  # type: ignore[arg-type]
    if as_json:
        typer.echo(json.dumps({"removed": removed}, indent=2))
    else:
        console.print(f"removed {len(removed)} model(s)")


@app.command("import-gguf")
def import_gguf_command(
    file: Path = typer.Argument(..., help="A GGUF file (llama.cpp's format)."),
    out: Path = typer.Option(..., "--out", help="Folder to write the Hugging Face model into."),
) -> None:
    """Convert a GGUF file into a Hugging Face model folder (safetensors, tokenizer)."""
    from unlearnlab.models.gguf import import_gguf

    path = import_gguf(file, out)
    console.print(f"wrote [bold]{escape(str(path))}[/]")
