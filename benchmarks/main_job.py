"""The main job from a clean clone: README's command (`./dev run`) installs and runs the
default experiment to a finished report; then the same command again, which must reuse
every cached model and stage.

Bars (issue 18): the first run at most 600 s on a 2-core CPU, the second at most 10% of
the first. The clone gets a fresh virtual environment and a fresh model store; pip's
download cache is the machine's (the torch wheel lies on disk).

    python benchmarks/main_job.py [--keep DIR] [-- EXTRA ARGS FOR unlearnlab run]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import speed_line

ROOT = Path(__file__).resolve().parents[1]


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Seconds ``command`` took; its output goes to this process's stderr."""
    began = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, stdout=sys.stderr)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="clone here and keep it (default: a temp dir)")
    parser.add_argument("extra", nargs="*", help="arguments passed to 'unlearnlab run'")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="unlearnlab-clone-"))
    clone, home = folder / "unlearnlab", folder / "home"
    for stale in (clone, home):  # a kept folder from an earlier run starts fresh too
        if stale.exists():
            shutil.rmtree(stale)
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    env = {**os.environ, "UNLEARNLAB_HOME": str(home)}
    env.pop("VIRTUAL_ENV", None)
    first = timed(["./dev", "run", *args.extra], clone, env)
    second = timed(["./dev", "run", *args.extra], clone, env)
    report = clone / "runs" / "compositional" / "report.html"
    print(speed_line())
    print(f"first run (install + default experiment): {first:.0f} s (bar 600 s)")
    print(f"second run: {second:.0f} s = {100 * second / first:.1f}% of the first (bar 10%)")
    print(f"report: {report} ({'present' if report.is_file() else 'MISSING'})")
    if args.keep is None:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
