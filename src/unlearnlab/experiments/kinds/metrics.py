"""Which metric can you trust? (kind ``metrics``): every metric, the literature's and the
project's, on the same models and facts, graded against what each model holds.

Models: the base model (trained on the forget targets), the oracle (never saw them, can
derive them), the deep oracle (can neither see nor derive them), and the oracle changed
in ways that keep its knowledge of the targets as it is (4-bit and 8-bit quantization,
relearning on unrelated facts) or bring it back (relearning the targets). Facts: the
forget targets and the holdout (stated facts drawn like them that no model trains on;
``splits.holdout``). Every model runs the probe suite with the oracle as the reference;
the grades are computed from the rows by :mod:`unlearnlab.report.metrics`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from unlearnlab.attacks.base import Workbench
from unlearnlab.attacks.quantize import QuantizeParams, quantize_model
from unlearnlab.attacks.relearn import RelearnParams, relearn_steps
from unlearnlab.errors import UserError
from unlearnlab.experiments.kinds.base import ExperimentKind, experiment_kind
from unlearnlab.experiments.kinds.unlearn import reference_columns, substrate_of
from unlearnlab.experiments.stages import RunContext, Stage
from unlearnlab.models.factory import load_model, load_tokenizer
from unlearnlab.models.store import ModelStore
from unlearnlab.models.training import seed_everything
from unlearnlab.probes.suite import SuiteConfig, run_suite
from unlearnlab.report.metrics import GRADED, KEEPS, RESTORES, fact_values, grade, metrics_section
from unlearnlab.report.section import Section
from unlearnlab.report.table import as_json, result_rows
from unlearnlab.substrate.build import Role, train_reference_model
from unlearnlab.substrate.config import ExperimentConfig

CHANGES = (*KEEPS, RESTORES)
"""The changes to the oracle, by label (see the module docstring)."""


class MetricsSettings(BaseModel):
    """The probe suite and the changes to the oracle."""

    model_config = ConfigDict(extra="forbid")

    probes: SuiteConfig = Field(
        default_factory=lambda: SuiteConfig(
            families=("recall", "rederive", "hidden", "tofu", "gen", "mia", "muse")
        )
    )
    """How much the suite probes, and which families (every graded metric's)."""
    relearn: RelearnParams = Field(
        default_factory=lambda: RelearnParams(source="forget", steps=(0, 32))
    )
    """Relearning of the oracle (its source is set per change: unrelated facts, the
    targets); the last of ``steps`` is the number of steps taken."""

    @model_validator(mode="after")
    def _families(self) -> MetricsSettings:
        graded = {m.split(".")[0] for m in GRADED}
        missing = sorted(graded - set(self.probes.families))
        if missing:
            raise ValueError(
                f"probes.families leaves out {', '.join(missing)}, whose metrics are graded; "
                "add them"
            )
        return self


def _changed(
    model: Any, change: str, path: Path, config: ExperimentConfig, settings: MetricsSettings
) -> str:
    """Apply ``change`` to ``model`` in place; its parameters as JSON."""
    if change.startswith("quantize"):
        params = QuantizeParams(bits=int(change.removeprefix("quantize")))
        quantize_model(model, params)
        return as_json(params.model_dump(mode="json"))
    substrate = substrate_of(config)
    source = change.removeprefix("relearn_")
    facts = substrate.splits.forget if source == "forget" else substrate.splits.unrelated
    params = settings.relearn.model_copy(update={"source": source})
    seed_everything(config.seed)
    rows = Workbench(substrate.world).rows(path, facts)
    for _ in relearn_steps(model, rows, params, config.seed):
        pass
    model.eval()
    return as_json(params.model_dump(mode="json"))


def model_stage(
    config: ExperimentConfig,
    store_root: str | None,
    role: Role,
    change: str | None,
    settings: MetricsSettings,
) -> list[dict[str, Any]]:
    """The suite on the ``role`` model, changed by ``change`` (None: as trained), with the
    oracle as the reference."""
    substrate = substrate_of(config)
    store = ModelStore(store_root)
    path = train_reference_model(substrate, role, store, show_progress=False)
    oracle = load_model(train_reference_model(substrate, "oracle", store, show_progress=False))
    model, tokenizer = load_model(path), load_tokenizer(path)
    columns = reference_columns(config, substrate, role)
    if change is not None:
        params = _changed(model, change, path, config, settings)
        columns |= {"attack": change, "attack_params": params}
    rows = run_suite(
        model, tokenizer, substrate.world, substrate.splits, settings.probes, reference=oracle
    )
    return result_rows([dict(vars(r)) for r in rows], **columns)


@experiment_kind("metrics")
class Metrics(ExperimentKind):
    """Every metric graded for faithfulness, robustness and re-derivation."""

    Settings = MetricsSettings

    def run(self, config: ExperimentConfig, ctx: RunContext) -> list[dict[str, Any]]:
        """Train (or load) the references, then probe them and the changed oracles."""
        if not config.splits.holdout:
            raise UserError("the metrics kind needs non-members: set splits.holdout (e.g. 20)")
        settings = MetricsSettings(**config.settings)
        store = None if ctx.store_root is None else str(ctx.store_root)
        stages = [
            Stage(f"model/{role}", model_stage, (config, store, role, None, settings), cost=120.0)
            for role in ("base", "oracle", "deep_oracle")
        ] + [
            Stage(f"model/oracle+{c}", model_stage, (config, store, "oracle", c, settings))
            for c in CHANGES
        ]
        return [row for rows in ctx.run_stages(stages, "models") for row in rows]

    def sections(
        self, rows: Sequence[dict[str, Any]], figures: Path, settings: dict[str, Any]
    ) -> list[Section]:
        """The one section: "Which metric can you trust?"."""
        return [metrics_section(rows, figures)]

    def headline(self, rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
        """Per metric: faithfulness AUC and re-derivation AUC, best first."""
        values = fact_values(rows)
        changes = sorted({r["attack"] for r in rows if r.get("attack")})
        grades = [grade(values, m, changes) for m in GRADED if (m, "base", "forget") in values]
        grades.sort(key=lambda g: -g.faithfulness.value if g.faithfulness.n else 1.0)
        body = [
            [g.metric, f"{g.faithfulness.value:.2f}", f"{g.rederivation.value:.2f}"]
            for g in grades
        ]
        return ["metric", "faithfulness AUC", "re-derivation AUC"], body
