"""The run record, ``run.json``: one versioned pydantic model saying what ran, how it was
asked for, on which code, and how it ended. The report reads only this record and the
tidy results table."""

from __future__ import annotations

import importlib.metadata
import json
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from unlearnlab.errors import UserError
from unlearnlab.io import write_atomic

RECORD_VERSION = 1
PACKAGES = (
    "unlearnlab",
    "torch",
    "transformers",
    "tokenizers",
    "safetensors",
    "accelerate",
    "peft",
    "pydantic",
    "numpy",
    "pyarrow",
    "matplotlib",
    "python-sat",
)


class GitState(BaseModel):
    """The commit the code ran from."""

    model_config = ConfigDict(extra="forbid")

    commit: str | None = None
    """``git rev-parse HEAD`` of the unlearnlab source tree (None outside a checkout)."""
    dirty: bool | None = None
    """Whether tracked files had uncommitted changes."""


class RunRecord(BaseModel):
    """What a run was asked to do, what it did, and how it ended."""

    model_config = ConfigDict(extra="forbid")

    version: int = RECORD_VERSION
    """Version of this record's schema."""
    status: Literal["running", "complete", "failed", "interrupted"] = "running"
    """How the run ended (``running`` while it runs, or when it was killed)."""
    experiment: str
    """The experiment as passed: shipped name or path of a YAML file."""
    profile: str
    """The profile applied (``quick``: the config as written)."""
    overrides: list[str] = Field(default_factory=list)
    """``--set`` overrides as passed."""
    config: dict[str, Any]
    """The config as resolved (profile and overrides applied, defaults filled in)."""
    config_hash: str
    """Digest of ``config``."""
    started: str
    """UTC start time, ISO 8601."""
    finished: str | None = None
    """UTC end time, ISO 8601."""
    seconds: float | None = None
    """Wall-clock seconds of the run."""
    stages_computed: list[str] = Field(default_factory=list)
    """Stages this run computed."""
    stages_loaded: list[str] = Field(default_factory=list)
    """Stages loaded from an earlier run's cache."""
    stage_seconds: dict[str, float] = Field(default_factory=dict)
    """Wall-clock seconds of each stage computed locally by this run."""
    error: str | None = None
    """The error a failed run stopped on."""
    git: GitState = Field(default_factory=GitState)
    """The code's commit."""
    packages: dict[str, str] = Field(default_factory=dict)
    """Versions of the packages results depend on."""
    python: str = Field(default_factory=platform.python_version)
    """Python version."""
    machine: str = Field(default_factory=platform.platform)
    """Operating system and architecture."""

    def save(self, run_dir: Path) -> None:
        """Write ``run_dir/run.json`` atomically."""
        write_atomic(run_dir / "run.json", self.model_dump_json(indent=2) + "\n")

    @classmethod
    def load(cls, run_dir: Path) -> RunRecord:
        """Read ``run_dir/run.json``; a missing or invalid record is a :class:`UserError`."""
        path = run_dir / "run.json"
        if not path.is_file():
            raise UserError(f"{path} does not exist; give the folder of an 'unlearnlab run'")
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (ValidationError, json.JSONDecodeError) as exc:
            raise UserError(f"{path}: not a valid run record ({exc}); re-run it") from None


def now() -> str:
    """The current UTC time, ISO 8601, to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def git_state() -> GitState:
    """The commit and dirty flag of the checkout the package runs from, if any."""
    root = Path(__file__).resolve().parents[3]
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return GitState()
    return GitState(commit=commit, dirty=bool(status.strip()))


def package_versions() -> dict[str, str]:
    """Installed versions of :data:`PACKAGES` (those installed)."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions
