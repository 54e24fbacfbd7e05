"""Benchmark: a full durability sweep of one unlearned model (bar: under 5 minutes on the
2-core CPU).

Run: ``UNLEARNLAB_HOME=... .venv/bin/python benchmarks/durability_sweep.py``

Unlearns the default ``compositional`` experiment as the default unlearn config says (npo
defaults; reused from the store, like the base model and the oracle, whose training is
not part of the timed sweep), then relearns on four data sources (forget_folds, retain,
unrelated, forget) at three learning rates, with recall measured at steps 0, 1, 2, 4, ...,
128 on the unlearned model, the base model and the oracle alike, and prints the seconds
the sweep took, each run's recovery and the worst case (largest net recovery area).
``--set`` overrides the unlearn config as ``unlearnlab attack --set`` does (a tiny
experiment for a quick check: ``--set 'experiment_set=[model.layers=1, ...]'``).
"""

from __future__ import annotations

import argparse
import json
import time

from unlearnlab.attacks.recovery import summarize, worst_case
from unlearnlab.attacks.run import ROLES, attack_grid
from unlearnlab.experiments.config import load_config
from unlearnlab.methods.config import load_unlearn_config
from unlearnlab.methods.loop import unlearn
from unlearnlab.models.store import ModelStore
from unlearnlab.substrate.build import build_substrate, train_reference_model

SOURCES = ["forget_folds", "retain", "unrelated", "forget"]
LEARNING_RATES = [1e-4, 1e-3, 1e-2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--max-step", type=int, default=128, help="Last step (a power of 2).")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    file = load_unlearn_config("default", args.overrides)
    substrate = build_substrate(load_config(file.experiment, file.experiment_set))
    store = ModelStore()
    began = time.perf_counter()
    for role in ("base", "oracle"):
        train_reference_model(substrate, role, store, show_progress=False)
    [config] = file.unlearn.expand()
    model = unlearn(substrate, config, store).path
    prepared = time.perf_counter() - began
    steps = [0] + [2**i for i in range(args.max_step.bit_length()) if 2**i <= args.max_step]
    start = time.perf_counter()
    runs = attack_grid(
        "relearn",
        {"steps": steps},
        {"source": SOURCES, "lr": LEARNING_RATES},
        model,
        substrate,
        store,
        seeds=(args.seed,),
    )
    seconds = time.perf_counter() - start
    summaries = [summarize(run.curves, seed=run.seed) for run in runs]
    print(
        f"durability sweep of {config.method} on {substrate.config.name}: {seconds:.1f} s "
        f"(bar < 300 s) for {len(runs)} runs x {len(ROLES)} models, steps {steps}; "
        f"models ready in {prepared:.1f} s"
    )
    for run, summary in zip(runs, summaries, strict=True):
        print(
            f"  {run.params['source']:>12} lr={run.params['lr']:<7g} "
            f"raw area {summary.raw_area}  net area {summary.net_area}  "
            f"net steps to 50% {summary.net_steps_to_50}"
        )
    worst = worst_case(summaries)
    top = runs[worst]
    print(
        "worst case: "
        + json.dumps({"source": top.params["source"], "lr": top.params["lr"]})
        + f" net area {summaries[worst].net_area}, raw area {summaries[worst].raw_area}, "
        f"net recovery at step {steps[-1]}: {summaries[worst].net[-1]}"
    )


if __name__ == "__main__":
    main()
