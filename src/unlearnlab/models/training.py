"""The one training loop: base and oracle models, later fine-tuning attacks.

AdamW with linear warm-up and cosine decay to a floor, gradient clipping and gradient
accumulation; Accelerate places the model (bf16 autocast only when a GPU is present).
The loss of a step is the mean next-token loss over all loss positions of the step's
rows, so ``batch_size x grad_accum`` splits of the same rows give the same update.
The seed fixes initial RNG state and data order; a checkpoint holds model, optimizer and
RNG state, and resuming from it gives bit-identical final weights.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from accelerate import Accelerator
from pydantic import BaseModel, ConfigDict, Field, model_validator
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from transformers import PreTrainedModel

from unlearnlab.errors import UserError
from unlearnlab.models.data import IGNORE, Example, RowSource, fingerprint
from unlearnlab.models.train_state import latest_checkpoint, load_checkpoint, save_checkpoint

if TYPE_CHECKING:
    from unlearnlab.models.routing import Routing

EvalFn = Callable[[PreTrainedModel, int], Mapping[str, float]]
"""``(model, step) -> metrics``, called in eval mode without gradients every ``eval_every``."""

# Fields that change logging only; a checkpoint may be resumed with other values.
_NOT_TRAJECTORY = {"checkpoint_every", "eval_every"}


class TrainConfig(BaseModel):
    """Everything that determines a training run's result (plus checkpoint/eval cadence)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # optimisation
    lr: float = Field(3e-3, gt=0, le=1)
    """Peak learning rate, reached after warm-up."""
    warmup_steps: int = Field(20, ge=0)
    """Steps of linear warm-up from ``lr / warmup_steps`` to ``lr``."""
    min_lr_ratio: float = Field(0.1, ge=0, le=1)
    """Cosine decay ends at ``lr * min_lr_ratio`` (the floor)."""
    weight_decay: float = Field(0.1, ge=0)
    """Decoupled AdamW weight decay, on matrices and embeddings only (not norms, biases)."""
    betas: tuple[float, float] = (0.9, 0.95)
    """AdamW moment coefficients."""
    grad_clip: float | None = Field(1.0, gt=0)
    """Clip the global gradient norm to this value; None disables clipping."""
    # batching
    batch_size: int = Field(32, ge=1)
    """Rows per forward pass (micro-batch)."""
    grad_accum: int = Field(1, ge=1)
    """Micro-batches per optimizer step; a step sees ``batch_size * grad_accum`` rows."""
    seq_len: int = Field(128, ge=2)
    """Tokens per row."""
    pack: bool = True
    """Pack examples into rows (no padding); False gives one right-padded row per example."""
    # length
    steps: int | None = Field(None, ge=1)
    """Optimizer steps; give this or ``epochs``."""
    epochs: float | None = Field(None, gt=0)
    """Passes over the data (rounded up to whole steps); give this or ``steps``."""
    seed: int = 0
    """Seeds python ``random``, numpy, torch and the data order."""
    # cadence
    checkpoint_every: int | None = Field(None, ge=1)
    """Save a resumable checkpoint every this many steps (needs a checkpoint directory)."""
    eval_every: int | None = Field(None, ge=1)
    """Call the eval callback every this many steps."""

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if (self.steps is None) == (self.epochs is None):
            raise ValueError("give exactly one of steps and epochs")
        if not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must lie in [0, 1), got {list(self.betas)}")
        return self

    @property
    def rows_per_step(self) -> int:
        """Rows of data per optimizer step."""
        return self.batch_size * self.grad_accum

    def total_steps(self, rows_per_epoch: int) -> int:
        """Number of optimizer steps, given the data's rows per epoch."""
        if self.steps is not None:
            return self.steps
        assert self.epochs is not None
        return max(1, math.ceil(self.epochs * rows_per_epoch / self.rows_per_step))


def lr_at(step: int, config: TrainConfig, total_steps: int) -> float:
    """Learning rate of (0-based) ``step``: linear warm-up, then cosine down to the floor."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, total_steps - config.warmup_steps)
    floor = config.lr * config.min_lr_ratio
    return floor + (config.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass(frozen=True)
class TrainResult:
    """What a training run did (over the whole run, including a resumed part)."""

    steps: int
    """Optimizer steps taken in total."""
    final_loss: float
    """Loss of the last step."""
    tokens_per_second: float
    """Input tokens processed per second in this call."""
    seconds: float
    """Wall-clock seconds of this call."""
    losses: list[float]
    """Loss of every step, first to last."""
    evals: list[dict[str, Any]] = field(default_factory=list)
    """``{"step": s, **metrics}`` for each eval callback call."""
    resumed_from: int | None = None
    """Step of the checkpoint this call resumed from, if any."""


def seed_everything(seed: int) -> None:
    """Seed python ``random``, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, foreach=False)


