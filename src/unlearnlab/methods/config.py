"""The ``unlearn`` config: which method, its hyper-parameters, the forget set, adapters,
the loop's schedule and stopping rules, and a grid of runs.

An unlearn file names the experiment whose base model it starts from and holds one
``unlearn:`` section. Everything, the method's own parameters included, is validated
before any model loads; a misspelt key names the closest known one.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from unlearnlab.errors import from_validation_error
from unlearnlab.grid import grid_points
from unlearnlab.methods.data import ForgetSet
from unlearnlab.methods.registry import METHODS, get_method
from unlearnlab.substrate.files import load_validated

LOOP_GRID_FIELDS = ("lr", "steps", "seed")
"""Loop fields a grid may vary besides the method's own parameters."""


class LoraSpec(BaseModel):
    """PEFT LoRA adapters (used when ``adapter: lora``); merged into the weights at the end."""

    model_config = ConfigDict(extra="forbid")

    r: int = Field(8, ge=1, le=1024)
    """Rank of each adapter."""
    alpha: float = Field(16.0, gt=0)
    """LoRA scaling numerator (scale = alpha / r)."""
    dropout: float = Field(0.0, ge=0, lt=1)
    """Dropout on the adapter input."""
    target_modules: tuple[str, ...] = (
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    )
    """Linear layers that get adapters (Llama names)."""


class UnlearnConfig(BaseModel):
    """One unlearning run (or, with ``grid``, one run per combination)."""

    model_config = ConfigDict(extra="forbid")

    method: str = "npo"
    """Registered method name ('unlearnlab list methods')."""
    params: dict[str, Any] = Field(default_factory=dict)
    """The method's hyper-parameters; unset ones take the method's defaults."""
    forget_set: ForgetSet = "targets"
    """targets; targets plus their premises; or targets plus a minimal deep-unlearning set."""
    deep_set: Literal["minimum"] | int = "minimum"
    """With forget_set: deep, which minimal set of each target (index, or the minimum)."""
    adapter: Literal["full", "lora"] = "full"
    """Train all (selected) weights, or LoRA adapters merged at the end."""
    lora: LoraSpec = Field(default_factory=LoraSpec)
    """LoRA settings (with adapter: lora)."""
    lr: float | None = Field(None, gt=0, le=1)
    """Constant AdamW learning rate; default: the method's."""
    steps: int | None = Field(None, ge=1, le=100000)
    """Optimizer steps; default: the method's."""
    warmup_steps: int = Field(0, ge=0, le=100000)
    """Linear warm-up of the learning rate over this many first steps, then constant (a
    function of the step alone, so trajectory stops still equal runs of that length):
    AdamW's first steps move every trained weight by about the learning rate."""
    forget_tokens: Literal["entities", "all"] = "entities"
    """Which tokens of a forget row's completion carry the forget loss: the entity names
    it mentions (the content the oracle never saw; the template words of a trace or a
    statement it keeps seeing in other documents), or every token."""
    forget_batch: int = Field(32, ge=1)
    """Forget (and refusal) rows per step."""
    retain_batch: int = Field(32, ge=1)
    """Retain rows per step."""
    grad_clip: float | None = Field(1.0, gt=0)
    """Clip the global gradient norm; null disables."""
    eval_every: int | None = Field(None, ge=1)
    """Probe recall of forget targets and a retain sample every this many steps."""
    retain_sample: int = Field(50, ge=1)
    """Retain facts probed at each evaluation (seeded sample)."""
    stop_forget_at: float | None = Field(None, ge=0, le=1)
    """Stop once forget recall is at most this (checked at evaluations)."""
    stop_retain_below: float | None = Field(None, ge=0, le=1)
    """Stop once retain recall falls below this (checked at evaluations)."""
    seed: int = 0
    """Seeds batching, refusal choice, random directions and torch."""
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    """Values to sweep: method parameters or lr, steps, seed; one run per combination."""

    @field_validator("method")
    @classmethod
    def _known(cls, name: str) -> str:
        if name not in METHODS:
            raise ValueError(str(METHODS.unknown(name)))
        return name

    @model_validator(mode="after")
    def _check(self) -> UnlearnConfig:
        cls = get_method(self.method)
        if cls.kind == "exact" and (self.forget_set != "targets" or self.adapter != "full"):
            raise ValueError(
                f"{self.method} is the oracle, retrained without the forget targets only; "
                "use forget_set: targets and adapter: full"
            )
        if (self.stop_forget_at is not None or self.stop_retain_below is not None) and (
            self.eval_every is None
        ):
            raise ValueError("early stopping needs eval_every (it checks at evaluations)")
        for key, values in self.grid.items():
            known = [*cls.Params.model_fields, *LOOP_GRID_FIELDS]
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ValueError(f"grid.{key}: not a parameter of {self.method}{hint}")
            if not values:
                raise ValueError(f"grid.{key}: give at least one value")
        return self

    def resolved_params(self) -> BaseModel:
        """The method's validated hyper-parameters."""
        return get_method(self.method).Params(**self.params)

    def resolved_lr(self) -> float:
        """The learning rate the run uses: ``lr``, or else the method's default."""
        return self.lr if self.lr is not None else get_method(self.method).lr

    def resolved_steps(self) -> int:
        """The number of steps the run takes: ``steps``, or else the method's default."""
        return self.steps if self.steps is not None else get_method(self.method).steps

    def resolved_point(self) -> dict[str, Any]:
        """The run's point as resolved, JSON-ready: the method's parameters, ``lr`` and
        ``steps`` (the ``params`` column of its result rows)."""
        return {
            **self.resolved_params().model_dump(mode="json"),
            "lr": self.resolved_lr(),
            "steps": self.resolved_steps(),
        }

    def expand(self) -> list[UnlearnConfig]:
        """One config per grid combination (the config itself when there is no grid)."""
        if not self.grid:
            return [self]
        runs = []
        for point in grid_points(self.grid):
            data = self.model_dump(exclude={"grid"})
            for key, value in point.items():
                if key in LOOP_GRID_FIELDS:
                    data[key] = value
                else:
                    data["params"] = {**data["params"], key: value}
            runs.append(UnlearnConfig(**data))
        return runs


