"""The literature's metrics (TOFU, memorisation, membership inference, MUSE PrivLeak):
hand-computed values, AUCs on constructed scores, the KS test against exact values, and
the suite on a tiny model with a holdout."""

from __future__ import annotations

import json
import math
import random
import zlib
from collections import Counter

import pytest
import torch

from tiny import TINY
from unlearnlab import cli
from unlearnlab.corpus.target_draws import Individuals
from unlearnlab.corpus.templates import render
from unlearnlab.experiments.config import load_config
from unlearnlab.models.factory import load_model, load_tokenizer
from unlearnlab.models.store import ModelStore
from unlearnlab.probes.generation import exact_memorization, extraction_strength, rouge_l_recall
from unlearnlab.probes.knowledge import QueryIndex
from unlearnlab.probes.mia import ATTACKS, min_k, min_k_plus_plus, placements, privleak
from unlearnlab.probes.registry import FAMILIES, PROBES
from unlearnlab.probes.scoring import score_answers
from unlearnlab.probes.stats import auc, ks_two_sample
from unlearnlab.probes.suite import SuiteConfig, run_suite
from unlearnlab.probes.tofu import PERTURBED, truth_ratio, truth_ratios
from unlearnlab.probes.tokens import TokenStats, answer_gradient_norms, answer_token_stats
from unlearnlab.substrate.build import build_substrate, train_reference_model

HOLDOUT = [*TINY, "splits.holdout=3"]
"""The tiny substrate with three holdout facts."""
NAMES = [
    "tofu.truth_ratio", "tofu.forget_quality", "tofu.answer_prob", "gen.rouge_l",
    "gen.exact_memorization", "gen.extraction_strength", "mia.loss", "mia.zlib", "mia.min_k",
    "mia.min_k_plus_plus", "mia.reference", "mia.gradnorm", "muse.privleak",
]  # fmt: skip
"""Every metric name the issue asks for."""


def test_auc_is_one_for_separated_scores_and_half_for_identical_ones() -> None:
    separated = auc([3.0, 4.0, 5.0], [0.0, 1.0, 2.0])
    assert separated.value == 1.0 and separated.n == 3 and separated.high == 1.0
    same = auc([1.0] * 10, [1.0] * 10)
    assert same.value == 0.5 and same.low == same.high == 0.5
    assert auc([0.0, 1.0], [2.0, 3.0]).value == 0.0


def test_auc_counts_pairs_and_ties_by_hand() -> None:
    # pairs (pos, neg): 2>1 win, 2=2 tie, 2<3 loss; 4 beats all three -> (1 + .5 + 0 + 3) / 6
    result = auc([2.0, 4.0], [1.0, 2.0, 3.0])
    assert result.value == pytest.approx(4.5 / 6) and result.low <= 0.75 <= result.high
    assert placements([2.0, 4.0], [1.0, 2.0, 3.0]) == [0.5, 1.0]


def test_the_ks_test_gives_the_exact_p_value() -> None:
    # all 20 merge orders of 3 + 3 values; only 2 put one sample wholly first: p = 2/20
    assert ks_two_sample([1, 2, 3], [4, 5, 6]) == (1.0, pytest.approx(0.1))
    assert ks_two_sample([1, 3], [2, 4]) == (0.5, pytest.approx(1.0))
    assert ks_two_sample([1, 2], [1, 2]) == (0.0, 1.0)
    # 1 vs 2, 3: of the 3 orders xyy, yxy, yyx only yxy keeps the gap below 1: p = 2/3
    assert ks_two_sample([1], [2, 3]) == (1.0, pytest.approx(2 / 3))


def test_truth_ratio_by_hand() -> None:
    # perturbed normalised probabilities 0.1 and 0.3 (mean 0.2) over the paraphrased 0.5
    value = truth_ratio(math.log(0.5), [math.log(0.1), math.log(0.3)])
    assert value == pytest.approx(0.4, abs=1e-12)


