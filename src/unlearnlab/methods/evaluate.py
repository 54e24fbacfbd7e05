"""Recall probes during an unlearning run, and the early-stopping rule that reads them."""

from __future__ import annotations

import random
from typing import Any

from transformers import PreTrainedModel

from unlearnlab.methods.config import UnlearnConfig
from unlearnlab.probes.knowledge import QueryIndex, recall_by_ranking
from unlearnlab.substrate.build import Substrate


class Evaluator:
    """Recall of the forget targets and of a seeded sample of retain facts (training
    phrasings, filtered top-1 ranking)."""

    def __init__(self, substrate: Substrate, tokenizer: Any, sample: int, seed: int) -> None:
        self.substrate, self.tokenizer = substrate, tokenizer
        self.index = QueryIndex.build(substrate.world)
        retain = list(substrate.splits.retain)
        self.retain = random.Random(seed).sample(retain, min(sample, len(retain)))

    def recall(self, model: PreTrainedModel, facts: list[Any]) -> float:
        """Fraction of (fact, training phrasing) items ranked top-1."""
        records = recall_by_ranking(
            model,
            self.tokenizer,
            self.substrate.world,
            facts,
            lambda t: t.training_frames(),
            index=self.index,
        )
        return sum(r["correct"] for r in records) / max(1, len(records))

    def __call__(self, model: PreTrainedModel) -> dict[str, float]:
        was_training = model.training
        model.eval()
        metrics = {
            "forget_recall": self.recall(model, list(self.substrate.splits.forget)),
            "retain_recall": self.recall(model, self.retain),
        }
        model.train(was_training)
        return metrics


def should_stop(metrics: dict[str, float], config: UnlearnConfig) -> bool:
    """Whether a run stops at this evaluation: forget recall at most ``stop_forget_at``,
    or retain recall below ``stop_retain_below``."""
    forget_done = (
        config.stop_forget_at is not None and metrics["forget_recall"] <= config.stop_forget_at
    )
    retain_lost = (
        config.stop_retain_below is not None and metrics["retain_recall"] < config.stop_retain_below
    )
    return forget_done or retain_lost
