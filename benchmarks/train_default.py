"""Benchmark of the training substrate on the default experiment (the bars of the training
issue).

Run: ``.venv/bin/python benchmarks/train_default.py [--set key=value ...] [--sample N]``

Trains (or reuses from the store) the base and oracle models of ``compositional`` and
prints, for each:
- top-1 recall of base facts by filtered likelihood ranking, in training phrasings
  (bar: >= 98% for the base model) and held-out phrasings (bar: >= 90%);
- chain-of-thought re-derivation of held-out composites, derived facts never shown in
  any form (bar: >= 90% end with a correct conclusion);
- recall of the forget targets with and without chain of thought (the oracle's is the
  finding: it never saw them);
  (recall by the probe suite's ``recall.cloze_*`` probes in every phrasing, trained facts
  sampled per split; chains of thought by its chain-of-thought probe)
- training seconds (bar: base + oracle <= 360 s on the 2-core CPU), tokens per second, and
  the fraction of this machine's measured float32 matrix-multiply peak that training
  reaches (6 x parameters FLOPs per token).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from machine import matmul_gflops
from unlearnlab.experiments.config import load_config
from unlearnlab.models.factory import count_parameters, load_model, load_tokenizer
from unlearnlab.models.store import ModelStore
from unlearnlab.probes.knowledge import QueryIndex, chain_of_thought
from unlearnlab.probes.stats import rate
from unlearnlab.probes.suite import SuiteConfig, run_suite
from unlearnlab.substrate.build import Substrate, build_substrate, train_reference_model


def probe_reference(substrate: Substrate, path: Path, sample: int, seed: int) -> dict[str, Any]:
    """The bars' quantities of the model in ``path``: recall of trained facts (``sample``
    per split) and of the forget targets, chains of thought on held-out composites and on
    the forget targets, and the seconds probing took."""
    world, splits = substrate.world, substrate.splits
    model, tokenizer = load_model(path), load_tokenizer(path)
    start = time.perf_counter()
    config = SuiteConfig(sample=sample, frames_per_fact=0, seed=seed, families=("recall",))
    rows = [asdict(r) for r in run_suite(model, tokenizer, world, splits, config)]
    index = QueryIndex.build(world)
    composites = chain_of_thought(model, tokenizer, world, splits.heldout, index=index)
    forget_cot = chain_of_thought(model, tokenizer, world, splits.forget, index=index)

    def recall(probe: str, forget: bool) -> Any:
        return rate([r for r in rows if r["probe"] == probe and (r["split"] == "forget") == forget])

    return {
        "parameters": count_parameters(model),
        "recall_training_phrasings": recall("recall.cloze_train", False),
        "recall_heldout_phrasings": recall("recall.cloze_heldout", False),
        "cot_heldout_composites": rate(composites),
        "cot_heldout_composites_exact": rate(composites, "exact"),
        "forget_recall_direct": recall("recall.cloze_train", True),
        "forget_cot_exact": rate(forget_cot, "exact"),
        "probe_seconds": time.perf_counter() - start,
        "example_chain": composites[0]["generation"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="compositional")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--sample", type=int, default=150, help="trained facts per split")
    parser.add_argument("--out", type=Path, default=None, help="write the numbers as JSON")
    args = parser.parse_args()

    config = load_config(args.experiment, args.overrides)
    substrate = build_substrate(config)
    store = ModelStore(args.store)
    peak = matmul_gflops() * 1e9
    print(f"matmul peak (float32, 1024^2): {peak / 1e9:.1f} GFLOP/s")
    results: dict[str, dict] = {}
    for role in ("base", "oracle"):
        path = train_reference_model(substrate, role, store)
        probed = probe_reference(substrate, path, args.sample, config.seed)
        training = json.loads((path / "unlearnlab.json").read_text(encoding="utf-8"))["training"]
        parameters, chain = probed.pop("parameters"), probed.pop("example_chain")
        numbers = {
            "train_seconds": training["seconds"],
            "tokens_per_second": training["tokens_per_second"],
            "peak_fraction": 6 * parameters * training["tokens_per_second"] / peak,
            **{k: v if isinstance(v, float) else str(v) for k, v in probed.items()},
        }
        results[role] = numbers
        print(f"\n{role} ({parameters:,} parameters, {path})")
        for key, value in numbers.items():
            shown = f"{value:.3f}" if isinstance(value, float) else value
            print(f"  {key}: {shown}")
        print(f"  example chain: {chain!r}")
    total = results["base"]["train_seconds"] + results["oracle"]["train_seconds"]
    print(f"\nbase + oracle training: {total:.0f} s (bar <= 360 s)")
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
