"""Benchmark: the full probe suite on one model of the default world (bar: under 60 s on
the 2-core CPU).

Run: ``UNLEARNLAB_HOME=... .venv/bin/python benchmarks/probe_suite.py [--role base|oracle]``

Trains (or reuses from the store) the ``compositional`` model of ``--role``, runs
:func:`~unlearnlab.probes.suite.run_suite` with the default :class:`SuiteConfig` (what
``unlearnlab probe`` runs), and prints the seconds it took and a few headline metrics
(these also check that a trained model scores far above chance).
"""

from __future__ import annotations

import argparse
import time

from unlearnlab.experiments.config import load_config
from unlearnlab.models.factory import load_model, load_tokenizer
from unlearnlab.models.store import ModelStore
from unlearnlab.probes.results import aggregate, tidy_rows
from unlearnlab.probes.suite import SuiteConfig, run_suite
from unlearnlab.substrate.build import build_substrate, train_reference_model

HEADLINES = (
    ("recall.cloze_train", "retain"),
    ("recall.cloze_heldout", "retain"),
    ("recall.mcq_text", "retain"),
    ("rederive.cot", "heldout_composite"),
    ("rederive.cot", "forget"),
    ("rederive.in_context", "forget"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=("base", "oracle"), default="base")
    args = parser.parse_args()
    substrate = build_substrate(load_config("compositional"))
    path = train_reference_model(substrate, args.role, ModelStore())
    model, tokenizer = load_model(path), load_tokenizer(path)
    start = time.perf_counter()
    rows = run_suite(model, tokenizer, substrate.world, substrate.splits, SuiteConfig())
    seconds = time.perf_counter() - start
    table = tidy_rows(rows, model=args.role, seed=0, config_hash=substrate.config.digest())
    metrics = {(m.probe, m.split): m for m in aggregate(table)}
    print(f"probe suite on the {args.role} model: {seconds:.1f} s, {len(rows)} rows (bar < 60 s)")
    for key in HEADLINES:
        m = metrics[key]
        interval = f"[{m.ci_low:.3f}, {m.ci_high:.3f}]"
        print(f"  {key[0]} / {key[1]}: {m.value:.3f} {interval} (chance {m.chance:.3f}, n {m.n})")


if __name__ == "__main__":
    main()