def _progress(show: bool) -> Progress:
    return Progress(
        TextColumn("train"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TextColumn("{task.fields[tps]:,.0f} tok/s"),
        TimeRemainingColumn(),
        disable=not show,
    )


def _resume(
    checkpoint_dir: Path | None,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    identity: dict[str, Any],
) -> tuple[int, dict[str, Any]]:
    """Load the newest checkpoint if there is one; return ``(step, extra)``."""
    found = latest_checkpoint(checkpoint_dir) if checkpoint_dir is not None else None
    if found is None:
        return 0, {"losses": [], "evals": []}
    step, extra = load_checkpoint(found, model, optimizer)
    for key, value in identity.items():
        if extra.get(key) != value:
            raise UserError(
                f"checkpoint {found} was written for a different {key}; train with the same "
                f"config and data, or delete {checkpoint_dir} to start over"
            )
    return step, extra


def make_accelerator() -> Accelerator:
    """The Accelerator of every training loop: bf16 autocast on a GPU, full precision on
    the CPU; under ``accelerate launch`` it joins the launched processes."""
    return Accelerator(mixed_precision="bf16" if torch.cuda.is_available() else "no")


def token_loss(logits: torch.Tensor, labels: torch.Tensor, n_targets: torch.Tensor) -> torch.Tensor:
    """``()`` the summed next-token loss of ``logits`` ``(batch, seq, vocab)`` against
    ``labels`` ``(batch, seq)``, divided by ``n_targets`` (the step's loss positions)."""
    summed = torch.nn.functional.cross_entropy(
        logits.flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE, reduction="sum"
    )  # ()
    return summed / n_targets


def _accumulate_gradients(
    model: torch.nn.Module,
    accelerator: Accelerator,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    config: TrainConfig,
) -> float:
    """Backpropagate one step's loss over its micro-batches; return the step's loss.

    ``inputs`` and ``labels`` are ``(rows_per_step, seq)``. Each micro-batch's summed
    token loss is divided by the loss positions of the whole step, so the accumulated
    gradient is that of the step's mean token loss however the rows are split.
    """
    n_targets = (labels != IGNORE).sum().clamp(min=1)  # () loss positions in the step
    step_loss = torch.zeros((), device=accelerator.device)
    for micro in range(config.grad_accum):
        part = slice(micro * config.batch_size, (micro + 1) * config.batch_size)
        x = inputs[part].to(accelerator.device)  # (batch, seq)
        y = labels[part].to(accelerator.device)  # (batch, seq)
        loss = token_loss(model(input_ids=x).logits, y, n_targets)  # logits (batch, seq, vocab)
        accelerator.backward(loss)
        step_loss += loss.detach()
    return step_loss.item()


def train(
    model: PreTrainedModel,
    examples: Sequence[Example],
    config: TrainConfig,
    *,
    pad_id: int,
    checkpoint_dir: str | Path | None = None,
    evaluate: EvalFn | None = None,
    show_progress: bool = True,
    routing: Routing | None = None,
) -> TrainResult:
    """Train ``model`` in place on ``examples`` as ``config`` says (with ``routing``, the
    gradients of some examples' tokens go to a region of the model only).

    If ``checkpoint_dir`` holds a checkpoint, training resumes from it (the config and data
    must be the same) and ends with the weights an uninterrupted run would have had.
    ``pad_id`` fills the padded end of rows (never a label).
    """
    if config.checkpoint_every is not None and checkpoint_dir is None:
        raise UserError("checkpoint_every is set but no checkpoint directory was given")
    if config.eval_every is not None and evaluate is None:
        raise UserError("eval_every is set but no eval callback was given")
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    rows = RowSource(
        examples, seq_len=config.seq_len, pad_id=pad_id, pack=config.pack, seed=config.seed
    )
    routed = None if routing is None else routing.rows(examples, config)
    total = config.total_steps(rows.rows_per_epoch)
    identity = {
        "config": config.model_dump(mode="json", exclude=_NOT_TRAJECTORY),
        "data": fingerprint(examples),
    }
    seed_everything(config.seed)
    optimizer = _optimizer(model, config)
    accelerator = make_accelerator()
    model, optimizer = accelerator.prepare(model, optimizer)
    start, extra = _resume(ckpt_dir, model, optimizer.optimizer, identity)
    losses: list[float] = extra["losses"]
    evals: list[dict[str, Any]] = extra["evals"]
    params = [p for p in model.parameters() if p.requires_grad]
    tokens_per_step = config.rows_per_step * config.seq_len
    began = time.perf_counter()
    model.train()
    try:
        with _progress(show_progress) as bar:
            task = bar.add_task("train", total=total, completed=start, loss=math.nan, tps=0.0)
            for step in range(start, total):
                for group in optimizer.param_groups:
                    group["lr"] = lr_at(step, config, total)
                inputs, labels = rows.rows(step * config.rows_per_step, config.rows_per_step)
                if routed is None:
                    step_loss = _accumulate_gradients(model, accelerator, inputs, labels, config)
                else:
                    flags = routed.rows(step * config.rows_per_step, config.rows_per_step)[1] == 1
                    step_loss = routing.accumulate(model, inputs, labels, flags, config)
                if config.grad_clip is not None:
                    accelerator.clip_grad_norm_(params, config.grad_clip)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                losses.append(step_loss)
                done = step + 1
                elapsed = time.perf_counter() - began
                tps = (done - start) * tokens_per_step / max(elapsed, 1e-9)
                bar.update(task, completed=done, loss=losses[-1], tps=tps)
                if evaluate is not None and config.eval_every and done % config.eval_every == 0:
                    model.eval()
                    with torch.no_grad():
                        evals.append(
                            {"step": done, **evaluate(accelerator.unwrap_model(model), done)}
                        )
                    model.train()
                if (
                    ckpt_dir is not None
                    and config.checkpoint_every
                    and done % config.checkpoint_every == 0
                ):
                    save_checkpoint(
                        ckpt_dir,
                        done,
                        accelerator.unwrap_model(model),
                        optimizer.optimizer,
                        {**identity, "losses": losses, "evals": evals},
                    )
    finally:
        model = accelerator.unwrap_model(model, keep_fp32_wrapper=False)
        model.eval()
    seconds = time.perf_counter() - began
    return TrainResult(
        steps=total,
        final_loss=losses[-1] if losses else math.nan,
        tokens_per_second=(total - start) * tokens_per_step / max(seconds, 1e-9),
        seconds=seconds,
        losses=losses,
        evals=evals,
        resumed_from=start or None,
    )
