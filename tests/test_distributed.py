"""The unlearning loop under Accelerate's multi-process launch: two data-parallel CPU
processes (gloo) give the very weights and losses one process gives (each process sees
the same batch, so the averaged gradient is the single-process one exactly)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from distributed_unlearn import CONFIG
from unlearnlab.methods.loop import unlearn
from unlearnlab.models.factory import load_model

pytestmark = pytest.mark.slow
HERE = Path(__file__).parent


def _launch(script: str, *args: Path) -> None:
    """Run ``script`` (in this folder) as a two-process CPU launch."""
    env = {
        **os.environ,
        "ACCELERATE_USE_CPU": "1",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node"]
    command = [*launch, "2", str(HERE / script), *map(str, args)]
    subprocess.run(command, env=env, check=True, timeout=300)


def test_store_lookups_under_a_launch_take_the_main_process_answer(tmp_path: Path) -> None:
    """The second process sees the entry on its disk and the main one does not: both are
    told it is missing, so neither skips a build the other makes (the race that let one
    process skip the base model's collective training while the other trained it)."""
    _launch("distributed_store.py", tmp_path, tmp_path)
    told = [json.loads((tmp_path / f"rank{r}.json").read_text())["found"] for r in (0, 1)]
    assert told == [False, False]


def test_two_process_launch_gives_the_single_process_run(tiny, tmp_path: Path) -> None:
    substrate, store, _, _ = tiny
    alone = unlearn(substrate, CONFIG, store)
    out = tmp_path / "launched.json"
    _launch("distributed_unlearn.py", tmp_path / "store", out)
    launched = json.loads(out.read_text(encoding="utf-8"))
    assert launched["processes"] == 2
    assert launched["history"] == alone.history
    a, b = load_model(alone.path).state_dict(), load_model(Path(launched["path"])).state_dict()
    assert set(a) == set(b) and all(torch.equal(a[n], b[n]) for n in a)
