"""Item probes on real-style tokenizers: byte-level BPE (GPT-2, Llama 3, SmolLM) and
SentencePiece-style (``▁``) tokenizers with multi-token answers, a missing pad token, a
chat template, and bf16 weights."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from checkpoints import PROMPT, bpe_tokenizer, tiny_llama
from unlearnlab.attacks.items import ItemBench
from unlearnlab.corpus.items import BenchItem
from unlearnlab.models.data import continuation, encode_answer, encode_prompt, pairs_to_examples
from unlearnlab.models.factory import load_model, load_tokenizer, save_model
from unlearnlab.probes.items import (
    ItemQueries,
    item_rows,
    prompter,
    rank_entries,
    wrong_answers,
)
from unlearnlab.probes.scoring import encode_ranking
from unlearnlab.probes.tokens import answer_token_stats

TEXTS = [
    "Question: Where was Ana Ruiz born?\nAnswer: Ana Ruiz was born in Leeds.",
    "Question: Where was Bo Li born?\nAnswer: Bo Li was born in Lee County, Iowa.",
    "Question: Which city hosts the archive?\nAnswer: The archive is in Quito.",
]
ITEMS = [
    BenchItem(
        "ana",
        "Where was Ana Ruiz born?",
        "Ana Ruiz was born in Leeds.",
        perturbed_answers=("Ana Ruiz was born in Lee.", "Ana Ruiz was born in Lee County, Iowa."),
    ),
    BenchItem("archive", "Which city hosts the archive?", "Quito", perturbed_answers=("Qu",)),
]


def _brute_mean_logprob(model, tokenizer, prompt: str, answer: str) -> float:
    """Mean log-probability of the answer's tokens, from one unpadded forward pass."""
    p, a = encode_prompt(tokenizer, prompt), encode_answer(tokenizer, answer)
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([p + a])).logits[0].float(), -1)
    return sum(logp[len(p) - 1 + i, t].item() for i, t in enumerate(a)) / len(a)


@pytest.mark.parametrize("style", ["byte", "metaspace"])
def test_multi_token_answers_rank_by_their_mean_log_likelihood(style: str) -> None:
    tokenizer = bpe_tokenizer(TEXTS, style=style)
    model = tiny_llama(tokenizer, seed=3).eval()
    ask = prompter(tokenizer, PROMPT)
    entries = rank_entries(ITEMS, wrong_answers(ITEMS))
    # the right answers are several tokens long and share their first tokens with wrong ones
    ids = [encode_answer(tokenizer, ask.answer(t, "x:")) for t in (ITEMS[0].answer, "Lee.")]
    assert len(ids[0]) > 3 and len(ids[1]) > 1
    records = ItemQueries.build(ask, entries, batch_size=2).records(model)
    for entry, record in zip(entries, records, strict=True):
        prompt = ask.prompt(entry.question)
        scores = [
            _brute_mean_logprob(model, tokenizer, prompt, ask.answer(text, prompt))
            for text in (entry.answer, *entry.wrong)
        ]
        assert math.isclose(record["logprob"], scores[0], abs_tol=1e-4)
        assert record["rank"] == 1 + sum(s >= scores[0] for s in scores[1:])
        assert record["chance"] == 1 / len(scores)


def test_a_tokenizer_without_pad_token_scores_like_one_with_it() -> None:
    tokenizer = bpe_tokenizer(TEXTS)
    model = tiny_llama(tokenizer, seed=1).eval()
    entries = rank_entries(ITEMS, wrong_answers(ITEMS))
    padded = ItemQueries.build(prompter(tokenizer, PROMPT), entries).records(model)
    tokenizer.pad_token = None
    assert tokenizer.pad_token_id is None
    bare = ItemQueries.build(prompter(tokenizer, PROMPT), entries).records(model)
    for a, b in zip(padded, bare, strict=True):
        assert math.isclose(a["logprob"], b["logprob"], abs_tol=1e-5) and a["rank"] == b["rank"]
    # relearning's rows pad with eos when there is no pad token
    bench = ItemBench(PROMPT, wrong_answers(ITEMS), 4)
    bench._tokenizers[Path("m")] = tokenizer
    rows = bench.rows(Path("m"), ITEMS)
    assert rows.ids.shape[0] == 2 and (rows.ids[~rows.mask] == tokenizer.eos_token_id).all()


