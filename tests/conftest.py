"""Fixtures shared across test modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from tiny import TINY
from unlearnlab.experiments.config import load_config
from unlearnlab.models.store import ModelStore
from unlearnlab.substrate.build import Substrate, build_substrate, train_reference_model


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> tuple[Substrate, ModelStore, Path, Path]:
    """The tiny substrate (``tests/tiny.py``), its store, base model and oracle, trained
    once per test session; tests must not modify the models."""
    store = ModelStore(tmp_path_factory.mktemp("store"))
    substrate = build_substrate(load_config("compositional", TINY))
    base = train_reference_model(substrate, "base", store, show_progress=False)
    oracle = train_reference_model(substrate, "oracle", store, show_progress=False)
    return substrate, store, base, oracle
