"""Compare two runs' ``results.parquet`` row by row: a refactor must leave every number
of the same config and seed unchanged on the same machine.

Rows are matched on every column but the model key, the config hash and the numbers
(``value``, ``rank``, ``probability``, ``logprob``); the script prints the rows only one run
has (by probe) and the matched rows whose numbers differ, and exits 1 on any difference
in shared rows.

    .venv/bin/python benchmarks/compare_results.py BEFORE/results.parquet AFTER/results.parquet
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from unlearnlab.report.table import read_results

NUMBERS = ("value", "rank", "probability", "logprob")
IGNORED = ("model", "config_hash", *NUMBERS)


def _key(row: dict[str, Any]) -> str:
    return json.dumps(
        {k: v for k, v in row.items() if k not in IGNORED}, sort_keys=True, default=str
    )


def _same(a: Any, b: Any) -> bool:
    both_nan = isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
    return a == b or both_nan


def main(before: Path, after: Path) -> int:
    """Print the comparison; 1 when a shared row's numbers differ, else 0."""
    rows = [{_key(r): r for r in read_results(p)} for p in (before, after)]
    only = [set(rows[0]) - set(rows[1]), set(rows[1]) - set(rows[0])]
    shared = set(rows[0]) & set(rows[1])
    changed = [
        k for k in shared if not all(_same(rows[0][k].get(c), rows[1][k].get(c)) for c in NUMBERS)
    ]
    print(f"rows: {len(rows[0])} before, {len(rows[1])} after; {len(shared)} shared")
    for name, keys in zip(("before", "after"), only, strict=True):
        probes = Counter(json.loads(k)["probe"] for k in keys)
        print(f"only {name}: {len(keys)} {dict(probes) if probes else ''}")
    print(f"shared rows whose numbers differ: {len(changed)}")
    for k in sorted(changed)[:10]:
        print(
            f"  {json.loads(k)['probe']} {json.loads(k)['item']}: "
            f"{[rows[0][k].get(c) for c in NUMBERS]} -> {[rows[1][k].get(c) for c in NUMBERS]}"
        )
    return 1 if changed else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
