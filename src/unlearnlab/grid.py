"""Grids of parameter values: the one expansion every sweep uses (unlearn configs, attack
grids, the experiments' method and attack specs)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any


def grid_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of ``grid``'s values as a ``{key: value}`` dict, keys in sorted
    order and the last key varying fastest (``[{}]`` for an empty grid)."""
    keys = sorted(grid)
    return [
        dict(zip(keys, values, strict=True))
        for values in itertools.product(*(grid[k] for k in keys))
    ]
