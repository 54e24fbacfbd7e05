"""The unlearning study (kind ``unlearn``): reference models, unlearning methods, the probe
suite and the attack suite on one world; the default experiment and ``polarity``.

Stages, in three phases (the stages of a phase are independent, so they fan out):

1. ``reference/<role>``: train (or load from the store) the base model, the oracle and
   the deep oracle, and run the probe suite on each;
2. ``unlearn/<method>/<forget set>/<grid point>/seed<k>/steps=<a,b,..>``: unlearn from
   the base model once per grid point but its steps, stopping at each of the grid's step
   counts (so steps cost evaluations, not runs), and run the probe suite on each stop;
3. ``attack/<attack>/<model>``: every attack (each point of its grid, each attack seed)
   on every reference model, then on each method's selected grid point (the settings'
   selection rule, :mod:`unlearnlab.experiments.selected_points`; every point with
   ``attack_points: all``; the sham control, the retain loss alone, runs at each selected
   point's learning rate and steps first) at the attack's calibrated strength where it has one
   (:mod:`unlearnlab.experiments.attack_strength`), recall at each curve point.

Rows follow :mod:`unlearnlab.report.table`; the report sections come from
:mod:`unlearnlab.report.unlearn`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from unlearnlab.attacks import attack_create
from unlearnlab.attacks.base import AttackTarget
from unlearnlab.attacks.items import ItemTarget
from unlearnlab.experiments.attack_strength import calibrated
from unlearnlab.experiments.kinds.base import ExperimentKind, experiment_kind
from unlearnlab.experiments.selected_points import attacked_runs, selected_runs, sham_runs
from unlearnlab.experiments.stages import RunContext, Stage
from unlearnlab.experiments.study_settings import (
    REFERENCE_ROLES,
    AttackSpec,
    UnlearnSettings,
)
from unlearnlab.grid import grid_points
from unlearnlab.methods.config import UnlearnConfig, trajectories
from unlearnlab.methods.loop import at_steps, run_key, unlearn, unlearn_trajectory
from unlearnlab.models.compute import COMPUTE_PROBE, recorded_flops
from unlearnlab.models.factory import load_model, load_tokenizer
from unlearnlab.models.store import ModelStore
from unlearnlab.probes.registry import FORGET_UNDERIVABLE
from unlearnlab.probes.suite import SuiteConfig, run_suite
from unlearnlab.report.section import Section
from unlearnlab.report.selection import SelectionRule
from unlearnlab.report.table import as_json, result_rows
from unlearnlab.report.unlearn import headline_table, unlearn_sections
from unlearnlab.substrate.build import Role, Substrate, build_substrate, train_reference_model
from unlearnlab.substrate.config import ExperimentConfig
from unlearnlab.worlds.io import save_world

_SUBSTRATES: dict[str, Substrate] = {}


def substrate_of(config: ExperimentConfig) -> Substrate:
    """The substrate of ``config``, built once per process."""
    key = config.digest()
    if key not in _SUBSTRATES:
        _SUBSTRATES[key] = build_substrate(config)
    return _SUBSTRATES[key]


def suite_rows(path: Path, substrate: Substrate, suite: SuiteConfig) -> list[dict[str, Any]]:
    """The probe suite on the model in ``path``, as dicts of probe columns."""
    model, tokenizer = load_model(path), load_tokenizer(path)
    rows = run_suite(model, tokenizer, substrate.world, substrate.splits, suite)
    return [dict(vars(r)) for r in rows]


def compute_rows(flops: float | None) -> list[dict[str, Any]]:
    """The row that records the FLOPs spent to make a model (none where unrecorded)."""
    if flops is None:
        return []
    row = {"probe": COMPUTE_PROBE, "format": "flops", "split": "model", "item": "model"}
    return [{**row, "correct": True, "value": float(flops)}]


def reference_stage(
    config: ExperimentConfig, store_root: str | None, role: Role, suite: SuiteConfig
) -> list[dict[str, Any]]:
    """Train (or load) the ``role`` model and return its probe-suite rows and its
    compute."""
    substrate = substrate_of(config)
    path = train_reference_model(substrate, role, ModelStore(store_root), show_progress=False)
    return result_rows(
        suite_rows(path, substrate, suite) + compute_rows(recorded_flops(path)),
        **reference_columns(config, substrate, role),
    )


def world_stage(config: ExperimentConfig, run_dir: str) -> list[dict[str, Any]]:
    """Save the world and splits into the run folder; rows (role ``world``) give the
    world's size, the documents and traces each reference model trains on, and each
    target's minimal deep-unlearning sets."""
    substrate = substrate_of(config)
    world, splits = substrate.world, substrate.splits
    save_world(world, Path(run_dir) / "world")
    splits.save(Path(run_dir) / "splits.json")
    counts = {
        "base facts": len(world.base_facts),
        "background facts": len(world.background_facts),
        "derived facts": len(world.derived_facts),
        "rules": len(world.rules),
        **{f"{role} facts": len(getattr(splits, role)) for role in splits.ROLES},
        **{f"{role} documents": len(substrate.documents(role)) for role in REFERENCE_ROLES},
        **{
            f"{role} traces": sum(d.kind == "cot" for d in substrate.documents(role))
            for role in REFERENCE_ROLES
        },
    }
    rows = [
        {
            "probe": "world.count",
            "format": name,
            "split": "world",
            "item": name,
            "correct": True,
            "value": float(n),
        }
        for name, n in counts.items()
    ]
    underivable = set(splits.underivable)
    for target in splits.forget:
        sets = world.minimal_deep_unlearning_sets(target)
        for probe, value in (
            ("deep.minimum_size", sets.minimum_size),
            ("deep.set_count", len(sets)),
        ):
            rows.append(
                {
                    "probe": probe,
                    "format": "exact",
                    "split": FORGET_UNDERIVABLE if target in underivable else "forget",
                    "item": str(target),
                    "correct": sets.complete,
                    "value": float(value),
                }
            )
    columns = {"experiment": config.name, "variant": "{}", "role": "world"}
    return result_rows(rows, **columns, seed=config.seed, config_hash=config.digest())


