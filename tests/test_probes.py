"""The probe suite: hand-computed cases, the EDU-RELAT golden example, the tidy table,
a random model at chance, determinism, hooks that always come off, the probe command."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch

from unlearnlab.cli import main
from unlearnlab.corpus.tokenizer import build_tokenizer
from unlearnlab.experiments.config import load_config
from unlearnlab.external import external_dataset
from unlearnlab.methods.config import UnlearnConfig
from unlearnlab.methods.loop import unlearn
from unlearnlab.models.data import encode_answer, encode_prompt
from unlearnlab.models.factory import build_model
from unlearnlab.models.store import ModelStore
from unlearnlab.probes.candidates import candidate_logprobs
from unlearnlab.probes.decoding import Generation
from unlearnlab.probes.deep import deep_rows, edu_relat_accuracy_all, edu_relat_scores
from unlearnlab.probes.hidden import residual_stream
from unlearnlab.probes.knowledge import QueryIndex
from unlearnlab.probes.outputs import classify, entropy, is_refusal
from unlearnlab.probes.recall import mcq_queries
from unlearnlab.probes.rederivation import unrelated_composites
from unlearnlab.probes.results import (
    SCHEMA,
    ProbeRow,
    aggregate,
    tidy_rows,
    write_parquet,
)
from unlearnlab.probes.scoring import answer_logprobs
from unlearnlab.probes.stats import bootstrap_mean
from unlearnlab.probes.suite import SuiteConfig, run_suite
from unlearnlab.substrate.build import build_substrate, train_reference_model
from unlearnlab.worlds import Fact, FactRecord, World

EDU_RELAT = external_dataset("edu-relat") or Path("edu-relat-not-found")
SMALL = [
    "corpus.mcq=0",  # checked on this seeded tiny world without MCQ documents
    "world.params.people=30",
    "splits.forget=3",
    "splits.heldout=10",
    "splits.underivable=0",
    "train.epochs=null",
    "train.steps=2",
    "train.batch_size=4",
    "train.seq_len=32",
    "model.hidden_size=32",
    "model.intermediate_size=64",
    "model.layers=2",
    "model.heads=2",
]
PEOPLE = ("Ann Lee", "Bea Lee", "Cal Lee", "Dan Lee", "Eve Ray", "Fay Ray")


def _world() -> World:
    facts = [Fact("Ann Lee", "mother", "Bea Lee"), Fact("Bea Lee", "mother", "Cal Lee")]
    return World(
        tuple(FactRecord(f, i) for i, f in enumerate(facts)), (), {p: "person" for p in PEOPLE}
    )


def test_mcq_items_are_exact_and_deterministic() -> None:
    world = _world()
    index = QueryIndex.build(world)
    fact = Fact("Ann Lee", "mother", "Bea Lee")
    labels = ("A", "B", "C", "D")
    [letter] = mcq_queries(world, [fact], index, labels, "letter", seed=3)
    [text] = mcq_queries(world, [fact], index, labels, "text", seed=3)
    assert letter.prompt == text.prompt
    assert letter.prompt.startswith("Q: Who is the mother of Bea Lee? A: ")
    assert letter.prompt.endswith(". A:")
    assert letter.candidates == labels
    assert len(text.candidates) == 4 and "Ann Lee" in text.candidates
    assert "Bea Lee" not in text.candidates or text.candidates.count("Bea Lee") == 1
    assert letter.answer == labels[text.candidates.index("Ann Lee")]
    for label, option in zip(labels, text.candidates, strict=True):
        assert f"{label}: {option}." in text.prompt
    assert mcq_queries(world, [fact], index, labels, "text", seed=3) == [text]
    others = {mcq_queries(world, [fact], index, labels, "text", seed=s)[0] for s in range(8)}
    assert len(others) > 1


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        ("I don't know.", True),
        ("I DO NOT KNOW", True),
        ("I\u2019m not sure who that is", True),
        ("Ann Lee", False),
        ("Knownson Lee", False),
    ],
)
def test_refusal_templates(text: str, refusal: bool) -> None:
    assert is_refusal(text) is refusal


@pytest.mark.parametrize(
    ("text", "ids", "kind"),
    [
        ("Ann Lee.", [5, 6, 7], "correct"),
        ("I don't know.", [1, 2, 3], "refusal"),
        ("Eve Ray.", [8, 9, 7], "fluent_wrong"),
        ("", [], "degenerate"),
        ("Lee Lee Lee", [6, 6, 6], "degenerate"),
        ("mother of", [10, 11], "degenerate"),
    ],
)
def test_output_classes(text: str, ids: list[int], kind: str) -> None:
    generation = Generation(text, ids, "stop")
    assert classify(generation, frozenset({"Ann Lee"}), frozenset(PEOPLE)) == kind


def test_entropy_by_hand() -> None:
    logp = torch.log(torch.tensor([[0.25] * 4, [1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0]]))
    assert entropy(logp).tolist() == pytest.approx([math.log(4), 0.0, math.log(2)])


@pytest.mark.skipif(
    not (EDU_RELAT / "example_for_evaluation.json").is_file(),
    reason="EDU-RELAT not found; set UNLEARNLAB_EXTERNAL to the folder holding edu-relat/",
)
def test_edu_relat_golden_example() -> None:
    example = json.loads((EDU_RELAT / "example_for_evaluation.json").read_text())
    targets = json.loads((EDU_RELAT / "targets.json").read_text())["targets"]
    [target] = [t for t in targets if t["index"] == example["target_index"]]
    relationships = example["relationships_correct"]
    forgotten = {i for i, known in enumerate(relationships) if not known}
    score = edu_relat_scores(target["minimal_sets"], forgotten, len(relationships))
    biographies = example["biographies_correct"]
    bio = sum(biographies) / len(biographies)
    overall = edu_relat_accuracy_all(
        score.accuracy, bio, len(biographies), len(relationships), len(score.best_set)
    )
    expected = example["expected"]
    assert score.recall == pytest.approx(expected["recall"])
    assert score.accuracy == pytest.approx(expected["accuracy_relationships"])
    assert bio == pytest.approx(expected["accuracy_biographies"])
    assert overall == pytest.approx(expected["accuracy_all"])


def test_deep_scores_by_hand() -> None:
    score = edu_relat_scores([{1, 2}, {1, 3, 4}], forgotten={1, 3, 9}, knowledge_size=10)
    # {1, 2}: 1/2; {1, 3, 4}: 2/3 -> U* = {1, 3, 4}; forgotten outside it: {9} of 7.
    assert score.recall == pytest.approx(2 / 3)
    assert score.best_set == {1, 3, 4}
    assert score.accuracy == pytest.approx(1 - 1 / 7)


def test_tidy_table_schema_and_aggregate(tmp_path: Path) -> None:
    rows = [
        ProbeRow("recall.question", "question", "forget", "f1", True, 1, -0.1, 0.9, None, 0.25),
        ProbeRow("recall.question", "question", "forget", "f2", False, 3, -2.0, 0.1, None, 0.25),
        ProbeRow("output.entropy", "question", "forget", "f1", False, value=1.5, chance=2.0),
        ProbeRow("output.entropy", "question", "forget", "f2", False, value=0.5, chance=2.0),
    ]
    table = tidy_rows(rows, model="m", seed=7, config_hash="abc")
    write_parquet(tmp_path / "t.parquet", table, SCHEMA)
    read = pq.read_table(tmp_path / "t.parquet")
    assert read.schema.names == [
        "model", "probe", "format", "split", "item", "correct", "rank", "logprob",
        "probability", "value", "chance", "seed", "config_hash",
    ]  # fmt: skip
    assert read.schema == SCHEMA
    assert read.to_pylist() == table
    recall, spread = aggregate(table)
    assert (recall.probe, recall.split, recall.value, recall.chance, recall.n) == (
        "recall.question", "forget", 0.5, 0.25, 2,
    )  # fmt: skip
    assert (recall.mean_rank, recall.mean_probability) == (2.0, pytest.approx(0.5))
    assert (spread.value, spread.chance) == (1.0, 2.0)
    assert set(recall.to_json()) == {"probe", "split", "value", "ci_low", "ci_high", "chance", "n"}


def test_bootstrap_over_seeds_widens_the_interval() -> None:
    rows = [
        ProbeRow("recall.question", "q", "forget", f"f{i}", i % 2 == 0 or seed == 1)
        for seed in (0, 1)
        for i in range(20)
    ]
    one = tidy_rows(rows, model="m", seed=0, config_hash="h")
    two = [dict(r, seed=i // 20) for i, r in enumerate(one)]
    [pooled], [by_seed] = aggregate(one), aggregate(two)
    assert pooled.value == by_seed.value == 0.75
    assert by_seed.ci_high - by_seed.ci_low > pooled.ci_high - pooled.ci_low


@pytest.fixture(scope="module")
def random_model(tmp_path_factory: pytest.TempPathFactory):
    substrate = build_substrate(load_config("compositional", SMALL))
    tokenizer = build_tokenizer(substrate.vocabulary_text(), tmp_path_factory.mktemp("tok"))
    model = build_model(substrate.config.model, tokenizer, seed=1).eval()
    return substrate, model, tokenizer


def test_prompt_reuse_scores_like_separate_rows(random_model) -> None:
    _, model, tokenizer = random_model
    prompts = [encode_prompt(tokenizer, p) for p in ("The mother of", "Q: Who is the")]
    options = [[encode_answer(tokenizer, o) for o in ("Lee .", "is", "mother of the")]] * 2
    reused = candidate_logprobs(model, prompts, options, pad_id=tokenizer.pad_token_id)
    flat = answer_logprobs(
        model, [p for p in prompts for _ in range(3)], options[0] * 2, pad_id=tokenizer.pad_token_id
    )
    assert [s for group in reused for s in group] == pytest.approx([s.logprob for s in flat])


def test_random_model_is_at_chance_and_suite_is_deterministic(random_model) -> None:
    substrate, model, tokenizer = random_model
    config = SuiteConfig(sample=40, composites=5, hidden_train=40, cot_tokens=8)
    rows = run_suite(model, tokenizer, substrate.world, substrate.splits, config)
    table = tidy_rows(rows, model="random", seed=0, config_hash="h")
    metrics = aggregate(table)
    # Pooled over splits per probe: a random model's fixed preferences hit repeated
    # answers (siblings share a mother), so one small split can sit above chance.
    pooled = [dict(r, split="all") for r in table if r["probe"].startswith("recall.")]
    recall = aggregate(pooled)
    assert {m.probe for m in recall} == {
        "recall.cloze_train", "recall.cloze_heldout", "recall.question",
        "recall.mcq_letter", "recall.mcq_text",
    }  # fmt: skip
    for m in recall:
        assert m.ci_low <= m.chance, m
    probes = [m for m in metrics if m.probe.startswith("hidden.linear_probe")]
    assert probes and all(m.ci_low <= m.chance for m in probes)
    assert {m.split for m in metrics} >= {"forget", "premise", "heldout_composite"}
    assert run_suite(model, tokenizer, substrate.world, substrate.splits, config) == rows
    some = config.model_copy(update={"families": ("recall", "output")})
    only = run_suite(model, tokenizer, substrate.world, substrate.splits, some)
    assert only == [r for r in rows if r.probe.split(".")[0] in ("recall", "output")]


def test_unrelated_composites_avoid_the_targets(random_model) -> None:
    substrate = random_model[0]
    world, splits = substrate.world, substrate.splits
    chosen = unrelated_composites(world, splits, 50)
    near = {e for f in (*splits.forget, *splits.premises) for e in (f.subject, f.object)}
    assert chosen == unrelated_composites(world, splits, 50)
    for fact in chosen:
        assert fact in world.derived_facts and fact not in splits.heldout
        assert not {fact.subject, fact.object} & near


def test_hooks_are_removed_even_after_an_error(random_model) -> None:
    _, model, _ = random_model
    layers = [model.get_input_embeddings(), *model.get_decoder().layers]
    with pytest.raises(RuntimeError), residual_stream(model) as captured:
        model(input_ids=torch.tensor([[2, 5, 6]]))
        assert len(captured) == len(layers)
        raise RuntimeError("boom")
    assert all(not layer._forward_hooks for layer in layers)


def test_probe_command_prints_stable_json(tmp_path: Path, capsys) -> None:
    substrate = build_substrate(load_config("compositional", SMALL))
    path = train_reference_model(
        substrate, "base", ModelStore(tmp_path / "store"), show_progress=False
    )
    capsys.readouterr()
    out = tmp_path / "tables"
    main(["probe", str(path), "--json", "--sample", "5", "--out", str(out)])
    metrics = json.loads(capsys.readouterr().out)["metrics"]
    assert {m["probe"] for m in metrics} >= {
        "recall.cloze_train", "recall.cloze_heldout", "recall.question", "recall.mcq_letter",
        "recall.mcq_text", "rederive.cot", "rederive.in_context", "rederive.latent",
    }  # fmt: skip
    assert {m["split"] for m in metrics} >= {
        "forget", "premise", "neighbour", "retain", "unrelated", "heldout_composite",
    }  # fmt: skip
    assert all(
        set(m) == {"probe", "split", "value", "ci_low", "ci_high", "chance", "n"} for m in metrics
    )
    assert pq.read_table(out / "results.parquet").schema == SCHEMA
    assert (out / "aggregate.parquet").is_file()
    # An unlearned model in the same store is probed on its base model's world.
    unlearned = unlearn(
        substrate, UnlearnConfig(method="ga", steps=1), ModelStore(tmp_path / "store")
    )
    main(["probe", str(unlearned.path), "--json", "--sample", "5", "--out", str(out)])
    assert {m["probe"] for m in json.loads(capsys.readouterr().out)["metrics"]} == {
        m["probe"] for m in metrics
    }


def test_deep_accuracy_does_not_count_other_targets_as_damage() -> None:
    """Two targets unlearned together: t2 and its set's premise p2 being gone is intended,
    so t1's accuracy counts only the unintended loss (x)."""
    t1, t2 = Fact("A", "aunt", "B"), Fact("C", "aunt", "D")
    p1, p2, x, y = (Fact(s, "sister", "Q") for s in ("P1", "P2", "X", "Y"))
    sets_of = {t1: [{t1, p1}], t2: [{t2, p2}]}
    known = {t1: False, p1: False, t2: False, p2: False, x: False, y: True}
    rows = {(r.probe, r.item): r for r in deep_rows([t1, t2], sets_of, known, {})}
    accuracy = rows[("deep.edu_relat_accuracy", str(t1))]
    # t1's knowledge base: t1, p1, x, y (t2 and p2 left out); U* = {t1, p1}; x of 2 is lost
    assert accuracy.value == pytest.approx(1 - 1 / 2)
    assert rows[("deep.edu_relat_recall", str(t1))].value == 1.0


