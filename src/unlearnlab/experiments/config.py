"""Loading an experiment config: the file read and validated as
:class:`~unlearnlab.substrate.config.ExperimentConfig`, then the kind's ``settings`` and
the world generator's parameters validated too, before any work starts."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

from unlearnlab.errors import UserError, from_validation_error
from unlearnlab.experiments.kinds import EXPERIMENT_KINDS
from unlearnlab.substrate.config import ExperimentConfig
from unlearnlab.substrate.files import PROFILE_QUICK, load_validated
from unlearnlab.worlds.generators import GENERATORS


def load_config(
    name_or_path: str, overrides: Sequence[str] = (), profile: str = PROFILE_QUICK
) -> ExperimentConfig:
    """Load a shipped experiment by name or a YAML file by path, apply the profile's and
    the ``--set`` overrides, validate (the kind's settings and the world's generator
    parameters included)."""
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
