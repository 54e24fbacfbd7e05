"""What an attack is: a typed parameter model and ``run(model_dir, target) -> Curve``.

An attack starts from a model directory and returns a recovery curve: recall records of
the measured facts at each point of the attack (optimizer steps for relearning; 0 for
the untouched model and 1 for a one-shot edit such as quantization). The same attack
with the same target and seed runs on the unlearned model, the base model and the oracle
(:func:`unlearnlab.attacks.run.attack_models`), so the curves are comparable item by item.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearnlab.experiments.substrate import Substrate
from unlearnlab.probes.knowledge import QueryIndex, recall_by_ranking
from unlearnlab.worlds.kg import Fact


@dataclass(frozen=True)
class CurvePoint:
    """Recall of the measured facts at one point of an attack."""

    step: int
    """Optimizer steps taken (relearning), or 0/1 before/after a one-shot edit."""
    records: list[dict[str, Any]]
    """One record per (fact, phrasing), in the same order at every point and on every
    model (see :func:`unlearnlab.probes.knowledge.recall_by_ranking`)."""


Curve = list[CurvePoint]
"""A recovery curve: points in increasing step order."""


@dataclass(frozen=True)
class AttackTarget:
    """What an attack measures and where its data comes from."""

    substrate: Substrate
    """The world, splits and corpora (data sources such as retain or unrelated facts)."""
    facts: tuple[Fact, ...]
    """The facts whose recall the curve records (usually the forget targets)."""
    seed: int = 0
    """Seeds data order, folds and torch: equal seeds give identical curves."""


def check_schedule(points: tuple[int, ...]) -> tuple[int, ...]:
    """``points`` if they start at 0 and strictly increase (a params validator's check);
    a ``ValueError`` otherwise."""
    if not points or points[0] != 0 or any(b <= a for a, b in itertools.pairwise(points)):
        raise ValueError(f"must start at 0 and strictly increase, got {list(points)}")
    return points


def measure(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    target: AttackTarget,
    facts: Sequence[Fact],
    index: QueryIndex,
) -> list[dict[str, Any]]:
    """Recall records of ``facts`` in their training phrasings (filtered top-1 ranking),
    with the model in eval mode and its previous mode restored afterwards."""
    was_training = model.training
    model.eval()
    records = recall_by_ranking(
        model,
        tokenizer,
        target.substrate.world,
        list(facts),
        lambda t: t.training_frames(),
        index=index,
    )
    model.train(was_training)
    return records


class Attack(ABC):
    """Base class of attacks; subclasses set ``Params`` and implement :meth:`run`."""

    name: ClassVar[str] = ""
    """Registered name (set by ``@attack``)."""
    Params: ClassVar[type[BaseModel]] = BaseModel
    """The attack's typed parameters (``extra="forbid"``)."""

    def __init__(self, params: BaseModel) -> None:
        self.params = params

    @abstractmethod
    def run(self, model_dir: Path, target: AttackTarget) -> Curve:
        """Attack the model in ``model_dir`` (never modified on disk); return its curve."""
