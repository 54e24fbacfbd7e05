"""Probe the reference models of an experiment (base and oracle) on what the training
substrate promises: recall of trained facts in training and held-out phrasings,
chain-of-thought re-derivation of held-out composites, and the forget targets."""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unlearnlab.models.factory import count_parameters, load_model, load_tokenizer
from unlearnlab.probes.knowledge import QueryIndex, chain_of_thought, recall_by_ranking
from unlearnlab.probes.stats import Rate, rate
from unlearnlab.substrate.build import Substrate

METRICS = {
    "recall_training_phrasings": "trained facts, training phrasings (top-1 of filtered ranking)",
    "recall_heldout_phrasings": "trained facts, held-out phrasings",
    "cot_heldout_composites": "held-out composites, chain of thought ends with a correct answer",
    "forget_recall_direct": "forget targets, training phrasings, no chain of thought",
    "forget_cot_exact": "forget targets, chain of thought ends with the target's answer",
}


@dataclass(frozen=True)
class ReferenceResult:
    """The probes of one reference model."""

    role: str
    path: Path
    parameters: int
    training: dict[str, Any]
    metrics: dict[str, Rate]
    chance: float
    records: dict[str, list[dict[str, Any]]]
    probe_seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON form (records included)."""
        return {
            "role": self.role,
            "path": str(self.path),
            "parameters": self.parameters,
            "training": self.training,
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
            "chance": self.chance,
            "probe_seconds": self.probe_seconds,
            "records": self.records,
        }


def probe_reference(
    substrate: Substrate, role: str, path: Path, *, sample: int = 400, seed: int = 0
) -> ReferenceResult:
    """Probe the model at ``path``. ``sample`` trained base facts (never forget targets)
    are drawn with ``seed``; held-out composites and forget targets are probed in full."""
    world, splits = substrate.world, substrate.splits
    model, tokenizer = load_model(path), load_tokenizer(path)
    index = QueryIndex.build(world)
    forget = set(splits.forget)
    trained = [f for f in world.base_facts if f not in forget]
    facts = random.Random(seed).sample(trained, min(sample, len(trained)))
    start = time.perf_counter()
    records = {
        "recall_training_phrasings": recall_by_ranking(
            model, tokenizer, world, facts, lambda t: t.training_frames(), index=index
        ),
        "recall_heldout_phrasings": recall_by_ranking(
            model, tokenizer, world, facts, lambda t: t.heldout_frames(), index=index
        ),
        "cot_heldout_composites": chain_of_thought(
            model, tokenizer, world, splits.heldout, index=index
        ),
        "forget_recall_direct": recall_by_ranking(
            model, tokenizer, world, splits.forget, lambda t: t.training_frames(), index=index
        ),
        "forget_cot_exact": chain_of_thought(model, tokenizer, world, splits.forget, index=index),
    }
    keys = {"forget_cot_exact": "exact"}
    metrics = {name: rate(rs, keys.get(name, "correct")) for name, rs in records.items()}
    ranked = records["recall_training_phrasings"]
    chance = sum(r["chance"] for r in ranked) / max(1, len(ranked))
    sidecar = json.loads((path / "unlearnlab.json").read_text(encoding="utf-8"))
    return ReferenceResult(
        role,
        path,
        count_parameters(model),
        sidecar.get("training", {}),
        metrics,
        chance,
        records,
        time.perf_counter() - start,
    )
