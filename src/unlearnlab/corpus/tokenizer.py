"""Word-level tokenizer for synthetic worlds, built with Hugging Face ``tokenizers``.

Every word is one token, so an entity name is one embedding and a fact is a handful of
tokens. Words carry a ``▁`` marker for the space before them (as in SentencePiece), so
decoding is exact: ``decode(encode(text)) == text`` for any text whose words are in the
vocabulary. Punctuation and the clitic ``'s`` are tokens of their own: ``"Lee's."`` is
``▁Lee``, ``'s``, ``.``. A word after a newline still gets its ``▁`` marker (the newline is
its own token), so ``Ann`` is the same token at the start of a line as inside one.

The tokenizer adds ``<bos>`` in front of every encoded text (as Llama tokenizers do);
training appends ``<eos>`` after each document.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from unlearnlab.errors import UserError
from unlearnlab.io import write_atomic, write_json_atomic

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIAL_TOKENS = (PAD, UNK, BOS, EOS)
"""Special tokens, in id order: ``<pad>`` is 0, ``<unk>`` 1, ``<bos>`` 2, ``<eos>`` 3."""

_SPACE = "▁"
# A word with its space marker, the clitic 's, one punctuation mark (with its space
# marker), a lone space marker (a second space in a row), or one other whitespace char.
_PIECE = r"▁?\w+|'s\b|▁?[^\w\s▁]|▁|\s"


def _empty_tokenizer(vocab: dict[str, int]) -> Tokenizer:
    """A word-level tokenizer over ``vocab`` with the normalizer, splitter and decoder."""
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    # "\n" -> "\n ": the word after a newline gets its space marker like any other word.
    tok.normalizer = normalizers.Replace("\n", "\n ")
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=_SPACE, prepend_scheme="always", split=False),
            pre_tokenizers.Split(Regex(_PIECE), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.Sequence(
        [
            decoders.Replace(_SPACE, " "),
            decoders.Fuse(),
            decoders.Replace("\n ", "\n"),
            decoders.Strip(" ", 1, 0),
        ]
    )
    if BOS in vocab:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, vocab[BOS])]
        )
    return tok


def _count_words(documents: Iterable[str]) -> Counter[str]:
    """Count the word-level tokens (with their ``▁`` markers) of ``documents``."""
    splitter = _empty_tokenizer({UNK: 0})
    assert splitter.normalizer is not None and splitter.pre_tokenizer is not None
    counts: Counter[str] = Counter()
    for doc in documents:
        normalized = splitter.normalizer.normalize_str(doc)
        counts.update(piece for piece, _ in splitter.pre_tokenizer.pre_tokenize_str(normalized))
    return counts


def build_tokenizer(
    documents: Iterable[str], out_dir: str | os.PathLike[str], *, min_count: int = 1
) -> PreTrainedTokenizerFast:
    """Build a word-level tokenizer from ``documents`` and save it to ``out_dir``.

    The vocabulary is the special tokens (ids 0-3, see :data:`SPECIAL_TOKENS`) followed by
    every word seen at least ``min_count`` times, most frequent first, ties in code-point
    order, so the same documents always give a byte-identical ``tokenizer.json``.
    ``out_dir`` receives ``tokenizer.json`` and ``tokenizer_config.json`` (plus
    ``special_tokens_map.json``), loadable with ``transformers.AutoTokenizer``.
    """
    if min_count < 1:
        raise UserError(f"min_count must be at least 1, got {min_count}")
    counts = _count_words(documents)
    words = sorted(
        (w for w, c in counts.items() if c >= min_count and w not in SPECIAL_TOKENS),
        key=lambda w: (-counts[w], w),
    )
    if not words:
        raise UserError("cannot build a tokenizer from no text; pass at least one document")
    vocab = {token: i for i, token in enumerate([*SPECIAL_TOKENS, *words])}
    fast = _wrap(_empty_tokenizer(vocab))
    _save(fast, out_dir)
    return fast


def _wrap(tok: Tokenizer) -> PreTrainedTokenizerFast:
    """Wrap a ``tokenizers.Tokenizer`` built here as a ``transformers`` tokenizer."""
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=UNK,
        pad_token=PAD,
        padding_side="right",
        clean_up_tokenization_spaces=False,
        model_max_length=1_000_000,
    )


def _save(tokenizer: PreTrainedTokenizerFast, out_dir: str | os.PathLike[str]) -> None:
    """Save ``tokenizer`` to ``out_dir`` in the Hugging Face layout, file by file atomically.

    ``tokenizer.json`` is written with sorted keys so that it is byte-identical for
    identical vocabularies.
    """
    target = Path(out_dir)
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    write_atomic(target / "tokenizer.json", json.dumps(spec, ensure_ascii=False, sort_keys=True))
    write_json_atomic(
        target / "tokenizer_config.json",
        {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": BOS,
            "eos_token": EOS,
            "unk_token": UNK,
            "pad_token": PAD,
            "padding_side": tokenizer.padding_side,
            "clean_up_tokenization_spaces": False,
            "model_max_length": tokenizer.model_max_length,
        },
    )
    write_json_atomic(
        target / "special_tokens_map.json",
        {"bos_token": BOS, "eos_token": EOS, "unk_token": UNK, "pad_token": PAD},
    )
