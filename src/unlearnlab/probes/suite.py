"""The full probe suite on one model: every registered probe on its splits, as tidy rows.

Split names (stable): ``forget``, ``premise``, ``neighbour``, ``retain``, ``unrelated``
(stated facts, by role), ``heldout_composite`` (derived facts never shown) and
``unrelated_composite`` (:func:`~unlearnlab.probes.rederivation.unrelated_composites`),
``deep_underivable`` (facts the deep oracle never sees and cannot derive, sampled; cloze
and question recall only), ``forget_underivable`` (where the splits draw underivable
targets: those targets, every recall probe, chain of thought and outputs; ``forget`` then
holds the derivable targets only).
Forget targets and premises are probed in full; the larger splits are sampled.
``SuiteConfig.families`` picks the probe families that run (by default the project's own:
``recall.*``, ``rederive.*``, ``output.*``, ``hidden.*``, ``deep.*``; the literature's
metrics ``tofu.*``, ``gen.*``, ``mia.*`` and ``muse.*`` where asked for). The ``holdout``
split (stated facts no model trained on) is probed in full where the splits have one. The
probes themselves are registered in their own modules (:mod:`unlearnlab.probes.registry`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearnlab.corpus.splits import Splits, deep_underivable
from unlearnlab.probes.knowledge import QueryIndex
from unlearnlab.probes.rederivation import unrelated_composites
from unlearnlab.probes.registry import (
    DEEP_UNDERIVABLE,
    DEFAULT_FAMILIES,
    FACT_SPLITS,
    FORGET_UNDERIVABLE,
    Family,
    Probe,
    ProbeFunction,
    SuiteInputs,
    ordered,
    sample,
)
from unlearnlab.probes.results import ProbeRow
from unlearnlab.worlds.kg import Fact, World


class SuiteConfig(BaseModel):
    """How much of each split the suite probes, and how."""

    model_config = ConfigDict(extra="forbid")

    sample: int = Field(30, ge=1, description="facts probed per large split (neighbour, ...)")
    composites: int = Field(30, ge=0, description="held-out and unrelated composites probed")
    frames_per_fact: int = Field(
        1, ge=0, description="phrasings per fact and cloze probe, rotated by fact; 0 = all"
    )
    hidden_train: int = Field(300, ge=10, description="retain facts the linear probes train on")
    cot_tokens: int = Field(64, ge=8, description="longest chain of thought generated")
    seed: int = Field(0, description="seed of samples, distractors and bootstrap")
    families: tuple[Family, ...] = Field(
        DEFAULT_FAMILIES,
        min_length=1,
        description="probe families run (default: recall, rederive, output, hidden, deep)",
    )


def probe_splits(world: World, splits: Splits, config: SuiteConfig) -> dict[str, list[Fact]]:
    """The facts each split is probed on (see the module docstring)."""
    chosen = {}
    for name, role in FACT_SPLITS.items():
        facts = list(getattr(splits, role))
        full = name in ("forget", "premise", "holdout", FORGET_UNDERIVABLE)
        chosen[name] = sorted(facts) if full else sample(facts, config.sample, config.seed, name)
    if splits.underivable:
        chosen["forget"] = sorted(set(splits.forget) - set(splits.underivable))
    chosen[DEEP_UNDERIVABLE] = sample(
        deep_underivable(world, splits), config.sample, config.seed, DEEP_UNDERIVABLE
    )
    chosen["heldout_composite"] = sample(
        splits.heldout, config.composites, config.seed, "heldout_composite"
    )
    chosen["unrelated_composite"] = unrelated_composites(
        world, splits, config.composites, seed=config.seed
    )
    return chosen


def run_suite(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    world: World,
    splits: Splits,
    config: SuiteConfig,
    reference: PreTrainedModel | None = None,
) -> list[ProbeRow]:
    """Every registered probe of the chosen families on ``model``, each function once, in
    the registry's order; the same inputs give the same rows. ``reference`` is the oracle
    the comparing probes need (:class:`~unlearnlab.probes.registry.SuiteInputs`)."""
    facts = probe_splits(world, splits, config)
    index = QueryIndex.build(world)
    inputs = SuiteInputs(model, tokenizer, world, splits, facts, index, config, reference)
    functions: dict[ProbeFunction, list[Probe]] = {}
    for probe in ordered(config.families):
        functions.setdefault(probe.run, []).append(probe)
    rows: list[ProbeRow] = []
    for run, declared in functions.items():
        produced = run(inputs, tuple(rows))
        stray = sorted({r.probe for r in produced if not any(p.names(r.probe) for p in declared)})
        if stray:
            raise RuntimeError(
                f"{run.__module__}.{run.__qualname__} gave rows of unregistered probes {stray}; "
                "name them in its @probes"
            )
        rows += produced
    return rows
