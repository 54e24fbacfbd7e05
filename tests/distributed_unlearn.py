"""One tiny unlearning run per process, for ``test_distributed.py``: launched by
``torchrun --nproc_per_node 2`` with ``ACCELERATE_USE_CPU=1`` it runs as Accelerate's
multi-process (gloo) data-parallel job; the main process writes where the model went and
how many processes took part.

    python distributed_unlearn.py STORE OUT.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from accelerate import PartialState

from tiny import TINY
from unlearnlab.experiments.config import load_config
from unlearnlab.methods.config import UnlearnConfig
from unlearnlab.methods.loop import unlearn
from unlearnlab.models.launch import leave
from unlearnlab.models.store import ModelStore
from unlearnlab.substrate.build import build_substrate

CONFIG = UnlearnConfig(method="npo", steps=3, lr=1e-2, retain_sample=5)
"""The run both the launched job and the single-process reference make."""


def main(store: Path, out: Path) -> None:
    """Unlearn the tiny substrate into ``store``; record the result in ``out``."""
    result = unlearn(build_substrate(load_config("compositional", TINY)), CONFIG, ModelStore(store))
    state = PartialState()  # the loop's Accelerator set it up
    if state.is_main_process:
        record = {"processes": state.num_processes, "path": str(result.path)}
        out.write_text(json.dumps({**record, "history": result.history}), encoding="utf-8")
    leave(finished=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
