"""Benchmark of the training substrate on the default experiment (the bars of the training
issue).

Run: ``.venv/bin/python benchmarks/train_default.py [--set key=value ...] [--sample N]``

Trains (or reuses from the store) the base and oracle models of ``compositional`` and
prints, for each:
- top-1 recall of base facts by filtered likelihood ranking, in training phrasings
  (bar: >= 98% for the base model) and held-out phrasings (bar: >= 90%);
- chain-of-thought re-derivation of held-out composites, derived facts never shown in
  any form (bar: >= 90% end with a correct conclusion);
- for the oracle, recall of the forget targets with and without chain of thought;
- training seconds (bar: base + oracle <= 360 s on the 2-core CPU), tokens per second, and
  the fraction of this machine's measured float32 matrix-multiply peak that training
  reaches (6 x parameters FLOPs per token).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch

from unlearnlab.experiments.config import load_config
from unlearnlab.experiments.substrate import build_substrate, train_reference_model
from unlearnlab.models.factory import count_parameters, load_model, load_tokenizer
from unlearnlab.models.store import ModelStore
from unlearnlab.probes.knowledge import QueryIndex, chain_of_thought, recall_by_ranking


def matmul_peak_flops(size: int = 1024, repeats: int = 20) -> float:
    """Measured float32 matrix-multiply FLOP/s of this machine (best of ``repeats``)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def percent(records: list[dict], key: str = "correct") -> str:
    """Share of records with ``key`` true, as a percentage with its count."""
    hits = sum(bool(r[key]) for r in records)
    return f"{100 * hits / max(1, len(records)):.1f}% ({hits}/{len(records)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="compositional")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--sample", type=int, default=400, help="base facts to probe")
    parser.add_argument("--out", type=Path, default=None, help="write the numbers as JSON")
    args = parser.parse_args()

    config = load_config(args.experiment, args.overrides)
    substrate = build_substrate(config)
    store = ModelStore(args.store)
    world, splits = substrate.world, substrate.splits
    index = QueryIndex.build(world)
    facts = random.Random(0).sample(
        list(world.base_facts), min(args.sample, len(world.base_facts))
    )
    peak = matmul_peak_flops()
    print(f"matmul peak (float32, 1024^2): {peak / 1e9:.1f} GFLOP/s")
    results: dict[str, dict] = {}
    for role in ("base", "oracle"):
        path = train_reference_model(substrate, role, store)
        sidecar = json.loads((path / "unlearnlab.json").read_text())
        training = sidecar["training"]
        model, tokenizer = load_model(path), load_tokenizer(path)
        params = count_parameters(model)
        fraction = 6 * params * training["tokens_per_second"] / peak
        start = time.perf_counter()
        trained = [f for f in facts if f not in set(splits.forget)] if role == "oracle" else facts
        train_recall = recall_by_ranking(
            model, tokenizer, world, trained, lambda t: t.training_frames(), index=index
        )
        heldout_recall = recall_by_ranking(
            model, tokenizer, world, trained, lambda t: t.heldout_frames(), index=index
        )
        cot_heldout = chain_of_thought(model, tokenizer, world, splits.heldout, index=index)
        numbers = {
            "train_seconds": training["seconds"],
            "tokens_per_second": training["tokens_per_second"],
            "peak_fraction": fraction,
            "recall_training_phrasings": percent(train_recall),
            "recall_heldout_phrasings": percent(heldout_recall),
            "cot_heldout_composites": percent(cot_heldout),
            "cot_heldout_composites_exact": percent(cot_heldout, "exact"),
        }
        if role == "oracle":
            numbers["forget_recall_direct"] = percent(
                recall_by_ranking(
                    model, tokenizer, world, splits.forget, lambda t: t.training_frames(),
                    index=index,
                )
            )
            numbers["forget_recall_cot"] = percent(
                chain_of_thought(model, tokenizer, world, splits.forget, index=index), "exact"
            )
        numbers["probe_seconds"] = time.perf_counter() - start
        results[role] = numbers
        print(f"\n{role} ({params:,} parameters, {path})")
        for key, value in numbers.items():
            shown = f"{value:.3f}" if isinstance(value, float) else value
            print(f"  {key}: {shown}")
        print(f"  example chain: {cot_heldout[0]['generation']!r}")
    total = results["base"]["train_seconds"] + results["oracle"]["train_seconds"]
    print(f"\nbase + oracle training: {total:.0f} s (bar <= 360 s)")
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
