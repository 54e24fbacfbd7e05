"""Benchmark of the connectivity experiment (the bars of the connectivity issue).

Run: ``.venv/bin/python benchmarks/connectivity.py [--profile NAME] [--set key=value ...]
[--store DIR] [--out DIR] [--json FILE]``

Runs the ``connectivity`` experiment end to end (quick profile unless told) into ``--out``
(default: a scratch folder), with its models in ``--store`` (default: a scratch store, so
that the reference models are trained, as on a fresh machine). Prints:

- wall-clock seconds of the whole run, process CPU seconds, and the seconds of each stage
  and their sum (bar: the quick profile within 900 s on the 2-core CPU; the machine's
  load average is printed beside them, since other work on it slows every stage);
- the headline (worst-case knowledge per stratum and model), each method's verdict and
  the isolated-facts bar (the best method's post-attack recall within 10 points of the
  oracle's), as the report words them.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from machine import speed_line
from unlearnlab.experiments.config import load_config
from unlearnlab.experiments.kinds import EXPERIMENT_KINDS
from unlearnlab.experiments.stages import RunContext, Stage
from unlearnlab.io import write_atomic, write_json_atomic
from unlearnlab.report.connectivity import isolated_bar, verdict
from unlearnlab.report.strata import build_study

BAR_SECONDS = 900.0


class TimedContext(RunContext):
    """A run context that runs stages one at a time and records each one's seconds."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seconds: dict[str, float] = {}

    def run_stages(self, stages: Sequence[Stage], title: str) -> list[list[dict[str, Any]]]:
        """Each stage alone, timed (see :meth:`RunContext.run_stages`)."""
        results = []
        for stage in stages:
            start = time.perf_counter()
            results += super().run_stages([stage], title)
            self.seconds[stage.name] = time.perf_counter() - start
        return results


def main() -> None:
    """Run the experiment and print the bars' quantities."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    config = load_config("connectivity", args.overrides, profile=args.profile)
    kind = EXPERIMENT_KINDS[config.kind]()
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch) / "run"
        store = args.store or Path(scratch) / "store"
        ctx = TimedContext(out, store_root=store, show_progress=False)
        load_before = os.getloadavg()
        start, cpu = time.perf_counter(), time.process_time()
        rows = kind.run(config, ctx)
        sections = kind.sections(rows, out / "figures", {})
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        load_after = os.getloadavg()
        columns, table = kind.headline(rows)
        write_atomic(
            out / "report.md", "\n\n".join(f"## {s.title}\n\n{s.markdown}" for s in sections)
        )
    study = build_study(rows)
    verdicts = [verdict(study, line).statement for line in study.lines if line.role != "base"]
    bar = isolated_bar(study).statement
    staged = sum(ctx.seconds.values())
    print(speed_line())
    print(f"connectivity ({args.profile}): {len(rows)} rows, {len(ctx.seconds)} stages")
    for name, seconds in ctx.seconds.items():
        print(f"  {seconds:8.1f} s  {name}")
    print(f"sum of stage seconds {staged:.1f} s; wall {wall:.1f} s; process CPU {cpu:.1f} s")
    print(f"load average (1, 5, 15 min) before {load_before}, after {load_after}")
    ok = "ok" if wall <= BAR_SECONDS else "MISSED"
    print(f"bar: wall {wall:.0f} s <= {BAR_SECONDS:.0f} s: {ok}")
    print(" | ".join(columns))
    for line in table:
        print(" | ".join(line))
    for sentence in verdicts:
        print(f"- {sentence}")
    print(bar)
    if args.json is not None:
        summary = {
            "profile": args.profile,
            "wall_seconds": wall,
            "cpu_seconds": cpu,
            "stage_seconds": ctx.seconds,
            "sum_stage_seconds": staged,
            "load_average": {"before": load_before, "after": load_after},
            "headline": {"columns": columns, "rows": table},
            "verdicts": verdicts,
            "isolated_bar": bar,
        }
        write_json_atomic(args.json, summary)


if __name__ == "__main__":
    main()
