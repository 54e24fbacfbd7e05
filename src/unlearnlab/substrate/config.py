"""The experiment config: the world, its splits, the corpus recipe, the model and its
training, and what ``unlearnlab run`` does with them. Files are read by
:mod:`unlearnlab.substrate.files`; :func:`unlearnlab.experiments.config.load_config` also
validates the kind's settings.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from unlearnlab.corpus.corpus import CorpusConfig
from unlearnlab.corpus.splits import SplitConfig
from unlearnlab.models.factory import ModelSpec
from unlearnlab.models.training import TrainConfig
from unlearnlab.worlds.generators import GENERATORS


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
    """The experiment kind ('unlearnlab list kinds'): what a run does."""
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
