"""The ``unlearnlab`` command line.

User-caused errors print one line and exit with code 2; Ctrl-C exits with 130. Command
modules import model code (torch, transformers, methods, attacks, experiments) and the
world engine inside the command that needs it, so that ``--help``, ``list`` and ``world``
start in a fraction of a second (``tests/test_cli_listing.py`` checks that importing this
package imports neither torch nor transformers).
"""

from __future__ import annotations

import os
import signal
import sys

import typer
from rich.console import Console
from rich.markup import escape

from unlearnlab import __version__
from unlearnlab.cli.attack import attack_command
from unlearnlab.cli.audit import audit_command
from unlearnlab.cli.listing import app as list_app
from unlearnlab.cli.models import app as models_app
from unlearnlab.cli.probe import probe_command
from unlearnlab.cli.run import report_command, run
from unlearnlab.cli.train import train_command
from unlearnlab.cli.unlearn import unlearn_command
from unlearnlab.cli.world import app as world_app
from unlearnlab.errors import UserError

app = typer.Typer(
    name="unlearnlab",
    help="Does unlearning remove knowledge from a language model, or only hide it?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(world_app, name="world")
app.command("run")(run)
app.command("report")(report_command)
app.command("train")(train_command)
app.command("probe")(probe_command)
app.command("unlearn")(unlearn_command)
app.command("attack")(attack_command)
app.command("audit")(audit_command)
app.add_typer(models_app, name="models")
app.add_typer(list_app, name="list")

_stderr = Console(stderr=True)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    """unlearnlab: knowledge worlds, unlearning, attacks and honest measurement."""
    if version:
        typer.echo(__version__)
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit()


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM ends a run like Ctrl-C: finished stages kept, the record says interrupted."""
    raise KeyboardInterrupt


def _leave_launch(finished: bool) -> None:
    """Leave a multi-process launch's group cleanly; a command that never loaded torch
    joined none (and the command line itself stays free of model code)."""
    if "torch.distributed" in sys.modules:
        from unlearnlab.models.launch import leave

        leave(finished)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning user errors into one line and exit code 2."""
    # unlearnlab draws its own progress bars; transformers reads this when first imported
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    signal.signal(signal.SIGTERM, _terminated)
    finished = False
    try:
        code = app(args=argv, standalone_mode=False)
        finished = not code
        if code == 130:  # click turns Ctrl-C into this exit code in non-standalone mode
            raise KeyboardInterrupt
        if isinstance(code, int) and code:
            sys.exit(code)
    except UserError as exc:
        _stderr.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        _stderr.print("[yellow]interrupted[/]; finished stages are kept, re-run to resume")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except typer.TyperException as exc:
        show = getattr(exc, "show", None)
        if show is None:
            raise
        show()
        sys.exit(getattr(exc, "exit_code", 2))
    finally:
        _leave_launch(finished)
