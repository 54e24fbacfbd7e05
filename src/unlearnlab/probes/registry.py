"""The probe registry: every probe's stable name, family and one-line description, and the
function that produces its rows, registered with the ``@probes`` decorator.

A probe function takes what the suite gives every probe (:class:`SuiteInputs`) and the
rows produced before it, and returns its rows. One function may produce several probes
of one family, interleaved as it likes (``output.*`` gives five rows per fact); every row
it returns must carry a name it registered. The suite runs the functions of the chosen
families, family by family in :data:`FAMILIES` order and within a family in order of
registration. The package imports every module of :mod:`unlearnlab.probes`
(:func:`discover`), so a new probe is one module with one registered function.
"""

from __future__ import annotations

import importlib
import pkgutil
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearnlab.corpus.splits import Splits
from unlearnlab.probes.knowledge import QueryIndex
from unlearnlab.probes.results import ProbeRow
from unlearnlab.registry import Registry
from unlearnlab.worlds.kg import Fact, World

if TYPE_CHECKING:
    from unlearnlab.probes.suite import SuiteConfig

Family = Literal["recall", "rederive", "output", "hidden", "deep", "tofu", "gen", "mia", "muse"]
"""A probe family: the probes named ``<family>.*``."""
FAMILIES: tuple[Family, ...] = (
    "recall",
    "rederive",
    "output",
    "hidden",
    "deep",
    "tofu",
    "gen",
    "mia",
    "muse",
)
"""Every family, in the order the suite runs them (``deep`` reads ``recall``'s rows)."""
DEFAULT_FAMILIES: tuple[Family, ...] = ("recall", "rederive", "output", "hidden", "deep")
"""The families a suite runs unless told otherwise: the project's own; the literature's
metrics (``tofu``, ``gen``, ``mia``, ``muse``) run where asked for."""
FACT_SPLITS = {
    "forget": "forget",
    "premise": "premises",
    "neighbour": "neighbours",
    "retain": "retain",
    "unrelated": "unrelated",
    "retain_heldout": "retain_heldout",
    "holdout": "holdout",
    "forget_underivable": "underivable",
}
"""Stable split name of stated facts -> attribute of :class:`~unlearnlab.corpus.splits.Splits`.
Where the splits draw underivable targets beside the derivable ones, ``forget`` is probed
on the derivable targets and ``forget_underivable`` on the others (:data:`FORGET_UNDERIVABLE`)."""
FORGET_UNDERIVABLE = "forget_underivable"
"""Split of the forget targets that no other fact implies (the contrast to ``forget``)."""
DEEP_UNDERIVABLE = "deep_underivable"
"""Split of the facts the deep oracle never sees besides the targets and cannot derive
(:func:`~unlearnlab.corpus.splits.deep_underivable`): probed by cloze and question only,
the guessing floor of the deep oracle's recall of its targets."""
MEMBER_SPLITS = ("forget", "holdout")
"""The splits the literature's metrics measure: the forget targets (trained by the base
model) and the holdout (trained by no model; empty unless the splits draw one)."""
LAYER = "{k}"
"""Stands for a layer number in a registered name: ``hidden.logit_lens.layer{k}``."""


@dataclass(frozen=True)
class SuiteInputs:
    """What the suite gives every probe function."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    world: World
    splits: Splits
    facts: dict[str, list[Fact]]
    """The facts each split is probed on (:func:`~unlearnlab.probes.suite.probe_splits`)."""
    index: QueryIndex
    config: SuiteConfig
    reference: PreTrainedModel | None = None
    """The oracle, for the probes that compare with it (``mia.reference``,
    ``tofu.forget_quality``, ``muse.privleak``); those give no rows without it."""


ProbeFunction = Callable[[SuiteInputs, Sequence[ProbeRow]], list[ProbeRow]]
"""(the suite's inputs, the rows produced before it) -> the rows of its probes."""


@dataclass(frozen=True)
class Probe:
    """One registered probe, as ``unlearnlab list probes`` shows it."""

    name: str
    """Stable name, the rows' ``probe`` column; :data:`LAYER` stands for a layer number."""
    family: Family
    description: str
    run: ProbeFunction
    """The function that produces its rows (and maybe other probes' rows)."""

    def names(self, probe: str) -> bool:
        """Whether a row's ``probe`` is this probe (for any layer number at :data:`LAYER`)."""
        pattern = r"\d+".join(re.escape(part) for part in self.name.split(LAYER))
        return re.fullmatch(pattern, probe) is not None


PROBES = Registry("probe", "see 'unlearnlab list probes'")
"""Every registered :class:`Probe` by name, in order of registration."""


def probes(family: Family, described: dict[str, str]) -> Callable[[ProbeFunction], ProbeFunction]:
    """Function decorator: register the function as producing the rows of the probes
    ``described`` (stable name -> one-line description), each named ``<family>.*``."""

    def add(run: ProbeFunction) -> ProbeFunction:
        for name, description in described.items():
            if family not in FAMILIES or not name.startswith(f"{family}."):
                raise RuntimeError(f"probe {name!r}: not in family {family!r} of {FAMILIES}")
            if not description or "\n" in description:
                raise RuntimeError(f"probe {name!r}: the description must be one line")
            PROBES.add(name, Probe(name, family, description, run))
        return run

    return add


def ordered(families: Iterable[Family] = FAMILIES) -> list[Probe]:
    """The registered probes of ``families`` in the suite's order: by family in
    :data:`FAMILIES` order, then in order of registration."""
    chosen = set(families)
    found = [p for p in PROBES.values() if p.family in chosen]
    return sorted(found, key=lambda p: FAMILIES.index(p.family))


def sample(facts: Sequence[Fact], k: int, seed: int, name: str) -> list[Fact]:
    """``k`` of ``facts`` (all when fewer), drawn with ``seed`` and ``name``, sorted."""
    pool = sorted(facts)
    return sorted(random.Random(f"{seed}:{name}").sample(pool, min(k, len(pool))))


def member_facts(inputs: SuiteInputs) -> dict[str, list[Fact]]:
    """The facts of each non-empty split of :data:`MEMBER_SPLITS`."""
    return {s: inputs.facts[s] for s in MEMBER_SPLITS if inputs.facts.get(s)}


def discover(path: Iterable[str], package: str) -> None:
    """Import every module of ``package`` found on ``path`` (its ``__path__``), so that
    their probes register."""
    for module in pkgutil.iter_modules(path):
        importlib.import_module(f"{package}.{module.name}")
