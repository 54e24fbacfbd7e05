"""Corpus: documents rendered from a world, splits, and the tokenizer built from them."""
