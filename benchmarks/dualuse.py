"""Benchmark: the ``dualuse`` experiment end to end (bar: quick profile within 20 minutes
on a 2-core CPU), from an empty model store and run folder unless told otherwise.

Prints the wall time, the process's CPU time (less sensitive to other load on a shared
machine), each phase's stages (count, sum and longest, from the moments their cached rows
were written), the headline table, the ρ = 0 bar and the trend verdict.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/dualuse.py [--profile full] [--set k=v]
"""

from __future__ import annotations

import argparse
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

from machine import speed_line
from unlearnlab.experiments.config import load_config
from unlearnlab.experiments.kinds import EXPERIMENT_KINDS
from unlearnlab.experiments.stages import RunContext

BAR_SECONDS = 20 * 60.0


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def stage_seconds(run_dir: Path, began: float) -> dict[str, list[float]]:
    """Seconds of each stage by phase (``reference``, ``unlearn``, ``attack``): the gaps
    between consecutive stage files' write times (stages run one after the other)."""
    files = sorted((run_dir / "stages").glob("*.parquet"), key=lambda p: p.stat().st_mtime)
    phases: dict[str, list[float]] = {}
    previous = began
    for path in files:
        written = path.stat().st_mtime
        phases.setdefault(path.name.split("_", 1)[0], []).append(written - previous)
        previous = written
    return phases


def main(argv: list[str]) -> None:
    """Run the experiment once and print its timings and headline numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--out", type=Path, help="run folder and model store (default: scratch)")
    args = parser.parse_args(argv)
    config = load_config("dualuse", args.overrides, profile=args.profile)
    kind = EXPERIMENT_KINDS["dualuse"]()
    with tempfile.TemporaryDirectory() as scratch:
        root = args.out or Path(scratch)
        ctx = RunContext(root / "run", store_root=root / "store", show_progress=False)
        began_wall, began_cpu = time.time(), _cpu_seconds()
        rows = kind.run(config, ctx)
        wall, cpu = time.time() - began_wall, _cpu_seconds() - began_cpu
        phases = stage_seconds(ctx.run_dir, began_wall)
        sections = kind.sections(rows, root / "figures", {})
    print(speed_line())
    print(f"dualuse ({args.profile}): {len(rows)} rows")
    print(
        f"wall {wall:.0f} s, CPU {cpu:.0f} s; bar {BAR_SECONDS:.0f} s wall: "
        f"{'ok' if wall <= BAR_SECONDS else 'MISSED'}"
    )
    total = 0.0
    for phase, seconds in phases.items():
        total += sum(seconds)
        print(
            f"  {phase:10} {len(seconds):4d} stages, {sum(seconds):7.0f} s, "
            f"longest {max(seconds):5.1f} s"
        )
    print(f"  sum of stage seconds {total:.0f} s")
    columns, table = kind.headline(rows)
    print(" | ".join(columns))
    for line in table:
        print(" | ".join(line))
    selectivity = next(s for s in sections if s.title == "Dual use: selectivity against overlap")
    for paragraph in selectivity.markdown.split("\n\n"):
        if re.match(r"\*\*(Bar|Selectivity|No clear)", paragraph):
            print(paragraph)


if __name__ == "__main__":
    main(sys.argv[1:])
