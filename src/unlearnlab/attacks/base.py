"""What an attack is: a typed parameter model and ``run(model_dir, target) -> Curve``.

An attack starts from a model directory and returns a recovery curve: recall records of
the measured facts at each point of the attack (optimizer steps for relearning; 0 for
the untouched model and 1 for a one-shot edit such as quantization). The same attack
with the same target and seed runs on the unlearned model, the base model and the oracle
(:func:`unlearnlab.attacks.run.attack_models`), so the curves are comparable item by item.
"""

from __future__ import annotations

import copy
import itertools
import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Protocol

import torch
from pydantic import BaseModel
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearnlab.errors import UserError
from unlearnlab.methods.base import Tokens
from unlearnlab.methods.data import fact_pairs, pad_examples
from unlearnlab.models.data import pairs_to_examples
from unlearnlab.models.factory import load_model, load_tokenizer
from unlearnlab.probes.knowledge import QueryIndex, RecallQueries
from unlearnlab.substrate.build import Substrate
from unlearnlab.worlds.kg import Fact, World


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


class Queries(Protocol):
    """Measurement queries tokenized once for one model's tokenizer: recall queries of
    world facts, or benchmark item queries (:mod:`unlearnlab.attacks.items`)."""

    def records(self, model: PreTrainedModel) -> list[dict[str, Any]]:
        """One record per measured item (``fact``, ``template``, ``correct``, ...)."""
        ...


class ModelBench(ABC):
    """What repeated attack runs on the same models share: every model loaded once
    (attacks get a fresh copy to change), every tokenizer loaded once, and the records
    of every untouched model measured once (the step 0 of every attack that starts
    there). Subclasses say what is measured (:meth:`queries`) and trained on
    (:meth:`rows`)."""

    def __init__(self) -> None:
        self._models: dict[Path, PreTrainedModel] = {}
        self._tokenizers: dict[Path, PreTrainedTokenizerBase] = {}
        self._untouched: dict[tuple[Path, tuple[Any, ...]], list[dict[str, Any]]] = {}

    def model(self, path: Path) -> PreTrainedModel:
        """A fresh copy of the model in ``path`` (loaded from disk the first time)."""
        if path not in self._models:
            self._models[path] = load_model(path)
        return copy.deepcopy(self._models[path])

    def tokenizer(self, path: Path) -> PreTrainedTokenizerBase:
        """The tokenizer saved with the model in ``path``."""
        if path not in self._tokenizers:
            self._tokenizers[path] = load_tokenizer(path)
        return self._tokenizers[path]

    @abstractmethod
    def queries(self, path: Path, measured: Sequence[Any]) -> Queries:
        """The queries measuring ``measured``, tokenized for the model in ``path``."""

    @abstractmethod
    def rows(self, path: Path, trained: Sequence[Any]) -> Tokens:
        """Training rows of ``trained`` (loss on the answers), tokenized for ``path``."""

    def untouched(self, path: Path, measured: Sequence[Any]) -> list[dict[str, Any]]:
        """Records of ``measured`` on the model in ``path`` as stored."""
        key = (path, tuple(measured))
        if key not in self._untouched:
            self._untouched[key] = measure(self.model(path), self.queries(path, measured))
        return self._untouched[key]


