"""Stages of a run: the unit of caching, resumption and fan-out.

Stages are the unit of caching, resumption and fan-out. Each has a name, a key (a hash
of everything it depends on) and a top-level function returning results rows; a finished
stage's rows are kept in ``<run_dir>/stages/`` under its key, so a re-run (after Ctrl-C,
or with unchanged inputs) loads them instead of recomputing, and a changed input
recomputes exactly the stages it reaches. Stages passed to one
:meth:`RunContext.run_stages` call are independent: they run one after the other here, or
as Ray tasks when the run has a Ray address.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from unlearnlab.errors import UserError
from unlearnlab.models.store import cache_key
from unlearnlab.report.table import read_results, write_results


@dataclass(frozen=True)
class Stage:
    """One cached, independent unit of work of a run."""

    name: str
    """Unique within the run, readable (``unlearn/npo/targets``); names its cache file."""
    fn: Callable[..., list[dict[str, Any]]]
    """A module-level function (Ray pickles it by reference) returning results rows."""
    args: tuple[Any, ...] = ()
    """Arguments of ``fn``: plain, picklable values (configs, paths)."""
    depends: dict[str, Any] = field(default_factory=dict)
    """JSON-like values the rows depend on beyond ``args`` (model keys, say)."""
    cost: float = 1.0
    """Expected seconds, for the progress bar's ETA."""

    def key(self) -> str:
        """sha256 of the stage's name, function, arguments and dependencies."""
        args = [a.model_dump(mode="json") if isinstance(a, BaseModel) else a for a in self.args]
        return cache_key(
            stage=self.name,
            fn=f"{self.fn.__module__}.{self.fn.__qualname__}",
            args=[str(a) if isinstance(a, Path) else a for a in args],
            depends=self.depends,
        )


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", name).strip("_") or "stage"


class RunContext:
    """Where a run writes, and how its stages run (locally or over Ray)."""

    def __init__(
        self,
        run_dir: Path,
        *,
        store_root: Path | None = None,
        ray_address: str | None = None,
        console: Console | None = None,
        show_progress: bool = True,
    ) -> None:
        self.run_dir = run_dir
        self.store_root = store_root
        """The model store's folder (None: the default, ``$UNLEARNLAB_HOME/models``)."""
        self.ray_address = ray_address
        self.console = console or Console(stderr=True)
        self.show_progress = show_progress
        self.computed: list[str] = []
        """Names of the stages this context computed (not loaded from cache)."""
        self.loaded: list[str] = []
        """Names of the stages loaded from cache."""
        self.seconds: dict[str, float] = {}
        """Wall-clock seconds of each stage computed here (locally)."""
        self._ray_started = False

    def stage_path(self, stage: Stage) -> Path:
        """The cache file of ``stage``'s rows."""
        return self.run_dir / "stages" / f"{_slug(stage.name)}-{stage.key()[:16]}.parquet"

    def run_stages(self, stages: Sequence[Stage], title: str) -> list[list[dict[str, Any]]]:
        """Each stage's rows, in order: loaded from cache when finished before, otherwise
        computed (here, or as Ray tasks) and cached atomically as soon as it finishes."""
        names = [s.name for s in stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names repeat in {title}: {names}")
        results: dict[int, list[dict[str, Any]]] = {}
        todo = []
        for i, stage in enumerate(stages):
            path = self.stage_path(stage)
            if path.is_file():
                results[i] = read_results(path)
                self.loaded.append(stage.name)
            else:
                todo.append(i)
        if todo:
            with self._progress() as progress:
                task = progress.add_task(title, total=sum(stages[i].cost for i in todo), current="")
                for i, rows in self._execute([stages[i] for i in todo], todo, progress, task):
                    write_results(self.stage_path(stages[i]), rows)
                    self.computed.append(stages[i].name)
                    results[i] = rows
        return [results[i] for i in range(len(stages))]

    def _progress(self) -> Progress:
        return Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[current]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            disable=not self.show_progress,
        )

    def _execute(
        self, stages: list[Stage], indices: list[int], progress: Progress, task: Any
    ) -> Any:
        if self.ray_address is None:
            for i, stage in zip(indices, stages, strict=True):
                progress.update(task, current=stage.name)
                began = time.perf_counter()
                rows = stage.fn(*stage.args)
                self.seconds[stage.name] = time.perf_counter() - began
                progress.advance(task, stage.cost)
                progress.update(task, current=f"{stage.name} ({self.seconds[stage.name]:.0f}s)")
                yield i, rows
            return
        self._ray_started = _ray_start(self.ray_address) or self._ray_started
        yield from _ray_execute(stages, indices, progress, task)

    def close(self) -> None:
        """Shut down the Ray instance this context started, if any."""
        if self._ray_started:
            import ray

            ray.shutdown()
            self._ray_started = False


def _ray_start(address: str) -> bool:
    """Connect to the Ray cluster at ``address`` (``local``: start one on this machine)
    unless connected; whether this call started the connection."""
    try:
        import ray
    except ImportError:
        raise UserError(
            "--ray-address needs Ray: pip install 'unlearnlab[ray]' (or pip install ray)"
        ) from None
    if ray.is_initialized():
        return False
    try:
        ray.init(address=None if address == "local" else address, include_dashboard=False)
    except ConnectionError as exc:
        raise UserError(
            f"--ray-address {address}: cannot connect ({exc}); start the cluster with "
            "'ray start --head' or use --ray-address local"
        ) from None
    return True


def _ray_execute(stages: list[Stage], indices: list[int], progress: Progress, task: Any) -> Any:
    """Run ``stages`` as Ray tasks; yield ``(index, rows)`` as each finishes."""
    import ray

    remote = {}
    for i, stage in zip(indices, stages, strict=True):
        ref = ray.remote(stage.fn).options(name=_slug(stage.name)).remote(*stage.args)
        remote[ref] = (i, stage)
    pending = list(remote)
    progress.update(task, current=f"{len(pending)} Ray tasks")
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        i, stage = remote[done[0]]
        rows = ray.get(done[0])
        progress.advance(task, stage.cost)
        progress.update(task, current=f"{stage.name} done, {len(pending)} left")
        yield i, rows
