"""Training throughput of the default model (4 layers, hidden 128, about 1M parameters).

Run: ``.venv/bin/python benchmarks/train_throughput.py [--steps 10] [--batch 64] [--seq 128]``

Trains the default :class:`~unlearnlab.models.factory.ModelSpec` on 3,000 synthetic fact
sentences (word-level tokenizer, packed rows) with the project's training loop and prints
tokens per second, measured after one warm-up step, on this machine.
"""

from __future__ import annotations

import argparse
import tempfile

import torch

from machine import speed_line
from unlearnlab.corpus.tokenizer import build_tokenizer
from unlearnlab.models.data import documents_to_examples
from unlearnlab.models.factory import ModelSpec, build_model, count_parameters
from unlearnlab.models.training import TrainConfig, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--facts", type=int, default=3000)
    args = parser.parse_args()

    people = max(2, args.facts // 3)
    docs = [f"p{i % people} is the parent of p{(i * 7 + 1) % people}." for i in range(args.facts)]
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = build_tokenizer(docs, tmp)
    model = build_model(ModelSpec(), tokenizer, seed=0)
    examples = documents_to_examples(tokenizer, docs)
    pad = int(tokenizer.pad_token_id)
    warm = TrainConfig(steps=1, batch_size=args.batch, seq_len=args.seq)
    train(model, examples, warm, pad_id=pad, show_progress=False)
    config = TrainConfig(steps=args.steps, batch_size=args.batch, seq_len=args.seq)
    result = train(model, examples, config, pad_id=pad, show_progress=False)
    print(speed_line())
    print(
        f"model: {count_parameters(model):,} parameters, vocabulary {len(tokenizer):,}; "
        f"batch {args.batch} x seq {args.seq}, {torch.get_num_threads()} torch threads"
    )
    print(
        f"{result.tokens_per_second:,.0f} tokens/s "
        f"({args.steps} steps in {result.seconds:.1f} s, final loss {result.final_loss:.3f})"
    )


if __name__ == "__main__":
    main()
