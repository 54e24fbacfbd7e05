"""Experiment configs: YAML in, validated pydantic models out, clear errors on the way.

A config is a shipped experiment name (``unlearnlab list experiments``) or a path to a
YAML file; ``--set key.path=value`` overrides any field (the value is read as YAML).
Everything is validated before any work starts; an unknown key names the closest known
one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from unlearnlab.corpus.corpus import CorpusConfig
from unlearnlab.corpus.splits import SplitConfig
from unlearnlab.errors import UserError, from_validation_error
from unlearnlab.models.factory import ModelSpec
from unlearnlab.models.training import TrainConfig
from unlearnlab.worlds.generators import GENERATORS

M = TypeVar("M", bound=BaseModel)


class WorldConfig(BaseModel):
    """A generated world (``generator`` + ``params``) or a world folder (``path``)."""

    model_config = ConfigDict(extra="forbid")

    generator: str | None = "family"
    params: dict[str, Any] = Field(default_factory=dict)
    path: Path | None = None
    rules: str | None = None

    @model_validator(mode="after")
    def _check(self) -> WorldConfig:
        if self.path is not None:
            self.generator = None
            return self
        if self.generator not in GENERATORS:
            raise ValueError(
                f"unknown generator {self.generator!r} (known: {', '.join(sorted(GENERATORS))})"
            )
        return self


class ExperimentConfig(BaseModel):
    """One experiment: the world, its splits, the corpus recipe, the model and training,
    and what ``unlearnlab run`` does with them (``kind`` and its ``settings``)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: str = "unlearn"
    """The experiment kind ('unlearnlab list experiments'): what a run does."""
    settings: dict[str, Any] = Field(default_factory=dict)
    """The kind's own settings (methods, attacks, probes); validated by the kind."""
    profiles: dict[str, list[str]] = Field(default_factory=dict)
    """Named sets of ``key=value`` overrides; ``--profile NAME`` applies one before any
    ``--set`` (the config as written is the ``quick`` profile)."""
    seed: int = 0
    world: WorldConfig = Field(default_factory=WorldConfig)
    splits: SplitConfig = Field(default_factory=SplitConfig)
    corpus: CorpusConfig = Field(default_factory=CorpusConfig)
    model: ModelSpec = Field(default_factory=ModelSpec)
    train: TrainConfig

    def digest(self) -> str:
        """A short hash of the resolved config."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def shipped_configs(*folder: str) -> list[str]:
    """Names of the YAML configs shipped in ``experiments/configs/<folder...>``."""
    root = resources.files("unlearnlab.experiments").joinpath("configs", *folder)
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


def shipped_experiments() -> list[str]:
    """Names of the experiment configs shipped with the package."""
    return shipped_configs()


def config_source(name_or_path: str, kind: str, *folder: str) -> tuple[str, str]:
    """``(file name, YAML text)`` of a shipped config (by name, from
    ``experiments/configs/<folder...>``) or of a YAML file (by path); ``kind`` names the
    config in errors."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise UserError(f"config file {path} does not exist")
        return path.name, path.read_text(encoding="utf-8")
    shipped = shipped_configs(*folder)
    if name_or_path not in shipped:
        raise UserError(
            f"unknown {kind} {name_or_path!r} (known: {', '.join(shipped)}; "
            "or give the path of a YAML file)"
        )
    source = f"{name_or_path}.yaml"
    root = resources.files("unlearnlab.experiments").joinpath("configs", *folder)
    return source, root.joinpath(source).read_text(encoding="utf-8")


def read_yaml(text: str, source: str) -> dict[str, Any]:
    """Parse a YAML mapping; a syntax error names ``source``, line and column."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise UserError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise UserError(f"{source}: an experiment config must be a YAML mapping")
    return data


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply one ``--set key.path=value`` to nested ``data`` (the value is read as YAML)."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise UserError(f"--set {assignment!r}: write it as key.path=value, e.g. train.lr=0.001")
    parts = key.strip().split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise UserError(f"--set {assignment!r}: {part} is not a section")
        node = child
    node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else ""


PROFILE_QUICK = "quick"
"""The profile of a config as written."""


def load_validated(
    model: type[M],
    name_or_path: str,
    overrides: Sequence[str],
    kind: str,
    *folder: str,
    profile: str = PROFILE_QUICK,
) -> tuple[M, str]:
    """``(config, file name)``: the shipped config or YAML file (see :func:`config_source`)
    with the ``profile``'s overrides (a ``profiles:`` entry of the file) and then the
    ``--set`` overrides applied, validated as ``model``."""
    source, text = config_source(name_or_path, kind, *folder)
    data = read_yaml(text, source)
    if profile != PROFILE_QUICK:
        profiles = data.get("profiles") or {}
        if profile not in profiles:
            known = ", ".join([PROFILE_QUICK, *sorted(profiles)])
            raise UserError(f"{source}: unknown profile {profile!r} (known: {known})")
        overrides = [*profiles[profile], *overrides]
    for assignment in overrides:
        apply_override(data, assignment)
    try:
        return model(**data), source
    except ValidationError as exc:
        raise from_validation_error(exc, source, model) from None


def load_config(
    name_or_path: str, overrides: Sequence[str] = (), profile: str = PROFILE_QUICK
) -> ExperimentConfig:
    """Load a shipped experiment by name or a YAML file by path, apply the profile's and
    the ``--set`` overrides, validate (the kind's settings and the world's generator
    parameters included)."""
    from unlearnlab.experiments.kinds import EXPERIMENT_KINDS

    config, source = load_validated(
        ExperimentConfig, name_or_path, overrides, "experiment", profile=profile
    )
    if config.kind not in EXPERIMENT_KINDS:
        raise UserError(f"{source}: kind: {EXPERIMENT_KINDS.unknown(config.kind)}")
    settings = EXPERIMENT_KINDS[config.kind].Settings
    try:
        settings(**config.settings)
    except ValidationError as exc:
        raise from_validation_error(exc, source, settings, "settings.") from None
    if config.world.generator is not None:
        params = GENERATORS[config.world.generator].params
        try:
            params(**config.world.params)
        except ValidationError as exc:
            raise from_validation_error(exc, source, params, "world.params.") from None
    return config
