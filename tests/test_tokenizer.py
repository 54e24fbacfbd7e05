"""Word-level tokenizer: vocabulary, splitting, exact round trip, determinism, HF loading."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoTokenizer

from unlearnlab.corpus.tokenizer import SPECIAL_TOKENS, build_tokenizer
from unlearnlab.errors import UserError

CORPUS = [
    "Ann is the mother of Lee.",
    "Lee's mother is Ann.",
    "Who is the mother of Lee? Ann!",
    "Bob is Lee's father.\nSo Bob is the husband of Ann.",
    "Step 1: Ann is the mother of Lee.\n\nStep 2:  Lee is the mother of Cy.",
    "Cy (born 1987) is Lee's son, and Lee's mother is Ann.",
]


def test_special_tokens_have_fixed_ids(tmp_path: Path) -> None:
    tok = build_tokenizer(CORPUS, tmp_path)
    assert tok.convert_tokens_to_ids(list(SPECIAL_TOKENS)) == [0, 1, 2, 3]
    assert (tok.pad_token_id, tok.unk_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2, 3)


def test_words_punctuation_and_clitics_split(tmp_path: Path) -> None:
    tok = build_tokenizer(CORPUS, tmp_path)
    ids = tok("Lee's mother is Ann.")["input_ids"]
    assert tok.convert_ids_to_tokens(ids) == ["<bos>", "▁Lee", "'s", "▁mother", "▁is", "▁Ann", "."]
    # The name is the same token before "'s", before ".", at the start, and after a newline.
    lee = tok.convert_tokens_to_ids("▁Lee")
    for text in ["Lee.", "Lee's", "Lee", " Lee", "x\nLee"]:
        assert tok(text, add_special_tokens=False)["input_ids"][-2:].count(lee) == 1, text


def test_round_trip_is_exact_on_corpus(tmp_path: Path) -> None:
    tok = build_tokenizer(CORPUS, tmp_path)
    for text in CORPUS:
        ids = tok(text)["input_ids"]
        assert tok.unk_token_id not in ids
        assert tok.decode(ids, skip_special_tokens=True) == text


def test_unknown_word_maps_to_unk(tmp_path: Path) -> None:
    tok = build_tokenizer(CORPUS, tmp_path)
    ids = tok("Zed is Ann", add_special_tokens=False)["input_ids"]
    assert ids == [tok.unk_token_id, *tok(" is Ann", add_special_tokens=False)["input_ids"]]


def test_vocabulary_is_frequency_then_codepoint_order(tmp_path: Path) -> None:
    tok = build_tokenizer(["b a b", "c a b"], tmp_path)
    # counts: ▁b 3, ▁a 2, ▁c 1
    assert tok.convert_ids_to_tokens([4, 5, 6]) == ["▁b", "▁a", "▁c"]
    assert len(tok) == 7


def test_same_documents_give_byte_identical_files(tmp_path: Path) -> None:
    build_tokenizer(CORPUS, tmp_path / "a")
    build_tokenizer(list(reversed(CORPUS)), tmp_path / "b")
    build_tokenizer(CORPUS[:-1], tmp_path / "c")
    a = (tmp_path / "a" / "tokenizer.json").read_bytes()
    assert a == (tmp_path / "b" / "tokenizer.json").read_bytes()
    assert a != (tmp_path / "c" / "tokenizer.json").read_bytes()


def test_auto_tokenizer_loads_the_same_tokenizer(tmp_path: Path) -> None:
    built = build_tokenizer(CORPUS, tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    for text in CORPUS:
        assert loaded(text)["input_ids"] == built(text)["input_ids"]
        assert loaded.decode(loaded(text)["input_ids"], skip_special_tokens=True) == text
    assert (loaded.pad_token, loaded.eos_token, loaded.bos_token) == ("<pad>", "<eos>", "<bos>")


def test_min_count_drops_rare_words_and_empty_corpus_fails(tmp_path: Path) -> None:
    tok = build_tokenizer(["a a b"], tmp_path / "t", min_count=2)
    assert tok.convert_tokens_to_ids("▁b") == tok.unk_token_id
    with pytest.raises(UserError, match="no text"):
        build_tokenizer([], tmp_path / "empty")
