"""``unlearnlab audit``: your unlearned checkpoint, its base model and (optionally) an
oracle, probed and attacked identically on a benchmark's forget (and retain) items.

Writes into ``--out`` what every run writes (:func:`unlearnlab.cli.run.execute`):
``report.html``, ``report.md``, ``results.parquet``, ``verdicts.json``, ``run.json`` and
``config.yaml``; ``unlearnlab report OUT`` rebuilds the report from them.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from unlearnlab.cli.options import JsonOption


def audit_command(
    unlearned: Path = typer.Option(..., "--unlearned", help="Your unlearned model's folder."),
    base: Path = typer.Option(..., "--base", help="The model it was unlearned from."),
    oracle: Path | None = typer.Option(
        None, "--oracle", help="A model never trained on the forget set (for net verdicts)."
    ),
    forget: Path = typer.Option(..., "--forget", help="The forget set: a benchmark file/folder."),
    retain: Path | None = typer.Option(None, "--retain", help="Retain items (same format)."),
    format: str | None = typer.Option(
        None, "--format", help="tofu, wmdp, muse, rtt or world (default: guessed)."
    ),
    prompt: str | None = typer.Option(
        None,
        "--prompt",
        help="Template with {question} (default: the chat template, else "
        "'Question: {question}\\nAnswer:').",
    ),
    attacks: str = typer.Option(
        "quick", "--attacks", help="quick, full, or attack names separated by commas."
    ),
    out: Path = typer.Option(..., "--out", help="Folder to write the report and tables into."),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Sequences per forward pass."),
    as_json: bool = JsonOption,
) -> None:
    """Probe and attack your unlearned model beside its base model and an oracle."""
    from pydantic import ValidationError

    from unlearnlab.cli.run import execute
    from unlearnlab.errors import from_validation_error
    from unlearnlab.experiments.kinds.audit import AuditSettings, attack_specs, audit_rows
    from unlearnlab.report.record import RunRecord, git_state, now, package_versions

    fields = {
        "unlearned": unlearned,
        "base": base,
        "oracle": oracle,
        "forget": forget,
        "retain": retain,
        "format": format,
        "prompt": prompt,
        "batch_size": batch_size,
    }
    try:
        settings = AuditSettings(**fields, attacks=attack_specs(attacks, retain is not None))
    except ValidationError as exc:
        raise from_validation_error(exc, "unlearnlab audit", AuditSettings, "--") from None
    settings_json = settings.model_dump(mode="json")
    record = RunRecord(
        experiment="audit",
        profile="quick",
        config={"name": "audit", "kind": "audit", "seed": settings.seed, "settings": settings_json},
        config_hash=settings.digest(),
        started=now(),
        git=git_state(),
        packages=package_versions(),
    )
    rows = execute(record, out, lambda ctx: audit_rows(settings, ctx), headline=not as_json)
    if as_json:
        typer.echo(json.dumps(audit_json(rows, out), indent=2))


def audit_json(rows: list[dict], out: Path) -> dict[str, list[dict]]:
    """``{"metrics": [...], "verdicts": [...]}``: each model's metric per probe and split
    (unattacked rows), and the verdict records of ``out/verdicts.json``."""
    from unlearnlab.probes.results import aggregate
    from unlearnlab.report.verdicts import VERDICTS_FILE, read_verdicts

    metrics = []
    for role in dict.fromkeys(r["role"] for r in rows):
        probed = [r for r in rows if r["role"] == role and r["attack"] is None]
        model = probed[0]["model"] if probed else role
        metrics += [{"role": role, "model": model, **m.to_json()} for m in aggregate(probed)]
    verdicts = [v.to_dict() for v in read_verdicts(out / VERDICTS_FILE)]
    return {"metrics": metrics, "verdicts": verdicts}
