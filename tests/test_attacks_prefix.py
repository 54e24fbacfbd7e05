"""Input-space attacks (prefix_search, soft_prompt): a model that answers only after a
trigger token gives the trigger away to the search; splits never optimise on a measured
fact; the three models get one budget and seed; same seed, same prefixes."""

from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from test_attacks import TINY
from unlearnlab.attacks import AttackTarget, CurvePoint, attack_create
from unlearnlab.attacks.base import measure
from unlearnlab.attacks.prefix import (
    PrefixTask,
    Query,
    answer_logprobs,
    encode_queries,
    prefix_groups,
    virtual_tokens,
)
from unlearnlab.attacks.prefix_search import PrefixSearch
from unlearnlab.attacks.recovery import summarize
from unlearnlab.attacks.run import ROLES, attack_models
from unlearnlab.attacks.soft_prompt import SoftPrompt
from unlearnlab.errors import UserError
from unlearnlab.methods.data import pad_examples
from unlearnlab.methods.losses import nll
from unlearnlab.models.data import Example
from unlearnlab.models.factory import ModelSpec, build_model, load_model, load_tokenizer, save_model
from unlearnlab.probes.knowledge import QueryIndex
from unlearnlab.probes.scoring import answer_logprobs as scoring_logprobs
from unlearnlab.worlds.kg import Fact

ATTACKS = ("prefix_search", "soft_prompt")
SMALL = {"length": 2, "steps": (0, 1, 3)}
BUDGET = {"prefix_search": {"top_k": 4, "batch": 4}, "soft_prompt": {"lr": 0.05}}


def test_bad_parameters_are_user_errors() -> None:
    for name in ATTACKS:
        with pytest.raises(UserError, match=r"length: .*greater than or equal to 1"):
            attack_create(name, length=0)
        with pytest.raises(UserError, match="steps: must start at 0 and strictly increase"):
            attack_create(name, steps=(0, 5, 5))
        with pytest.raises(UserError, match=r"steps: .*needs a step after 0"):
            attack_create(name, steps=(0,))
        with pytest.raises(UserError, match=r"mode: .*'per_fact' or 'universal'"):
            attack_create(name, mode="both")
    with pytest.raises(UserError, match="top_kk: unknown field \\(did you mean 'top_k'\\?\\)"):
        attack_create("prefix_search", top_kk=4)
    with pytest.raises(UserError, match=r"batch: .*greater than or equal to 1"):
        attack_create("prefix_search", batch=0)
    with pytest.raises(UserError, match=r"lr: .*greater than 0"):
        attack_create("soft_prompt", lr=0)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 12), st.integers(0, 1000))
def test_no_prefix_is_optimised_on_a_fact_it_is_measured_on_or_on_another_facts(
    n: int, seed: int
) -> None:
    facts = [Fact(f"p{i}", "mother", f"q{i}") for i in range(n)]
    if n < 2:
        with pytest.raises(UserError, match=f"at least 2 measured facts .*got {n}"):
            prefix_groups(facts, "universal", seed)
    else:
        (group,) = prefix_groups(facts, "universal", seed)
        assert not set(group.train) & set(group.test)
        assert sorted(group.train + group.test) == sorted(facts)
        assert abs(len(group.train) - len(group.test)) <= 1 and group.test
        assert list(group.test) == [f for f in facts if f in group.test]  # measured order
        assert prefix_groups(facts, "universal", seed) == [group]
    if n == 0:
        with pytest.raises(UserError, match="at least one measured fact"):
            prefix_groups(facts, "per_fact", seed)
    else:
        groups = prefix_groups(facts, "per_fact", seed)
        assert [g.train for g in groups] == [(f,) for f in facts]  # never another fact's
        assert all(g.test == g.train for g in groups)


