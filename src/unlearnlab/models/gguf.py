"""Import a GGUF file (llama.cpp's format) as a standard Hugging Face model directory.

``transformers`` reads GGUF files (with the ``gguf`` package) and de-quantizes their
weights to float32, but the model it returns is flagged as GGUF-quantized and refuses
``save_pretrained``. :func:`import_gguf` therefore rebuilds a plain model of the same
config, loads the de-quantized weights into it, and saves it with its tokenizer (chat
template included) through :func:`unlearnlab.models.factory.save_model`: safetensors
weights, loadable by ``AutoModelForCausalLM.from_pretrained``. The weights keep the
rounding of the file's quantization (a Q4_1 file gives a model whose weights lie on
4-bit levels), which is the model the file describes.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from unlearnlab.errors import UserError
from unlearnlab.models.factory import save_model


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def import_gguf(file: str | Path, out: str | Path) -> Path:
    """Convert the GGUF ``file`` into a Hugging Face directory ``out`` (which must not
    exist or be empty); returns ``out``. The sidecar records the file's name and sha256."""
    source = Path(file)
    if not source.is_file():
        raise UserError(f"GGUF file {source} does not exist; give the path of a .gguf file")
    if importlib.util.find_spec("gguf") is None:
        raise UserError("reading GGUF files needs the gguf package: pip install 'unlearnlab[gguf]'")
    with source.open("rb") as handle:
        if handle.read(4) != b"GGUF":
            raise UserError(f"{source} is not a GGUF file (it does not start with 'GGUF')")
    folder, name = source.parent, source.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        flagged = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    except (ValueError, KeyError, NotImplementedError) as exc:
        raise UserError(
            f"{source}: transformers cannot read this GGUF file ({exc}); it reads the "
            "architectures and quantization types listed in its GGUF documentation"
        ) from None
    config = flagged.config
    config.quantization_config = None
    del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(flagged.state_dict())
    model.generation_config = flagged.generation_config
    model.eval()
    sidecar = {"source": "gguf", "file": name, "sha256": _sha256(source)}
    return save_model(model, tokenizer, out, sidecar)
