"""Experiment kinds, one module each, registered by name with ``@experiment_kind``.

Every module of this package is imported here, so adding a kind is adding one file.
"""

from __future__ import annotations

import importlib
import pkgutil

from unlearnlab.experiments.kinds.base import EXPERIMENT_KINDS, ExperimentKind, experiment_kind

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["EXPERIMENT_KINDS", "ExperimentKind", "experiment_kind"]