def test_memorisation_metrics_by_hand() -> None:
    assert rouge_l_recall("Ann Lee", "Ann Lee.") == 1.0
    assert rouge_l_recall("Bea Lee", "Ann Lee") == 0.5
    assert rouge_l_recall("Lee Ann", "Ann Lee") == 0.5  # order matters: LCS is one word
    assert rouge_l_recall("", "Ann Lee") == 0.0
    assert exact_memorization([True, False, True, True]) == 0.75
    assert extraction_strength([True, True, True]) == 1.0
    assert extraction_strength([False, True, True, True]) == 0.75
    assert extraction_strength([False, False, True]) == pytest.approx(1 / 3)
    assert extraction_strength([True, True, False]) == 0.0  # the last token is missed


def test_membership_scores_by_hand() -> None:
    assert min_k([-1.0, -5.0, -2.0, -3.0, -4.0]) == -5.0  # 20% of 5 tokens: the lowest
    assert min_k([-1.0, -5.0, -2.0, -3.0, -4.0], 0.4) == -4.5
    assert min_k([-2.0]) == -2.0  # at least one token
    stats = TokenStats([-1.0, -2.0], [True, False], means=[-1.5, -1.0], stds=[0.5, 2.0])
    assert min_k_plus_plus(stats) == -0.5  # z = [1, -0.5]; the lower one
    assert privleak(0.9, 0.5) == pytest.approx(0.8) and privleak(0.5, 0.5) == 0.0
    assert math.isnan(privleak(0.5, 0.0))


@pytest.fixture(scope="module")
def holdout(tmp_path_factory):
    """A tiny substrate with a holdout, its store, base model and oracle."""
    store = ModelStore(tmp_path_factory.mktemp("store"))
    substrate = build_substrate(load_config("compositional", HOLDOUT))
    base = train_reference_model(substrate, "base", store, show_progress=False)
    oracle = train_reference_model(substrate, "oracle", store, show_progress=False)
    return substrate, store, base, oracle


def _manual_mean_logprob(model, tokenizer, prompt: str, answer: str) -> float:
    """Mean log-probability of the answer tokens, from one plain forward pass."""
    p = tokenizer(prompt, add_special_tokens=True)["input_ids"]
    a = tokenizer(answer, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=torch.tensor([p + a])).logits[0].double(), -1)
    return sum(float(logp[len(p) - 1 + t, token]) for t, token in enumerate(a)) / len(a)


def test_truth_ratio_on_a_model_equals_the_hand_computed_value(holdout) -> None:
    substrate, _, base, _ = holdout
    model, tokenizer = load_model(base), load_tokenizer(base)
    world, index = substrate.world, QueryIndex.build(substrate.world)
    fact = substrate.splits.forget[0]
    text = index.texts[fact.relation]
    prompt = text.heldout_frames()[0].prompt(text.noun, text.given(fact))
    truth = text.answer(fact)
    pool = [c for c in index.candidates(fact, world.entity_types) if c != truth]
    wrong = random.Random(f"0:truth_ratio:{fact}").sample(pool, min(PERTURBED, len(pool)))
    para = math.exp(_manual_mean_logprob(model, tokenizer, prompt, f"{truth}."))
    pert = [math.exp(_manual_mean_logprob(model, tokenizer, prompt, f"{w}.")) for w in wrong]
    expected = (sum(pert) / len(pert)) / para
    [value] = truth_ratios(model, tokenizer, world, [fact], index)
    assert len(wrong) == PERTURBED and value == pytest.approx(expected, abs=1e-6)


