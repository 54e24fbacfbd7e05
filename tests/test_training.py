"""The training loop: schedule, packing, masks, determinism, resume, accumulation, learning."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearnlab.corpus.tokenizer import build_tokenizer
from unlearnlab.errors import UserError
from unlearnlab.models.data import (
    IGNORE,
    Example,
    RowSource,
    documents_to_examples,
    pairs_to_examples,
)
from unlearnlab.models.factory import ModelSpec, build_model
from unlearnlab.models.training import TrainConfig, lr_at, train

NAMES = ["Ann", "Bob", "Cy", "Di", "Ed", "Flo", "Gus", "Hal"]
FACTS = [f"{a} is the parent of {b}." for a, b in zip(NAMES, NAMES[1:] + NAMES[:1], strict=True)]
PAIRS = [
    (f"Who is the parent of {b}?", f"{a}.")
    for a, b in zip(NAMES, NAMES[1:] + NAMES[:1], strict=True)
]
TINY = ModelSpec(hidden_size=32, layers=2, heads=2, intermediate_size=64, max_positions=64)
BASE = TrainConfig(steps=12, batch_size=4, seq_len=16, lr=1e-2, warmup_steps=3, seed=7)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> PreTrainedTokenizerBase:
    return build_tokenizer([*FACTS, "Who is the parent of Ann?"], tmp_path_factory.mktemp("tok"))


def _model(tokenizer: PreTrainedTokenizerBase, seed: int = 0) -> PreTrainedModel:
    return build_model(TINY, tokenizer, seed=seed)


def _weights(model: PreTrainedModel) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_schedule_hand_computed() -> None:
    config = TrainConfig(steps=6, lr=1.0, warmup_steps=2, min_lr_ratio=0.1)
    got = [lr_at(s, config, 6) for s in range(6)]
    cosine = [0.1 + 0.45 * (1 + math.cos(math.pi * p)) for p in (0, 0.25, 0.5, 0.75)]
    assert got == pytest.approx([0.5, 1.0, *cosine], abs=1e-12)
    assert got[4] == pytest.approx(0.55)


def test_document_and_pair_masks(tokenizer: PreTrainedTokenizerBase) -> None:
    [doc] = documents_to_examples(tokenizer, ["Ann is the parent of Bob."])
    assert doc.ids.tolist()[0] == tokenizer.bos_token_id
    assert doc.ids.tolist()[-1] == tokenizer.eos_token_id
    assert doc.loss_mask.tolist() == [False] + [True] * 8
    [pair] = pairs_to_examples(tokenizer, [("Who is the parent of Ann?", "Hal.")])
    prompt_len = len(tokenizer("Who is the parent of Ann?")["input_ids"])
    assert pair.loss_mask.tolist() == [False] * prompt_len + [True, True, True]
    assert tokenizer.decode(pair.ids[pair.loss_mask]) == "Hal.<eos>"


def test_packing_uses_every_target_once_per_epoch(tokenizer: PreTrainedTokenizerBase) -> None:
    examples = documents_to_examples(tokenizer, FACTS)
    source = RowSource(examples, seq_len=5, pad_id=0, pack=True, seed=1)
    total = sum(len(ex.ids) for ex in examples)
    assert source.rows_per_epoch == math.ceil((total - 1) / 5)
    inputs, labels = source.rows(0, source.rows_per_epoch)  # (rows, 5) each
    # Rows are consecutive windows of one stream: labels are the inputs shifted by one.
    stream = torch.cat([inputs.flatten(), labels.flatten()[-1:]])
    assert torch.equal(inputs.flatten()[1:], stream[1:-1])
    kept = labels[labels != IGNORE]
    expected = Counter(t for ex in examples for t in ex.ids[ex.loss_mask].tolist())
    assert Counter(kept.tolist()) == expected
    # Only the tail of the last row is padding.
    assert (inputs[:-1] != 0).all()
    # Epoch 2 is another order of the same examples; step rows cross epoch borders.
    second, _ = source.rows(source.rows_per_epoch, source.rows_per_epoch)
    assert not torch.equal(second, inputs)
    assert Counter(second.flatten().tolist()) == Counter(inputs.flatten().tolist())
    straddle, _ = source.rows(source.rows_per_epoch - 1, 2)
    assert torch.equal(straddle[0], inputs[-1]) and torch.equal(straddle[1], second[0])


def test_unpacked_rows_are_right_padded_pairs(tokenizer: PreTrainedTokenizerBase) -> None:
    [pair] = pairs_to_examples(tokenizer, [("Who is the parent of Ann?", "Hal.")])
    source = RowSource([pair], seq_len=12, pad_id=0, pack=False, seed=0)
    inputs, labels = source.rows(0, 1)  # (1, 12) each
    n = len(pair.ids)
    assert inputs[0, : n - 1].tolist() == pair.ids[:-1].tolist()
    assert (inputs[0, n - 1 :] == 0).all()
    assert labels[0].tolist() == [IGNORE] * (n - 4) + pair.ids[-3:].tolist() + [IGNORE] * (13 - n)
    with pytest.raises(UserError, match="raise seq_len to at least 10"):
        RowSource([pair], seq_len=4, pad_id=0, pack=False, seed=0)


def test_same_seed_same_weights_and_losses(tokenizer: PreTrainedTokenizerBase) -> None:
    examples = documents_to_examples(tokenizer, FACTS)
    runs = []
    for seed in (7, 7, 8):
        model = _model(tokenizer)
        config = BASE.model_copy(update={"seed": seed})
        result = train(model, examples, config, pad_id=0, show_progress=False)
        runs.append((_weights(model), result.losses))
    assert _same(runs[0][0], runs[1][0]) and runs[0][1] == runs[1][1]
    assert not _same(runs[0][0], runs[2][0])  # the seed changes the data order


def test_resumed_run_equals_uninterrupted_run(
    tokenizer: PreTrainedTokenizerBase, tmp_path: Path
) -> None:
    examples = documents_to_examples(tokenizer, FACTS)
    straight = _model(tokenizer)
    expected = train(straight, examples, BASE, pad_id=0, show_progress=False)

    def interrupt(model: PreTrainedModel, step: int) -> dict[str, float]:
        if step == 7:
            raise KeyboardInterrupt
        return {"step_seen": float(step)}

    config = BASE.model_copy(update={"checkpoint_every": 3, "eval_every": 1})
    first = _model(tokenizer)
    with pytest.raises(KeyboardInterrupt):
        train(
            first,
            examples,
            config,
            pad_id=0,
            checkpoint_dir=tmp_path,
            evaluate=interrupt,
            show_progress=False,
        )
    [ckpt] = tmp_path.iterdir()
    assert ckpt.name == "step-00000006"
    assert sorted(p.suffix for p in ckpt.iterdir()) == [".json", *[".safetensors"] * 3]
    resumed = _model(tokenizer, seed=99)  # the checkpoint's weights replace these
    result = train(resumed, examples, BASE, pad_id=0, checkpoint_dir=tmp_path, show_progress=False)
    assert result.resumed_from == 6
    assert _same(_weights(straight), _weights(resumed))
    assert result.losses == expected.losses
    assert [e["step"] for e in result.evals] == [1, 2, 3, 4, 5, 6]
    other = BASE.model_copy(update={"lr": 2e-2})
    with pytest.raises(UserError, match="different config"):
        train(
            _model(tokenizer),
            examples,
            other,
            pad_id=0,
            checkpoint_dir=tmp_path,
            show_progress=False,
        )


def test_accumulation_8x1_equals_4x2_with_uneven_masks(
    tokenizer: PreTrainedTokenizerBase,
) -> None:
    # Answers of different lengths: micro-batches hold different numbers of loss tokens.
    pairs = [(p, " ".join(NAMES[: 1 + i % 4]) + ".") for i, (p, _) in enumerate(PAIRS)]
    examples = pairs_to_examples(tokenizer, pairs)
    losses, weights = [], []
    for batch, accum in ((8, 1), (4, 2), (2, 4)):
        model = _model(tokenizer)
        config = BASE.model_copy(
            update={"batch_size": batch, "grad_accum": accum, "pack": False, "steps": 5}
        )
        losses.append(train(model, examples, config, pad_id=0, show_progress=False).losses)
        weights.append(_weights(model))
    for other in (1, 2):
        assert losses[other] == pytest.approx(losses[0], rel=1e-5)
        for name, value in weights[0].items():
            torch.testing.assert_close(weights[other][name], value, rtol=1e-4, atol=1e-5)


def test_loss_goes_down_on_memorisation(tokenizer: PreTrainedTokenizerBase) -> None:
    examples = pairs_to_examples(tokenizer, PAIRS)
    config = BASE.model_copy(
        update={
            "steps": 120,
            "lr": 1e-2,
            "warmup_steps": 5,
            "weight_decay": 0.0,
            "batch_size": 8,
            "seq_len": 12,
            "pack": False,
            "eval_every": 60,
        }
    )
    seen: list[tuple[int, bool]] = []

    def probe(model: PreTrainedModel, step: int) -> dict[str, float]:
        seen.append((step, model.training))
        return {"one": 1.0}

    spec = TINY.model_copy(update={"hidden_size": 64, "intermediate_size": 128})
    model = build_model(spec, tokenizer, seed=0)
    result = train(model, examples, config, pad_id=0, evaluate=probe, show_progress=False)
    assert result.steps == 120 and len(result.losses) == 120
    assert result.losses[0] > 0.9 * math.log(len(tokenizer))  # untrained: about uniform
    # Loss on (name, ".", eos) is ln(8) / 3 once "." and eos are learnt; far below it, the
    # eight names are memorised too.
    assert result.final_loss < 0.6 * math.log(8) / 3
    assert seen == [(60, False), (120, False)]
    assert result.evals == [{"step": s, "one": 1.0} for s in (60, 120)]
    assert result.tokens_per_second > 0 and result.seconds > 0


def test_epochs_set_the_number_of_steps(tokenizer: PreTrainedTokenizerBase) -> None:
    examples = [Example(torch.arange(4, 14), torch.ones(10, dtype=torch.bool))] * 6  # 60 tokens
    config = TrainConfig(epochs=2.5, batch_size=2, grad_accum=2, seq_len=8)
    # 60 tokens -> ceil(59 / 8) = 8 rows per epoch; 2.5 epochs = 20 rows = 5 steps of 4.
    assert (
        config.total_steps(
            RowSource(examples, seq_len=8, pad_id=0, pack=True, seed=0).rows_per_epoch
        )
        == 5
    )


def test_config_and_argument_errors(tokenizer: PreTrainedTokenizerBase) -> None:
    with pytest.raises(ValidationError, match="exactly one of steps and epochs"):
        TrainConfig(steps=3, epochs=1.0)
    with pytest.raises(ValidationError, match="Extra inputs"):
        TrainConfig.model_validate({"steps": 3, "learning_rate": 0.1})
    examples = documents_to_examples(tokenizer, FACTS)
    with pytest.raises(UserError, match="no checkpoint directory"):
        train(
            _model(tokenizer),
            examples,
            BASE.model_copy(update={"checkpoint_every": 2}),
            pad_id=0,
            show_progress=False,
        )
    with pytest.raises(UserError, match="no training examples"):
        train(_model(tokenizer), [], BASE, pad_id=0, show_progress=False)