class Workbench(ModelBench):
    """The bench of a world's facts: recall queries in the facts' training phrasings,
    each set tokenized once, and training rows of facts."""

    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world
        self.index = QueryIndex.build(world)
        self._queries: dict[tuple[Path, tuple[Fact, ...]], RecallQueries] = {}
        self._rows: dict[tuple[Path, tuple[Fact, ...]], Tokens] = {}

    def queries(self, path: Path, facts: Sequence[Fact]) -> RecallQueries:
        """Recall queries of ``facts`` in their training phrasings, tokenized for ``path``."""
        key = (path, tuple(facts))
        if key not in self._queries:
            self._queries[key] = RecallQueries.build(
                self.tokenizer(path),
                self.world,
                list(facts),
                lambda t: t.training_frames(),
                index=self.index,
            )
        return self._queries[key]

    def rows(self, path: Path, facts: Sequence[Fact]) -> Tokens:
        """Training rows of ``facts`` (every training phrasing and the question, loss on
        the answer; :func:`unlearnlab.methods.data.fact_pairs`), tokenized for ``path``."""
        key = (path, tuple(facts))
        if key not in self._rows:
            tokenizer = self.tokenizer(path)
            pairs = [(p, a) for p, a, _ in fact_pairs(facts, self.index.texts)]
            pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
            self._rows[key] = pad_examples(pairs_to_examples(tokenizer, pairs), pad)
        return self._rows[key]


@dataclass(frozen=True)
class AttackTarget:
    """What an attack measures and where its data comes from."""

    substrate: Substrate
    """The world, splits and corpora (data sources such as retain or unrelated facts)."""
    facts: tuple[Fact, ...]
    """The facts whose recall the curve records (usually the forget targets)."""
    seed: int = 0
    """Seeds data order, folds and torch: equal seeds give identical curves."""
    base: Path | None = None
    """The base model's directory, for attacks that compare a model with it (direction
    ablation); :func:`unlearnlab.attacks.run.attack_models` fills it in."""

    @cached_property
    def bench(self) -> Workbench:
        """Loaded models and tokenized queries shared by the attacks run on this target."""
        return Workbench(self.substrate.world)

    def source(self, name: str) -> tuple[Fact, ...]:
        """The facts of data source ``name`` (``retain``, ``unrelated``): the split of
        that name."""
        return tuple(getattr(self.substrate.splits, name))

    def folds(self, k: int) -> list[tuple[Fact, ...]]:
        """The measured facts dealt into ``k`` seeded folds (:func:`kfold`)."""
        return kfold(self.facts, k, self.seed)


def kfold(facts: Sequence[Any], k: int, seed: int) -> list[tuple[Any, ...]]:
    """``facts`` shuffled with ``seed`` and dealt into ``k`` disjoint, non-empty folds."""
    if len(facts) < k:
        raise UserError(f"{k} folds need at least {k} measured facts, got {len(facts)}")
    order = list(facts)
    random.Random(f"unlearnlab-folds:{seed}").shuffle(order)
    return [tuple(order[i::k]) for i in range(k)]


def check_schedule(points: tuple[int, ...]) -> tuple[int, ...]:
    """``points`` if they start at 0 and strictly increase (a params validator's check);
    a ``ValueError`` otherwise."""
    if not points or points[0] != 0 or any(b <= a for a, b in itertools.pairwise(points)):
        raise ValueError(f"must start at 0 and strictly increase, got {list(points)}")
    return points


def measure(model: torch.nn.Module, queries: Queries) -> list[dict[str, Any]]:
    """Recall records of ``queries`` (filtered top-1 ranking), with the model in eval mode
    and its previous mode restored afterwards."""
    was_training = model.training
    model.eval()
    records = queries.records(model)
    model.train(was_training)
    return records


class Attack(ABC):
    """Base class of attacks; subclasses set ``Params`` and implement :meth:`run`."""

    name: ClassVar[str] = ""
    """Registered name (set by ``@attack``)."""
    Params: ClassVar[type[BaseModel]] = BaseModel
    """The attack's typed parameters (``extra="forbid"``)."""
    on_items: ClassVar[bool] = False
    """Whether it also attacks benchmark items (:class:`unlearnlab.attacks.items.ItemTarget`,
    what ``unlearnlab audit`` attacks), not only a world's facts."""

    def __init__(self, params: BaseModel) -> None:
        self.params = params

    @abstractmethod
    def run(self, model_dir: Path, target: AttackTarget) -> Curve:
        """Attack the model in ``model_dir`` (never modified on disk); return its curve."""
