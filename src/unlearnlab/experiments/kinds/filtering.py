"""Methods that claim durability, against data filtering (kind ``filtering``).

The unlearning study (:mod:`unlearnlab.experiments.kinds.unlearn`: reference models,
methods over their grids, probes, the attack suite on each method's selected point),
whose report leads with each method's worst case over the whole attack suite, net of the
oracle, beside the FLOPs spent to make it (:mod:`unlearnlab.report.filtering`). The
oracle is data filtering done exactly; durability-claiming methods (``undo``,
``repnoise``, ``tar``, ``gradient_routing``, a training-time method whose model is trained
from the same corpus) stand beside the best of the others. The shipped config is
``filtering``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from unlearnlab.experiments.kinds.base import experiment_kind
from unlearnlab.experiments.kinds.unlearn import UnlearnStudy
from unlearnlab.report.filtering import filtering_section
from unlearnlab.report.section import Section
from unlearnlab.report.selection import SelectionRule
from unlearnlab.report.unlearn import unlearn_sections


@experiment_kind("filtering")
class FilteringStudy(UnlearnStudy):
    """Durability-claiming methods against data filtering: worst case over the attack
    suite, net of the oracle, against compute."""

    def sections(
        self, rows: Sequence[dict[str, Any]], figures: Path, settings: dict[str, Any]
    ) -> list[Section]:
        """Durability against data filtering first, then the unlearning study's sections."""
        rule = SelectionRule(**settings.get("selection", {}))
        return [filtering_section(rows, figures), *unlearn_sections(rows, figures, rule)]
