"""Fine-tuning relearning: a few steps of full fine-tuning on one data source.

Sources: ``forget_folds`` (the "retraining on T" protocol: the measured facts are split
into ``folds`` seeded folds; each fold is measured after training on the others, so a
fact is never trained on where it is measured), ``forget`` (the measured facts
themselves), ``retain`` and ``unrelated`` (the substrate's splits of those names). Rows
are every training phrasing and the question form of each fact, with loss on the answer
(:func:`unlearnlab.methods.data.fact_pairs`); plain constant-rate AdamW on every weight
(``adapter: full``) or on LoRA adapters only (``adapter: lora``, Hu et al. 2021, "LoRA:
Low-Rank Adaptation of Large Language Models"), as the unlearning loop builds them.

On benchmark items (:class:`~unlearnlab.attacks.items.ItemTarget`, ``unlearnlab audit``)
the target gives the folds (the items' own, as RTT's, when they have them), ``retain`` is
the retain items, and the rows are (prompt, answer) pairs of items.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from unlearnlab.attacks.base import Attack, AttackTarget, Curve, CurvePoint, check_schedule, measure
from unlearnlab.attacks.registry import attack
from unlearnlab.errors import UserError
from unlearnlab.methods.base import Tokens
from unlearnlab.methods.config import LoraSpec
from unlearnlab.methods.data import batch_rows, select
from unlearnlab.methods.loop import with_adapters
from unlearnlab.methods.losses import nll
from unlearnlab.models.training import seed_everything
from unlearnlab.worlds.kg import Fact

Source = Literal["forget_folds", "forget", "retain", "unrelated"]


class RelearnParams(BaseModel):
    """Relearning data, schedule and optimizer."""

    model_config = ConfigDict(extra="forbid")

    source: Source = "forget_folds"
    """Where the training facts come from (see the module docstring)."""
    folds: int = Field(2, ge=2)
    """With source forget_folds: k, the number of folds (train on k - 1, measure one)."""
    steps: tuple[int, ...] = (0, 1, 2, 4, 8, 16, 32, 64, 128)
    """Steps at which recall is measured; strictly increasing, from 0."""
    lr: float = Field(1e-3, gt=0, le=1)
    """Constant AdamW learning rate (no weight decay)."""
    batch_size: int = Field(16, ge=1)
    """Rows per step (seeded epochs of the source's rows)."""
    grad_clip: float | None = Field(1.0, gt=0)
    """Clip the global gradient norm; null disables."""
    adapter: Literal["full", "lora"] = "full"
    """Fine-tune every weight, or LoRA adapters only (the attacked weights stay frozen)."""
    lora: LoraSpec = Field(default_factory=LoraSpec)
    """With adapter lora: rank ``r``, ``alpha``, ``dropout``, ``target_modules``."""

    @field_validator("steps")
    @classmethod
    def _schedule(cls, steps: tuple[int, ...]) -> tuple[int, ...]:
        return check_schedule(steps)

    @model_validator(mode="after")
    def _folds_only_with_folds(self) -> RelearnParams:
        if self.source != "forget_folds" and "folds" in self.model_fields_set:
            raise ValueError(f"folds applies to source forget_folds only, not {self.source}")
        if self.adapter != "lora" and "lora" in self.model_fields_set:
            raise ValueError("lora settings apply to adapter lora only; set adapter: lora")
        return self


@attack("relearn")
class Relearn(Attack):
    """Full fine-tuning on a data source; recall measured at the configured steps."""

    Params = RelearnParams
    on_items = True

    def run(self, model_dir: Path, target: AttackTarget) -> Curve:
        """The curve of ``target.facts``; with folds, each point merges the folds' records
        (every fact measured in the fold that left it out), in ``target.facts`` order."""
        params: RelearnParams = self.params  # type: ignore[assignment]
        if params.source == "forget_folds":
            folds = target.folds(params.folds)
            runs = [
                ([f for j, other in enumerate(folds) if j != i for f in other], fold)
                for i, fold in enumerate(folds)
            ]
        else:
            source = target.facts if params.source == "forget" else target.source(params.source)
            runs = [(list(source), target.facts)]
        by_fact: list[dict[str, list[dict[str, Any]]]] = [defaultdict(list) for _ in params.steps]
        for train_facts, measured in runs:
            curve = self._train(model_dir, target, train_facts, measured)
            for slot, point in zip(by_fact, curve, strict=True):
                for record in point.records:
                    slot[record["fact"]].append(record)
        return [
            CurvePoint(step, [r for fact in target.facts for r in slot[str(fact)]])
            for step, slot in zip(params.steps, by_fact, strict=True)
        ]

    def _train(
        self,
        model_dir: Path,
        target: AttackTarget,
        train_facts: Sequence[Fact],
        measured: Sequence[Fact],
    ) -> Curve:
        params: RelearnParams = self.params  # type: ignore[assignment]
        if not train_facts:
            raise UserError(f"relearn source {params.source} has no facts in this world")
        bench = target.bench
        rows = bench.rows(model_dir, train_facts)
        queries = bench.queries(model_dir, measured)
        seed_everything(target.seed)
        model = bench.model(model_dir)
        net = with_adapters(model, params.lora) if params.adapter == "lora" else model
        curve = [CurvePoint(0, bench.untouched(model_dir, measured))]
        for step in relearn_steps(net, rows, params, target.seed):
            curve.append(CurvePoint(step, measure(net, queries)))
        return curve


def relearn_steps(
    net: torch.nn.Module, rows: Tokens, params: RelearnParams, seed: int
) -> Iterator[int]:
    """Fine-tune ``net`` in place on ``rows`` as ``params`` say (constant-rate AdamW, no
    weight decay, seeded batches), yielding each step count of ``params.steps`` after 0
    once that many steps are taken (``net`` is in train mode)."""
    weights = [w for w in net.parameters() if w.requires_grad]
    optimizer = torch.optim.AdamW(weights, lr=params.lr, weight_decay=0.0, foreach=True)
    net.train()
    for step in range(params.steps[-1]):
        picked = batch_rows(len(rows.ids), params.batch_size, step, seed, "relearn")
        batch = select(rows, picked)
        logits = net(input_ids=batch.ids, attention_mask=batch.mask).logits  # (b, s, v)
        loss = nll(logits, batch.labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if params.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(weights, params.grad_clip)
        optimizer.step()
        if step + 1 in params.steps:
            yield step + 1
