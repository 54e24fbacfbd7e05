"""The tidy results table (one row per model x probe x item) and its aggregate.

Column meanings (Parquet, one file per table; scripts and the report read these names):

- ``model``: the model's name (its folder name by default); ``probe``: a stable probe name
  such as ``recall.cloze_train``; ``format``: the phrasing or variant (a template name, a
  layer); ``split``: the fact role, such as ``forget`` or ``heldout_composite``;
  ``item``: the fact, ``relation(subject, object)``;
- ``correct``: the item's outcome (top-1, correct conclusion, refusal, ...);
- ``rank``: rank of the true answer among the candidates (1 = top), where ranked;
- ``logprob``: summed log-likelihood of the true answer, where scored;
- ``probability``: the true answer's probability normalised over the candidates;
- ``value``: the item's measurement for probes that average a number instead of
  ``correct`` (entropy in nats, share of true premises, logit-lens rank);
- ``chance``: the item's chance level of ``correct`` (1 / number of candidates);
- ``seed``, ``config_hash``: the experiment seed and the digest of the config the row's
  stage depended on (the ``unlearn`` kind's stages: the config without its settings).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from unlearnlab.io import write_atomic
from unlearnlab.probes.stats import bootstrap_mean

SCHEMA = pa.schema(
    [
        ("model", pa.string()),
        ("probe", pa.string()),
        ("format", pa.string()),
        ("split", pa.string()),
        ("item", pa.string()),
        ("correct", pa.bool_()),
        ("rank", pa.int64()),
        ("logprob", pa.float64()),
        ("probability", pa.float64()),
        ("value", pa.float64()),
        ("chance", pa.float64()),
        ("seed", pa.int64()),
        ("config_hash", pa.string()),
    ]
)
"""The tidy table's columns, in order."""


@dataclass(frozen=True)
class ProbeRow:
    """One probe's outcome on one item (the model-level columns are added by the table)."""

    probe: str
    format: str
    split: str
    item: str
    correct: bool
    rank: int | None = None
    logprob: float | None = None
    probability: float | None = None
    value: float | None = None
    chance: float | None = None


@dataclass(frozen=True)
class Metric:
    """One aggregate: a probe on a split, over items (and seeds), with its 95% interval."""

    probe: str
    split: str
    value: float
    ci_low: float
    ci_high: float
    chance: float | None
    n: int
    mean_rank: float | None = None
    mean_probability: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The stable JSON form: probe, split, value, ci_low, ci_high, chance, n."""
        return {
            "probe": self.probe,
            "split": self.split,
            "value": self.value,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "chance": self.chance,
            "n": self.n,
        }


def tidy_rows(
    rows: Sequence[ProbeRow], *, model: str, seed: int, config_hash: str
) -> list[dict[str, Any]]:
    """The rows of the tidy table: each probe row plus the model-level columns."""
    extra = {"model": model, "seed": seed, "config_hash": config_hash}
    return [{name: {**asdict(r), **extra}[name] for name in SCHEMA.names} for r in rows]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def aggregate(table: Sequence[dict[str, Any]], *, seed: int = 0) -> list[Metric]:
    """One metric per (probe, split), in first-seen order.

    The value is the mean of ``value`` where the probe's rows carry one, else the share of
    ``correct``; the interval bootstraps items crossed with seeds
    (:func:`unlearnlab.probes.stats.bootstrap_mean`). ``chance`` is the mean chance of
    the rows (None where there is none).
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in table:
        groups.setdefault((row["probe"], row["split"]), []).append(row)
    metrics = []
    for (probe, split), rows in groups.items():
        numeric = all(r["value"] is not None for r in rows)
        values = [float(r["value"]) if numeric else float(r["correct"]) for r in rows]
        interval = bootstrap_mean(
            values, [r["item"] for r in rows], [r["seed"] for r in rows], seed=seed
        )
        chances = [r["chance"] for r in rows if r["chance"] is not None]
        metrics.append(
            Metric(
                probe,
                split,
                interval.value,
                interval.low,
                interval.high,
                _mean(chances),
                interval.n,
                _mean([r["rank"] for r in rows if r["rank"] is not None]),
                _mean([r["probability"] for r in rows if r["probability"] is not None]),
            )
        )
    return metrics


def write_parquet(path: str | Path, rows: Sequence[dict[str, Any]], schema: pa.Schema) -> None:
    """Write ``rows`` (dicts with ``schema``'s columns) as one Parquet file, atomically."""
    table = pa.Table.from_pylist(list(rows), schema=schema)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    write_atomic(path, buffer.getvalue())


METRIC_SCHEMA = pa.schema(
    [
        ("probe", pa.string()),
        ("split", pa.string()),
        ("value", pa.float64()),
        ("ci_low", pa.float64()),
        ("ci_high", pa.float64()),
        ("chance", pa.float64()),
        ("n", pa.int64()),
        ("mean_rank", pa.float64()),
        ("mean_probability", pa.float64()),
    ]
)
"""The aggregate table's columns."""


def metric_rows(metrics: Sequence[Metric]) -> list[dict[str, Any]]:
    """The aggregate table's rows (NaN for a metric without items)."""
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(m).items()}
        for m in metrics
    ]