def test_objective_and_empty_prefix_recall_match_the_probes(tiny) -> None:
    substrate, _, base, _ = tiny
    target = AttackTarget(substrate, substrate.splits.forget)
    task = PrefixTask.load(base, target, "per_fact")
    model, tokenizer = load_model(base), load_tokenizer(base)
    ours, plain = task.recall(None), measure(model, target.bench.queries(base, target.facts))
    assert [{**r, "probability": 0} for r in ours] == [{**r, "probability": 0} for r in plain]
    assert [r["probability"] for r in ours] == pytest.approx([r["probability"] for r in plain])
    queries = [q for group in task.train for q in group]
    ours = answer_logprobs(task.model, [(q, []) for q in queries], task.pad_id)
    theirs = scoring_logprobs(
        model,
        [[*q.head, *q.body] for q in queries],
        [q.answer for q in queries],
        pad_id=task.pad_id,
    )
    assert torch.allclose(ours, torch.tensor([s.logprob for s in theirs]), atol=1e-5)
    special = set(tokenizer.all_special_ids)
    assert {i for i in range(len(tokenizer)) if not task.allowed[i]} == special
    means = task.objective(torch.zeros(len(task.groups), 0, dtype=torch.long))
    by_fact = ours.reshape(len(task.groups), -1).mean(-1)  # three phrasings per fact
    assert torch.allclose(means, by_fact, atol=1e-6)


def test_a_virtual_token_with_a_tokens_embedding_scores_like_that_token(tiny) -> None:
    substrate, _, base, _ = tiny
    task = PrefixTask.load(base, AttackTarget(substrate, substrate.splits.forget), "universal")
    token = int(task.allowed.nonzero()[3])
    embedding = task.model.get_input_embeddings()
    plain = task.objective(torch.tensor([[token, token]]))
    with virtual_tokens(task.model, embedding.weight[[token, token]].clone()) as virtual:
        assert virtual.tolist() == [embedding.num_embeddings, embedding.num_embeddings + 1]
        assert torch.allclose(task.objective(virtual[None]), plain, atol=1e-6)
    assert task.model.get_input_embeddings() is embedding


def test_same_seed_same_prefixes_and_the_search_never_loses_ground(tiny) -> None:
    substrate, _, base, _ = tiny
    target = AttackTarget(substrate, substrate.splits.forget, seed=1)
    runs = {}
    for name in ATTACKS:
        attack = attack_create(name, **SMALL, **BUDGET[name])
        first, again = attack.search(base, target), attack.search(base, target)
        assert first.curve == again.curve
        assert all(torch.equal(a, b) for a, b in zip(first.prefixes, again.prefixes, strict=True))
        assert [p.step for p in first.curve] == [0, 1, 3] and first.objective.shape == (4, 1)
        assert len(first.curve[1].records) == 3 * len(first.groups[0].test)  # held-out only
        runs[name] = first
    task = PrefixTask.load(base, target, "universal")
    assert torch.equal(runs["prefix_search"].prefixes[0], task.initial_prefixes(2, seed=1))
    assert torch.equal(runs["soft_prompt"].initial, task.initial_prefixes(2, seed=1))
    assert not torch.equal(task.initial_prefixes(2, seed=1), task.initial_prefixes(2, seed=2))
    weight = task.model.get_input_embeddings().weight
    assert torch.equal(runs["soft_prompt"].prefixes[0], weight[task.initial_prefixes(2, seed=1)])
    search = runs["prefix_search"]
    assert (search.objective.diff(dim=0) >= 0).all()
    special = set(load_tokenizer(base).all_special_ids)
    assert not special & {t for p in search.prefixes for t in p.flatten().tolist()}
    with pytest.raises(UserError, match=r"top_k 999 exceeds the .* tokens a prefix can use"):
        attack_create("prefix_search", top_k=999, **SMALL).run(base, target)


def test_the_three_models_get_one_budget_and_seed(tiny, monkeypatch) -> None:
    substrate, store, base, _ = tiny
    calls = []
    for cls in (PrefixSearch, SoftPrompt):
        original = cls.search

        def spy(self, model_dir: Path, target: AttackTarget, original=original):
            run = original(self, model_dir, target)
            calls.append((model_dir, self.params.model_dump(), target, run))
            return run

        monkeypatch.setattr(cls, "search", spy)
    for name in ATTACKS:
        calls.clear()
        attack = attack_create(name, mode="per_fact", length=2, steps=(0, 1), **BUDGET[name])
        curves = attack_models(attack, base, substrate, store, seed=4)
        assert [c[0] for c in calls][1:] == [
            store.get(substrate.key("base")),
            store.get(substrate.key("oracle")),
        ]
        assert all(c[1] == calls[0][1] for c in calls)
        assert calls[0][2].seed == 4 and all(c[2] is calls[0][2] for c in calls)
        inits = [c[3].initial for c in calls]
        assert all(torch.equal(i, inits[0]) for i in inits)
        assert curves["unlearned"] == curves["base"]  # the same model: the same search
        summary = summarize(curves, resamples=20)
        assert summary.steps == [0, 1] and not summary.forgotten  # nothing to recover
        assert set(curves) == set(ROLES)


