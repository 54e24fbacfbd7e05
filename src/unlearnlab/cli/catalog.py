"""What ``unlearnlab list`` prints about registered classes, cached under a hash of the
package's source.

Reading the method and attack registries means importing their modules, and with them
torch (seconds). What they list (names, summaries, parameter defaults) is a pure function
of the source, so each listing is a JSON file named by the sha256 of every ``.py`` file of
the package: the first listing after an install or an edit imports the registries, later
ones read the file. Adding a method or an attack stays a one-file change.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import unlearnlab
from unlearnlab.io import write_json_atomic


def cache_folder() -> Path:
    """``$UNLEARNLAB_HOME/cache``, else ``$XDG_CACHE_HOME/unlearnlab`` (``~/.cache``)."""
    home = os.environ.get("UNLEARNLAB_HOME")
    if home:
        return Path(home) / "cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "unlearnlab"


@cache
def source_digest() -> str:
    """sha256 over the relative path and bytes of every ``.py`` file of the package."""
    root = Path(unlearnlab.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cached_listing(name: str, build: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The listing ``name``: read from the cache when built from this very source, else
    ``build()`` (JSON values only) and stored in place of the listings of older sources;
    an unwritable cache only costs speed."""
    path = cache_folder() / f"list-{name}-{source_digest()[:16]}.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    rows = json.loads(json.dumps(build()))
    with contextlib.suppress(OSError):
        for old in path.parent.glob(f"list-{name}-*.json"):
            old.unlink(missing_ok=True)
        write_json_atomic(path, rows)
    return rows
