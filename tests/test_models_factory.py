"""Model factory: spec validation, seeded construction, safetensors save and reload."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase

from unlearnlab.corpus.tokenizer import build_tokenizer
from unlearnlab.errors import UserError
from unlearnlab.models.factory import (
    SIDECAR,
    ModelSpec,
    build_model,
    count_parameters,
    load_model,
    load_tokenizer,
    save_model,
)

TINY = ModelSpec(hidden_size=32, layers=2, heads=2, intermediate_size=64, max_positions=64)


@pytest.fixture
def tokenizer(tmp_path: Path) -> PreTrainedTokenizerBase:
    return build_tokenizer(["Ann is the mother of Lee.", "Bob is the father of Lee."], tmp_path)


def test_default_spec_is_about_one_million_parameters(tmp_path: Path) -> None:
    spec = ModelSpec()
    assert (spec.layers, spec.hidden_size, spec.tie_embeddings) == (4, 128, True)
    words = build_tokenizer([" ".join(f"w{i}" for i in range(996))], tmp_path / "words")
    assert len(words) == 1000
    model = build_model(spec, words, seed=0)
    assert count_parameters(model) == 981_120
    assert model.config.num_hidden_layers == 4
    assert model.dtype == torch.float32


def test_parameter_count_matches_formula(tokenizer: PreTrainedTokenizerBase) -> None:
    model = build_model(TINY, tokenizer, seed=0)
    d, f, vocab = 32, 64, len(tokenizer)
    assert count_parameters(model) == 2 * (4 * d * d + 3 * d * f + 2 * d) + vocab * d + d
    untied = build_model(TINY.model_copy(update={"tie_embeddings": False}), tokenizer, seed=0)
    assert count_parameters(untied) == count_parameters(model) + vocab * d


def test_same_seed_same_weights_other_seed_other_weights(
    tokenizer: PreTrainedTokenizerBase,
) -> None:
    a = build_model(TINY, tokenizer, seed=3).state_dict()
    b = build_model(TINY, tokenizer, seed=3).state_dict()
    c = build_model(TINY, tokenizer, seed=4).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["model.embed_tokens.weight"], c["model.embed_tokens.weight"])


def test_build_does_not_disturb_global_rng(tokenizer: PreTrainedTokenizerBase) -> None:
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    build_model(TINY, tokenizer, seed=9)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"hidden_size": 30, "heads": 4}, "must divide hidden_size"),
        ({"hidden_size": 24, "heads": 8}, "must be even"),
        ({"layers": 0}, "greater than or equal to 1"),
        ({"hiden_size": 64}, "Extra inputs are not permitted"),
        ({"path": "x", "layers": 2}, "either path or architecture fields"),
    ],
)
def test_bad_specs_are_rejected(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ModelSpec.model_validate(fields)


def test_a_recorded_spec_validates_again() -> None:
    """What a model's sidecar records (the dump) is a valid spec: a checkpoint's spec
    leaves out the architecture fields that do not apply to it (before, probing a
    fine-tuned checkpoint failed on its own recorded config)."""
    checkpoint = ModelSpec(path=Path("ckpt"), dtype="bfloat16")
    assert checkpoint.model_dump(mode="json") == {"path": "ckpt", "dtype": "bfloat16"}
    assert ModelSpec.model_validate(checkpoint.model_dump(mode="json")) == checkpoint
    scratch = ModelSpec(layers=2)
    assert ModelSpec.model_validate(scratch.model_dump(mode="json")) == scratch
    assert scratch.model_dump()["layers"] == 2


def test_saved_model_reloads_with_identical_logits(
    tokenizer: PreTrainedTokenizerBase, tmp_path: Path
) -> None:
    model = build_model(TINY, tokenizer, seed=1)
    sidecar = {"spec": TINY.model_dump(mode="json"), "train": {"lr": 0.01}}
    out = save_model(model, tokenizer, tmp_path / "models" / "m", sidecar)
    assert (out / "model.safetensors").is_file()
    assert not list(out.glob("*.bin"))
    assert json.loads((out / SIDECAR).read_text()) == sidecar
    assert [p.name for p in out.parent.iterdir()] == ["m"]  # no temp folder left behind
    ids = torch.tensor(tokenizer(["Ann is the mother of Lee."])["input_ids"])  # (1, seq)
    reloaded = AutoModelForCausalLM.from_pretrained(out, use_safetensors=True)
    with torch.no_grad():
        assert torch.equal(model(ids).logits, reloaded(ids).logits)
    assert AutoTokenizer.from_pretrained(out)("Ann")["input_ids"] == tokenizer("Ann")["input_ids"]


def test_checkpoint_path_takes_the_same_code_path(
    tokenizer: PreTrainedTokenizerBase, tmp_path: Path
) -> None:
    model = build_model(TINY, tokenizer, seed=1)
    out = save_model(model, tokenizer, tmp_path / "ckpt", {})
    loaded = build_model(ModelSpec(path=out), load_tokenizer(out), seed=123)
    ids = torch.tensor([[2, 5, 6, 7]])  # (1, seq)
    with torch.no_grad():
        assert torch.equal(model(ids).logits, loaded(ids).logits)
    as_bf16 = build_model(ModelSpec(path=out, dtype="bfloat16"), tokenizer, seed=0)
    assert as_bf16.dtype == torch.bfloat16


def test_missing_or_unsafe_checkpoints_are_user_errors(
    tokenizer: PreTrainedTokenizerBase, tmp_path: Path
) -> None:
    with pytest.raises(UserError, match=r"nowhere does not exist"):
        load_model(tmp_path / "nowhere")
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text("{}")
    (pickled / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(UserError, match=r"pickled has no safetensors weights"):
        build_model(ModelSpec(path=pickled), tokenizer, seed=0)
    with pytest.raises(UserError, match="no tokenizer"):
        load_tokenizer(pickled)


def test_save_refuses_to_overwrite(tokenizer: PreTrainedTokenizerBase, tmp_path: Path) -> None:
    model = build_model(TINY, tokenizer, seed=1)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="already exists and is not empty"):
        save_model(model, tokenizer, tmp_path / "taken", {})
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"
