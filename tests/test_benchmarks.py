"""The benchmark scripts run end to end at small sizes and report the bars' quantities."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tiny import TINY_FILTERING
from unlearnlab.report.table import result_rows, write_results

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_worlds_benchmark_reports_complete_enumeration() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "worlds.py"),
            "--people",
            "300",
            "--repeats",
            "1",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    lines = result.stdout.splitlines()
    assert sum("55/55 complete" in line for line in lines) == 2, result.stdout
    assert any("962 facts" in line for line in lines), result.stdout
    assert any("family world of 300 people" in line for line in lines), result.stdout


@pytest.mark.slow
def test_durability_sweep_reports_time_and_worst_case(tmp_path: Path) -> None:
    tiny = (
        "experiment_set=[world.params.people=30, splits.forget=4, splits.heldout=5, "
        "splits.underivable=0, "
        "train.epochs=null, train.steps=10, train.batch_size=8, train.seq_len=32, "
        "model.hidden_size=16, model.intermediate_size=32, model.layers=1, model.heads=2]"
    )
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "durability_sweep.py"),
            "--set",
            tiny,
            "--set",
            "unlearn.steps=2",
            "--max-step",
            "2",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
        env={**os.environ, "UNLEARNLAB_HOME": str(tmp_path)},
    )
    lines = result.stdout.splitlines()
    assert "for 12 runs x 3 models, steps [0, 1, 2]" in lines[0], result.stdout
    assert sum("lr=" in line for line in lines) == 12
    assert lines[-1].startswith("worst case: {"), result.stdout


@pytest.mark.slow
def test_filtering_benchmark_reports_time_and_each_methods_worst_case(tmp_path: Path) -> None:
    overrides = [a for item in TINY_FILTERING for a in ("--set", item)]
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "filtering.py"), *overrides],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
        env={**os.environ, "UNLEARNLAB_HOME": str(tmp_path)},
    )
    assert "bar 1200 s wall: ok" in result.stdout, result.stdout
    table = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    methods = ("npo", "undo", "repnoise", "tar", "gradient_routing")
    assert all(any(line.startswith(f"| {m}") for line in table) for m in methods), table
    assert sum(line.startswith("- ") for line in result.stdout.splitlines()) == len(methods)


def test_compare_results_flags_a_changed_number_and_names_new_rows(tmp_path: Path) -> None:
    def rows(value: float, extra: bool = False) -> list[dict]:
        base = [{"probe": "recall.cloze_train", "split": "forget", "item": "a", "value": value}]
        if extra:
            base.append({"probe": "compute.flops", "split": "world", "item": "m", "value": 1.0})
        return result_rows(base, role="base", model="m1")

    write_results(tmp_path / "a.parquet", rows(0.5))
    write_results(tmp_path / "b.parquet", rows(0.5, extra=True))
    write_results(tmp_path / "c.parquet", rows(0.25))
    script = str(ROOT / "benchmarks" / "compare_results.py")

    def compare(other: str) -> subprocess.CompletedProcess:
        args = [sys.executable, script, str(tmp_path / "a.parquet"), str(tmp_path / other)]
        return subprocess.run(args, capture_output=True, text=True, env=os.environ)

    same = compare("b.parquet")
    assert same.returncode == 0 and "only after: 1 {'compute.flops': 1}" in same.stdout
    changed = compare("c.parquet")
    assert changed.returncode == 1 and "shared rows whose numbers differ: 1" in changed.stdout
