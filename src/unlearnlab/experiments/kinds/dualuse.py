"""The dual-use study (kind ``dualuse``): can harmful synthesis be unlearned while benign
synthesis that shares its steps is kept, and how does that change with the overlap ρ?

For each variant (a synthesis world with its own ρ, ``settings.variants``), in three
phases whose stages are independent:

1. ``reference/<variant>/<role>``: the base model, the oracle (never saw a harmful route
   but saw every shared step) and the deep oracle (saw no step of any harmful route);
   see :mod:`unlearnlab.experiments.synthesis_substrate`;
2. ``unlearn/<variant>/<run>``: every method at every grid point and seed unlearns the
   harmful routes (every step fact of every harmful route and the harmful traces) from
   the base model;
3. ``attack/<variant>/<attack>/<model>``: the attack suite on the most selective
   unlearned model of the variant (largest hazard drop minus utility drop) and on the
   references named in ``durability_references``: recall of the harmful step facts.

Every model gets the capability probes (:mod:`unlearnlab.probes.capability`): hazard is
harmful route accuracy, utility benign route accuracy. Rows follow
:mod:`unlearnlab.report.table` (``variant`` is the JSON of the variant's overrides); the
sections come from :mod:`unlearnlab.report.dualuse`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from unlearnlab.attacks import attack_create
from unlearnlab.attacks.base import AttackTarget
from unlearnlab.corpus.routes import routes_of
from unlearnlab.errors import UserError, from_validation_error
from unlearnlab.experiments.kinds.base import ExperimentKind, experiment_kind
from unlearnlab.experiments.stages import RunContext, Stage
from unlearnlab.experiments.study_settings import (
    REFERENCE_ROLES,
    AttackSpec,
    MethodSpec,
    UnlearnSettings,
)
from unlearnlab.experiments.synthesis_substrate import (
    SynthesisSubstrate,
    build_synthesis_substrate,
)
from unlearnlab.grid import grid_points
from unlearnlab.methods.config import UnlearnConfig
from unlearnlab.methods.loop import unlearn
from unlearnlab.methods.registry import get_method
from unlearnlab.models.factory import load_model, load_tokenizer
from unlearnlab.models.store import ModelStore
from unlearnlab.probes.capability import CapabilityConfig, LanguageModel, capability_records
from unlearnlab.report.dualuse import dualuse_sections, headline_table
from unlearnlab.report.section import Section
from unlearnlab.report.selectivity import Point, best_selectivity, route_outcomes
from unlearnlab.report.table import as_json, result_rows
from unlearnlab.substrate.build import Role, train_reference_model
from unlearnlab.substrate.config import ExperimentConfig

OVERLAP = "world.params.overlap"
"""The variant key every dual-use variant sets."""


class DualUseSettings(BaseModel):
    """What the dual-use study runs on each variant."""

    model_config = ConfigDict(extra="forbid")

    variants: list[dict[str, Any]] = Field(
        default_factory=lambda: [{OVERLAP: r} for r in (0.0, 0.25, 0.5, 0.75, 1.0)]
    )
    """Config overrides of each variant (dotted keys, as ``--set`` writes them); each sets
    ``world.params.overlap``."""
    methods: list[MethodSpec] = Field(default_factory=list)
    """The unlearning methods, each with its grid; the forget set is always the harmful
    routes (``targets``)."""
    loop: dict[str, Any] = Field(default_factory=dict)
    """Unlearning-loop settings shared by every run (any unlearn config field but method,
    params and grid)."""
    seeds: list[int] = Field(default_factory=lambda: [0])
    """Unlearning seeds: every run repeats with each."""
    references: tuple[Role, ...] = REFERENCE_ROLES
    """Reference models trained and probed on each variant."""
    probes: CapabilityConfig = Field(default_factory=CapabilityConfig)
    """Which capability probes run on every model."""
    attacks: list[AttackSpec] = Field(default_factory=list)
    """The attack suite, run on the most selective unlearned model of each variant."""
    attack_seeds: list[int] = Field(default_factory=lambda: [0])
    """Seeds of each attack."""
    durability_references: tuple[Role, ...] = ("base", "oracle")
    """Reference models the attack suite also runs on (for recovery net of the oracle)."""

    @model_validator(mode="after")
    def _check(self) -> DualUseSettings:
        if not self.variants:
            raise ValueError("variants: give at least one (each sets world.params.overlap)")
        labels = [as_json(v) for v in self.variants]
        if len(set(labels)) != len(labels):
            raise ValueError(f"variants repeat: {labels}")
        for variant in self.variants:
            if OVERLAP not in variant:
                raise ValueError(f"variant {as_json(variant)} does not set {OVERLAP}")
        for spec in self.methods:
            if "forget_sets" in spec.model_fields_set and tuple(spec.forget_sets) != ("targets",):
                raise ValueError(
                    f"{spec.method}: forget_sets: the dual-use forget set is always the harmful "
                    "routes (targets); drop forget_sets"
                )
            if get_method(spec.method).kind == "exact":
                raise ValueError(
                    f"{spec.method}: the exact method is the oracle, already a reference model; "
                    "drop it from methods"
                )
        missing = set(self.durability_references) - set(self.references)
        if missing:
            raise ValueError(f"durability_references {sorted(missing)} are not in references")
        self.unlearn_settings()
        return self

    def unlearn_settings(self) -> UnlearnSettings:
        """The methods, loop, seeds and attacks as the unlearning study's settings (which
        validate each grid point and attack)."""
        methods = [s.model_copy(update={"forget_sets": ("targets",)}) for s in self.methods]
        return UnlearnSettings(
            methods=methods,
            loop=self.loop,
            seeds=self.seeds,
            references=self.references,
            attacks=self.attacks,
            attack_seeds=self.attack_seeds,
        )

    def runs(self) -> list[UnlearnConfig]:
        """Every unlearning run of a variant: method x grid point x seed."""
        study = self.unlearn_settings()
        return [run for spec in study.methods for run in study.runs_of(spec)]


def variant_config(config: ExperimentConfig, overrides: dict[str, Any]) -> ExperimentConfig:
    """``config`` with a variant's dotted overrides applied, its settings and profiles
    dropped (stage keys then depend only on what the models are made from)."""
    data = config.model_dump(mode="json")
    data.update(settings={}, profiles={})
    for key, value in overrides.items():
        node = data
        *path, last = key.split(".")
        for part in path:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise UserError(f"settings.variants: {key}: {part} is not a section")
            node = child
        node[last] = value
    try:
        return ExperimentConfig(**data)
    except ValidationError as exc:
        raise from_validation_error(
            exc, f"variant {as_json(overrides)}", ExperimentConfig
        ) from None


_SUBSTRATES: dict[str, SynthesisSubstrate] = {}


def synthesis_substrate_of(config: ExperimentConfig) -> SynthesisSubstrate:
    """The synthesis substrate of ``config``, built once per process."""
    key = config.digest()
    if key not in _SUBSTRATES:
        _SUBSTRATES[key] = build_synthesis_substrate(config)
    return _SUBSTRATES[key]


def _capability_rows(
    path: Path, substrate: SynthesisSubstrate, probes: CapabilityConfig
) -> list[dict[str, Any]]:
    subject = LanguageModel(load_model(path), load_tokenizer(path))
    return capability_records(subject, substrate.world, probes)


def _reference_columns(config: ExperimentConfig, variant: str, role: Role) -> dict[str, Any]:
    substrate = synthesis_substrate_of(config)
    return {
        "experiment": config.name,
        "variant": variant,
        "role": role,
        "model": substrate.key(role)[:12],
        "seed": config.seed,
        "config_hash": config.digest(),
    }


def passed_params(run: UnlearnConfig) -> str:
    """A run's grid point as written: its given parameters, lr and steps (JSON)."""
    return as_json({**run.params, "lr": run.lr, "steps": run.steps})


