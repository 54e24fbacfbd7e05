"""The probe registry: the suite runs exactly the rows the hand-written suite ran before the
registry, in the same order; a probe is one registered function, found without other edits."""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from transformers import PreTrainedModel, PreTrainedTokenizerBase

import unlearnlab.probes
from unlearnlab.corpus.splits import Splits
from unlearnlab.models.factory import load_model, load_tokenizer
from unlearnlab.probes.controls import copy_rows, counterfactual_queries, other_premise_queries
from unlearnlab.probes.deep import deep_rows
from unlearnlab.probes.hidden import hidden_rows
from unlearnlab.probes.knowledge import QueryIndex, chain_of_thought
from unlearnlab.probes.outputs import output_rows
from unlearnlab.probes.recall import (
    cloze_queries,
    mcq_queries,
    option_labels,
    question_queries,
    rank_queries,
)
from unlearnlab.probes.rederivation import cot_rows, in_context_queries, latent_queries
from unlearnlab.probes.registry import (
    DEEP_UNDERIVABLE,
    DEFAULT_FAMILIES,
    FAMILIES,
    PROBES,
    Probe,
    SuiteInputs,
    discover,
    ordered,
    probes,
)
from unlearnlab.probes.results import ProbeRow
from unlearnlab.probes.suite import SuiteConfig, probe_splits, run_suite
from unlearnlab.worlds.kg import World

CONFIG = SuiteConfig(sample=6, composites=3, hidden_train=20, cot_tokens=16)
"""Small samples: every family runs on the tiny model in seconds."""
OUTPUT = CONFIG.model_copy(update={"families": ("output",)})
"""Only the output family: the cheapest to run next to a probe added to it."""
NEW_PROBE = '''"""A probe added by a test: whether a forget target's subject starts with "A"."""

from collections.abc import Sequence

from unlearnlab.probes.registry import SuiteInputs, probes
from unlearnlab.probes.results import ProbeRow


@probes("output", {"output.subject_a": "the target's subject starts with A"})
def subject_a(inputs: SuiteInputs, earlier: Sequence[ProbeRow]) -> list[ProbeRow]:
    return [
        ProbeRow("output.subject_a", "name", "forget", str(f), f.subject.startswith("A"))
        for f in inputs.facts["forget"]
    ]
'''
"""A whole probe module, as a contributor would add it to ``unlearnlab/probes/``."""


def _hand_written_suite(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    world: World,
    splits: Splits,
    config: SuiteConfig,
) -> list[ProbeRow]:
    """The suite as it was written before the registry: every call, in order."""
    index = QueryIndex.build(world)
    chosen = probe_splits(world, splits, config)
    labels = option_labels(tokenizer, {w for e in world.entity_types for w in e.split()})
    seed, per_fact = config.seed, config.frames_per_fact
    rows: list[ProbeRow] = []

    def rank(probe: str, split: str, queries: list) -> None:
        rows.extend(rank_queries(model, tokenizer, queries, probe=probe, split=split))

    def cloze(facts: Sequence, frames) -> list:
        return cloze_queries(world, facts, frames, index, per_fact=per_fact, seed=seed)

    for split in ("forget", "premise", "neighbour", "retain", "unrelated", "retain_heldout"):
        facts = chosen[split]
        rank("recall.cloze_train", split, cloze(facts, lambda t: t.training_frames()))
        rank("recall.cloze_heldout", split, cloze(facts, lambda t: t.heldout_frames()))
        rank("recall.question", split, question_queries(world, facts, index))
        for by in ("letter", "text"):
            rank(f"recall.mcq_{by}", split, mcq_queries(world, facts, index, labels, by, seed=seed))
    for split in ("forget", "heldout_composite", "unrelated_composite"):
        facts = chosen[split]
        rows += cot_rows(
            model, tokenizer, world, facts, index, split=split, max_new_tokens=config.cot_tokens
        )
        contexts = in_context_queries(world, facts, index)
        rank("rederive.in_context", split, contexts)
        rows += copy_rows(contexts, index, split)
        rank("rederive.in_context_counterfactual", split, counterfactual_queries(contexts, seed))
        rank("rederive.in_context_other", split, other_premise_queries(contexts, index))
        rank("rederive.latent", split, latent_queries(world, facts, index))
    rows += output_rows(model, tokenizer, world, chosen["forget"], index, split="forget")
    ordered = sorted(splits.retain)
    sample = sorted(
        random.Random(f"{seed}:hidden").sample(ordered, min(config.hidden_train, len(ordered)))
    )
    rows += hidden_rows(model, tokenizer, world, sample, chosen["forget"], split="forget")
    sets_of = {
        t: [set(s) for s in world.minimal_deep_unlearning_sets(t).sets] for t in splits.forget
    }
    members = sorted({f for sets in sets_of.values() for s in sets for f in s})
    known: dict[str, bool] = {}
    for row in rows:
        if row.probe == "recall.cloze_train":
            known[row.item] = known.get(row.item, True) and row.correct
    missing = [f for f in members if str(f) not in known]
    queries = cloze(missing, lambda t: t.training_frames())
    for row in rank_queries(model, tokenizer, queries, probe="deep.known", split="knowledge"):
        known[row.item] = known.get(row.item, True) and row.correct
    by_name = {str(f): f for f in world.base_facts}
    knowledge = {by_name[item]: k for item, k in known.items() if item in by_name}
    unknown = [f for f in members if not knowledge[f]]
    cot = chain_of_thought(
        model, tokenizer, world, unknown, index=index, max_new_tokens=config.cot_tokens
    )
    rederived = {f: r["exact"] for f, r in zip(unknown, cot, strict=True)}
    return rows + deep_rows(list(splits.forget), sets_of, knowledge, rederived)


