"""Store lookups under a two-process launch, for ``test_distributed.py``: each process
gets its own store root, and only the second process's holds the entry, so the lookups
agree only if the main process's answer is everyone's.

    python distributed_store.py ROOT OUT_DIR
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from unlearnlab.models.launch import leave
from unlearnlab.models.store import ENTRY_FILE, ModelStore

KEY = "ab" * 32


def main(root: Path, out: Path) -> None:
    """Look ``KEY`` up in this rank's store; write what this rank was told."""
    rank = int(os.environ["RANK"])
    store = ModelStore(root / f"rank{rank}")
    if rank == 1:
        (store.root / KEY).mkdir(parents=True)
        (store.root / KEY / ENTRY_FILE).write_text("{}", encoding="utf-8")
    found = store.get(KEY) is not None
    (out / f"rank{rank}.json").write_text(json.dumps({"found": found}), encoding="utf-8")
    leave(finished=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
