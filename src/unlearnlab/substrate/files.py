"""Config files: YAML in, validated pydantic models out, clear errors on the way.

A config is a shipped name (a YAML file under ``experiments/configs/``, listed by
``unlearnlab list experiments``) or the path of a YAML file; ``--set key.path=value``
overrides any field (the value is read as YAML) and a profile is a named set of such
overrides. This module imports only YAML and pydantic.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from unlearnlab.errors import UserError, from_validation_error

M = TypeVar("M", bound=BaseModel)

PROFILE_QUICK = "quick"
"""The profile of a config as written."""


def _configs_folder(*folder: str) -> Traversable:
    """``experiments/configs/<folder...>`` inside the installed package."""
    return resources.files("unlearnlab").joinpath("experiments", "configs", *folder)


def shipped_configs(*folder: str) -> list[str]:
    """Names of the YAML configs shipped in ``experiments/configs/<folder...>``."""
    root = _configs_folder(*folder)
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
    return source, _configs_folder(*folder).joinpath(source).read_text(encoding="utf-8")


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
