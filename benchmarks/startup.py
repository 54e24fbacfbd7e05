"""Start-up of the command line (the start-up bar of the performance issue).

Run: ``.venv/bin/python benchmarks/startup.py [--repeats 5]``

Runs each command that needs no model (``--help``, ``list ...``, ``world --help``) in a
fresh process and prints its wall-clock and CPU seconds, best of the repeats (bar: at most
0.5 s each), and the seconds ``import unlearnlab.cli`` takes. CPU seconds show what the
command costs when other jobs share the machine; the load average is printed beside them.
The ``list`` commands are run once first, so that they read their cache (see
``unlearnlab.cli.catalog``) as every run but the first after an install does.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time

COMMANDS = (
    ["--help"],
    ["list", "methods"],
    ["list", "attacks"],
    ["list", "kinds"],
    ["list", "experiments"],
    ["list", "generators"],
    ["world", "--help"],
)


def timed(argv: list[str]) -> tuple[float, float]:
    """``(wall, cpu)`` seconds of one fresh process running ``argv``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def best(argv: list[str], repeats: int) -> tuple[float, float]:
    """The smallest wall and CPU seconds over ``repeats`` runs."""
    runs = [timed(argv) for _ in range(repeats)]
    return min(w for w, _ in runs), min(c for _, c in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    cli = [sys.executable, "-m", "unlearnlab"]
    for command in COMMANDS:
        if command[0] == "list":
            subprocess.run([*cli, *command], check=True, stdout=subprocess.DEVNULL)
    print(f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    wall, cpu = best([sys.executable, "-c", "import unlearnlab.cli"], args.repeats)
    print(f"{'import unlearnlab.cli':24} {wall:.3f} s wall, {cpu:.3f} s CPU")
    for command in COMMANDS:
        wall, cpu = best([*cli, *command], args.repeats)
        verdict = "ok" if wall <= 0.5 else "over the 0.5 s bar"
        print(f"{' '.join(command):24} {wall:.3f} s wall, {cpu:.3f} s CPU ({verdict})")


if __name__ == "__main__":
    main()
