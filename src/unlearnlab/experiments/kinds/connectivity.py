"""Which facts can be unlearned (kind ``connectivity``): the unlearning study of
:mod:`~unlearnlab.experiments.kinds.unlearn` on a world whose forget targets are drawn per
connectivity stratum (``splits.strata``), read stratum by stratum.

The run is the unlearning study's (reference models, every method, every attack; the
same settings), plus one stage ``world/connectivity`` with each target's connectivity
from the world (:func:`~unlearnlab.worlds.connectivity.connectivity`): probes
``connectivity.derivations``, ``connectivity.deep_collateral`` (the minimum
deep-unlearning set's size minus one: the facts deep unlearning costs beyond the target)
and ``connectivity.dependents``. Every row about a forget target gets its stratum in the
``stratum`` column; a neighbour fact gets the stratum of the targets whose entities it
names when they all lie in one stratum. The sections come from
:mod:`unlearnlab.report.connectivity` (aggregates: :mod:`unlearnlab.report.strata`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from unlearnlab.errors import UserError
from unlearnlab.experiments.kinds.base import experiment_kind
from unlearnlab.experiments.kinds.unlearn import UnlearnStudy, substrate_of
from unlearnlab.experiments.stages import RunContext, Stage
from unlearnlab.report.connectivity import connectivity_sections, headline_table
from unlearnlab.report.models import model_of
from unlearnlab.report.section import Section
from unlearnlab.report.strata import WORLD_FIGURES
from unlearnlab.report.table import result_rows
from unlearnlab.substrate.config import ExperimentConfig
from unlearnlab.worlds.connectivity import connectivity


def connectivity_stage(config: ExperimentConfig) -> list[dict[str, Any]]:
    """One row per forget target and world figure (see the module docstring)."""
    substrate = substrate_of(config)
    stratum_of = substrate.splits.stratum_of()
    rows = []
    for target in substrate.splits.forget:
        figures = connectivity(substrate.world, target)
        values = {
            "derivations": figures.derivations,
            "deep_collateral": figures.deep_cost - 1,
            "dependents": figures.dependents,
        }
        for name in WORLD_FIGURES:
            rows.append(
                {
                    "probe": f"connectivity.{name}",
                    "format": "exact" if figures.derivations_complete else "lower_bound",
                    "split": "forget",
                    "item": str(target),
                    "correct": False,
                    "value": float(values[name]),
                    "stratum": stratum_of[target],
                }
            )
    return result_rows(
        rows,
        experiment=config.name,
        variant="{}",
        role="world",
        seed=config.seed,
        config_hash=config.digest(),
    )


def tag_strata(config: ExperimentConfig, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` with the ``stratum`` column set on forget-target and neighbour rows (see the
    module docstring); other rows are left as they are."""
    splits = substrate_of(config).splits
    stratum_of = {str(f): s for f, s in splits.stratum_of().items()}
    strata_of_entity: dict[str, set[str]] = {}
    for fact, stratum in splits.stratum_of().items():
        for entity in (fact.subject, fact.object):
            strata_of_entity.setdefault(entity, set()).add(stratum)
    neighbour_stratum = {}
    for fact in splits.neighbours:
        strata = strata_of_entity.get(fact.subject, set()) | strata_of_entity.get(
            fact.object, set()
        )
        if len(strata) == 1:
            neighbour_stratum[str(fact)] = next(iter(strata))
    for row in rows:
        if row["split"] == "forget" and row["item"] in stratum_of:
            row["stratum"] = stratum_of[row["item"]]
        elif row["split"] == "neighbour" and row["item"] in neighbour_stratum:
            row["stratum"] = neighbour_stratum[row["item"]]
    return rows


@experiment_kind("connectivity")
class ConnectivityStudy(UnlearnStudy):
    """The unlearning study on stratified forget targets, reported per stratum."""

    def run(self, config: ExperimentConfig, ctx: RunContext) -> list[dict[str, Any]]:
        """The world stage, then every stage of the unlearning study; rows tagged with
        their strata."""
        if not config.splits.strata:
            raise UserError(
                f"{config.name}: kind connectivity draws forget targets per connectivity "
                "stratum; set splits.strata (see the shipped 'connectivity' experiment)"
            )
        (world_rows,) = ctx.run_stages(
            [Stage("world/connectivity", connectivity_stage, (config,), cost=5.0)], "connectivity"
        )
        return tag_strata(config, [*world_rows, *super().run(config, ctx)])

    def sections(
        self, rows: Sequence[dict[str, Any]], figures: Path, settings: dict[str, Any]
    ) -> list[Section]:
        """The sections of :mod:`unlearnlab.report.connectivity` (control runs left out)."""
        return connectivity_sections([r for r in rows if model_of(r).kind != "control"], figures)

    def headline(self, rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
        """Per model: worst-case knowledge of the targets in each stratum."""
        return headline_table(rows)
