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
- training seconds (bar: base + oracle <= 360 s on the 2-core CPU), tokens per second, and
  the fraction of this machine's measured float32 matrix-multiply peak that training
  reaches (6 x parameters FLOPs per token).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from unlearnlab.experiments.config import load_config
from unlearnlab.experiments.reference import probe_reference
from unlearnlab.models.store import ModelStore
from unlearnlab.probes.stats import rate
from unlearnlab.substrate.build import build_substrate, train_reference_model


def matmul_peak_flops(size: int = 1024, repeats: int = 20) -> float:
    """Measured float32 matrix-multiply FLOP/s of this machine (best of ``repeats``)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="compositional")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--sample", type=int, default=400, help="trained facts to probe")
    parser.add_argument("--out", type=Path, default=None, help="write the numbers as JSON")
    args = parser.parse_args()

    config = load_config(args.experiment, args.overrides)
    substrate = build_substrate(config)
    store = ModelStore(args.store)
    peak = matmul_peak_flops()
    print(f"matmul peak (float32, 1024^2): {peak / 1e9:.1f} GFLOP/s")
    results: dict[str, dict] = {}
    for role in ("base", "oracle"):
        path = train_reference_model(substrate, role, store)
        result = probe_reference(substrate, role, path, sample=args.sample, seed=config.seed)
        training = result.training
        numbers = {
            "train_seconds": training["seconds"],
            "tokens_per_second": training["tokens_per_second"],
            "peak_fraction": 6 * result.parameters * training["tokens_per_second"] / peak,
            **{name: str(rate) for name, rate in result.metrics.items()},
            "cot_heldout_composites_exact": str(
                rate(result.records["cot_heldout_composites"], "exact")
            ),
            "probe_seconds": result.probe_seconds,
        }
        results[role] = numbers
        print(f"\n{role} ({result.parameters:,} parameters, {path})")
        for key, value in numbers.items():
            shown = f"{value:.3f}" if isinstance(value, float) else value
            print(f"  {key}: {shown}")
        print(f"  example chain: {result.records['cot_heldout_composites'][0]['generation']!r}")
    total = results["base"]["train_seconds"] + results["oracle"]["train_seconds"]
    print(f"\nbase + oracle training: {total:.0f} s (bar <= 360 s)")
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