def _run_columns(config: ExperimentConfig, variant: str, run: UnlearnConfig) -> dict[str, Any]:
    return {
        "experiment": config.name,
        "variant": variant,
        "role": "unlearned",
        "method": run.method,
        "forget_set": run.forget_set,
        "params": as_json(run.resolved_point()),
        "passed_params": passed_params(run),
        "seed": run.seed,
        "config_hash": config.digest(),
    }


def reference_stage(
    config: ExperimentConfig,
    store_root: str | None,
    role: Role,
    probes: CapabilityConfig,
    variant: str,
) -> list[dict[str, Any]]:
    """Train (or load) the ``role`` model of the variant ``config`` and probe it."""
    substrate = synthesis_substrate_of(config)
    path = train_reference_model(substrate, role, ModelStore(store_root), show_progress=False)
    return result_rows(
        _capability_rows(path, substrate, probes), **_reference_columns(config, variant, role)
    )


def unlearn_stage(
    config: ExperimentConfig,
    store_root: str | None,
    run: UnlearnConfig,
    probes: CapabilityConfig,
    variant: str,
) -> list[dict[str, Any]]:
    """Unlearn the harmful routes as ``run`` says (or load the run) and probe the result."""
    substrate = synthesis_substrate_of(config)
    result = unlearn(substrate, run, ModelStore(store_root))
    return result_rows(
        _capability_rows(result.path, substrate, probes),
        **_run_columns(config, variant, run),
        model=result.key[:12],
    )


