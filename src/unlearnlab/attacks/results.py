"""Attack curves as a tidy table: one row per model role x curve point x item.

Columns (Parquet; the same names as the attack rows of ``unlearnlab run``'s table):

- ``attack``: the registered attack name; ``attack_params``: its resolved parameters as
  canonical JSON (``attack_create(attack, **json.loads(attack_params))`` rebuilds it);
  ``attack_seed``: the attack's seed (data order, folds);
- ``role``: ``unlearned``, ``base`` or ``oracle``; ``model``: the attacked model's folder
  name (its store key for stored models);
- ``step``: the curve point (optimizer steps, context size, variant; see each attack);
- ``item``: the fact, ``relation(subject, object)``; ``relation``; ``format``: the
  phrasing (template name) or variant the record measures;
- ``correct``, ``rank``, ``probability``, ``chance``: as in the probes' table.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from unlearnlab.attacks.run import ROLES, GridRun
from unlearnlab.probes.results import write_parquet

CURVE_SCHEMA = pa.schema(
    [
        ("attack", pa.string()),
        ("attack_params", pa.string()),
        ("attack_seed", pa.int64()),
        ("role", pa.string()),
        ("model", pa.string()),
        ("step", pa.int64()),
        ("item", pa.string()),
        ("relation", pa.string()),
        ("format", pa.string()),
        ("correct", pa.bool_()),
        ("rank", pa.int64()),
        ("probability", pa.float64()),
        ("chance", pa.float64()),
    ]
)
"""The curve table's columns, in order."""


def curve_rows(run: GridRun) -> list[dict[str, Any]]:
    """The rows of one grid point's three curves, roles in :data:`ROLES` order."""
    params = json.dumps(run.params, sort_keys=True, separators=(",", ":"))
    rows = []
    for role in ROLES:
        for point in run.curves[role]:
            for record in point.records:
                rows.append(
                    {
                        "attack": run.attack,
                        "attack_params": params,
                        "attack_seed": run.seed,
                        "role": role,
                        "model": run.models[role].name,
                        "step": point.step,
                        "item": record["fact"],
                        "relation": record.get("relation"),
                        "format": record["template"],
                        "correct": bool(record["correct"]),
                        "rank": record.get("rank"),
                        "probability": record.get("probability"),
                        "chance": record.get("chance"),
                    }
                )
    return rows


def write_curves(path: str | Path, runs: Sequence[GridRun]) -> None:
    """Write the curves of ``runs`` as one Parquet table, atomically."""
    write_parquet(path, [row for run in runs for row in curve_rows(run)], CURVE_SCHEMA)
