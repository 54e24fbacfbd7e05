"""Corpus: documents rendered from a world, splits, and the tokenizer built from them."""

from unlearnlab.corpus.tokenizer import SPECIAL_TOKENS, build_tokenizer

__all__ = ["SPECIAL_TOKENS", "build_tokenizer"]
