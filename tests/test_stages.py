"""Stages: cached by key, reused on re-run, recomputed when an input changes."""

from __future__ import annotations

import pytest

from unlearnlab.experiments.stages import RunContext, Stage
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
