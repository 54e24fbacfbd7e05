"""The settings of the unlearning study (kind ``unlearn``): its methods with their grids,
its attack suite, seeds, probes and the selection rule, validated before any work."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from unlearnlab.attacks import attack_create
from unlearnlab.errors import UserError, from_validation_error
from unlearnlab.grid import grid_points
from unlearnlab.methods.config import UnlearnConfig
from unlearnlab.methods.registry import METHODS, get_method
from unlearnlab.probes.suite import SuiteConfig
from unlearnlab.report.selection import SelectionRule
from unlearnlab.substrate.build import Role

REFERENCE_ROLES: tuple[Role, ...] = ("base", "oracle", "deep_oracle")


class MethodSpec(BaseModel):
    """One method of the study, with its hyper-parameters and their grid."""

    model_config = ConfigDict(extra="forbid")

    method: str
    """Registered method name ('unlearnlab list methods')."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Hyper-parameters; unset ones take the method's defaults."""
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    """Values to sweep (method parameters or lr, steps, seed); one run per combination."""
    forget_sets: tuple[Literal["targets", "premises", "deep"], ...] = ("targets", "deep")
    """Forget sets to unlearn: each gives one run per grid point (``deep``: the target
    plus its minimum deep-unlearning set)."""

    @field_validator("method")
    @classmethod
    def _known(cls, name: str) -> str:
        if name not in METHODS:
            raise ValueError(str(METHODS.unknown(name)))
        if METHODS[name].kind == "exact":
            raise ValueError(
                f"{name} is the oracle, which every run trains as a reference model; "
                "list it under references instead"
            )
        return name

    @model_validator(mode="after")
    def _params(self) -> MethodSpec:
        try:
            runs = UnlearnConfig(method=self.method, params=self.params, grid=self.grid).expand()
        except ValidationError as exc:
            raise ValueError(str(from_validation_error(exc, self.method, UnlearnConfig))) from None
        params = get_method(self.method).Params
        for run in runs:
            try:
                run.resolved_params()
            except ValidationError as exc:
                raise ValueError(str(from_validation_error(exc, self.method, params))) from None
        return self


class AttackSpec(BaseModel):
    """One attack of the suite, with its parameters and their grid."""

    model_config = ConfigDict(extra="forbid")

    attack: str
    """Registered attack name."""
    label: str | None = None
    """Name in the report (default: the attack name); unique within the suite."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Attack parameters; unset ones take the attack's defaults."""
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    """Values to sweep; the report gives the worst case (largest recovery) over them."""
    calibrate: float | None = Field(None, ge=0, le=1)
    """Largest recall the base model and the oracle may lose under the attack: the grid
    runs on the references first and unlearned models are attacked at its strongest point
    within it (:mod:`unlearnlab.experiments.attack_strength`); None attacks at every point."""

    @property
    def name(self) -> str:
        """The attack's name in the report."""
        return self.label or self.attack

    @model_validator(mode="after")
    def _params(self) -> AttackSpec:
        try:
            for point in grid_points(self.grid):
                attack_create(self.attack, **{**self.params, **point})
        except UserError as exc:
            raise ValueError(str(exc)) from None
        return self


class UnlearnSettings(BaseModel):
    """What the unlearning study runs beyond the reference models."""

    model_config = ConfigDict(extra="forbid")

    methods: list[MethodSpec] = Field(default_factory=list)
    """The methods, each with its grid and forget sets."""
    loop: dict[str, Any] = Field(default_factory=dict)
    """Unlearning-loop settings shared by every run (any field of an unlearn config but
    method, params and grid: adapter, eval_every, forget_batch, ...)."""
    seeds: list[int] = Field(default_factory=lambda: [0])
    """Unlearning seeds: every run repeats with each."""
    references: tuple[Role, ...] = REFERENCE_ROLES
    """Reference models trained and probed."""
    probes: SuiteConfig = Field(default_factory=SuiteConfig)
    """How much the probe suite probes on each model."""
    attacks: list[AttackSpec] = Field(default_factory=list)
    """The attack suite, run on every unlearned and every reference model."""
    attack_seeds: list[int] = Field(default_factory=lambda: [0])
    """Seeds of each attack (data order, folds)."""
    selection: SelectionRule = Field(default_factory=SelectionRule)
    """How each method's compared grid point is chosen (the same rule for every method)."""
    sham: bool = True
    """Run the sham control (method ``sham``: the retain loss alone) at every selected
    point's forget set, learning rate and steps, beside the methods."""
    attack_points: Literal["selected", "all"] = "selected"
    """Attack each method's selected grid point (under ``selection``; where none
    qualifies, its point of least target knowledge), or every grid point."""

    @model_validator(mode="after")
    def _check(self) -> UnlearnSettings:
        for spec in self.methods:
            self.runs_of(spec, self.seeds[:1])
        labels = [a.name for a in self.attacks]
        if len(set(labels)) != len(labels):
            raise ValueError(f"attack labels repeat ({labels}); give each a distinct label")
        return self

    def runs_of(self, spec: MethodSpec, seeds: Sequence[int] | None = None) -> list[UnlearnConfig]:
        """The unlearn configs of ``spec``: each forget set x grid point x seed."""
        runs = []
        for forget_set, seed in itertools.product(spec.forget_sets, seeds or self.seeds):
            data = {**self.loop, "seed": seed}
            config = UnlearnConfig(
                method=spec.method,
                params=spec.params,
                grid=spec.grid,
                forget_set=forget_set,
                **data,
            )
            runs.extend(config.expand())
        return runs
