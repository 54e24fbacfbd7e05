"""Stages: cached by key, reused on re-run, recomputed when an input changes."""

from __future__ import annotations

import pytest

from tiny import TINY
from unlearnlab.experiments.config import load_config
from unlearnlab.experiments.kinds.unlearn import attack_stages, unlearn_stages, without_settings
from unlearnlab.experiments.stages import RunContext, Stage
from unlearnlab.experiments.study_settings import UnlearnSettings
from unlearnlab.report.table import result_rows

CALLS: list[tuple[str, int]] = []


def count_rows(probe: str, n: int) -> list[dict]:
    """A stage function: ``n`` rows of ``probe``, recording the call."""
    CALLS.append((probe, n))
    rows = [{"probe": probe, "item": str(i), "correct": i % 2 == 0} for i in range(n)]
    return result_rows(rows, role="base")


@pytest.fixture(autouse=True)
def _clear() -> None:
    CALLS.clear()


def test_stages_are_cached_and_rerun_only_when_inputs_change(tmp_path) -> None:
    stages = [Stage("a", count_rows, ("p", 3)), Stage("b", count_rows, ("q", 2))]
    first = RunContext(tmp_path, show_progress=False).run_stages(stages, "test")
    assert [len(rows) for rows in first] == [3, 2]
    assert CALLS == [("p", 3), ("q", 2)]
    again = RunContext(tmp_path, show_progress=False)
    assert again.run_stages(stages, "test") == first
    assert CALLS == [("p", 3), ("q", 2)] and again.loaded == ["a", "b"] and not again.computed
    changed = [Stage("a", count_rows, ("p", 4)), stages[1]]
    ctx = RunContext(tmp_path, show_progress=False)
    rows = ctx.run_stages(changed, "test")
    assert CALLS[-1] == ("p", 4) and ctx.computed == ["a"] and ctx.loaded == ["b"]
    assert len(rows[0]) == 4


def test_key_depends_on_name_args_and_depends() -> None:
    base = Stage("a", count_rows, ("p", 3), {"model": "k1"})
    assert base.key() == Stage("a", count_rows, ("p", 3), {"model": "k1"}).key()
    assert base.key() != Stage("b", count_rows, ("p", 3), {"model": "k1"}).key()
    assert base.key() != Stage("a", count_rows, ("p", 2), {"model": "k1"}).key()
    assert base.key() != Stage("a", count_rows, ("p", 3), {"model": "k2"}).key()


def test_a_stage_that_fails_leaves_the_finished_ones(tmp_path) -> None:
    def broken(probe: str, n: int) -> list[dict]:
        raise KeyboardInterrupt

    stages = [Stage("a", count_rows, ("p", 1)), Stage("b", broken, ("q", 1))]
    with pytest.raises(KeyboardInterrupt):
        RunContext(tmp_path, show_progress=False).run_stages(stages, "test")
    ctx = RunContext(tmp_path, show_progress=False)
    ctx.run_stages(stages[:1], "test")
    assert ctx.loaded == ["a"]


def test_repeated_stage_names_are_refused(tmp_path) -> None:
    stages = [Stage("a", count_rows, ("p", 1)), Stage("a", count_rows, ("q", 1))]
    with pytest.raises(ValueError, match="stage names repeat"):
        RunContext(tmp_path, show_progress=False).run_stages(stages, "test")


def test_changing_one_method_s_grid_keeps_the_other_stages_keys() -> None:
    """Two configs that differ only in rmu's grid: npo's unlearning stage and the base
    model's attack stage keep their keys (their rows are reused); rmu's changes."""

    def stages(rmu_steering: float, strip: bool = True) -> dict[str, str]:
        methods = (
            "settings.methods=[{method: npo, grid: {steps: [1, 2]}}, "
            f"{{method: rmu, grid: {{steps: [1], steering: [{rmu_steering}]}}}}]"
        )
        config = load_config("compositional", [*TINY, methods])
        settings = UnlearnSettings(**config.settings)
        runs = [run for spec in settings.methods for run in settings.runs_of(spec)]
        keyed = without_settings(config) if strip else config
        built = unlearn_stages(keyed, None, runs, settings.probes)
        built += attack_stages(keyed, None, settings.attacks, ["base"], settings.attack_seeds)
        return {stage.name: stage.key() for stage in built}

    first, second = stages(100.0), stages(300.0)
    npo = [name for name in first if name.startswith("unlearn/npo")]
    attacks = [name for name in first if name.startswith("attack/")]
    assert npo and attacks
    assert all(first[name] == second[name] for name in npo + attacks)
    rmu = [name for name in first if name.startswith("unlearn/rmu")]
    assert rmu and all(name not in second for name in rmu)
    whole = stages(100.0, strip=False), stages(300.0, strip=False)
    assert all(whole[0][name] != whole[1][name] for name in npo)  # keyed by all settings