def test_token_stats_agree_with_the_scoring_engine(holdout) -> None:
    substrate, _, base, _ = holdout
    model, tokenizer = load_model(base), load_tokenizer(base)
    index = QueryIndex.build(substrate.world)
    questions = [index.question(f) for f in substrate.splits.forget]
    prompts, answers = [q.prompt for q in questions], [f"{q.answer}." for q in questions]
    stats = answer_token_stats(model, tokenizer, prompts, answers, batch_size=3)
    scores = score_answers(model, tokenizer, prompts, answers)
    for s, score in zip(stats, scores, strict=True):
        assert sum(s.logprobs) == pytest.approx(score.logprob, abs=1e-4)
        assert all(m <= 0 and sd >= 0 for m, sd in zip(s.means, s.stds, strict=True))
    before = [p.detach().clone() for p in model.parameters()]
    norms = answer_gradient_norms(model, tokenizer, prompts[:2], answers[:2])
    assert all(n > 0 for n in norms)
    after = list(model.parameters())
    assert all(torch.equal(b, p) and p.grad is None for b, p in zip(before, after, strict=True))


def test_every_metric_runs_in_the_suite_with_an_oracle(holdout) -> None:
    substrate, _, base, oracle = holdout
    model, tokenizer = load_model(base), load_tokenizer(base)
    config = SuiteConfig(sample=4, families=("tofu", "gen", "mia", "muse"))
    rows = run_suite(
        model, tokenizer, substrate.world, substrate.splits, config, reference=load_model(oracle)
    )
    assert sorted({r.probe for r in rows}) == sorted(NAMES)
    n_forget, n_holdout = len(substrate.splits.forget), len(substrate.splits.holdout)
    for name in ATTACKS:
        mine = [r for r in rows if r.probe == name]
        assert [r.split for r in mine].count("holdout") == n_holdout
        shares = [r.value for r in mine if r.split == "forget_vs_holdout"]
        scores = {s: [r.value for r in mine if r.split == s] for s in ("forget", "holdout")}
        assert len(shares) == n_forget
        expected = auc(scores["forget"], scores["holdout"]).value
        assert sum(shares) / n_forget == pytest.approx(expected)
    alone = run_suite(model, tokenizer, substrate.world, substrate.splits, config)
    compared = {"mia.reference", "tofu.forget_quality", "muse.privleak"}
    assert {r.probe for r in alone} == set(NAMES) - compared


def test_probe_json_lists_every_metric(holdout, capsys, tmp_path) -> None:
    _, store, base, _ = holdout
    cli.main(["probe", str(base), "--json", "--sample", "3", "--store", str(store.root),
              "--out", str(tmp_path)])  # fmt: skip
    listed = {m["probe"] for m in json.loads(capsys.readouterr().out)["metrics"]}
    assert set(NAMES) <= listed
    assert {p.family for p in PROBES.values()} == set(FAMILIES)


def test_the_holdout_is_drawn_like_the_targets_and_leaves_them_as_they_were(holdout) -> None:
    substrate = holdout[0]
    splits, world = substrate.splits, substrate.world
    plain = build_substrate(load_config("compositional", TINY)).splits
    assert splits.forget == plain.forget and len(splits.holdout) == 3
    for role in ("forget", "premises", "neighbours", "retain", "unrelated", "retain_heldout"):
        assert not set(getattr(splits, role)) & set(splits.holdout), role
    assert set(splits.holdout) <= set(world.base_facts)
    assert all(world.rederivable(f) for f in splits.holdout)
    assert splits.to_dict()["holdout"] == [str(f) for f in splits.holdout]
    assert "holdout" not in plain.to_dict()  # cache keys of runs without one are unchanged
    people = Individuals(world)
    assert not people.of(splits.holdout) & people.of(splits.forget)
    relations = Counter(f.relation for f in splits.holdout)
    assert relations <= Counter(f.relation for f in splits.forget)  # 3 of the 4 targets'
    matched = build_substrate(load_config("compositional", [*TINY, "splits.holdout=4"])).splits
    assert Counter(f.relation for f in matched.holdout) == Counter(
        f.relation for f in matched.forget
    )