def test_an_untrained_model_recalls_at_chance_in_every_split(random_model) -> None:
    """Calibration: a model that learned nothing sits at chance. Items are facts between
    people of different surnames (every candidate a two-word name, so no answer is
    favoured for being short, nor for repeating a word of the prompt, which an untrained
    model with tied embeddings does) with distinct answers (one per answer), so a model's
    fixed preference for one name cannot make a split look known; chance lies inside
    every split's interval."""
    substrate, model, tokenizer = random_model
    rows = run_suite(
        model,
        tokenizer,
        substrate.world,
        substrate.splits,
        SuiteConfig(families=("recall",), sample=40, composites=0),
    )
    types = substrate.world.entity_types
    closure = substrate.world.closure()
    people = {
        str(f)
        for f in closure
        if types[f.subject] == types[f.object] == "person"
        and f.subject.split()[-1] != f.object.split()[-1]
    }
    cloze = [r for r in rows if r.probe == "recall.cloze_train" and r.item in people]
    for split in ("forget", "premise", "neighbour", "retain"):  # unrelated: no people
        mine = [r for r in cloze if r.split == split]
        by_answer = {}
        for r in mine:
            by_answer.setdefault(r.item.split(", ")[-1], r)  # one item per answer
        picked = list(by_answer.values())
        assert len(picked) >= 2, split
        found = bootstrap_mean([float(r.correct) for r in picked], [r.item for r in picked])
        chance = sum(r.chance for r in picked) / len(picked)
        assert found.low <= chance <= found.high, (split, found, chance)
