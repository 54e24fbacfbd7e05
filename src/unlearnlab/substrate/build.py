"""The training substrate of an experiment: world -> splits -> corpora -> tokenizer ->
reference models, each cached in the store under the hash of everything it depends on.
With ``model: {path: DIR}`` they start from that local checkpoint and its own tokenizer
instead of a tiny model trained from scratch.

The base model trains on the full corpus; the oracle on the same recipe minus every
document that mentions a forget target (exact unlearning, the reference approximate
methods imitate); the deep oracle also without every fact of each target's minimum
deep-unlearning set (exact *deep* unlearning: the targets are no longer derivable). All
share one tokenizer, built from the base corpus and every probe phrasing, so that their
scores are comparable.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from transformers import PreTrainedTokenizerBase

from unlearnlab.corpus.corpus import Document, build_corpus
from unlearnlab.corpus.splits import Splits, make_splits
from unlearnlab.corpus.templates import REFUSALS, relation_texts, render
from unlearnlab.corpus.tokenizer import build_tokenizer
from unlearnlab.models.compute import flop_params, training_flops
from unlearnlab.models.data import documents_to_examples
from unlearnlab.models.factory import build_model, load_tokenizer, save_model
from unlearnlab.models.store import ModelStore, cache_key
from unlearnlab.models.training import train
from unlearnlab.substrate.config import ExperimentConfig, WorldConfig
from unlearnlab.worlds.generators import generate_world
from unlearnlab.worlds.io import fact_json, load_world
from unlearnlab.worlds.kg import Fact, World

Role = Literal["base", "oracle", "deep_oracle"]
CADENCE_FIELDS = {"checkpoint_every", "eval_every"}
"""Training fields that do not change the trained weights, left out of cache keys."""


def world_from_config(config: WorldConfig) -> World:
    """Generate or load the world an experiment names."""
    if config.path is not None:
        return load_world(config.path, config.rules)
    assert config.generator is not None
    return generate_world(config.generator, config.params)


def world_fingerprint(world: World) -> str:
    """sha256 of a world's stated facts and rules (what a model trained on it depends on)."""
    digest = hashlib.sha256()
    for record in world.records:
        digest.update(json.dumps(fact_json(record), sort_keys=True).encode())
    for rule in world.rules:
        digest.update(str(rule).encode())
    return digest.hexdigest()


def checkpoint_digest(folder: Path) -> str:
    """sha256 over a checkpoint's weight files, so that a changed checkpoint retrains."""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).glob("*.safetensors")):
        digest.update(path.name.encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Substrate:
    """Everything a model of an experiment is trained from."""

    config: ExperimentConfig
    world: World
    splits: Splits
    corpus: tuple[Document, ...]
    oracle_corpus: tuple[Document, ...]
    deep_forget: tuple[Fact, ...]
    deep_oracle_corpus: tuple[Document, ...]

    def documents(self, role: Role) -> tuple[Document, ...]:
        """The training documents of ``role``."""
        corpora = {
            "base": self.corpus,
            "oracle": self.oracle_corpus,
            "deep_oracle": self.deep_oracle_corpus,
        }
        return corpora[role]

    def vocabulary_text(self) -> list[str]:
        """The text the shared tokenizer is built from: the base corpus plus every held-out
        phrasing of every fact and the refusal answers, so that probes and refusal training
        never meet an unknown word."""
        texts = relation_texts(self.world)
        extra = [
            render(fact, texts[fact.relation], template).text
            for fact in [*self.world.closure()]
            for template in texts[fact.relation].heldout_frames()
        ]
        return [d.text for d in self.corpus] + sorted(extra) + [f"{r}." for r in REFUSALS]

    def key(self, role: Role) -> str:
        """The cache key of the ``role`` model: a hash of every input it depends on."""
        config = self.config
        return cache_key(
            role=role,
            world=world_fingerprint(self.world),
            splits=self.splits.to_dict(),
            corpus=config.corpus.model_dump(mode="json"),
            model=config.model.model_dump(mode="json"),
            train=config.train.model_dump(mode="json", exclude=CADENCE_FIELDS),
            seed=config.seed,
            vocabulary=hashlib.sha256("\n".join(self.vocabulary_text()).encode()).hexdigest(),
            checkpoint=None if config.model.path is None else checkpoint_digest(config.model.path),
        )


def build_substrate(config: ExperimentConfig) -> Substrate:
    """Generate the world, draw the splits and render both corpora."""
    world = world_from_config(config.world)
    splits = make_splits(world, config.splits)
    corpus = tuple(build_corpus(world, splits, config.corpus))
    oracle = tuple(build_corpus(world, splits, config.corpus, remove=splits.forget))
    deep = world.deep_forget_set(splits.forget)
    deep_oracle = tuple(build_corpus(world, splits, config.corpus, remove=deep))
    return Substrate(config, world, splits, corpus, oracle, deep, deep_oracle)


def substrate_tokenizer(substrate: Substrate, scratch: str) -> PreTrainedTokenizerBase:
    """The tokenizer every model of ``substrate`` shares: the checkpoint's own, or one
    built from :meth:`Substrate.vocabulary_text` (its files written to ``scratch``)."""
    if substrate.config.model.path is not None:
        return load_tokenizer(substrate.config.model.path)
    return build_tokenizer(substrate.vocabulary_text(), scratch)


def train_reference_model(
    substrate: Substrate, role: Role, store: ModelStore, *, show_progress: bool = True
) -> Path:
    """The ``role`` model of ``substrate``: from the store if cached, else trained (resuming
    from the store's checkpoints after an interruption) and stored."""
    key = substrate.key(role)
    cached = store.get(key)
    if cached is not None:
        return cached
    config = substrate.config
    checkpoints = store.root / "checkpoints" / key

    def build(target: Path) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            tokenizer = substrate_tokenizer(substrate, scratch)
            model = build_model(config.model, tokenizer, seed=config.seed)
            texts = [d.text for d in substrate.documents(role)]
            result = train(
                model,
                documents_to_examples(tokenizer, texts),
                config.train,
                pad_id=tokenizer.pad_token_id,
                checkpoint_dir=checkpoints,
                show_progress=show_progress,
            )
            tokens = result.steps * config.train.rows_per_step * config.train.seq_len
            sidecar = {
                "role": role,
                "experiment": config.name,
                "config": config.model_dump(mode="json"),
                "cache_key": key,
                "documents": len(texts),
                "flops": training_flops(flop_params(model), tokens),
                "training": {
                    "steps": result.steps,
                    "final_loss": result.final_loss,
                    "tokens_per_second": result.tokens_per_second,
                    "seconds": result.seconds,
                },
            }
            save_model(model, tokenizer, target, sidecar)

    world_name = str(substrate.world.metadata.get("name", config.name))
    path = store.put(key, build, role=role, world=world_name, meta={"experiment": config.name})
    shutil.rmtree(checkpoints, ignore_errors=True)
    return path
