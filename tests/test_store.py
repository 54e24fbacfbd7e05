"""Model store: cache keys, hits and misses, atomic puts, listing and pruning."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import torch

from unlearnlab import __version__
from unlearnlab.corpus.tokenizer import build_tokenizer
from unlearnlab.errors import UserError
from unlearnlab.models.factory import ModelSpec, build_model, load_model, save_model
from unlearnlab.models.store import ENTRY_FILE, ModelStore, cache_key, default_root
from unlearnlab.models.training import TrainConfig

DEPS = {
    "world": {"name": "family", "seed": 1},
    "splits": {"forget": ["f1", "f2"]},
    "corpus": {"templates": 3},
    "tokenizer": "abc123",
    "model": ModelSpec(hidden_size=32, layers=2, heads=2),
    "train": TrainConfig(steps=10),
    "seed": 0,
}


def test_cache_key_is_sha256_of_canonical_json() -> None:
    canonical = '{"deps":{"a":[1,2],"b":"x"},"unlearnlab_version":"VERSION"}'
    expected = hashlib.sha256(canonical.replace("VERSION", __version__).encode()).hexdigest()
    assert cache_key(b="x", a=(1, 2)) == expected
    assert cache_key(**DEPS) == cache_key(**dict(reversed(list(DEPS.items()))))


@pytest.mark.parametrize(
    ("name", "changed"),
    [
        ("world", {"name": "family", "seed": 2}),
        ("splits", {"forget": ["f1"]}),
        ("corpus", {"templates": 4}),
        ("tokenizer", "abc124"),
        ("model", ModelSpec(hidden_size=32, layers=3, heads=2)),
        ("train", TrainConfig(steps=11)),
        ("seed", 1),
    ],
)
def test_any_changed_input_changes_the_key(name: str, changed: object) -> None:
    assert cache_key(**{**DEPS, name: changed}) != cache_key(**DEPS)


def test_cache_key_rejects_unhashable_values() -> None:
    with pytest.raises(ValueError, match="Out of range float"):
        cache_key(x=float("nan"))
    with pytest.raises(TypeError, match="cannot hash a object"):
        cache_key(x=object())


def _writer(calls: list[Path]):
    def build(folder: Path) -> None:
        calls.append(folder)
        (folder / "weights.txt").write_text("w")

    return build


def test_put_builds_once_then_hits(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    key = cache_key(**DEPS)
    assert store.get(key) is None
    calls: list[Path] = []
    path = store.put(key, _writer(calls), role="base", world="family", meta={"loss": 0.5})
    again = store.put(key, _writer(calls), role="base", world="family")
    assert path == again == store.get(key) == tmp_path / key
    assert len(calls) == 1 and not calls[0].exists()  # built once, in a temp folder
    assert (path / "weights.txt").read_text() == "w"
    record = json.loads((path / ENTRY_FILE).read_text())
    assert (record["key"], record["role"], record["world"], record["meta"]) == (
        key,
        "base",
        "family",
        {"loss": 0.5},
    )
    other = cache_key(**{**DEPS, "seed": 1})
    assert store.get(other) is None


def test_interrupted_put_leaves_nothing(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)

    def crash(folder: Path) -> None:
        (folder / "half.safetensors").write_bytes(b"\0" * 10)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.put("e" * 64, crash, role="oracle", world="w")
    assert store.get("e" * 64) is None
    assert list(tmp_path.iterdir()) == []
    assert store.list() == []


def test_stale_temp_folder_of_dead_build_is_ignored_then_removed(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(dead.stdout)
    stale = tmp_path / f".tmp-{socket.gethostname()}-{pid}-{'0' * 32}"
    stale.mkdir()
    (stale / ENTRY_FILE).write_text("{}")  # as if killed after the entry, before the rename
    beside = tmp_path / f".{stale.name}.x1y2.tmp"  # what save_model stages next to it
    beside.mkdir()
    alive = tmp_path / f".tmp-{socket.gethostname()}-{os.getpid()}-{'f' * 32}"
    alive.mkdir()  # a build in progress in a live process is left alone
    store = ModelStore(tmp_path)
    assert store.list() == []
    with pytest.raises(UserError, match="is not a cache key"):
        store.get(stale.name)
    store.put("a" * 64, _writer([]), role="base", world="w")
    assert not stale.exists() and not beside.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, "a" * 64])


def test_list_show_and_prune(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    store.put("a" * 64, _writer([]), role="base", world="family")
    store.put("b" * 64, _writer([]), role="oracle", world="family")
    store.put("c" * 64, _writer([]), role="base", world="edu")
    assert [(e.key[0], e.role, e.world) for e in store.list()] == [
        ("a", "base", "family"),
        ("b", "oracle", "family"),
        ("c", "base", "edu"),
    ]
    assert store.show("bbbbbb").path == tmp_path / ("b" * 64)
    with pytest.raises(UserError, match="matches no model"):
        store.show("dddddd")
    with pytest.raises(UserError, match="too short"):
        store.show("a")
    assert store.prune(older_than=timedelta(hours=1)) == []
    assert store.prune(role="base", world="family") == ["a" * 64]
    assert store.get("a" * 64) is None
    assert store.prune() == ["b" * 64, "c" * 64]
    assert list(tmp_path.iterdir()) == []


def test_bad_role_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="base"):
        ModelStore(tmp_path).put("a" * 64, _writer([]), role="teacher", world="w")  # type: ignore[arg-type]
    assert not (tmp_path / ("a" * 64)).exists()


def test_default_root_follows_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNLEARNLAB_HOME", str(tmp_path))
    assert default_root() == tmp_path / "models"
    monkeypatch.delenv("UNLEARNLAB_HOME")
    monkeypatch.chdir(tmp_path)
    assert default_root() == tmp_path / ".unlearnlab" / "models"


def test_stored_model_is_a_loadable_hf_directory(tmp_path: Path) -> None:
    tokenizer = build_tokenizer(["Ann is the mother of Lee."], tmp_path / "tok")
    spec = ModelSpec(hidden_size=32, layers=1, heads=2, intermediate_size=32)
    model = build_model(spec, tokenizer, seed=0)
    key = cache_key(model=spec, seed=0)
    sidecar = {"spec": spec.model_dump(mode="json")}
    path = ModelStore(tmp_path / "store").put(
        key,
        lambda folder: save_model(model, tokenizer, folder, sidecar),
        role="base",
        world="toy",
    )
    ids = torch.tensor([[2, 4, 5]])  # (1, seq)
    with torch.no_grad():
        assert torch.equal(load_model(path)(ids).logits, model(ids).logits)
