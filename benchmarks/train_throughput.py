"""Training throughput of the default recipe, and the accuracy it buys.

Run: ``.venv/bin/python benchmarks/train_throughput.py [--set train.epochs=24 ...]``

Trains the default experiment's base model from scratch (the ``compositional`` world,
corpus, model and training config, with any ``--set`` overrides) in a temporary store,
through the project's training code, and prints:

- tokens per second, the FLOP/s they amount to and that rate's share of this machine's
  fp32 matrix-multiply peak (``6·(N + V·d)`` FLOPs per token: the non-embedding
  parameters and the output projection, which a tied embedding still computes; the
  attention-score term is left out, as in :mod:`unlearnlab.models.compute`);
- the three accuracy numbers of the performance bars: recall of trained facts in their
  trained phrasings, recall in phrasings never trained, and chain-of-thought re-derivation
  of held-out composites (every held-out composite; ``--sample`` facts per large split).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from machine import matmul_gflops
from unlearnlab.experiments.config import load_config
from unlearnlab.models.compute import TRAIN, flop_params
from unlearnlab.models.factory import SIDECAR, load_model, load_tokenizer
from unlearnlab.models.store import ModelStore
from unlearnlab.probes.results import aggregate, tidy_rows
from unlearnlab.probes.suite import SuiteConfig, run_suite
from unlearnlab.substrate.build import build_substrate, train_reference_model

TRAINED_SPLITS = ("forget", "premise", "neighbour", "retain", "unrelated", "forget_underivable")
"""Splits of stated facts every base model trains on."""
BARS = (
    ("recall.cloze_train", TRAINED_SPLITS, 0.98, "recall of trained facts"),
    ("recall.cloze_heldout", TRAINED_SPLITS, 0.90, "recall in held-out phrasings"),
    ("rederive.cot", ("heldout_composite",), 0.90, "chain of thought on held-out composites"),
)


def flops_per_token(model: torch.nn.Module) -> int:
    """Training FLOPs per token: ``6·(N + V·d)``."""
    output = model.get_output_embeddings()
    return TRAIN * (flop_params(model) + (0 if output is None else output.weight.numel()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--sample", type=int, default=100, help="facts per large split")
    args = parser.parse_args()
    peak = matmul_gflops()
    substrate = build_substrate(load_config("compositional", args.overrides))
    heldout = len(substrate.splits.heldout)
    with tempfile.TemporaryDirectory() as store:
        began = time.perf_counter()
        path = train_reference_model(substrate, "base", ModelStore(store), show_progress=False)
        wall = time.perf_counter() - began
        training = json.loads((Path(path) / SIDECAR).read_text(encoding="utf-8"))["training"]
        model, tokenizer = load_model(path), load_tokenizer(path)
        config = SuiteConfig(
            sample=args.sample, composites=heldout, families=("recall", "rederive")
        )
        rows = run_suite(model, tokenizer, substrate.world, substrate.splits, config)
    achieved = training["tokens_per_second"] * flops_per_token(model) / 1e9
    print(f"machine: fp32 matmul {peak:.0f} GFLOP/s ({torch.get_num_threads()} threads)")
    print(
        f"training: {training['steps']} steps in {training['seconds']:.1f} s "
        f"({wall:.1f} s with tokenizer and saving), final loss {training['final_loss']:.3f}"
    )
    print(
        f"{training['tokens_per_second']:,.0f} tokens/s = {achieved:.1f} GFLOP/s, "
        f"{achieved / peak:.0%} of the matmul peak"
    )
    table = tidy_rows(rows, model="base", seed=0, config_hash=substrate.config.digest())
    for probe, splits, bar, label in BARS:
        hits = [r["correct"] for r in table if r["probe"] == probe and r["split"] in splits]
        rate = sum(hits) / len(hits)
        verdict = "met" if rate >= bar else "missed"
        print(f"{label} ({probe}): {rate:.1%} of {len(hits)} (bar {bar:.0%}: {verdict})")
    for metric in aggregate(table):
        if metric.probe == "recall.question" and metric.split in ("forget", "holdout"):
            print(f"  {metric.probe} / {metric.split}: {metric.value:.1%} (n {metric.n})")


if __name__ == "__main__":
    main()
