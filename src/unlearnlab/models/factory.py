"""Model factory: tiny Llama models built from scratch, or any local HF checkpoint.

Both kinds end up as a ``transformers`` causal LM and take the same code path afterwards.
Checkpoints are read with ``use_safetensors=True`` and ``trust_remote_code=False`` (never
pickle, never code from the checkpoint), and written as standard Hugging Face model
directories: ``config.json``, ``model.safetensors``, the tokenizer files, and
``unlearnlab.json``, a sidecar with the exact spec and training config.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from unlearnlab.errors import UserError
from unlearnlab.io import write_json_atomic

SIDECAR = "unlearnlab.json"
"""Name of the JSON file, next to the weights, that records how a model was made."""

_ARCHITECTURE_FIELDS = frozenset(
    {"hidden_size", "layers", "heads", "intermediate_size", "max_positions", "tie_embeddings"}
)
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class ModelSpec(BaseModel):
    """Which model to use: a tiny Llama trained from scratch, or a local checkpoint.

    Give ``path`` for a checkpoint, or any of the architecture fields (or nothing, for the
    default of about 1M parameters with a vocabulary of a thousand words); not both.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path | None = None
    """A local Hugging Face causal-LM directory with safetensors weights and a tokenizer."""
    hidden_size: int = Field(128, ge=8, le=16384)
    """Width of the residual stream."""
    layers: int = Field(4, ge=1, le=256)
    """Number of transformer blocks."""
    heads: int = Field(4, ge=1, le=256)
    """Attention heads per block; must divide ``hidden_size``."""
    intermediate_size: int = Field(384, ge=8, le=65536)
    """Width of the gated MLP (SwiGLU), 3x ``hidden_size`` by default."""
    max_positions: int = Field(512, ge=8, le=1_048_576)
    """Longest sequence the model is built for (rotary embeddings, no learned positions)."""
    tie_embeddings: bool = True
    """Share the input embedding and output projection (fewer parameters)."""
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    """Parameter dtype after building or loading; keep float32 for training."""

    @model_validator(mode="after")
    def _check(self) -> ModelSpec:
        if self.path is not None and self.model_fields_set & _ARCHITECTURE_FIELDS:
            given = ", ".join(sorted(self.model_fields_set & _ARCHITECTURE_FIELDS))
            raise ValueError(
                f"give either path or architecture fields, not both (got path and {given}); "
                "a checkpoint's architecture comes from its config.json"
            )
        if self.hidden_size % self.heads:
            raise ValueError(
                f"heads ({self.heads}) must divide hidden_size ({self.hidden_size}); "
                "change one of them"
            )
        if (self.hidden_size // self.heads) % 2:
            raise ValueError(
                f"hidden_size / heads = {self.hidden_size // self.heads} must be even "
                "(rotary embeddings rotate pairs of dimensions)"
            )
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Without the architecture fields when ``path`` is given (they do not apply), so
        that a recorded spec validates again."""
        data: dict[str, Any] = handler(self)
        if self.path is None:
            return data
        return {k: v for k, v in data.items() if k not in _ARCHITECTURE_FIELDS}


def build_model(
    spec: ModelSpec, tokenizer: PreTrainedTokenizerBase, *, seed: int
) -> PreTrainedModel:
    """Build the model ``spec`` describes: freshly initialised from ``seed``, or loaded.

    A from-scratch model gets ``tokenizer``'s vocabulary size and special-token ids. A
    checkpoint is loaded as it is (``seed`` does not apply) and must fit ``tokenizer``.
    """
    if spec.path is not None:
        model = load_model(spec.path, dtype=spec.dtype)
        if model.get_input_embeddings().num_embeddings < len(tokenizer):
            raise UserError(
                f"{spec.path}: the model has {model.get_input_embeddings().num_embeddings} "
                f"embeddings but the tokenizer has {len(tokenizer)} tokens; use the "
                "checkpoint's own tokenizer"
            )
        return model
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.layers,
        num_attention_heads=spec.heads,
        num_key_value_heads=spec.heads,
        max_position_embeddings=spec.max_positions,
        tie_word_embeddings=spec.tie_embeddings,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    return model.to(_DTYPES[spec.dtype])


def _check_checkpoint_dir(path: Path) -> None:
    """Raise a :class:`UserError` unless ``path`` looks like a safetensors HF checkpoint."""
    if not path.is_dir():
        raise UserError(
            f"model directory {path} does not exist; give the path of a local Hugging Face "
            "checkpoint (a folder with config.json and *.safetensors)"
        )
    if not (path / "config.json").is_file():
        raise UserError(f"{path} has no config.json; give the folder that save_pretrained wrote")
    if not any(path.glob("*.safetensors")):
        raise UserError(
            f"{path} has no safetensors weights (*.safetensors); unlearnlab never loads "
            "pickled weights: convert the checkpoint with save_pretrained(..., "
            "safe_serialization=True)"
        )


def load_model(path: str | os.PathLike[str], *, dtype: str = "float32") -> PreTrainedModel:
    """Load the causal LM in ``path`` from safetensors, without running code it contains."""
    directory = Path(path)
    _check_checkpoint_dir(directory)
    model = AutoModelForCausalLM.from_pretrained(
        directory, use_safetensors=True, trust_remote_code=False, dtype=_DTYPES[dtype]
    )
    model.eval()
    return model


def load_tokenizer(path: str | os.PathLike[str]) -> PreTrainedTokenizerBase:
    """Load the tokenizer saved next to a model in ``path``."""
    directory = Path(path)
    if not any(
        (directory / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json")
    ):
        raise UserError(
            f"{directory} has no tokenizer (tokenizer.json or tokenizer_config.json); save "
            "the tokenizer next to the model with tokenizer.save_pretrained"
        )
    return AutoTokenizer.from_pretrained(directory, trust_remote_code=False)


def save_model(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    target: str | os.PathLike[str],
    sidecar: Mapping[str, Any],
) -> Path:
    """Save ``model``, ``tokenizer`` and the JSON ``sidecar`` as one HF model directory.

    Everything is written to a temporary folder next to ``target`` and renamed into place,
    so ``target`` never holds a half-written model. ``target`` must not exist or be empty.
    Returns ``target`` as a :class:`Path`.
    """
    final = Path(target)
    if final.exists() and (not final.is_dir() or any(final.iterdir())):
        raise UserError(f"{final} already exists and is not empty; delete it or pick a new path")
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        write_json_atomic(staging / SIDECAR, dict(sidecar))
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def count_parameters(model: torch.nn.Module) -> int:
    """Number of distinct parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in model.parameters())