def attack_stage(
    config: ExperimentConfig,
    store_root: str | None,
    model: UnlearnConfig | Role,
    spec: AttackSpec,
    seeds: list[int],
    variant: str,
) -> list[dict[str, Any]]:
    """Every grid point and seed of attack ``spec`` on one model: recall of every harmful
    step fact at each curve point (``stratum``: the harmful route the fact is a step of)."""
    substrate = synthesis_substrate_of(config)
    store = ModelStore(store_root)
    if isinstance(model, UnlearnConfig):
        result = unlearn(substrate, model, store)
        path, columns = (
            result.path,
            {**_run_columns(config, variant, model), "model": result.key[:12]},
        )
    else:
        path = train_reference_model(substrate, model, store, show_progress=False)
        columns = _reference_columns(config, variant, model)
    route_of = {
        str(f): r.product
        for r in routes_of(substrate.world)
        if r.hazard == "harmful"
        for f in r.facts()
    }
    rows = []
    for point in grid_points(spec.grid):
        for seed in seeds:
            attack = attack_create(spec.attack, **{**spec.params, **point})
            target = AttackTarget(substrate, tuple(substrate.splits.forget), seed)
            for curve_point in attack.run(path, target):
                records = [
                    {
                        "probe": "attack.recall",
                        "format": r["template"],
                        "split": "forget",
                        "stratum": route_of[r["fact"]],
                        "item": r["fact"],
                        "correct": bool(r["correct"]),
                        "rank": r.get("rank"),
                        "probability": r.get("probability"),
                        "chance": r.get("chance"),
                        "step": curve_point.step,
                    }
                    for r in curve_point.records
                ]
                rows += result_rows(
                    records,
                    **columns,
                    attack=spec.name,
                    attack_params=as_json(attack.params.model_dump(mode="json")),
                    attack_seed=seed,
                )
    return rows


def _run_name(run: UnlearnConfig) -> str:
    grid = ",".join(f"{k}={v}" for k, v in sorted(run.params.items()))
    loop = ",".join(f"{k}={getattr(run, k)}" for k in ("lr", "steps") if getattr(run, k))
    return "/".join(p for p in (run.method, grid, loop, f"seed{run.seed}") if p)


def most_selective(rows: Sequence[dict[str, Any]]) -> dict[str, Point]:
    """The grid point the attacks run on, per variant: the unlearning grid point with the
    largest selectivity (hazard drop minus utility drop; point estimates)."""
    outcomes = route_outcomes(rows)
    found = {v: best_selectivity(v, outcomes[v], resamples=1) for v in outcomes}
    return {v: b.best for v, b in found.items() if b is not None}


def _variant_name(overrides: dict[str, Any]) -> str:
    return ",".join(f"{k.removeprefix('world.params.')}={v}" for k, v in sorted(overrides.items()))


@experiment_kind("dualuse")
class DualUseStudy(ExperimentKind):
    """Reference models, unlearning and attacks on synthesis worlds of several overlaps."""

    Settings = DualUseSettings

    def run(self, config: ExperimentConfig, ctx: RunContext) -> list[dict[str, Any]]:
        """Every stage of the study (see the module docstring)."""
        settings = DualUseSettings(**config.settings)
        store = None if ctx.store_root is None else str(ctx.store_root)
        variants = [
            (_variant_name(v), as_json(v), variant_config(config, v)) for v in settings.variants
        ]
        for _, _, variant in variants:
            synthesis_substrate_of(variant)  # a bad world fails here, before any training
        rows: list[dict[str, Any]] = []
        references = [
            Stage(
                f"reference/{name}/{role}",
                reference_stage,
                (variant, store, role, settings.probes, label),
                cost=30.0,
            )
            for name, label, variant in variants
            for role in settings.references
        ]
        for stage_rows in ctx.run_stages(references, "reference models"):
            rows += stage_rows
        runs = settings.runs()
        stages = [
            Stage(
                f"unlearn/{name}/{_run_name(run)}",
                unlearn_stage,
                (variant, store, run, settings.probes, label),
                cost=5.0,
            )
            for name, label, variant in variants
            for run in runs
        ]
        for stage_rows in ctx.run_stages(stages, "unlearning"):
            rows += stage_rows
        if not settings.attacks:
            return rows
        best = most_selective(rows)
        attacks = []
        for name, label, variant in variants:
            targets: list[UnlearnConfig | Role] = list(settings.durability_references)
            if label in best:
                point = best[label]
                chosen = next(
                    r for r in runs if (r.method, passed_params(r)) == (point.method, point.params)
                )
                targets.insert(0, chosen)
            attacks += [
                Stage(
                    f"attack/{name}/{spec.name}/{t if isinstance(t, str) else _run_name(t)}",
                    attack_stage,
                    (variant, store, t, spec, settings.attack_seeds, label),
                    cost=5.0,
                )
                for spec in settings.attacks
                for t in targets
            ]
        for stage_rows in ctx.run_stages(attacks, "attacks"):
            rows += stage_rows
        return rows

    def sections(
        self, rows: Sequence[dict[str, Any]], figures: Path, settings: dict[str, Any]
    ) -> list[Section]:
        """The sections of :mod:`unlearnlab.report.dualuse`."""
        return dualuse_sections(rows, figures)

    def headline(self, rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
        """Per variant: hazard and utility of base, oracles and the most selective run."""
        return headline_table(rows)
