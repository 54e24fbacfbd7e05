"""Content-addressed model store: one folder per cache key, written atomically.

A model's key is the sha256 of canonical JSON of everything it depends on (world, splits,
corpus recipe, tokenizer, model spec, training config, seed; the package version is
added here). An entry ``<root>/<key>/`` is a standard Hugging Face model directory plus
``entry.json`` (role, world, key, creation time, caller's metadata). Entries are built in
a temporary folder ``<root>/.tmp-...`` and renamed into place, so a folder named by a key
is always complete; temporary folders left by a crashed build are never returned and are
removed by the next :meth:`ModelStore.put` or :meth:`ModelStore.prune`. Under a
multi-process launch (``accelerate launch``, ``torchrun``) every process builds (training
is collective) and the main process alone stores; the others wait for it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

import torch.distributed as dist
from pydantic import BaseModel, ConfigDict

from unlearnlab import __version__
from unlearnlab.errors import UserError
from unlearnlab.io import write_json_atomic
from unlearnlab.models.launch import launched

Role = Literal["base", "oracle", "deep_oracle", "unlearned", "attacked"]
ENTRY_FILE = "entry.json"
_TMP = ".tmp-"
_TRASH = ".trash-"
_KEY = re.compile(r"[0-9a-f]{64}")
# A build's staging folder, or a folder staged next to it (such as save_model's):
# ".tmp-<host>-<pid>-<uuid>" or "..tmp-<host>-<pid>-<uuid>.<anything>".
_STAGING = re.compile(r"\.\.?tmp-(?P<host>.+)-(?P<pid>\d+)-[0-9a-f]{32}")


def _canonical(value: Any) -> Any:
    """JSON-able form of values that plain ``json`` does not know."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cache_key cannot hash a {type(value).__name__}; pass JSON-like values")


