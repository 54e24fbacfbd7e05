"""Benchmarks of the knowledge-world engine (the bars of the worlds issue).

Run: ``.venv/bin/python benchmarks/worlds.py [--edu-relat DIR] [--people 5000] [--repeats 5]``

Prints, each measured on this machine:
- closure of the EDU-RELAT world (bar: < 0.5 s), median over repeats;
- exact minimal deep-unlearning sets of all 55 EDU-RELAT targets (bar: < 10 s, all complete);
- generation plus closure of a family world of 5,000 people (bar: < 30 s).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from unlearnlab.external import external_dataset
from unlearnlab.worlds.closure import compute_closure
from unlearnlab.worlds.family import FamilyParams, generate_family
from unlearnlab.worlds.io import load_world

DEFAULT_EDU_RELAT = external_dataset("edu-relat") or Path("edu-relat-not-found")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edu-relat", type=Path, default=DEFAULT_EDU_RELAT)
    parser.add_argument("--people", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    for rules in ("rules.dl", "rules_as_published.dl"):
        world = load_world(args.edu_relat, rules=rules, extra_facts=["biographies.jsonl"])
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            closure = compute_closure(world.stated, world.rules)
            times.append(time.perf_counter() - start)
        print(
            f"EDU-RELAT closure ({rules}): {len(closure.facts)} facts, "
            f"median {statistics.median(times):.3f} s over {args.repeats} runs (bar < 0.5 s)"
        )
        targets = json.loads((args.edu_relat / "targets.json").read_text())["targets"]
        fresh = load_world(args.edu_relat, rules=rules, extra_facts=["biographies.jsonl"])
        start = time.perf_counter()
        results = [
            fresh.minimal_deep_unlearning_sets(fresh.fact_by_id(t["edge_id"])) for t in targets
        ]
        seconds = time.perf_counter() - start
        complete = sum(r.complete for r in results)
        print(
            f"EDU-RELAT deep-unlearning sets ({rules}): {len(results)} targets, "
            f"{sum(len(r) for r in results)} sets, {complete}/{len(results)} complete, "
            f"{seconds:.2f} s in total including closure and grounding (bar < 10 s)"
        )

    start = time.perf_counter()
    family = generate_family(FamilyParams(people=args.people, seed=0))
    closure = family.closure()
    seconds = time.perf_counter() - start
    print(
        f"family world of {args.people} people: {len(family.records)} stated facts, "
        f"{len(closure)} in the closure, generation + closure {seconds:.2f} s (bar < 30 s)"
    )


if __name__ == "__main__":
    main()
