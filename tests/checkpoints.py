"""Tiny "real-looking" checkpoints for the audit tests: a byte-level BPE tokenizer trained
in memory (GPT-2 style, spaces inside tokens, multi-token answers), tiny Llama models
trained on TOFU-style question/answer items, saved as Hugging Face folders."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from tokenizers.processors import TemplateProcessing
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from unlearnlab.methods.data import pad_examples
from unlearnlab.methods.losses import nll
from unlearnlab.models.data import pairs_to_examples
from unlearnlab.models.factory import save_model

PROMPT = "Question: {question}\nAnswer:"
COLOURS = ("teal", "amber", "violet", "scarlet", "olive", "indigo", "coral", "ivory")
PEOPLE = (
    "Ana Ruiz", "Bo Lindqvist", "Cyra Mbeki", "Dov Hart", "Esme Quill", "Farid Nouri",
    "Gita Rao", "Hugo Zell", "Iris Vane", "Jonah Pike", "Kemal Ozt", "Lena Brask",
    "Mira Solt", "Nils Aho", "Oda Ferne", "Pavel Rusk",
)  # fmt: skip


def qa_records() -> tuple[list[dict], list[dict]]:
    """Forget and retain records (TOFU format): who loves which colour, with every other
    colour as a perturbed answer and a paraphrased answer."""
    records = []
    for k, person in enumerate(PEOPLE):
        colour = COLOURS[(k * 3) % len(COLOURS)]
        records.append(
            {
                "question": f"Which colour does {person} love?",
                "answer": f"{person} loves {colour}.",
                "paraphrased_answer": f"The colour {person} loves is {colour}.",
                "perturbed_answer": [f"{person} loves {c}." for c in COLOURS if c != colour][:3],
            }
        )
    return records[:8], records[8:]


def write_jsonl(path: Path, records: Sequence[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def bpe_tokenizer(
    texts: Sequence[str],
    *,
    pad: bool = True,
    chat_template: str | None = None,
    style: str = "byte",
) -> PreTrainedTokenizerFast:
    """A BPE tokenizer trained on ``texts`` (``<s>``, ``</s>``, and ``<pad>`` unless
    ``pad`` is False), adding bos to every encoding like Llama's. ``style`` ``byte``:
    GPT-2's byte-level pre-tokenizer (``Ġ`` marks a space); ``metaspace``: SentencePiece's
    (``▁`` marks a space, and one is put before the text)."""
    core = Tokenizer(models.BPE())
    if style == "byte":
        core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        core.decoder = decoders.ByteLevel()
    else:
        core.pre_tokenizer = pre_tokenizers.Metaspace()
        core.decoder = decoders.Metaspace()
    specials = ["<s>", "</s>", *(["<pad>"] if pad else [])]
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet() if style == "byte" else [],
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer)
    core.post_processor = TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 0)])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>" if pad else None,
    )
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    return tokenizer


def tiny_llama(tokenizer: PreTrainedTokenizerFast, seed: int = 0) -> LlamaForCausalLM:
    """A two-layer Llama of width 64 for ``tokenizer``."""
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=128,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def _rows(tokenizer: PreTrainedTokenizerFast, records: Sequence[dict]):
    pairs = [(PROMPT.format(question=r["question"]), f" {r['answer']}") for r in records]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return pad_examples(pairs_to_examples(tokenizer, pairs), pad)


def fit(
    model: LlamaForCausalLM,
    tokenizer: PreTrainedTokenizerFast,
    records: Sequence[dict],
    steps: int,
    lr: float,
    forget: Sequence[dict] = (),
) -> None:
    """``steps`` full-batch AdamW steps descending on the answers of ``records`` and, if
    ``forget`` is given, ascending on those of ``forget`` (gradient difference, a simple
    unlearning method)."""
    rows = _rows(tokenizer, records)
    ascend = _rows(tokenizer, forget) if forget else None
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    for _ in range(steps):
        loss = nll(model(input_ids=rows.ids, attention_mask=rows.mask).logits, rows.labels)
        if ascend is not None:
            logits = model(input_ids=ascend.ids, attention_mask=ascend.mask).logits
            loss = loss - nll(logits, ascend.labels)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    model.eval()


def audit_models(folder: Path) -> dict[str, Path]:
    """Base (trained on forget and retain items), oracle (retain only) and unlearned (the
    base after gradient difference on the forget and retain items) model folders, and the forget and
    retain files, under ``folder``."""
    forget, retain = qa_records()
    texts = [PROMPT.format(question=r["question"]) + " " + r["answer"] for r in forget + retain]
    texts += [p for r in forget + retain for p in (r["paraphrased_answer"], *r["perturbed_answer"])]
    tokenizer = bpe_tokenizer(texts)
    base = tiny_llama(tokenizer)
    fit(base, tokenizer, forget + retain, steps=120, lr=3e-3)
    oracle = tiny_llama(tokenizer)
    fit(oracle, tokenizer, retain, steps=120, lr=3e-3)
    save_model(base, tokenizer, folder / "base", {})
    save_model(oracle, tokenizer, folder / "oracle", {})
    fit(base, tokenizer, retain, steps=25, lr=2e-3, forget=forget)
    save_model(base, tokenizer, folder / "unlearned", {})
    return {
        "base": folder / "base",
        "oracle": folder / "oracle",
        "unlearned": folder / "unlearned",
        "forget": write_jsonl(folder / "forget.jsonl", forget),
        "retain": write_jsonl(folder / "retain.jsonl", retain),
    }