CHAT = (
    "{% for m in messages %}<s><|user|>{{ m['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def test_the_chat_template_is_the_default_prompt_and_bos_is_not_doubled() -> None:
    tokenizer = bpe_tokenizer(TEXTS, chat_template=CHAT)
    ask = prompter(tokenizer, None)
    prompt = ask.prompt("Where was Ana Ruiz born?")
    assert prompt == "<|user|>Where was Ana Ruiz born?</s><|assistant|>"
    ids = encode_prompt(tokenizer, prompt)
    assert ids.count(tokenizer.bos_token_id) == 1 and ids[0] == tokenizer.bos_token_id
    assert ask.answer("Leeds", prompt) == " Leeds"
    assert ask.answer("Leeds", "assistant\n") == "Leeds"
    # an explicit template wins over the chat template; without either, the default
    assert prompter(tokenizer, "Q: {question}\nA:").prompt("Why?") == "Q: Why?\nA:"
    assert prompter(bpe_tokenizer(TEXTS), None).prompt("Why?") == "Question: Why?\nAnswer:"


def test_bf16_weights_load_as_float32_and_probe(tmp_path: Path) -> None:
    tokenizer = bpe_tokenizer(TEXTS)
    model = tiny_llama(tokenizer, seed=2).to(torch.bfloat16)
    folder = save_model(model, tokenizer, tmp_path / "bf16", {})
    loaded = load_model(folder)
    assert next(loaded.parameters()).dtype == torch.float32
    weight = loaded.get_input_embeddings().weight
    assert torch.equal(weight, model.get_input_embeddings().weight.float())
    rows = item_rows(
        loaded,
        prompter(load_tokenizer(folder), None),
        ITEMS,
        wrong_answers(ITEMS),
        max_new_tokens=4,
    )
    assert {r.probe for r in rows} == {"item.rank", "item.generate"}
    assert all(
        r.value is not None and 0 <= r.value <= 1 for r in rows if r.probe == "item.generate"
    )


@pytest.mark.parametrize(
    ("prompt", "text", "expected"),
    [
        ("Q: Who? A:", "Ann Lee.", " Ann Lee."),
        ("Q: Who? A: ", "Ann Lee.", "Ann Lee."),
        ("Q: Who? A:", " Ann Lee.", " Ann Lee."),
        ("", "Ann Lee.", "Ann Lee."),
        ("Q: Who? A:", "", ""),
    ],
)
def test_a_continuation_follows_its_prompt_after_one_space(
    prompt: str, text: str, expected: str
) -> None:
    assert continuation(prompt, text) == expected


@pytest.mark.parametrize("style", ["byte", "metaspace"])
def test_world_queries_encode_answers_as_the_corpus_writes_them(style: str) -> None:
    """The world's documents read "Q: ... A: Ann Lee." (the answer after a space): ranking,
    token statistics and answer-only training encode the answer with that space, which a
    sub-word tokenizer keeps inside the first token (before, "Ann" was encoded bare, a
    token sequence no document contains, and a checkpoint fine-tuned on a world ranked
    its own answers last)."""
    tokenizer = bpe_tokenizer(["Q: Who is the mother of Bo Li? A: Ann Lee. Cy Fox."], style=style)
    prompt = "Q: Who is the mother of Bo Li? A:"
    spaced = encode_answer(tokenizer, " Ann Lee.")
    if style == "byte":  # SentencePiece's metaspace puts the space before any text
        assert spaced != encode_answer(tokenizer, "Ann Lee.")
    document = encode_prompt(tokenizer, f"{prompt} Ann Lee.")
    assert document == encode_prompt(tokenizer, prompt) + spaced
    ranking = encode_ranking(tokenizer, [prompt], ["Ann Lee"], [["Cy Fox", "Ann Lee"]], suffix=".")
    assert ranking.option_ids == [[encode_answer(tokenizer, " Cy Fox."), spaced]]
    (example,) = pairs_to_examples(tokenizer, [(prompt, "Ann Lee.")])
    assert example.ids.tolist()[: len(document)] == document
    model = tiny_llama(tokenizer, seed=0).eval()
    (stats,) = answer_token_stats(model, tokenizer, [prompt], ["Ann Lee."])
    assert len(stats.logprobs) == len(spaced)