def test_no_corpus_renders_a_holdout_fact(holdout) -> None:
    """Checked on the documents' text: no phrasing, question or multiple-choice question of
    a holdout fact, and no document that names one as a fact it mentions."""
    substrate = holdout[0]
    index = QueryIndex.build(substrate.world)
    renderings = []
    for fact in substrate.splits.holdout:
        text = index.texts[fact.relation]
        for template in (*text.training_phrasings(), *text.heldout_frames(), text.question()):
            r = render(fact, text, template)
            renderings.append(f"{r.prompt} {r.answer}")
    for role in ("base", "oracle", "deep_oracle"):
        documents = substrate.documents(role)
        assert {d.kind for d in documents} == {"statement", "question", "cot", "mcq"}
        assert not any(set(d.facts) & set(substrate.splits.holdout) for d in documents)
        found = [(r, d.text) for d in documents for r in renderings if r in d.text]
        assert not found, found[:3]


def test_suite_values_equal_hand_computed_ones(holdout) -> None:
    """Each metric's row on one target against the same number computed by hand: plain
    forward passes, zlib, Hugging Face's own loss for the gradient, and the KS test on the
    truth ratios of both models."""
    substrate, _, base, oracle_dir = holdout
    model, tokenizer, oracle = load_model(base), load_tokenizer(base), load_model(oracle_dir)
    world, splits = substrate.world, substrate.splits
    config = SuiteConfig(sample=4, families=("tofu", "mia", "muse"))
    rows = run_suite(model, tokenizer, world, splits, config, reference=oracle)
    fact = splits.forget[0]
    q = QueryIndex.build(world).question(fact)
    answer = f"{q.answer}."

    def value(probe: str, split: str = "forget", item: str = str(fact)) -> float:
        [row] = [r for r in rows if (r.probe, r.split, r.item) == (probe, split, item)]
        return row.value

    mine = _manual_mean_logprob(model, tokenizer, q.prompt, answer)
    theirs = _manual_mean_logprob(oracle, tokenizer, q.prompt, answer)
    assert value("tofu.answer_prob") == pytest.approx(math.exp(mine), abs=1e-6)
    assert value("mia.loss") == pytest.approx(mine, abs=1e-6)
    zipped = len(zlib.compress(f"{q.prompt} {answer}".encode()))
    assert value("mia.zlib") == pytest.approx(mine / zipped, abs=1e-6)
    assert value("mia.reference") == pytest.approx(mine - theirs, abs=1e-6)
    p = tokenizer(q.prompt, add_special_tokens=True)["input_ids"]
    a = tokenizer(answer, add_special_tokens=False)["input_ids"]
    fresh = load_model(base)
    labels = torch.tensor([[-100] * len(p) + a])
    fresh(input_ids=torch.tensor([p + a]), labels=labels).loss.backward()
    grads = [w.grad for w in fresh.parameters() if w.grad is not None]
    norm = math.sqrt(sum(float(g.square().sum()) for g in grads))
    assert value("mia.gradnorm") == pytest.approx(-norm, rel=1e-4)
    ratios = [r.value for r in rows if (r.probe, r.split) == ("tofu.truth_ratio", "forget")]
    index = QueryIndex.build(world)
    reference = truth_ratios(oracle, tokenizer, world, splits.forget, index)
    [quality] = [r.value for r in rows if r.probe == "tofu.forget_quality"]
    assert quality == ks_two_sample(ratios, reference)[1]


def test_auc_intervals_are_exact_only_at_perfect_separation() -> None:
    """At AUC 1 over 20 positives the lower end is the exact bound 0.025 ** (1 / 20);
    below 1 the interval is the two-sided bootstrap's, narrower than a share of 20 items
    would get, and it covers the value."""
    perfect = auc([float(i) for i in range(20, 40)], [float(i) for i in range(20)])
    assert perfect.value == 1.0 and perfect.low == pytest.approx(0.025 ** (1 / 20), abs=1e-6)
    rng = random.Random(0)
    pos = [rng.gauss(1.5, 1) for _ in range(20)]
    neg = [rng.gauss(0, 1) for _ in range(60)]
    result = auc(pos, neg)
    assert result.low < result.value < result.high
    assert result.high - result.low < 0.3  # the exact interval of 17 of 20 spans 0.37
