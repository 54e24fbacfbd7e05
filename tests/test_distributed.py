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


def test_two_process_launch_gives_the_single_process_run(tiny, tmp_path: Path) -> None:
    substrate, store, _, _ = tiny
    alone = unlearn(substrate, CONFIG, store)
    out = tmp_path / "launched.json"
    env = {
        **os.environ,
        "ACCELERATE_USE_CPU": "1",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    script = [str(HERE / "distributed_unlearn.py"), str(tmp_path / "store"), str(out)]
    subprocess.run([*launch, "--nproc_per_node", "2", *script], env=env, check=True, timeout=300)
    launched = json.loads(out.read_text(encoding="utf-8"))
    assert launched["processes"] == 2
    assert launched["history"] == alone.history
    a, b = load_model(alone.path).state_dict(), load_model(Path(launched["path"])).state_dict()
    assert set(a) == set(b) and all(torch.equal(a[n], b[n]) for n in a)
