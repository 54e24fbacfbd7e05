"""Attacks on benchmark items: the target and bench that let an attack with
``on_items`` (quantization, relearning) run on the items ``unlearnlab audit`` reads,
exactly as it runs on a world's facts.

Records are :class:`~unlearnlab.probes.items.ItemQueries` records (``item.rank``: the
right answer ranked against the item's wrong answers), so every curve point measures the
same items in the same order on every model. Relearning trains on (prompt, answer)
pairs of items (:func:`~unlearnlab.probes.items.item_pairs`); its ``forget_folds`` are
the items' own folds when every item has one (RTT's ``split_k``), else seeded folds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from unlearnlab.attacks.base import ModelBench, kfold
from unlearnlab.corpus.items import BenchItem
from unlearnlab.errors import UserError
from unlearnlab.methods.base import Tokens
from unlearnlab.methods.data import pad_examples
from unlearnlab.models.data import pairs_to_examples
from unlearnlab.probes.items import ItemQueries, Wrong, item_pairs, prompter, rank_entries
from unlearnlab.probes.scoring import pad_token_id


class ItemBench(ModelBench):
    """Models, tokenizers, item queries and training rows, each made once."""

    def __init__(self, template: str | None, wrong: Wrong, batch_size: int) -> None:
        super().__init__()
        self.template = template
        self.wrong = wrong
        self.batch_size = batch_size
        self._queries: dict[tuple[Path, tuple[BenchItem, ...]], ItemQueries] = {}
        self._rows: dict[tuple[Path, tuple[BenchItem, ...]], Tokens] = {}

    def queries(self, path: Path, measured: Sequence[BenchItem]) -> ItemQueries:
        """``item.rank`` queries of ``measured``, tokenized for the model in ``path``."""
        key = (path, tuple(measured))
        if key not in self._queries:
            ask = prompter(self.tokenizer(path), self.template)
            entries = rank_entries(measured, self.wrong)
            self._queries[key] = ItemQueries.build(ask, entries, self.batch_size)
        return self._queries[key]

    def rows(self, path: Path, trained: Sequence[BenchItem]) -> Tokens:
        """(prompt, answer) rows of ``trained``, loss on the answer and eos."""
        key = (path, tuple(trained))
        if key not in self._rows:
            tokenizer = self.tokenizer(path)
            pairs = item_pairs(prompter(tokenizer, self.template), trained)
            examples = pairs_to_examples(tokenizer, pairs)
            self._rows[key] = pad_examples(examples, pad_token_id(tokenizer))
        return self._rows[key]


@dataclass(frozen=True)
class ItemTarget:
    """What an attack measures on benchmark items and where its data comes from."""

    facts: tuple[BenchItem, ...]
    """The measured items (the forget set); named as :class:`AttackTarget`'s facts."""
    wrong: Wrong
    """Each item's wrong answers (:func:`~unlearnlab.probes.items.wrong_answers`)."""
    retain: tuple[BenchItem, ...] = ()
    """The retain items: relearning's ``retain`` source."""
    template: str | None = None
    """The prompt template (None: each tokenizer's chat template, or the default)."""
    seed: int = 0
    """Seeds data order, folds and torch: equal seeds give identical curves."""
    base: Path | None = None
    """The base model's directory."""
    batch_size: int = 16
    """Rows per forward pass when measuring."""

    @cached_property
    def bench(self) -> ItemBench:
        """Loaded models and tokenized queries shared by the attacks run on this target."""
        return ItemBench(self.template, self.wrong, self.batch_size)

    def source(self, name: str) -> tuple[BenchItem, ...]:
        """The items of data source ``name``: ``retain`` (the retain file's items)."""
        if name != "retain":
            raise UserError(
                f"relearn source {name!r} needs a world; on benchmark items use "
                "forget_folds, forget or retain"
            )
        if not self.retain:
            raise UserError("relearn source retain needs retain items; give --retain FILE")
        return self.retain

    def folds(self, k: int) -> list[tuple[BenchItem, ...]]:
        """The items' own folds when every item has one and there are ``k`` of them
        (RTT), else ``k`` seeded folds."""
        own = sorted({i.fold for i in self.facts if i.fold is not None})
        if len(own) == k and all(i.fold is not None for i in self.facts):
            return [tuple(i for i in self.facts if i.fold == f) for f in own]
        return kfold(self.facts, k, self.seed)