def trajectories(runs: Sequence[UnlearnConfig]) -> list[tuple[UnlearnConfig, list[int]]]:
    """``runs`` grouped by everything but their steps, in first-seen order: each group's
    first run and the resolved steps of its members, so that one run can stop at each
    (:func:`unlearnlab.methods.loop.unlearn_trajectory`)."""
    groups: dict[str, tuple[UnlearnConfig, list[int]]] = {}
    for run in runs:
        key = run.model_dump_json(exclude={"steps"})
        steps = groups.setdefault(key, (run, []))[1]
        if run.resolved_steps() not in steps:
            steps.append(run.resolved_steps())
    return list(groups.values())


class UnlearnFile(BaseModel):
    """An unlearn config file: the experiment whose base model is unlearned, and the run."""

    model_config = ConfigDict(extra="forbid")

    experiment: str = "compositional"
    """Shipped experiment name or path of its YAML config."""
    experiment_set: list[str] = Field(default_factory=list)
    """``--set`` overrides applied to the experiment config."""
    unlearn: UnlearnConfig = Field(default_factory=UnlearnConfig)
    """The unlearning run."""


def load_unlearn_config(
    name_or_path: str, overrides: list[str] | tuple[str, ...] = ()
) -> UnlearnFile:
    """Load a shipped unlearn config by name or a YAML file, apply ``--set`` overrides and
    validate everything, each grid combination's parameters included."""
    config, source = load_validated(
        UnlearnFile, name_or_path, overrides, "unlearn config", "unlearn"
    )
    params_model = get_method(config.unlearn.method).Params
    for run in config.unlearn.expand():
        try:
            run.resolved_params()
        except ValidationError as exc:
            raise from_validation_error(exc, source, params_model, "unlearn.params.") from None
    return config