def cache_key(**deps: Any) -> str:
    """sha256 (hex) of canonical JSON of ``deps`` and the unlearnlab version.

    Canonical: keys sorted, no whitespace, tuples as lists, pydantic models as their JSON
    dump, NaN and infinities rejected. Equal inputs give equal keys in any process.
    """
    payload = {"deps": deps, "unlearnlab_version": __version__}
    text = json.dumps(
        payload,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_canonical,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class StoreEntry(BaseModel):
    """One stored model, as recorded in its ``entry.json``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    """The cache key (folder name)."""
    role: Role
    """What the model is: base, oracle, deep_oracle, unlearned or attacked."""
    world: str
    """Name of the world the model was trained on."""
    created: datetime
    """When the entry was completed (UTC)."""
    meta: dict[str, Any] = {}
    """Whatever the caller recorded (configs, metrics, parent keys)."""
    path: Path | None = None
    """Folder of the entry (filled in when read, not stored)."""


def default_root() -> Path:
    """``$UNLEARNLAB_HOME/models``, or ``./.unlearnlab/models`` when it is not set."""
    home = os.environ.get("UNLEARNLAB_HOME")
    return (Path(home) if home else Path.cwd() / ".unlearnlab") / "models"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ModelStore:
    """Models by cache key under ``root`` (default: :func:`default_root`)."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()

    def _folder(self, key: str) -> Path:
        if not _KEY.fullmatch(key):
            raise UserError(f"'{key}' is not a cache key (64 lowercase hex digits from cache_key)")
        return self.root / key

    def get(self, key: str) -> Path | None:
        """The folder of the complete entry ``key``, or None if there is none.

        Under a multi-process launch every process must call this together: the main
        process's answer is everyone's, so no process skips a build (and the collective
        training in it) that another found still missing a moment earlier."""
        complete = self._complete(key)
        _, others = launched()
        if others:
            answer = [complete]
            dist.broadcast_object_list(answer, src=0)
            complete = bool(answer[0])
        return self._folder(key) if complete else None

    def _complete(self, key: str) -> bool:
        """Whether this process sees the complete entry ``key`` on disk."""
        return (self._folder(key) / ENTRY_FILE).is_file()

    def put(
        self,
        key: str,
        build_fn: Callable[[Path], None],
        *,
        role: Role,
        world: str,
        meta: Mapping[str, Any] | None = None,
    ) -> Path:
        """Return the entry ``key``, building it first with ``build_fn`` if it is missing.

        ``build_fn(folder)`` must write a model directory into ``folder`` (an empty folder
        it may fill or replace, for example with :func:`~unlearnlab.models.factory.save_model`).
        If it raises, nothing is stored and the error propagates.
        """
        final = self._folder(key)
        if self.get(key) is not None:
            return final
        self._remove_stale()
        entry = StoreEntry(
            key=key,
            role=role,
            world=world,
            created=datetime.now(timezone.utc),
            meta=dict(meta or {}),
        )
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f"{_TMP}{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            build_fn(staging)
            if not staging.is_dir():
                raise RuntimeError(f"build_fn removed {staging} instead of filling it")
            main, others = launched()  # after the build: training may start the launch
            if main:
                entry_json = entry.model_dump(mode="json", exclude={"path"})
                write_json_atomic(staging / ENTRY_FILE, entry_json)
                try:
                    staging.rename(final)
                except OSError:
                    if not self._complete(key):  # not a concurrent build finishing first
                        raise
            shutil.rmtree(staging, ignore_errors=True)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        if others:
            dist.barrier()
        return final

    def _read(self, path: Path) -> StoreEntry:
        record = json.loads((path / ENTRY_FILE).read_text())
        return StoreEntry.model_validate({**record, "path": path})

    def list(self) -> list[StoreEntry]:
        """All complete entries, oldest first."""
        if not self.root.is_dir():
            return []
        folders = [p.parent for p in self.root.glob(f"*/{ENTRY_FILE}")]
        entries = [self._read(f) for f in folders if _KEY.fullmatch(f.name)]
        return sorted(entries, key=lambda e: (e.created, e.key))

    def show(self, key: str) -> StoreEntry:
        """The entry whose key is ``key`` or starts with it (at least 6 characters)."""
        if len(key) < 6:
            raise UserError(f"model key '{key}' is too short; give at least 6 characters")
        matches = [e for e in self.list() if e.key.startswith(key)]
        if len(matches) != 1:
            problem = "matches no model" if not matches else f"matches {len(matches)} models"
            raise UserError(
                f"key '{key}' {problem} in {self.root}; see 'unlearnlab list models' for keys"
            )
        return matches[0]

    def prune(
        self,
        *,
        role: Role | None = None,
        world: str | None = None,
        older_than: timedelta | None = None,
    ) -> list[str]:
        """Delete the entries matching every given filter (all, if none); return their keys.

        Each entry is first renamed out of the way, so it disappears at once for
        :meth:`get`; stale temporary folders of dead builds are removed as well.
        """
        self._remove_stale()
        now = datetime.now(timezone.utc)
        removed = []
        for entry in self.list():
            if role is not None and entry.role != role:
                continue
            if world is not None and entry.world != world:
                continue
            if older_than is not None and now - entry.created < older_than:
                continue
            assert entry.path is not None
            trash = self.root / f"{_TRASH}{entry.key}-{uuid.uuid4().hex}"
            entry.path.rename(trash)
            shutil.rmtree(trash, ignore_errors=True)
            removed.append(entry.key)
        return removed

    def _remove_stale(self) -> None:
        """Remove temporary folders of builds whose process (on this host) has died."""
        if not self.root.is_dir():
            return
        host = socket.gethostname()
        for path in self.root.glob(f"*{_TMP}*"):
            owner = _STAGING.match(path.name)
            if owner and owner["host"] == host and not _process_alive(int(owner["pid"])):
                shutil.rmtree(path, ignore_errors=True)
        for path in self.root.glob(f"{_TRASH}*"):
            shutil.rmtree(path, ignore_errors=True)
