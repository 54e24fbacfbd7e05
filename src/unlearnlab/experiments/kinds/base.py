"""Experiment kinds: what ``unlearnlab run`` does for a config's ``kind``.

A kind is one class registered with ``@experiment_kind("name")``: a typed ``Settings``
model (the config's ``settings:`` section, validated before any work starts), a
:meth:`ExperimentKind.run` that turns the config into results rows by running
:class:`~unlearnlab.experiments.stages.Stage` objects through a
:class:`~unlearnlab.experiments.stages.RunContext`, :meth:`ExperimentKind.sections` that
turns rows back into report sections, and :meth:`ExperimentKind.headline`, the table
printed at the end of a run. Adding a kind is adding one module to
``unlearnlab/experiments/kinds/``; the package imports every module in it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from unlearnlab.experiments.stages import RunContext
from unlearnlab.registry import Registry
from unlearnlab.report.section import Section

EXPERIMENT_KINDS = Registry("experiment kind", "see 'unlearnlab list kinds'")
"""Every registered experiment kind by name."""
experiment_kind = EXPERIMENT_KINDS.register
"""Class decorator: register an experiment kind under a name."""


class ExperimentKind(ABC):
    """Base class of experiment kinds; subclasses set ``Settings`` and implement
    :meth:`run`, :meth:`sections` and :meth:`headline`."""

    name: ClassVar[str] = ""
    """Registered name (set by ``@experiment_kind``)."""
    Settings: ClassVar[type[BaseModel]] = BaseModel
    """The kind's ``settings:`` section (``extra="forbid"``)."""

    @abstractmethod
    def run(self, config: Any, ctx: RunContext) -> list[dict[str, Any]]:
        """Run the experiment ``config`` (an :class:`~unlearnlab.substrate.config.
        ExperimentConfig`, its settings validated) and return every results row."""

    @abstractmethod
    def sections(
        self, rows: Sequence[dict[str, Any]], figures: Path, settings: dict[str, Any]
    ) -> list[Section]:
        """The report's sections from results rows and the run's resolved ``settings``
        (declared rules, such as the selection rule) alone; figures go to ``figures``."""

    @abstractmethod
    def headline(self, rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
        """``(columns, rows)`` of the table printed at the end of a run."""
