"""``unlearnlab run`` (the main job) and ``unlearnlab report`` (rebuild a report).

``run`` validates the whole config first, then runs the kind's stages (cached models are
reused; finished stages are kept, so re-running after Ctrl-C resumes), and writes into
``<out>/<id>/``: ``config.yaml`` (as resolved), ``run.json`` (the run record: status,
stages, git commit, package versions), ``results.parquet`` (the tidy table),
``report.md``, ``report.html`` and ``figures/`` (PNG and SVG). It ends by printing the
headline table and the report's path.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from unlearnlab.cli.options import ExperimentOverrides, StoreOption
from unlearnlab.io import write_atomic
from unlearnlab.substrate.files import PROFILE_QUICK

if TYPE_CHECKING:
    from unlearnlab.experiments.stages import RunContext
    from unlearnlab.report.record import RunRecord

console = Console(stderr=True)


def run(
    experiment: str = typer.Argument(
        "compositional", help="Shipped experiment name or path of a YAML config."
    ),
    overrides: list[str] = ExperimentOverrides,
    profile: str = typer.Option(
        PROFILE_QUICK, "--profile", help="quick (the config as written) or a profile it names."
    ),
    model: Path | None = typer.Option(
        None, "--model", help="Your own unlearned model folder (durability: settings.model)."
    ),
    out: Path = typer.Option(Path("runs"), "--out", help="Parent folder of run folders."),
    store: Path | None = StoreOption,
    ray_address: str | None = typer.Option(
        None, "--ray-address", help="Fan stages out over this Ray cluster ('local': start one)."
    ),
) -> None:
    """Run an experiment end to end and write its report."""
    from unlearnlab.experiments.config import load_config
    from unlearnlab.experiments.kinds import EXPERIMENT_KINDS
    from unlearnlab.report.record import RunRecord, git_state, now, package_versions

    if model is not None:
        overrides = [*overrides, f"settings.model={model.resolve()}"]
    config = load_config(experiment, overrides, profile)
    kind = EXPERIMENT_KINDS[config.kind]()
    run_id = config.name if profile == PROFILE_QUICK else f"{config.name}-{profile}"
    run_dir = out / run_id
    record = RunRecord(
        experiment=experiment,
        profile=profile,
        overrides=list(overrides),
        config=config.model_dump(mode="json"),
        config_hash=config.digest(),
        started=now(),
        git=git_state(),
        packages=package_versions(),
    )
    console.print(f"[bold]{escape(run_id)}[/]: kind {config.kind}, writing {escape(str(run_dir))}")
    execute(
        record, run_dir, lambda ctx: kind.run(config, ctx), store=store, ray_address=ray_address
    )


def execute(
    record: RunRecord,
    run_dir: Path,
    work: Callable[[RunContext], list[dict[str, Any]]],
    *,
    store: Path | None = None,
    ray_address: str | None = None,
    headline: bool = True,
) -> list[dict[str, Any]]:
    """Run ``work`` in ``run_dir`` and write what every run writes: ``config.yaml``,
    ``run.json`` (kept up to date, also when the work fails or is interrupted),
    ``results.parquet`` and the report of the record's kind; print the kind's headline
    table (unless ``headline`` is False) and the report's path. Returns the rows."""
    from unlearnlab.experiments.kinds import EXPERIMENT_KINDS
    from unlearnlab.experiments.stages import RunContext
    from unlearnlab.report.table import write_results
    from unlearnlab.report.writer import FIGURES, write_report

    run_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(run_dir / "config.yaml", yaml.safe_dump(record.config, sort_keys=False))
    record.save(run_dir)
    ctx = RunContext(run_dir, store_root=store, ray_address=ray_address, console=console)
    began = time.perf_counter()
    try:
        rows = work(ctx)
    except BaseException as exc:
        interrupted = isinstance(exc, KeyboardInterrupt)
        _finish(record, ctx, began, "interrupted" if interrupted else "failed", exc)
        record.save(run_dir)
        raise
    finally:
        ctx.close()
    write_results(run_dir / "results.parquet", rows)
    _finish(record, ctx, began, "complete", None)
    record.save(run_dir)
    kind = EXPERIMENT_KINDS.lookup(record.config.get("kind", "unlearn"))()
    settings = record.config.get("settings", {})
    path = write_report(record, kind.sections(rows, run_dir / FIGURES, settings), run_dir)
    if headline:
        _print_headline(kind.headline(rows), record.config["name"])
    console.print(
        f"{len(ctx.computed)} stages computed, {len(ctx.loaded)} reused, "
        f"{record.seconds:.0f} s. report: [bold]{escape(str(path))}[/]"
    )
    return rows


def _finish(
    record: RunRecord, ctx: RunContext, began: float, status: str, error: BaseException | None
) -> None:
    from unlearnlab.report.record import now

    record.status = status  # type: ignore[assignment]
    record.finished = now()
    record.seconds = time.perf_counter() - began
    record.stages_computed = list(ctx.computed)
    record.stages_loaded = list(ctx.loaded)
    record.stage_seconds = dict(ctx.seconds)
    record.error = None if error is None else f"{type(error).__name__}: {error}"


def _print_headline(headline: tuple[list[str], list[list[str]]], title: str) -> None:
    columns, rows = headline
    table = Table(*columns, title=escape(title))
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    Console().print(table)


def report_command(
    run_dir: Path = typer.Argument(..., help="A run folder (holds run.json, results.parquet)."),
) -> None:
    """Rebuild a run's report (tables, figures, verdicts) from its results alone."""
    from unlearnlab.experiments.kinds import EXPERIMENT_KINDS
    from unlearnlab.report.record import RunRecord
    from unlearnlab.report.table import read_results
    from unlearnlab.report.writer import FIGURES, write_report

    record = RunRecord.load(run_dir)
    rows = read_results(run_dir / "results.parquet")
    kind = EXPERIMENT_KINDS.lookup(record.config.get("kind", "unlearn"))()
    settings = record.config.get("settings", {})
    path = write_report(record, kind.sections(rows, run_dir / FIGURES, settings), run_dir)
    _print_headline(kind.headline(rows), record.config["name"])
    console.print(f"report: [bold]{escape(str(path))}[/]")
