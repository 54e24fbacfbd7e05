"""Durability of your own unlearned model (kind ``durability``): the attack suite, worst
case over each attack's grid, on the model you bring and, identically, on the base model
and the oracle of the world it was trained on.

``unlearnlab run durability --model PATH --set world.path=DIR`` (the world and splits
the model was unlearned on; the base model and the oracle are trained from the config,
or loaded from the store). The model is probed with the probe suite too, so the report
places it beside the references.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from unlearnlab.experiments.kinds.base import ExperimentKind, experiment_kind
from unlearnlab.experiments.kinds.unlearn import (
    attack_rows,
    attack_stage,
    reference_stage,
    substrate_of,
    suite_rows,
    world_targets,
)
from unlearnlab.experiments.stages import RunContext, Stage
from unlearnlab.experiments.study_settings import AttackSpec
from unlearnlab.models.store import ModelStore
from unlearnlab.probes.suite import SuiteConfig
from unlearnlab.report.calibration import calibration_section
from unlearnlab.report.durability import durability_section
from unlearnlab.report.rederivation import rederivation_section
from unlearnlab.report.section import Section
from unlearnlab.report.table import result_rows
from unlearnlab.report.unlearn import headline_table
from unlearnlab.report.validity import validity_section
from unlearnlab.substrate.build import train_reference_model
from unlearnlab.substrate.config import ExperimentConfig


class DurabilitySettings(BaseModel):
    """Your model and the attack suite."""

    model_config = ConfigDict(extra="forbid")

    model: Path | None = None
    """Folder of your unlearned model (a Hugging Face directory with safetensors)."""
    name: str | None = None
    """Its name in the report (default: the folder name)."""
    probes: SuiteConfig = Field(default_factory=SuiteConfig)
    """How much the probe suite probes on each model."""
    attacks: list[AttackSpec] = Field(default_factory=list)
    """The attack suite; the report gives each attack's worst case over its grid."""
    attack_seeds: list[int] = Field(default_factory=lambda: [0])
    """Seeds of each attack."""

    @field_validator("model")
    @classmethod
    def _exists(cls, path: Path | None) -> Path:
        if path is None:
            raise ValueError("give your unlearned model's folder: --model PATH")
        if not path.is_dir() or not any(path.glob("*.safetensors")):
            raise ValueError(
                f"{path} is not a model folder with safetensors weights; give the folder "
                "save_pretrained wrote"
            )
        return path.resolve()


def _own_columns(config: ExperimentConfig, settings: DurabilitySettings) -> dict[str, Any]:
    assert settings.model is not None
    return {
        "experiment": config.name,
        "variant": "{}",
        "role": "unlearned",
        "method": settings.name or settings.model.name,
        "forget_set": "targets",
        "params": "{}",
        "passed_params": "{}",
        "model": settings.model.name,
        "seed": config.seed,
        "config_hash": config.digest(),
    }


def own_model_stage(config: ExperimentConfig, settings: DurabilitySettings) -> list[dict]:
    """The probe suite on your model."""
    assert settings.model is not None
    rows = suite_rows(settings.model, substrate_of(config), settings.probes)
    return result_rows(rows, **_own_columns(config, settings))


def own_attack_stage(
    config: ExperimentConfig, store_root: str | None, settings: DurabilitySettings, spec: AttackSpec
) -> list[dict]:
    """Attack ``spec`` (every grid point and seed) on your model."""
    assert settings.model is not None
    substrate = substrate_of(config)
    base = train_reference_model(substrate, "base", ModelStore(store_root), show_progress=False)
    columns = _own_columns(config, settings)
    targets = world_targets(substrate, settings.attack_seeds, base)
    return attack_rows(settings.model, targets, spec, columns)


@experiment_kind("durability")
class Durability(ExperimentKind):
    """The attack suite on a model you bring, beside the base model and the oracle."""

    Settings = DurabilitySettings

    def run(self, config: ExperimentConfig, ctx: RunContext) -> list[dict[str, Any]]:
        """Probe the three models, then attack each."""
        settings = DurabilitySettings(**config.settings)
        store = None if ctx.store_root is None else str(ctx.store_root)
        probes = [
            Stage("probe/own", own_model_stage, (config, settings)),
            *(
                Stage(
                    f"reference/{role}",
                    reference_stage,
                    (config, store, role, settings.probes),
                    cost=180.0,
                )
                for role in ("base", "oracle")
            ),
        ]
        attacks = [
            stage
            for spec in settings.attacks
            for stage in (
                Stage(f"attack/{spec.name}/own", own_attack_stage, (config, store, settings, spec)),
                *(
                    Stage(
                        f"attack/{spec.name}/{role}",
                        attack_stage,
                        (config, store, role, spec, settings.attack_seeds),
                    )
                    for role in ("base", "oracle")
                ),
            )
        ]
        rows: list[dict[str, Any]] = []
        for title, stages in (("probes", probes), ("attacks", attacks)):
            for stage_rows in ctx.run_stages(stages, title):
                rows += stage_rows
        return rows

    def sections(
        self, rows: Sequence[dict[str, Any]], figures: Path, settings: dict[str, Any]
    ) -> list[Section]:
        """Durability first, then the probes beside the references, then calibration."""
        return [
            durability_section(rows, figures),
            rederivation_section(rows, figures),
            validity_section(rows, figures),
            calibration_section(rows, figures),
        ]

    def headline(self, rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
        """Per model: the headline measures and the worst net recovery."""
        return headline_table(rows)
