"""The training substrate: cache keys, cached base and oracle models, the train command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

from unlearnlab.cli import main
from unlearnlab.corpus.corpus import cot_trace
from unlearnlab.corpus.splits import deep_underivable
from unlearnlab.corpus.templates import (
    CANONICAL,
    CONVERSE_TEMPLATE,
    FRAMES,
    relation_texts,
    render,
)
from unlearnlab.errors import UserError
from unlearnlab.experiments.config import load_config
from unlearnlab.methods.data import fact_pairs, forget_facts, unlearn_pairs
from unlearnlab.models.store import ModelStore
from unlearnlab.substrate import build as substrate_module
from unlearnlab.substrate.build import build_substrate, train_reference_model
from unlearnlab.worlds.closure import compute_closure

TINY = [
    "world.params.people=30",
    "splits.forget=2",
    "splits.heldout=5",
    "splits.holdout=0",
    "splits.underivable=0",
    "train.epochs=null",
    "train.steps=3",
    "train.batch_size=4",
    "train.seq_len=32",
    "train.checkpoint_every=2",
    "model.hidden_size=16",
    "model.intermediate_size=32",
    "model.layers=1",
    "model.heads=2",
]


def test_keys_change_with_every_input_but_not_with_cadence() -> None:
    base = build_substrate(load_config("compositional", TINY))
    assert base.key("base") != base.key("oracle")
    assert build_substrate(load_config("compositional", TINY)).key("base") == base.key("base")
    changes = [
        "world.params.seed=1",
        "splits.seed=3",
        "corpus.questions=false",
        "model.hidden_size=32",
        "train.lr=0.01",
        "seed=5",
    ]
    keys = {build_substrate(load_config("compositional", [*TINY, c])).key("base") for c in changes}
    assert len(keys) == len(changes) and base.key("base") not in keys
    same = build_substrate(load_config("compositional", [*TINY, "train.checkpoint_every=1"]))
    assert same.key("base") == base.key("base")


def test_vocabulary_covers_every_heldout_phrasing() -> None:
    substrate = build_substrate(load_config("compositional", TINY))
    words = {w for text in substrate.vocabulary_text() for w in text.split()}
    assert {"Everyone", "Records"} <= words


def test_models_are_cached_and_reload_as_hugging_face_models(tmp_path: Path, monkeypatch) -> None:
    substrate = build_substrate(load_config("compositional", TINY))
    store = ModelStore(tmp_path)
    base = train_reference_model(substrate, "base", store, show_progress=False)
    oracle = train_reference_model(substrate, "oracle", store, show_progress=False)
    assert base != oracle
    sidecars = {p: json.loads((p / "unlearnlab.json").read_text()) for p in (base, oracle)}
    assert sidecars[base]["documents"] == len(substrate.corpus)
    assert sidecars[oracle]["documents"] == len(substrate.oracle_corpus) < len(substrate.corpus)
    assert not (tmp_path / "checkpoints" / substrate.key("base")).exists()
    model = AutoModelForCausalLM.from_pretrained(base, use_safetensors=True)
    tokenizer = AutoTokenizer.from_pretrained(base)
    assert model.get_input_embeddings().num_embeddings == len(tokenizer)

    def no_training(*args, **kwargs):
        raise AssertionError("a cached model was trained again")

    monkeypatch.setattr(substrate_module, "train", no_training)
    assert train_reference_model(substrate, "base", store, show_progress=False) == base
    assert {e.role for e in store.list()} == {"base", "oracle"}


def test_train_command_prints_paths_and_reuses_the_store(tmp_path: Path, capsys) -> None:
    args = ["train", "--store", str(tmp_path), "--json"]
    for override in TINY:
        args += ["--set", override]
    main(args)
    first = json.loads(capsys.readouterr().out)
    assert set(first) == {"base", "oracle"} and all(Path(p).is_dir() for p in first.values())
    main(args)
    captured = capsys.readouterr()
    assert json.loads(captured.out) == first
    assert captured.err.count("(cached)") == 2


def test_train_command_rejects_a_bad_override(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--store", str(tmp_path), "--set", "train.epoch=3"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "error: compositional.yaml: train.epoch: unknown field (did you mean 'epochs'?)"
    )


def test_a_local_checkpoint_is_the_starting_point(tmp_path: Path) -> None:
    first = build_substrate(load_config("compositional", TINY))
    store = ModelStore(tmp_path / "store")
    checkpoint = train_reference_model(first, "base", store, show_progress=False)
    overrides = [o for o in TINY if not o.startswith("model.")]
    config = load_config("compositional", [*overrides, f"model.path={checkpoint}"])
    substrate = build_substrate(config)
    tuned = train_reference_model(substrate, "base", store, show_progress=False)
    assert tuned != checkpoint
    assert (tuned / "tokenizer.json").read_text() == (checkpoint / "tokenizer.json").read_text()
    sidecar = json.loads((tuned / "unlearnlab.json").read_text())
    assert sidecar["config"]["model"]["path"] == str(checkpoint)


def test_a_missing_checkpoint_is_a_user_error(tmp_path: Path) -> None:
    overrides = [o for o in TINY if not o.startswith("model.")]
    config = load_config("compositional", [*overrides, f"model.path={tmp_path / 'none'}"])
    with pytest.raises(UserError, match="none"):
        train_reference_model(build_substrate(config), "base", ModelStore(tmp_path))


def test_deep_oracle_forgets_a_deep_unlearning_set(tmp_path: Path) -> None:
    substrate = build_substrate(load_config("compositional", TINY))
    world, forget = substrate.world, substrate.splits.forget
    deep = set(substrate.deep_forget)
    assert set(forget) <= deep
    removed = set(world.base_facts) & deep
    for target in forget:
        assert world.is_deep_unlearning_set(target, removed)
    mentioned = {f for d in substrate.documents("deep_oracle") for f in d.facts}
    assert not mentioned & deep
    assert len(substrate.documents("deep_oracle")) < len(substrate.documents("oracle"))
    path = train_reference_model(substrate, "deep_oracle", ModelStore(tmp_path))
    assert json.loads((path / "unlearnlab.json").read_text())["role"] == "deep_oracle"


@pytest.mark.parametrize("holdout", [0, 3])
def test_the_deep_oracle_s_floor_is_unseen_and_underivable(holdout: int) -> None:
    """Every fact of the floor split lies in the deep set, is no target, is mentioned by no
    deep-oracle document, and is derivable from none of the facts the deep oracle sees
    (brute force: the closure of the stated facts it keeps)."""
    overrides = [*TINY, "splits.forget=4", f"splits.holdout={holdout}"]
    substrate = build_substrate(load_config("compositional", overrides))
    world, splits = substrate.world, substrate.splits
    floor = deep_underivable(world, splits)
    assert floor
    assert set(floor) <= set(substrate.deep_forget) - set(splits.forget)
    mentioned = {f for d in substrate.documents("deep_oracle") for f in d.facts}
    assert not mentioned & set(floor)
    kept = set(world.stated) - set(substrate.deep_forget) - set(splits.holdout)
    closure = compute_closure(frozenset(kept), world.rules).facts
    assert not closure & set(floor)
    others = set(substrate.deep_forget) - set(splits.forget) - set(floor)
    assert others <= closure  # the rest of the deep set is derivable: not in the floor


@pytest.mark.parametrize(("choice", "role"), [("targets", "oracle"), ("deep", "deep_oracle")])
def test_forget_rows_are_the_documents_the_oracle_drops(choice: str, role: str) -> None:
    substrate = build_substrate(
        load_config(
            "compositional",
            ["world.params.people=60", "splits.forget=4", "splits.underivable=0"],
        )
    )
    world = substrate.world
    forget = forget_facts(substrate, choice, None)  # type: ignore[arg-type]
    rows, retain = unlearn_pairs(substrate, forget)
    dropped = {d.text for d in substrate.corpus} - {d.text for d in substrate.documents(role)}
    assert sorted(f"{p} {a}" for p, a in rows) == sorted(dropped)
    kinds = {d.kind for d in substrate.corpus if d.text in dropped}
    assert kinds == {"statement", "question", "cot"}
    # No target is stated, asked or traced in the retain rows, in any phrasing.
    texts = relation_texts(world)
    retained = {f"{p} {a}" for p, a in retain}
    for target in substrate.splits.forget:
        text = texts[target.relation]
        for template in (*FRAMES, CONVERSE_TEMPLATE, text.question()):
            assert render(target, text, template).text not in retained
        trace = cot_trace(world, target, texts)
        assert trace is not None and trace.text in dropped and trace.text not in retained
    assert not retained & dropped
    # The oracle's other traces and option lists keep the formats in the retain loss.
    kept = {d.kind for d in substrate.documents(role) if d.text in retained}
    assert {"statement", "question", "cot", "mcq"} <= kept
    # Held-out retain facts are trained in the base corpus but in no retain loss.
    held = substrate.splits.retain_heldout
    assert held and not {f"{p} {a}" for p, a, _ in fact_pairs(held, texts)} & retained
    assert not {f for d in substrate.corpus if d.text in retained for f in d.facts} & set(held)
    assert {render(f, texts[f.relation], CANONICAL).text for f in held} <= {
        d.text for d in substrate.corpus
    }
