"""Benchmark: every registered method's default run on the default world.

Prints one row per method: seconds, steps, direct recall of the forget targets (training
phrasings) and recall of a 100-fact retain sample, before (the base model) and after.
Bar: each run under 60 s on a 2-core CPU; negative methods at most 10% forget recall.

    UNLEARNLAB_HOME=/tmp/ulhome .venv/bin/python benchmarks/unlearn_default.py [METHOD ...]
"""

from __future__ import annotations

import sys
import tempfile
import time

from unlearnlab.experiments.config import load_config
from unlearnlab.methods import METHODS
from unlearnlab.methods.config import UnlearnConfig
from unlearnlab.methods.evaluate import Evaluator
from unlearnlab.methods.loop import unlearn
from unlearnlab.models.factory import load_model, load_tokenizer
from unlearnlab.models.store import ModelStore
from unlearnlab.substrate.build import build_substrate, train_reference_model

BAR_SECONDS = 60.0
BAR_FORGET = 0.10


def main(names: list[str]) -> None:
    """Run each named method (all, if none) once with defaults into a scratch store."""
    substrate = build_substrate(load_config("compositional"))
    shared = ModelStore()
    base = train_reference_model(substrate, "base", shared, show_progress=False)
    evaluator = Evaluator(substrate, load_tokenizer(base), UnlearnConfig().retain_sample, 0)
    before = evaluator(load_model(base))
    print(f"base: forget {before['forget_recall']:.0%}, retain {before['retain_recall']:.0%}")
    print(f"{'method':12} {'kind':9} {'seconds':>7} {'steps':>5} {'forget':>7} {'retain':>7}  bar")
    with tempfile.TemporaryDirectory() as scratch:
        store = ModelStore(scratch)
        for role in ("base", "oracle"):  # link the cached references into the scratch store
            (store.root / substrate.key(role)).parent.mkdir(parents=True, exist_ok=True)
            (store.root / substrate.key(role)).symlink_to(shared.root / substrate.key(role))
        for name in names or sorted(METHODS):
            config = UnlearnConfig(method=name, eval_every=None)
            start = time.perf_counter()
            result = unlearn(substrate, config, store)
            seconds = time.perf_counter() - start
            after = result.evals[-1] if result.evals else evaluator(load_model(result.path))
            kind = METHODS[name].kind
            ok = seconds < BAR_SECONDS and (
                kind != "negative" or after["forget_recall"] <= BAR_FORGET
            )
            print(
                f"{name:12} {kind:9} {seconds:7.1f} {len(result.history):5d} "
                f"{after['forget_recall']:7.0%} {after['retain_recall']:7.0%}  "
                f"{'ok' if ok else 'MISSED'}",
                flush=True,
            )


if __name__ == "__main__":
    main(sys.argv[1:])
