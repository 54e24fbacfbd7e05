"""Attack strength calibrated on the references: the strongest grid point within the
allowed damage, from the references' rows alone."""

from __future__ import annotations

import pytest

from unlearnlab.attacks import attack_create
from unlearnlab.experiments.attack_strength import calibrated, damage
from unlearnlab.experiments.study_settings import AttackSpec
from unlearnlab.report.table import as_json

LRS = [1e-4, 1e-3]


def _params(lr: float) -> str:
    return as_json(attack_create("relearn", lr=lr, steps=[0, 8]).params.model_dump(mode="json"))


def _rows(role: str, lr: float, hits: dict[int, int], n: int = 10) -> list[dict]:
    """``hits[step]`` of ``n`` facts recalled at each curve step."""
    return [
        {
            "role": role,
            "attack": "relearn_folds",
            "attack_params": _params(lr),
            "step": step,
            "correct": i < k,
        }
        for step, k in hits.items()
        for i in range(n)
    ]


def _suite(calibrate: float | None) -> AttackSpec:
    return AttackSpec(
        attack="relearn",
        label="relearn_folds",
        params={"steps": [0, 8]},
        grid={"lr": LRS},
        calibrate=calibrate,
    )


ROWS = [
    *_rows("base", 1e-4, {0: 10, 8: 10}),
    *_rows("oracle", 1e-4, {0: 8, 8: 7}),  # loses 10 points at the weak lr
    *_rows("base", 1e-3, {0: 10, 8: 7}),  # loses 30 points at the strong lr
    *_rows("oracle", 1e-3, {0: 8, 8: 9}),
    *_rows("deep_oracle", 1e-3, {0: 0, 8: 10}),  # not calibrated on
]


def test_damage_is_the_largest_fall_below_the_unattacked_point() -> None:
    assert damage(ROWS, "relearn_folds", _params(1e-3), "base") == pytest.approx(0.3)
    assert damage(ROWS, "relearn_folds", _params(1e-3), "oracle") == 0.0
    assert damage(ROWS, "relearn_folds", _params(1e-4), "oracle") == pytest.approx(0.1)
    assert damage(ROWS, "relearn_unrelated", _params(1e-4), "oracle") is None


@pytest.mark.parametrize(
    ("margin", "lr"),
    [(0.05, 1e-4), (0.1, 1e-4), (0.3, 1e-3), (1.0, 1e-3)],
)
def test_the_strongest_point_within_the_margin_is_chosen(margin: float, lr: float) -> None:
    assert calibrated(_suite(margin), ROWS).grid == {"lr": [lr]}


def test_an_uncalibrated_attack_keeps_its_grid() -> None:
    assert calibrated(_suite(None), ROWS).grid == {"lr": LRS}


def test_a_point_without_reference_rows_never_qualifies() -> None:
    only_weak = [r for r in ROWS if r["attack_params"] == _params(1e-4)]
    assert calibrated(_suite(1.0), only_weak).grid == {"lr": [1e-4]}
