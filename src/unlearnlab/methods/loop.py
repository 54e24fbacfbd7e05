"""The one unlearning loop: every loss method runs through :func:`unlearn` (one run) or
:func:`unlearn_trajectory` (one run stopped at several step counts, each stop stored as
the run of that many steps would be).

AdamW at a constant rate (after an optional linear warm-up) on the trainable weights (all,
a method's selection, or LoRA adapters), one forget batch (with its refusal rows) and one
retain batch per step, placed by Accelerate (bf16 autocast on a GPU; ``accelerate launch``
spreads a large checkpoint over GPUs), recall probes every ``eval_every`` steps with early
stopping, and the result stored in the model store under role ``unlearned``, keyed by the
base model's key, the method, its resolved parameters, learning rate and steps, the forget
set and the seed. ``retrain`` returns the oracle from the store.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from copy import deepcopy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel

from unlearnlab.methods.base import Batch, Method
from unlearnlab.methods.config import LoraSpec, UnlearnConfig
from unlearnlab.methods.data import UnlearnData, batch_rows, build_data, select
from unlearnlab.methods.evaluate import Evaluator, should_stop
from unlearnlab.methods.losses import logged_nll
from unlearnlab.methods.registry import get_method
from unlearnlab.models.compute import FlopCounter, counting, recorded_flops
from unlearnlab.models.factory import SIDECAR, load_model, load_tokenizer, save_model
from unlearnlab.models.store import ModelStore, cache_key
from unlearnlab.models.training import make_accelerator, seed_everything
from unlearnlab.substrate.build import Substrate, train_reference_model

StepFn = Callable[[dict[str, Any]], None]
"""Called with each step's record (and each evaluation's) as it is made."""


@dataclass(frozen=True)
class UnlearnResult:
    """Where an unlearned model is and how it got there."""

    path: Path
    key: str
    cached: bool
    seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)
    """One record per step: loss, forget and retain NLL of the step's batches."""
    evals: list[dict[str, Any]] = field(default_factory=list)
    """One record per evaluation: step, forget and retain recall."""
    flops: float | None = None
    """FLOPs spent to make the model from the base model (:mod:`unlearnlab.models.compute`;
    None for a model stored before they were recorded)."""


def run_key(substrate: Substrate, config: UnlearnConfig) -> str:
    """The store key of a run (the oracle's key for ``retrain``, the key of its own model
    for a training-time method)."""
    method = get_method(config.method)
    if method.kind in ("exact", "training"):
        return method(config.resolved_params()).model_key(substrate, config)
    return cache_key(
        role="unlearned",
        base=substrate.key("base"),
        method=config.method,
        params=config.resolved_params().model_dump(mode="json"),
        loop=config.model_dump(mode="json", exclude={"method", "params", "grid", "lr", "steps"}),
        lr=config.resolved_lr(),
        steps=config.resolved_steps(),
    )


def _trainable(model: torch.nn.Module, method: Method, lora: bool) -> list[torch.nn.Parameter]:
    """Mark and return the parameters the run updates."""
    chosen = []
    for name, param in model.named_parameters():
        wanted = method.trains(name) and (not lora or "lora_" in name)
        param.requires_grad_(wanted)
        if wanted:
            chosen.append(param)
    if not chosen:
        raise ValueError(f"method {method.name} selects no trainable parameters of this model")
    return chosen


def with_adapters(model: PreTrainedModel, spec: LoraSpec) -> torch.nn.Module:
    """``model`` wrapped with PEFT LoRA adapters as ``spec`` says (base weights frozen,
    adapters initialised from torch's global generator: seed first); ``merge_and_unload()``
    folds them back into plain weights."""
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=spec.r,
        lora_alpha=spec.alpha,
        lora_dropout=spec.dropout,
        target_modules=list(spec.target_modules),
    )
    return get_peft_model(model, lora)


@dataclass(frozen=True)
class Checkpoint:
    """A run's model after ``steps`` steps, exactly as a run of that many steps ends."""

    steps: int
    model: PreTrainedModel
    """On the CPU, adapters merged, :meth:`Method.finalize` applied, frozen."""
    history: list[dict[str, Any]]
    """The step records up to here."""
    evals: list[dict[str, Any]]
    """The evaluation records up to here."""
    flops: float
    """FLOPs of the steps up to here and of this checkpoint's :meth:`Method.finalize`
    (evaluations and step logging not counted)."""


def unlearning_trajectory(
    model: PreTrainedModel,
    reference: PreTrainedModel | None,
    method: Method,
    data: UnlearnData,
    config: UnlearnConfig,
    stops: Sequence[int],
    evaluate: Callable[[PreTrainedModel], dict[str, float]] | None = None,
    on_step: StepFn | None = None,
) -> Iterator[Checkpoint]:
    """Run ``method`` on ``model`` (weights change in place or through LoRA) for the
    largest of ``stops`` steps and yield a :class:`Checkpoint` at each of ``stops``.

    Nothing in a step depends on the run's length (learning rate and batches a pure
    function of the step), so the checkpoint at ``k`` equals the end of a run of ``k``
    steps; after an early stop, every later stop is the stopped model, as a longer run
    would also have stopped there. Accelerate places the model, the reference and each
    batch on its device; ``config.steps`` is not read."""
    with counting(model, reference) as counter:
        yield from _trajectory(
            model, reference, method, data, config, stops, counter, evaluate, on_step
        )


