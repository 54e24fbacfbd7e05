"""Training checkpoints: model, optimizer and RNG state as safetensors plus one JSON file.

Nothing is pickled. A checkpoint is a folder ``step-00000040`` holding

- ``model.safetensors``: the weights (tied tensors stored once),
- ``optimizer.safetensors``: every tensor of the optimizer state, keyed ``param.name``,
- ``rng.safetensors``: torch (CPU and CUDA) and numpy generator states,
- ``state.json``: the step, optimizer hyper-parameters, python ``random`` state, and
  whatever the training loop adds (config, data fingerprint, losses so far).

It is written to a temporary folder and renamed into place, so a checkpoint that exists
is complete. Only the newest checkpoint is kept.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch

from unlearnlab.errors import UserError
from unlearnlab.io import write_json_atomic

_PREFIX = "step-"


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state dict into tensors (``"param.name"``) and JSON-able rest."""
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for param, values in state["state"].items():
        for name, value in values.items():
            if torch.is_tensor(value):
                tensors[f"{param}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(param), {})[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _restore_optimizer(
    optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], rest: dict[str, Any]
) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        param, name = key.split(".", 1)
        state.setdefault(int(param), {})[name] = value
    for param, values in rest["scalars"].items():
        state.setdefault(int(param), {}).update(values)
    groups = [
        {k: tuple(v) if k == "betas" else v for k, v in group.items()}
        for group in rest["param_groups"]
    ]
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def _rng_tensors() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Every global RNG's state: tensors for safetensors, the rest for JSON."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors = {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(keys.astype(np.int64)),
    }
    if torch.cuda.is_available():
        for i, cuda_state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda.{i}"] = cuda_state
    version, mt_state, gauss = random.getstate()
    rest = {
        "numpy": [kind, pos, has_gauss, cached],
        "python": [version, list(mt_state), gauss],
    }
    return tensors, rest


def _restore_rng(tensors: dict[str, torch.Tensor], rest: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["torch"])
    cuda = [tensors[f"cuda.{i}"] for i in range(len(tensors)) if f"cuda.{i}" in tensors]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    kind, pos, has_gauss, cached = rest["numpy"]
    np.random.set_state(
        (kind, tensors["numpy_keys"].numpy().astype(np.uint32), pos, has_gauss, cached)
    )
    version, mt_state, gauss = rest["python"]
    random.setstate((version, tuple(mt_state), gauss))


def save_checkpoint(
    directory: Path,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    extra: dict[str, Any],
) -> Path:
    """Write the checkpoint after ``step`` steps into ``directory`` and drop older ones.

    ``extra`` must be JSON-serialisable; :func:`load_checkpoint` returns it.
    """
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"{_PREFIX}{step:08d}"
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=directory))
    try:
        safetensors.torch.save_model(model, str(staging / "model.safetensors"))
        opt_tensors, opt_rest = _optimizer_tensors(optimizer)
        safetensors.torch.save_file(opt_tensors, staging / "optimizer.safetensors")
        rng_tensors, rng_rest = _rng_tensors()
        safetensors.torch.save_file(rng_tensors, staging / "rng.safetensors")
        state = {"step": step, "optimizer": opt_rest, "rng": rng_rest, "extra": extra}
        write_json_atomic(staging / "state.json", state)
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for old in directory.glob(f"{_PREFIX}*"):
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(directory: Path) -> Path | None:
    """The newest complete checkpoint in ``directory``, or None; removes stale temp folders."""
    if not directory.is_dir():
        return None
    for stale in directory.glob(f".{_PREFIX}*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    found = sorted(directory.glob(f"{_PREFIX}*"))
    return found[-1] if found else None


def load_checkpoint(
    path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> tuple[int, dict[str, Any]]:
    """Restore model, optimizer and global RNGs from ``path``; return ``(step, extra)``."""
    state = json.loads((path / "state.json").read_text())
    try:
        safetensors.torch.load_model(model, path / "model.safetensors", strict=True)
        opt_tensors = safetensors.torch.load_file(path / "optimizer.safetensors")
        _restore_optimizer(optimizer, opt_tensors, state["optimizer"])
    except (RuntimeError, ValueError, KeyError) as err:
        raise UserError(
            f"checkpoint {path} does not fit this model ({err}); delete {path.parent} to "
            "train from scratch"
        ) from err
    _restore_rng(safetensors.torch.load_file(path / "rng.safetensors"), state["rng"])
    return int(state["step"]), state["extra"]
