"""The run's tidy results table, ``results.parquet``: one row per model x probe x item
(x attack step), the probe columns of :mod:`unlearnlab.probes.results` plus the columns
that place the model in the run.

Run columns (null where they do not apply):

- ``experiment``: the config name; ``variant``: the variant's overrides as JSON
  (``{"world.params.overlap": 0.25}``), ``"{}"`` for an experiment without variants;
- ``role``: ``base``, ``oracle``, ``deep_oracle`` or ``unlearned``; ``method``,
  ``forget_set``, ``params`` (resolved hyper-parameters, JSON), ``passed_params`` (as
  written in the config, JSON) for unlearned models;
- ``attack``, ``attack_params`` (JSON), ``attack_seed``, ``step`` for attacked models
  (``step`` is the curve point; rows of unattacked probes have no attack);
- ``stratum``: a group label an experiment gives items (a connectivity stratum, a
  product class).

The report reads only this table (and the run record), so ``unlearnlab report RUN_DIR``
rebuilds every table, figure and verdict from it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from unlearnlab.errors import UserError
from unlearnlab.probes.results import SCHEMA as PROBE_SCHEMA
from unlearnlab.probes.results import write_parquet

RUN_COLUMNS = [
    ("experiment", pa.string()),
    ("variant", pa.string()),
    ("role", pa.string()),
    ("method", pa.string()),
    ("forget_set", pa.string()),
    ("params", pa.string()),
    ("passed_params", pa.string()),
    ("attack", pa.string()),
    ("attack_params", pa.string()),
    ("attack_seed", pa.int64()),
    ("step", pa.int64()),
    ("stratum", pa.string()),
]
RESULTS_SCHEMA = pa.schema([*RUN_COLUMNS, *PROBE_SCHEMA])
"""Columns of ``results.parquet``, in order."""


def as_json(value: Any) -> str:
    """``value`` as compact, key-sorted JSON (the form of the JSON-valued columns)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def result_rows(rows: Iterable[dict[str, Any]], **columns: Any) -> list[dict[str, Any]]:
    """``rows`` (dicts with any subset of the columns) completed to full results rows:
    ``columns`` set on every row, every other missing column null. An unknown column is a
    bug in the caller and raises ``KeyError``."""
    names = RESULTS_SCHEMA.names
    out = []
    for row in rows:
        merged = {**row, **columns}
        unknown = set(merged) - set(names)
        if unknown:
            raise KeyError(f"not results columns: {sorted(unknown)}")
        out.append({name: merged.get(name) for name in names})
    return out


def write_results(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Write ``rows`` (full results rows) to ``path`` as Parquet, atomically."""
    write_parquet(path, rows, RESULTS_SCHEMA)


def read_results(path: Path) -> list[dict[str, Any]]:
    """The rows of a ``results.parquet``; a missing or unreadable file is a
    :class:`UserError` naming it."""
    if not path.is_file():
        raise UserError(f"{path} does not exist; run 'unlearnlab run' to produce it")
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise UserError(
            f"{path}: not a readable results table ({exc}); re-run the experiment"
        ) from None
    missing = set(RESULTS_SCHEMA.names) - set(table.column_names)
    if missing:
        raise UserError(f"{path}: missing columns {sorted(missing)}; re-run the experiment")
    return table.select(RESULTS_SCHEMA.names).to_pylist()