def _trajectory(
    model: PreTrainedModel,
    reference: PreTrainedModel | None,
    method: Method,
    data: UnlearnData,
    config: UnlearnConfig,
    stops: Sequence[int],
    counter: FlopCounter,
    evaluate: Callable[[PreTrainedModel], dict[str, float]] | None,
    on_step: StepFn | None,
) -> Iterator[Checkpoint]:
    """:func:`unlearning_trajectory` with ``counter`` watching the model and the reference."""
    stops = sorted(set(stops))
    seed_everything(config.seed)
    base = {n: p.detach().clone() for n, p in model.named_parameters()}
    method.prepare(model, config.seed)
    lora = config.adapter == "lora"
    net: torch.nn.Module = with_adapters(model, config.lora) if lora else model
    params = _trainable(net, method, lora)
    optimizer = torch.optim.AdamW(params, lr=config.resolved_lr(), weight_decay=0.0)
    accelerator = make_accelerator()
    net, optimizer = accelerator.prepare(net, optimizer)
    device = accelerator.device
    if reference is not None:
        reference.to(device)
    history: list[dict[str, Any]] = []
    evals: list[dict[str, Any]] = []
    finalized = 0.0  # FLOPs of the finalize calls of earlier checkpoints
    net.train()
    for step in range(stops[-1]):
        rows = batch_rows(len(data.forget.ids), config.forget_batch, step, config.seed, "forget")
        retain_rows = batch_rows(
            len(data.retain.ids), config.retain_batch, step, config.seed, "retain"
        )
        batch = Batch(
            net,
            reference,
            select(data.forget, rows).to(device),
            select(data.retain, retain_rows).to(device),
            select(data.refusal, rows).to(device),
        )
        loss = method.loss(batch)
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        with torch.no_grad(), counter.paused():
            record = {
                "step": step + 1,
                "loss": loss.item(),
                "forget_nll": logged_nll(batch, batch.forget),
                "retain_nll": logged_nll(batch, batch.retain),
            }
        if config.grad_clip is not None:
            accelerator.clip_grad_norm_(params, config.grad_clip)
        for group in optimizer.param_groups:
            group["lr"] = config.resolved_lr() * warmup_factor(step, config.warmup_steps)
        optimizer.step()
        history.append(record)
        if on_step is not None:
            on_step(record)
        stopped = False
        if evaluate is not None and config.eval_every and (step + 1) % config.eval_every == 0:
            with counter.paused():
                metrics = {"step": step + 1, **evaluate(accelerator.unwrap_model(net))}
            evals.append(metrics)
            if on_step is not None:
                on_step(metrics)
            stopped = should_stop(metrics, config)
        last = step + 1 == stops[-1] or stopped
        if last or step + 1 in stops:
            before = counter.flops
            final = _snapshot(accelerator, net, lora, method, base, data, copy=not last)
            spent = counter.flops - before  # this checkpoint's finalize
            flops = before - finalized + spent  # the steps so far, and this finalize
            finalized += spent
            for k in (k for k in stops if k >= step + 1) if last else (step + 1,):
                with counter.paused():  # the caller evaluates the model meanwhile
                    yield Checkpoint(k, final, list(history), list(evals), flops)
            if last:
                return


def _snapshot(
    accelerator: Any,
    net: torch.nn.Module,
    lora: bool,
    method: Method,
    base: dict[str, torch.Tensor],
    data: UnlearnData,
    *,
    copy: bool,
) -> PreTrainedModel:
    """The trained model as a run ending now returns it (a copy when training goes on)."""
    model = accelerator.unwrap_model(net)
    if copy:
        model = deepcopy(model)
    model = accelerator.unwrap_model(model, keep_fp32_wrapper=False)
    model.eval()
    final = (model.merge_and_unload() if lora else model).to("cpu")
    for param in final.parameters():
        param.requires_grad_(False)
    method.finalize(final, base, data)
    return final


def warmup_factor(step: int, warmup_steps: int) -> float:
    """The learning-rate multiplier of 0-based ``step``: ``(step + 1) / warmup_steps``
    during the warm-up, 1 after it (and without one)."""
    return min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0


def train_unlearning(
    model: PreTrainedModel,
    reference: PreTrainedModel | None,
    method: Method,
    data: UnlearnData,
    config: UnlearnConfig,
    evaluate: Callable[[PreTrainedModel], dict[str, float]] | None = None,
    on_step: StepFn | None = None,
) -> tuple[PreTrainedModel, list[dict[str, Any]], list[dict[str, Any]]]:
    """Run ``method`` on ``model`` for the config's resolved steps; return the final model
    on the CPU (see :class:`Checkpoint`), the step records and the evaluations."""
    stops = (config.resolved_steps(),)
    (end,) = unlearning_trajectory(model, reference, method, data, config, stops, evaluate, on_step)
    return end.model, end.history, end.evals


