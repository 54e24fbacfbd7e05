"""Models: the factory, the one training loop, and the content-addressed store."""

from unlearnlab.models.data import Example, documents_to_examples, pairs_to_examples
from unlearnlab.models.factory import (
    ModelSpec,
    build_model,
    count_parameters,
    load_model,
    load_tokenizer,
    save_model,
)
from unlearnlab.models.store import ModelStore, StoreEntry, cache_key
from unlearnlab.models.training import TrainConfig, TrainResult, train

__all__ = [
    "Example",
    "ModelSpec",
    "ModelStore",
    "StoreEntry",
    "TrainConfig",
    "TrainResult",
    "build_model",
    "cache_key",
    "count_parameters",
    "documents_to_examples",
    "load_model",
    "load_tokenizer",
    "pairs_to_examples",
    "save_model",
    "train",
]
