"""The benchmark scripts run end to end at small sizes and report the bars' quantities."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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