def unlearn(
    substrate: Substrate,
    config: UnlearnConfig,
    store: ModelStore,
    *,
    on_step: StepFn | None = None,
    show_progress: bool = False,
) -> UnlearnResult:
    """Unlearn ``substrate``'s forget set from its base model as ``config`` says (one run;
    expand grids first). A run already in the store is returned without training."""
    (result,) = unlearn_trajectory(
        substrate,
        config,
        [config.resolved_steps()],
        store,
        on_step=on_step,
        show_progress=show_progress,
    )
    return result


def at_steps(config: UnlearnConfig, steps: int) -> UnlearnConfig:
    """``config`` as a run of ``steps`` steps."""
    return config.model_copy(update={"steps": steps})


def unlearn_trajectory(
    substrate: Substrate,
    config: UnlearnConfig,
    steps: Sequence[int],
    store: ModelStore,
    *,
    on_step: StepFn | None = None,
    show_progress: bool = False,
) -> list[UnlearnResult]:
    """``config`` run once and stopped at each of ``steps``: one result per entry of
    ``steps``, in order, each stored under the key of a run of that many steps (and equal
    to it: :func:`unlearning_trajectory`). Points already in the store are not trained
    again; the run goes as far as the last missing one."""
    began = time.perf_counter()
    cls = get_method(config.method)
    if cls.kind in ("exact", "training"):
        trainer = cls(config.resolved_params())
        cached = store.get(trainer.model_key(substrate, config)) is not None
        path = trainer.train_model(substrate, config, store, show_progress=show_progress)
        key = trainer.model_key(substrate, config)
        flops = recorded_flops(path)
        seconds = time.perf_counter() - began
        return [UnlearnResult(path, key, cached, seconds, flops=flops) for _ in steps]
    base_path = train_reference_model(substrate, "base", store, show_progress=show_progress)
    keys = {k: run_key(substrate, at_steps(config, k)) for k in steps}
    results: dict[int, UnlearnResult] = {}
    for k, key in keys.items():
        if store.get(key) is not None:
            sidecar = json.loads((store.root / key / SIDECAR).read_text(encoding="utf-8"))
            seconds = time.perf_counter() - began
            history, evals = sidecar["history"], sidecar["evals"]
            flops = recorded_flops(store.root / key)
            results[k] = UnlearnResult(store.root / key, key, True, seconds, history, evals, flops)
    missing = sorted(k for k in keys if k not in results)
    if missing:
        tokenizer = load_tokenizer(base_path)
        model = load_model(base_path)
        reference = load_model(base_path) if cls.uses_reference else None
        if reference is not None:
            reference.requires_grad_(False)
        deep = None if config.deep_set == "minimum" else int(config.deep_set)
        data = build_data(
            substrate, tokenizer, config.forget_set, deep, config.seed, config.forget_tokens
        )
        evaluator = Evaluator(substrate, tokenizer, config.retain_sample, config.seed)
        method = cls(config.resolved_params())
        run = unlearning_trajectory(
            model, reference, method, data, config, missing, evaluator, on_step
        )
        for point in run:
            evals = [*point.evals, {"step": "final", **evaluator(point.model)}]
            point_config = at_steps(config, point.steps)
            path = _store_point(substrate, point_config, store, point, tokenizer, data, evals)
            seconds = time.perf_counter() - began
            key = keys[point.steps]
            results[point.steps] = UnlearnResult(
                path, key, False, seconds, point.history, evals, point.flops
            )
    return [results[k] for k in steps]


def _store_point(
    substrate: Substrate,
    config: UnlearnConfig,
    store: ModelStore,
    point: Checkpoint,
    tokenizer: Any,
    data: UnlearnData,
    evals: list[dict[str, Any]],
) -> Path:
    """Save one checkpoint of a run in the store under its run's key."""
    key = run_key(substrate, config)
    sidecar = {
        "role": "unlearned",
        "cache_key": key,
        "base_key": substrate.key("base"),
        "experiment": substrate.config.name,
        "method": config.method,
        "params": config.resolved_params().model_dump(mode="json"),
        "lr": config.resolved_lr(),
        "steps": config.resolved_steps(),
        "passed_params": config.params,
        "config": config.model_dump(mode="json"),
        "forget_facts": [str(f) for f in data.forget_facts],
        "history": point.history,
        "evals": evals,
        "flops": point.flops,
    }
    world = str(substrate.world.metadata.get("name", substrate.config.name))
    meta = {
        "experiment": substrate.config.name,
        "method": config.method,
        "base": substrate.key("base"),
    }
    return store.put(
        key,
        lambda target: save_model(point.model, tokenizer, target, sidecar),
        role="unlearned",
        world=world,
        meta=meta,
    )
