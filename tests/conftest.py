"""Fixtures shared across test modules: ``tiny`` (a tiny world's substrate, store, base and
oracle, module scope) is defined in ``test_attacks.py`` and offered to every module."""

from test_attacks import tiny  # noqa: F401
