"""Benchmark: the ``filtering`` experiment end to end (bar: quick profile within 20 minutes
on the 2-core CPU), from an empty model store and run folder unless told otherwise.

Prints the wall time, the process's CPU time (less sensitive to other load on a shared
machine), the load average before and after, each phase's stages (count, sum, longest),
then the report's "Durability against data filtering" table and verdicts: every
method's worst-case recovery net of the oracle, with its interval, n and FLOPs.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/filtering.py [--profile full] [--set k=v]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from dualuse import BAR_SECONDS, stage_seconds
from machine import speed_line
from unlearnlab.experiments.config import load_config
from unlearnlab.experiments.kinds import EXPERIMENT_KINDS
from unlearnlab.experiments.stages import RunContext


def main(argv: list[str]) -> None:
    """Run the experiment once and print its timings and the filtering section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--out", type=Path, help="run folder and model store (default: scratch)")
    args = parser.parse_args(argv)
    config = load_config("filtering", args.overrides, profile=args.profile)
    kind = EXPERIMENT_KINDS["filtering"]()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as scratch:
        root = args.out or Path(scratch)
        ctx = RunContext(root / "run", store_root=root / "store", show_progress=False)
        began_wall, began_cpu = time.time(), time.process_time()
        rows = kind.run(config, ctx)
        wall, cpu = time.time() - began_wall, time.process_time() - began_cpu
        phases = stage_seconds(ctx.run_dir, began_wall)
        sections = kind.sections(rows, root / "figures", config.settings)
    print(speed_line())
    print(f"filtering ({args.profile}): {len(rows)} rows")
    print(
        f"wall {wall:.0f} s, CPU {cpu:.0f} s; bar {BAR_SECONDS:.0f} s wall: "
        f"{'ok' if wall <= BAR_SECONDS else 'MISSED'}; load average "
        f"{load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    for phase, seconds in phases.items():
        print(
            f"  {phase:10} {len(seconds):4d} stages, {sum(seconds):7.0f} s, "
            f"longest {max(seconds):5.1f} s"
        )
    print(sections[0].markdown.split("\n\n", 1)[1])


if __name__ == "__main__":
    main(sys.argv[1:])
