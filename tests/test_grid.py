"""The one grid expansion that unlearn configs, attack grids and experiment specs share."""

from __future__ import annotations

from unlearnlab.grid import grid_points
from unlearnlab.methods.config import UnlearnConfig


def test_grid_points_are_every_combination_in_sorted_key_order() -> None:
    assert grid_points({}) == [{}]
    assert grid_points({"lr": [1, 2], "beta": [0.1, 0.2]}) == [
        {"beta": 0.1, "lr": 1},
        {"beta": 0.1, "lr": 2},
        {"beta": 0.2, "lr": 1},
        {"beta": 0.2, "lr": 2},
    ]


def test_an_unlearn_grid_sets_loop_fields_and_method_parameters() -> None:
    runs = UnlearnConfig(method="npo", grid={"lr": [0.1, 0.2], "beta": [0.5]}).expand()
    assert [(r.lr, r.params) for r in runs] == [(0.1, {"beta": 0.5}), (0.2, {"beta": 0.5})]
    assert all(not r.grid for r in runs)