def _unlearned_columns(config: ExperimentConfig, run: UnlearnConfig) -> dict[str, Any]:
    return {
        "experiment": config.name,
        "variant": "{}",
        "role": "unlearned",
        "method": run.method,
        "forget_set": run.forget_set,
        "params": as_json(run.resolved_point()),
        "passed_params": as_json(run.params),
        "seed": run.seed,
        "config_hash": config.digest(),
    }


def unlearn_stage(
    config: ExperimentConfig,
    store_root: str | None,
    run: UnlearnConfig,
    steps: list[int],
    suite: SuiteConfig,
) -> list[dict[str, Any]]:
    """Unlearn as ``run`` says, stopping at each of ``steps`` (or load the stops from the
    store), and return the probe-suite rows and the compute of every stop."""
    substrate = substrate_of(config)
    results = unlearn_trajectory(substrate, run, steps, ModelStore(store_root))
    rows = []
    for k, result in zip(steps, results, strict=True):
        columns = _unlearned_columns(config, at_steps(run, k))
        rows += result_rows(
            suite_rows(result.path, substrate, suite) + compute_rows(result.flops),
            **columns,
            model=result.key[:12],
        )
    return rows


def attack_rows(
    path: Path,
    targets: dict[int, AttackTarget | ItemTarget],
    spec: AttackSpec,
    columns: dict[str, Any],
    underivable: frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    """Every grid point of attack ``spec``, with each seed's target of ``targets``, on the
    model in ``path``: the records at each curve point, as results rows with ``columns``
    set (split ``forget``, or ``forget_underivable`` for the items of ``underivable``)."""
    rows = []
    for point, (seed, target) in itertools.product(grid_points(spec.grid), targets.items()):
        attack = attack_create(spec.attack, **{**spec.params, **point})
        curve = attack.run(path, target)  # type: ignore[arg-type]
        for curve_point in curve:
            records = [
                {
                    "probe": "attack.recall",
                    "format": r["template"],
                    "split": FORGET_UNDERIVABLE if r["fact"] in underivable else "forget",
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


def reference_columns(config: ExperimentConfig, substrate: Substrate, role: Role) -> dict:
    """The run columns of the ``role`` reference model's rows."""
    return {
        "experiment": config.name,
        "variant": "{}",
        "role": role,
        "model": substrate.key(role)[:12],
        "seed": config.seed,
        "config_hash": config.digest(),
    }


def attack_stage(
    config: ExperimentConfig,
    store_root: str | None,
    model: UnlearnConfig | Role,
    spec: AttackSpec,
    seeds: list[int],
) -> list[dict[str, Any]]:
    """:func:`attack_rows` of one model: an unlearning run's result, or a reference
    model by role."""
    substrate = substrate_of(config)
    store = ModelStore(store_root)
    if isinstance(model, UnlearnConfig):
        path = unlearn(substrate, model, store).path
        columns = {**_unlearned_columns(config, model), "model": run_key(substrate, model)[:12]}
    else:
        path = train_reference_model(substrate, model, store, show_progress=False)
        columns = reference_columns(config, substrate, model)
    base = train_reference_model(substrate, "base", store, show_progress=False)
    underivable = frozenset(str(f) for f in substrate.splits.underivable)
    return attack_rows(path, world_targets(substrate, seeds, base), spec, columns, underivable)


def world_targets(
    substrate: Substrate, seeds: Sequence[int], base: Path
) -> dict[int, AttackTarget]:
    """The attack target of each seed: ``substrate``'s forget targets, ``base`` the base
    model's folder (for attacks that compare a model with it)."""
    return {s: AttackTarget(substrate, tuple(substrate.splits.forget), s, base) for s in seeds}


def unlearn_stages(
    config: ExperimentConfig,
    store: str | None,
    runs: Sequence[UnlearnConfig],
    probes: SuiteConfig,
) -> list[Stage]:
    """One stage per trajectory of ``runs`` (runs that differ only in steps share one)."""
    return [
        Stage(
            f"unlearn/{_run_name(run, steps)}",
            unlearn_stage,
            (config, store, run, steps, probes),
            cost=20.0 + 10.0 * len(steps),
        )
        for run, steps in trajectories(runs)
    ]


def attack_stages(
    config: ExperimentConfig,
    store: str | None,
    suite: Sequence[AttackSpec],
    targets: Sequence[UnlearnConfig | Role],
    seeds: list[int],
) -> list[Stage]:
    """One stage per attack of ``suite`` and model of ``targets``."""
    return [
        Stage(
            f"attack/{spec.name}/{t if isinstance(t, str) else _run_name(t)}",
            attack_stage,
            (config, store, t, spec, seeds),
            cost=10.0,
        )
        for spec in suite
        for t in targets
    ]


def _run_name(run: UnlearnConfig, steps: Sequence[int] | None = None) -> str:
    """The stage name of ``run`` (with ``steps``: of its trajectory stopping there)."""
    grid = ",".join(f"{k}={v}" for k, v in sorted(run.params.items()))
    loop = f"lr={run.lr}" if run.lr else ""
    stops = ",".join(map(str, steps)) if steps is not None else run.steps
    stop = f"steps={stops}" if stops else ""
    parts = (run.method, run.forget_set, grid, loop, f"seed{run.seed}", stop)
    return "/".join(p for p in parts if p)


def without_settings(config: ExperimentConfig) -> ExperimentConfig:
    """``config`` with empty settings: the part every stage depends on besides its own
    arguments. Stages are keyed by it, so changing one method's grid (or an attack)
    leaves the other stages' keys, and their rows, as they were; rows carry its digest."""
    return config.model_copy(update={"settings": {}})


@experiment_kind("unlearn")
class UnlearnStudy(ExperimentKind):
    """Reference models, unlearning methods, probes and attacks on one world."""

    Settings = UnlearnSettings

    def run(self, config: ExperimentConfig, ctx: RunContext) -> list[dict[str, Any]]:
        """Every stage of the study (see the module docstring)."""
        settings = UnlearnSettings(**config.settings)
        config = without_settings(config)  # stages pass what they need of the settings
        store = None if ctx.store_root is None else str(ctx.store_root)
        rows: list[dict[str, Any]] = []
        world = [Stage("world", world_stage, (config, str(ctx.run_dir.resolve())))]
        for stage_rows in ctx.run_stages(world, "world"):
            rows += stage_rows
        references = [
            Stage(
                f"reference/{role}",
                reference_stage,
                (config, store, role, settings.probes),
                cost=180.0,
            )
            for role in settings.references
        ]
        for stage_rows in ctx.run_stages(references, "reference models"):
            rows += stage_rows
        runs = [run for spec in settings.methods for run in settings.runs_of(spec)]
        stages = unlearn_stages(config, store, runs, settings.probes)
        for stage_rows in ctx.run_stages(stages, "unlearning"):
            rows += stage_rows
        if settings.sham:
            shams = sham_runs(selected_runs(runs, rows, settings))
            stages = unlearn_stages(config, store, shams, settings.probes)
            for stage_rows in ctx.run_stages(stages, "sham controls"):
                rows += stage_rows
        seeds = settings.attack_seeds
        on_references = attack_stages(config, store, settings.attacks, settings.references, seeds)
        for stage_rows in ctx.run_stages(on_references, "attacks on references"):
            rows += stage_rows
        suite = [calibrated(spec, rows) for spec in settings.attacks]
        attacked = attack_stages(config, store, suite, attacked_runs(runs, rows, settings), seeds)
        for stage_rows in ctx.run_stages(attacked, "attacks"):
            rows += stage_rows
        return rows

    def sections(
        self, rows: Sequence[dict[str, Any]], figures: Path, settings: dict[str, Any]
    ) -> list[Section]:
        """The sections of :mod:`unlearnlab.report.unlearn`, under the run's selection
        rule."""
        return unlearn_sections(rows, figures, SelectionRule(**settings.get("selection", {})))

    def headline(self, rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
        """Per model: direct recall, re-derivation, premise and unrelated retention."""
        return headline_table(rows)
