"""The dual-use study: settings, selectivity and its verdict on synthetic rows, and the
kind end to end on a very small world."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from unlearnlab.errors import UserError
from unlearnlab.experiments.config import load_config
from unlearnlab.experiments.kinds import EXPERIMENT_KINDS
from unlearnlab.experiments.kinds.dualuse import (
    DualUseSettings,
    synthesis_substrate_of,
    variant_config,
)
from unlearnlab.experiments.stages import RunContext
from unlearnlab.probes.stats import Rate
from unlearnlab.report.selectivity import (
    Point,
    Trend,
    VariantSelectivity,
    best_selectivity,
    route_outcomes,
    selectivity_trend,
    trend_verdict,
)
from unlearnlab.report.table import as_json, result_rows

TINY = [
    "world.params.benign=3",
    "world.params.harmful=3",
    "world.params.stock=5",
    "train.epochs=null",
    "train.steps=30",
    "train.seq_len=32",
    "model.hidden_size=16",
    "model.intermediate_size=32",
    "model.layers=1",
    "model.heads=2",
    "settings.variants=[{world.params.overlap: 0.0}, {world.params.overlap: 1.0}]",
    "settings.methods=[{method: ga, grid: {lr: [0.001, 0.01]}}, {method: npo}]",
    "settings.loop={steps: 3}",
    "settings.attacks=[{attack: relearn, params: {steps: [0, 1], batch_size: 4}}, "
    "{attack: quantize}]",
]


def _rows(overlap: float, harmful: list[list[bool]], benign: list[list[bool]]) -> list[dict]:
    """Route rows of one variant: base first, then one ga grid point per entry."""
    variant = as_json({"world.params.overlap": overlap})
    rows: list[dict[str, Any]] = []
    for index, (h, b) in enumerate(zip(harmful, benign, strict=True)):
        role = "base" if index == 0 else "unlearned"
        extra = {} if index == 0 else {"method": "ga", "passed_params": as_json({"lr": index})}
        for side, outcomes in (("harmful", h), ("benign", b)):
            records = [
                {
                    "probe": "capability.route",
                    "format": "train",
                    "split": side,
                    "item": f"{side}{i}",
                    "correct": c,
                }
                for i, c in enumerate(outcomes)
            ]
            rows += result_rows(records, variant=variant, role=role, seed=0, **extra)
    return rows


def _world(selectivity: int) -> tuple[list[list[bool]], list[list[bool]]]:
    """Base knows all 10 routes of each side; the one point forgets ``selectivity`` of the
    harmful ones and keeps every benign one."""
    return [[True] * 10, [False] * selectivity + [True] * (10 - selectivity)], [[True] * 10] * 2


def test_selectivity_by_hand() -> None:
    rows = _rows(0.0, [[True] * 4, [False, False, False, True]], [[True] * 4, [True] * 3 + [False]])
    outcomes = route_outcomes(rows)
    [variant] = outcomes
    found = best_selectivity(variant, outcomes[variant])
    assert found is not None
    assert found.best == Point("unlearned", "ga", as_json({"lr": 1}))
    assert found.rate.value == pytest.approx(0.75 - 0.25)


@pytest.mark.parametrize(("falling", "word"), [(True, "falls"), (False, "rises")])
def test_the_verdict_flips_with_the_rows(falling: bool, word: str) -> None:
    rows = []
    for step, overlap in enumerate((0.0, 0.5, 1.0)):
        rows += _rows(overlap, *_world(10 - 4 * step if falling else 2 + 4 * step))
    trend = selectivity_trend(route_outcomes(rows))
    assert trend is not None
    verdict = trend_verdict(trend)
    assert verdict.startswith(f"**Selectivity {word} as ρ grows**"), verdict
    assert trend.slope.value == pytest.approx(-0.8 if falling else 0.8)
    flat = []
    for overlap in (0.0, 0.5, 1.0):
        flat += _rows(overlap, [[True] * 4, [False, True, False, True]], [[True] * 4] * 2)
    assert trend_verdict(selectivity_trend(route_outcomes(flat))).startswith("**No clear trend**")


@pytest.mark.parametrize(("low", "said"), [(-0.9, "underpowered"), (-0.3, "is excluded")])
def test_no_clear_trend_says_whether_it_is_underpowered(low: float, said: str) -> None:
    """Selectivity 0.6 at ρ = 0: a slope of -0.6 would make it vanish by ρ = 1. An
    interval that reaches it cannot tell "no trend" from "vanishes"."""
    point = Point("unlearned", "ga", "{}")
    variants = [
        VariantSelectivity("a", 0.0, point, Rate(0.6, 0.2, 0.9, 4), np.zeros(1)),
        VariantSelectivity("b", 1.0, point, Rate(0.5, 0.1, 0.9, 4), np.zeros(1)),
    ]
    verdict = trend_verdict(Trend(Rate(-0.1, low, 0.2, 2), variants))
    assert verdict.startswith("**No clear trend**") and said in verdict


def test_settings_reject_what_the_study_cannot_run() -> None:
    with pytest.raises(ValueError, match=r"does not set world\.params\.overlap"):
        DualUseSettings(variants=[{"world.params.seed": 1}])
    with pytest.raises(ValueError, match="the dual-use forget set is always the harmful routes"):
        DualUseSettings(methods=[{"method": "ga", "forget_sets": ["deep"]}])
    with pytest.raises(ValueError, match="retrain is the oracle, which every run trains"):
        DualUseSettings(methods=[{"method": "retrain"}])
    typo = r"^dualuse\.yaml: settings\..*grid\.betta: not a parameter of ga"
    with pytest.raises(UserError, match=typo):
        load_config("dualuse", ["settings.methods=[{method: ga, grid: {betta: [1]}}]"])
    config = load_config("dualuse")
    assert variant_config(config, {"world.params.overlap": 0.5}).world.params["overlap"] == 0.5
    with pytest.raises(UserError, match="overlap: Input should be less than or equal to 1"):
        synthesis_substrate_of(variant_config(config, {"world.params.overlap": 1.5}))


@pytest.mark.slow
def test_the_kind_end_to_end_on_a_tiny_world(tmp_path: Path) -> None:
    config = load_config("dualuse", TINY)
    kind = EXPERIMENT_KINDS["dualuse"]()
    ctx = RunContext(tmp_path / "run", store_root=tmp_path / "store", show_progress=False)
    rows = kind.run(config, ctx)
    roles = {(r["variant"], r["role"]) for r in rows}
    assert len(roles) == 2 * 4  # two variants x base, oracle, deep oracle, unlearned
    attacked = {(r["variant"], r["attack"], r["role"]) for r in rows if r["attack"]}
    assert len(attacked) == 2 * 2 * 3  # variants x attacks x (best point, base, oracle)
    sections = kind.sections(rows, tmp_path / "figures", {})
    titles = [s.title for s in sections]
    assert titles == [
        "Dual use: hazard against utility",
        "Dual use: selectivity against overlap",
        "Dual use: durability of the most selective point",
    ]
    assert (tmp_path / "figures" / "dualuse_frontier.png").is_file()
    text = sections[1].markdown
    assert re.search(r"\*\*(Selectivity (falls|rises)|No clear trend)", text), text
    assert "at ρ = 0**" in text
    for value in re.findall(r"([+-]\d+\.\d) points", text):
        assert -100.0 <= float(value) <= 100.0
    for value in re.findall(r"(\d+\.\d)% \[", sections[0].markdown):
        assert 0.0 <= float(value) <= 100.0
    columns, table = kind.headline(rows)
    assert columns[0] == "ρ" and [r[0] for r in table] == ["0", "1"]
    again = kind.run(
        config, RunContext(ctx.run_dir, store_root=tmp_path / "store", show_progress=False)
    )
    assert again == rows