@pytest.fixture(scope="module")
def base(tiny):
    """The tiny substrate with its base model and tokenizer."""
    substrate, _, path, _ = tiny
    return substrate, load_model(path), load_tokenizer(path)


def test_suite_rows_are_those_of_the_hand_written_suite(base) -> None:
    """Same probes, same rows in the same order, same values (rows of probes added since
    are left out of the comparison, wherever they run)."""
    substrate, model, tokenizer = base
    world, splits = substrate.world, substrate.splits
    expected = _hand_written_suite(model, tokenizer, world, splits, CONFIG)
    names = {r.probe for r in expected}
    assert {n.split(".")[0] for n in names} == {"recall", "rederive", "output", "hidden", "deep"}
    rows = run_suite(model, tokenizer, world, splits, CONFIG)
    assert [r for r in rows if r.probe in names and r.split != DEEP_UNDERIVABLE] == expected
    default = [p for p in PROBES.values() if p.family in DEFAULT_FAMILIES]
    assert all(any(p.names(r.probe) for r in rows) for p in default)


@pytest.fixture
def registry() -> Iterator[None]:
    """The registry and the probe modules imported as they were before the test, afterwards."""
    saved, modules = dict(PROBES), set(sys.modules)
    yield
    PROBES.clear()
    PROBES.update(saved)
    for name in set(sys.modules) - modules:
        if name.startswith("unlearnlab.probes."):
            del sys.modules[name]


def test_a_probe_module_is_found_and_run_without_other_edits(
    base, registry, tmp_path: Path, monkeypatch
) -> None:
    substrate, model, tokenizer = base
    world, splits = substrate.world, substrate.splits
    before = run_suite(model, tokenizer, world, splits, OUTPUT)
    (tmp_path / "subject_a.py").write_text(NEW_PROBE, encoding="utf-8")
    monkeypatch.setattr(unlearnlab.probes, "__path__", [*unlearnlab.probes.__path__, str(tmp_path)])
    discover(unlearnlab.probes.__path__, unlearnlab.probes.__name__)
    assert PROBES["output.subject_a"].family == "output"
    names = [p.name for p in ordered(["output", "hidden"])]
    assert names[names.index("output.subject_a") + 1].startswith("hidden.")
    rows = run_suite(model, tokenizer, world, splits, OUTPUT)
    forget = sorted(splits.forget)
    assert rows[: len(before)] == before
    assert [(r.probe, r.item) for r in rows[len(before) :]] == [
        ("output.subject_a", str(f)) for f in forget
    ]
    assert [r.correct for r in rows[len(before) :]] == [f.subject.startswith("A") for f in forget]


def test_a_function_gets_the_rows_before_it_and_runs_once(base, registry) -> None:
    substrate, model, tokenizer = base
    seen: list[int] = []

    @probes("output", {"output.count": "rows before it", "output.twice": "a second name"})
    def count(inputs: SuiteInputs, earlier: Sequence[ProbeRow]) -> list[ProbeRow]:
        seen.append(len(earlier))
        return [ProbeRow("output.count", "all", "forget", "-", True, value=len(earlier))]

    rows = run_suite(model, tokenizer, substrate.world, substrate.splits, OUTPUT)
    assert seen == [len(rows) - 1] and rows[-1].probe == "output.count"


def test_rows_of_an_unregistered_probe_are_an_error(base, registry) -> None:
    substrate, model, tokenizer = base

    @probes("output", {"output.declared": "a declared probe"})
    def stray(inputs: SuiteInputs, earlier: Sequence[ProbeRow]) -> list[ProbeRow]:
        return [ProbeRow("output.declared_not", "all", "forget", "-", True)]

    with pytest.raises(
        RuntimeError, match=r"stray gave rows of unregistered .*'output.declared_not'"
    ):
        run_suite(model, tokenizer, substrate.world, substrate.splits, OUTPUT)


def _nothing(inputs: SuiteInputs, earlier: Sequence[ProbeRow]) -> list[ProbeRow]:
    return []


@pytest.mark.parametrize(
    ("family", "described", "error"),
    [
        ("output", {"recall.x": "named for another family"}, "not in family 'output'"),
        ("outputs", {"outputs.x": "an unknown family"}, "not in family 'outputs'"),
        ("output", {"output.x": ""}, "one line"),
        ("output", {"output.x": "two\nlines"}, "one line"),
        ("recall", {"recall.cloze_train": "taken"}, "'recall.cloze_train' is registered twice"),
    ],
)
def test_a_bad_registration_fails_at_import(registry, family, described, error) -> None:
    with pytest.raises(RuntimeError, match=error):
        probes(family, described)(_nothing)


def test_a_layer_name_stands_for_any_layer_number_only() -> None:
    lens = Probe("hidden.logit_lens.layer{k}", "hidden", "-", _nothing)
    assert lens.names("hidden.logit_lens.layer0") and lens.names("hidden.logit_lens.layer12")
    for near in (
        "hidden.logit_lens.layer",
        "hidden.logit_lens.layer1x",
        "hidden.logit_lens.layer-1",
        "hidden.logit_lensXlayer1",
    ):
        assert not lens.names(near)
    cloze = Probe("recall.cloze_train", "recall", "-", _nothing)
    assert cloze.names("recall.cloze_train") and not cloze.names("recall.cloze_trains")


def test_the_registry_lists_every_family_in_the_suite_order() -> None:
    families = [p.family for p in ordered()]
    assert families == sorted(families, key=FAMILIES.index) and set(families) == set(FAMILIES)
    assert [p.name for p in ordered(["recall"])] == [
        "recall.cloze_train", "recall.cloze_heldout", "recall.question",
        "recall.mcq_letter", "recall.mcq_text",
    ]  # fmt: skip
