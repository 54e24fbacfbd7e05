"""End to end: the default experiment's base model, trained from scratch, meets the
training substrate's bars (about 3 minutes of CPU; the same numbers as
benchmarks/train_default.py, which also trains the oracle and times both), measured by the
probe suite and its chain-of-thought probe."""

from __future__ import annotations

from pathlib import Path

import pytest

from unlearnlab.experiments.config import load_config
from unlearnlab.models.factory import load_model, load_tokenizer
from unlearnlab.models.store import ModelStore
from unlearnlab.probes.knowledge import QueryIndex, chain_of_thought
from unlearnlab.probes.suite import SuiteConfig, run_suite
from unlearnlab.substrate.build import build_substrate, train_reference_model


@pytest.mark.slow
def test_default_base_model_meets_the_training_bars(tmp_path: Path) -> None:
    substrate = build_substrate(load_config("compositional"))
    world, splits = substrate.world, substrate.splits
    path = train_reference_model(substrate, "base", ModelStore(tmp_path), show_progress=False)
    model, tokenizer = load_model(path), load_tokenizer(path)
    config = SuiteConfig(sample=70, frames_per_fact=0, families=("recall",))
    trained = [r for r in run_suite(model, tokenizer, world, splits, config) if r.split != "forget"]

    def share(probe: str) -> float:
        rows = [r for r in trained if r.probe == probe]
        return sum(r.correct for r in rows) / len(rows)

    assert share("recall.cloze_train") >= 0.98
    assert share("recall.cloze_heldout") >= 0.90
    cot = chain_of_thought(model, tokenizer, world, splits.heldout, index=QueryIndex.build(world))
    # The bar is 90% (measured 91-93% by benchmarks/train_default.py on this machine
    # type); a CPU with other float kernels trains a slightly different model, so the test
    # leaves room for that without letting a broken pipeline through.
    assert sum(r["correct"] for r in cot) / len(cot) >= 0.80
    cloze = [r.chance for r in trained if r.probe == "recall.cloze_train"]
    assert sum(cloze) / len(cloze) < 0.05
