"""Probes: batched scoring and decoding; recall, re-derivation and retention build on it."""