def answer_example(query: Query, prefix: list[int]) -> Example:
    """``head + prefix + body + answer`` with loss on the answer only."""
    prompt = [*query.head, *prefix, *query.body]
    ids = torch.tensor([*prompt, *query.answer])
    return Example(ids, torch.arange(len(ids)) >= len(prompt))


@pytest.fixture(scope="module")
def trigger(tiny, tmp_path_factory) -> tuple[Path, int]:
    """A tiny Llama trained to give the true answer only when a trigger token is among the
    two tokens after bos (a random filler beside it), and a decoy answer otherwise."""
    substrate, _, base, _ = tiny
    tokenizer = load_tokenizer(base)
    spec = ModelSpec(hidden_size=16, intermediate_size=32, layers=1, heads=2)
    model = build_model(spec, tokenizer, seed=0)
    target = AttackTarget(substrate, substrate.splits.forget)
    queries = encode_queries(tokenizer, target, target.facts, QueryIndex.build(substrate.world))
    # the decoy: the first candidate that is not the truth
    decoys = [dataclasses.replace(q, answer=q.options[q.truth == 0]) for q in queries]
    special = set(tokenizer.all_special_ids)
    usable = [i for i in range(len(tokenizer)) if i not in special]
    token, fillers = usable[-1], torch.tensor(usable[:-1])
    generator = torch.Generator().manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(100):
        draws = fillers[torch.randint(len(fillers), (len(queries), 4), generator=generator)]
        rows = []
        for query, decoy, (a, b, c, d) in zip(queries, decoys, draws.tolist(), strict=True):
            rows += [(query, [token, a]), (query, [b, token]), (decoy, [c, d]), (decoy, [])]
        batch = pad_examples([answer_example(q, p) for q, p in rows], tokenizer.pad_token_id)
        logits = model(input_ids=batch.ids, attention_mask=batch.mask).logits  # (rows, seq, vocab)
        optimizer.zero_grad()
        nll(logits, batch.labels).backward()
        optimizer.step()
    path = tmp_path_factory.mktemp("trigger") / "model"
    return save_model(model, tokenizer, path, {"role": "trigger"}), token


def mean_probability(point: CurvePoint) -> float:
    """Mean probability of the true answers over the candidates at one curve point."""
    return sum(r["probability"] for r in point.records) / len(point.records)


def test_the_search_finds_the_trigger_and_it_carries_to_held_out_facts(tiny, trigger) -> None:
    substrate, *_ = tiny
    path, token = trigger
    target = AttackTarget(substrate, substrate.splits.forget)
    budget = {"length": 2, "steps": (0, 3, 6), "top_k": 8, "batch": 16}
    run = attack_create("prefix_search", **budget).search(path, target)
    assert mean_probability(run.curve[0]) < 0.05  # no prefix: the decoy answer wins
    assert token in run.prefixes[-1].tolist()[0]
    assert run.objective[-1, 0] > math.log(0.5)  # optimised-on facts: answer likelihood > 1/2
    assert mean_probability(run.curve[-1]) > 0.5  # held-out facts: recall via the trigger
    assert all(r["correct"] for r in run.curve[-1].records)
    soft = attack_create("soft_prompt", length=2, steps=(0, 20), lr=0.1).search(path, target)
    assert mean_probability(soft.curve[0]) < 0.05
    assert soft.objective[-1, 0] > math.log(0.5) and mean_probability(soft.curve[-1]) > 0.5


@pytest.mark.slow
def test_benchmark_runs_on_a_tiny_world_and_reports_the_bar(tmp_path) -> None:
    overrides = [f"--set={item}" for item in TINY]
    result = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve().parents[1] / "benchmarks" / "prefix_search.py"),
            *("--steps", "0", "1", "--length", "2", "--attack", "prefix_search", *overrides),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        env={**os.environ, "UNLEARNLAB_HOME": str(tmp_path)},
    )
    lines = result.stdout.splitlines()
    assert any(line.startswith("oracle held-out-half recovery (the floor):") for line in lines)
    assert any(line.startswith("bar: search on the unlearned model") for line in lines)
    rows = [line.split() for line in lines if line.split() and line.split()[0].isdigit()]
    assert [row[0] for row in rows] == ["0", "1"] and all(len(row) == 6 for row in rows)
