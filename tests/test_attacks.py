"""Attacks: the registry, k-fold splits, RTN quantization and recovery metrics by hand, and
relearning and quantization on tiny trained models (base, oracle)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tiny import TINY
from unlearnlab.attacks import ATTACKS, AttackTarget, CurvePoint, attack_create, quantize
from unlearnlab.attacks.base import kfold
from unlearnlab.attacks.quantize import quantize_rtn
from unlearnlab.attacks.recovery import (
    StepsInterval,
    area,
    gain,
    recall_matrix,
    recovery,
    steps_to,
    summarize,
    worst_case,
)
from unlearnlab.attacks.results import CURVE_SCHEMA
from unlearnlab.attacks.run import ROLES, attack_grid, attack_models
from unlearnlab.cli import main
from unlearnlab.errors import UserError
from unlearnlab.worlds.kg import Fact

FAST = {"steps": (0, 1, 3), "lr": 1e-2, "batch_size": 8}


BAD_PARAMS = {
    "relearn": [
        ({"lrr": 0.1}, "lrr: unknown field \\(did you mean 'lr'\\?\\)"),
        ({"steps": (0, 2, 2)}, "steps: must start at 0 and strictly increase"),
        ({"source": "retain", "folds": 3}, "folds applies to source forget_folds only"),
        ({"lora": {"r": 4}}, "lora settings apply to adapter lora only"),
        ({"adapter": "lora", "lora": {"r": 0}}, "lora.r"),
    ],
    "quantize": [({"bits": 3}, "bits"), ({"backend": "gptq"}, "backend")],
    "prompt_variants": [
        ({"variants": ()}, "give each variant once and at least one"),
        ({"variants": ("heldout", "heldout")}, "give each variant once"),
        ({"variants": ("paraphrase",)}, "variants"),
        ({"shots": 0}, "shots"),
    ],
    "direction_ablation": [({"positions": "first"}, "positions")],
    "prefix_search": [
        ({"steps": (0,)}, "needs a step after 0"),
        ({"mode": "per_item"}, "mode"),
        ({"top_k": 0}, "top_k"),
        ({"lenght": 4}, "unknown field \\(did you mean 'length'\\?\\)"),
    ],
    "soft_prompt": [({"lr": 0}, "lr"), ({"length": 0}, "length")],
    "in_context": [
        ({"shots": (1, 2)}, "shots: must start at 0 and strictly increase"),
        ({"shot": (0, 1)}, "unknown field \\(did you mean 'shots'\\?\\)"),
    ],
}
"""Bad parameters of registered attacks and the error each must raise (cases beyond the
misspelt-name check every attack gets)."""


def test_an_unknown_attack_names_the_known_ones() -> None:
    with pytest.raises(UserError, match=r"unknown attack 'relearn2' \(known: .*relearn"):
        attack_create("relearn2")


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_every_attack_rejects_a_misspelt_parameter_with_the_closest_name(name: str) -> None:
    """Found for every registered attack without a table entry: a new attack is one file."""
    field = sorted(ATTACKS[name].Params.model_fields)[0]
    with pytest.raises(UserError, match=rf"{field}x: unknown field \(did you mean '{field}'\?\)"):
        attack_create(name, **{f"{field}x": 1})


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [(name, p, m) for name, cases in BAD_PARAMS.items() for p, m in cases],
)
def test_bad_attack_parameters_are_user_errors(name: str, params: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        attack_create(name, **params)
    attack_create(name)  # the defaults are valid


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 40), k=st.integers(2, 8), seed=st.integers(0, 10**6))
def test_kfold_never_puts_a_fact_in_train_and_test(n: int, k: int, seed: int) -> None:
    facts = [Fact(f"p{i}", "mother", f"q{i % 3}") for i in range(n)]
    if n < k:
        with pytest.raises(UserError, match=f"{k} folds need at least {k} measured facts"):
            kfold(facts, k, seed)
        return
    folds = kfold(facts, k, seed)
    assert len(folds) == k and all(folds) and kfold(facts, k, seed) == folds
    assert sorted(f for fold in folds for f in fold) == sorted(facts)  # a partition
    assert max(map(len, folds)) - min(map(len, folds)) <= 1
    for i, fold in enumerate(folds):  # the protocol's train set: every other fold
        train = [f for j, other in enumerate(folds) if j != i for f in other]
        assert not set(train) & set(fold) and len(train) + len(fold) == n


def test_rtn_quantization_by_hand() -> None:
    weight = torch.tensor([[1.0, -0.6, 0.25, 0.0], [0.0, 0.0, 0.0, 0.0]])
    four = quantize_rtn(weight, 4)  # scale 1/7: 0.25 * 7 = 1.75 -> 2, -4.2 -> -4
    assert torch.allclose(four[0], torch.tensor([1.0, -4 / 7, 2 / 7, 0.0]))
    assert torch.equal(four[1], weight[1])
    grouped = quantize_rtn(weight, 4, group_size=2)  # second group has its own scale
    assert torch.allclose(grouped[0], torch.tensor([1.0, -4 / 7, 0.25, 0.0]))
    eight = quantize_rtn(weight, 8)
    assert (eight - weight).abs().max() <= 0.5 / 127 + 1e-7
    assert len(torch.unique(quantize_rtn(torch.randn(3, 64), 4)[0])) <= 15
    with pytest.raises(UserError, match="group_size 3 does not divide a layer's 4 input"):
        quantize_rtn(weight, 8, group_size=3)


def test_recovery_metrics_by_hand() -> None:
    u = torch.tensor([0.2, 0.5, 0.8], dtype=torch.float64)
    b = torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64)
    o = torch.tensor([0.0, 0.25, 0.5], dtype=torch.float64)
    raw, net = recovery(u, b), recovery(u, b, o)
    assert torch.allclose(raw, torch.tensor([0.0, 0.375, 0.75], dtype=torch.float64))
    assert torch.allclose(net, torch.tensor([0.0, 0.0625, 0.125], dtype=torch.float64))
    steps = [0, 1, 3]
    assert steps_to(raw, steps, 0.5) == 3 and steps_to(raw, steps, 0.9) is None
    assert area(raw) == pytest.approx((0.375 + 0.75) / 2)  # attacked points only
    assert torch.allclose(gain(u), torch.tensor([0.0, 0.3, 0.6], dtype=torch.float64))
    assert torch.allclose(gain(u, o), torch.tensor([0.0, 0.05, 0.1], dtype=torch.float64))
    assert torch.isnan(recovery(b, b)).all()  # nothing forgotten: recovery is undefined
    assert torch.equal(recovery(b, b, unforgotten=1.0), torch.ones(3, dtype=torch.float64))
    worse = torch.tensor([0.2, 0.1, 1.0], dtype=torch.float64)  # a further loss, then past b
    assert torch.equal(recovery(worse, b), torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))
    damaged = torch.tensor([0.5, 0.25, 0.6], dtype=torch.float64)  # a loss is no gain
    net = recovery(u, b, damaged)
    assert torch.allclose(net, torch.tensor([0.0, 0.375, 0.625], dtype=torch.float64))
    assert torch.equal(recovery(damaged, b, damaged), torch.zeros(3, dtype=torch.float64))


def _curve(rows: list[list[int]], facts: list[str]) -> list[CurvePoint]:
    assert all(len(row) == len(facts) for row in rows)
    return [
        CurvePoint(
            step,
            [{"fact": f, "template": "t", "correct": c} for f, c in zip(facts, row, strict=True)],
        )
        for step, row in zip([0, 1], rows, strict=True)
    ]


def test_summary_of_hand_curves_with_intervals() -> None:
    facts = ["a", "b", "c", "d"]
    curves = {
        "unlearned": _curve([[0, 0, 0, 0], [1, 1, 0, 0]], facts),
        "base": _curve([[1, 1, 1, 1], [1, 1, 1, 1]], facts),
        "oracle": _curve([[0, 0, 0, 0], [1, 0, 0, 0]], facts),
    }
    assert recall_matrix(curves["unlearned"]).tolist() == [[0, 0, 0, 0], [1, 1, 0, 0]]
    summary = summarize(curves, resamples=200)
    assert [r.value for r in summary.raw] == [0.0, 0.5]
    assert [r.value for r in summary.net] == [0.0, 0.25]
    assert summary.raw_area.value == pytest.approx(0.5)  # the mean over attacked points
    assert summary.raw_points.value == pytest.approx(0.5)
    assert summary.net_points.value == pytest.approx(0.25)
    assert summary.forgotten and summary.gap.value == 1.0
    assert summary.steps_to_50 == 1 and summary.steps_to_90 is None
    assert summary.net_steps_to_50 is None
    # Half the facts recover: a resample reaches 50% when it draws at least 2 of a, b
    # (11/16 of resamples) and 90% only when it draws nothing else (1/16).
    assert summary.steps_to_50_ci == StepsInterval(1, None)
    assert summary.steps_to_90_ci.high is None and summary.net_steps_to_90_ci.low is None
    everyone = {**curves, "unlearned": _curve([[0, 0, 0, 0], [1, 1, 1, 1]], facts)}
    assert summarize(everyone, resamples=50).steps_to_90_ci == StepsInterval(1, 1)
    assert summary.raw[1].low <= 0.5 <= summary.raw[1].high and summary.raw[1].n == 4
    assert summarize(curves, resamples=200) == summary
    with pytest.raises(UserError, match="oracle curve measures other items"):
        summarize({**curves, "oracle": _curve([[0, 0, 0], [0, 0, 0]], facts[:3])})


def test_oracle_learns_under_the_forget_set_attack_and_nets_to_zero(tiny) -> None:
    substrate, store, _, oracle = tiny
    relearn = attack_create("relearn", source="forget", **FAST)
    curves = attack_models(relearn, oracle, substrate, store)
    first, last = curves["oracle"][0].records, curves["oracle"][-1].records
    probability = [sum(r["probability"] for r in rs) / len(rs) for rs in (first, last)]
    assert probability[1] > probability[0] + 0.01  # the true answers' share of the mass
    summary = summarize(curves, resamples=50)
    assert summary.net_points.value == 0.0 and summary.net_points.high == 0.0
    undefined = math.isnan(summary.net[0].value) and not summary.forgotten
    assert all(r.value == 0.0 or undefined for r in summary.net)
    assert curves["unlearned"] == curves["oracle"]


def test_never_unlearned_model_recovers_nothing_and_runs_are_deterministic(tiny) -> None:
    substrate, store, base, _ = tiny
    relearn = attack_create("relearn", source="retain", **FAST)
    curves = attack_models(relearn, base, substrate, store, seed=3)
    summary = summarize(curves, resamples=50)
    assert not summary.forgotten and summary.gap.value == 0.0
    assert all(math.isnan(r.value) for r in summary.raw + summary.net)  # nothing to recover
    assert summary.raw_points.value <= 0.0  # relearning retain facts teaches no forget fact
    assert curves["unlearned"] == curves["base"]  # two separate runs of one model and seed


def test_fold_attack_measures_every_fact_once_in_its_held_out_fold(tiny) -> None:
    substrate, _, base, _ = tiny
    facts = substrate.splits.forget
    curve = attack_create("relearn", folds=2, **FAST).run(base, AttackTarget(substrate, facts))
    assert [p.step for p in curve] == [0, 1, 3]
    phrasings = len(curve[0].records) // len(facts)
    for point in curve:
        assert [r["fact"] for r in point.records][::phrasings] == [str(f) for f in facts]
    unrelated = attack_create("relearn", source="unrelated", **{**FAST, "steps": (0, 1)})
    assert len(unrelated.run(base, AttackTarget(substrate, facts))) == 2


def test_eight_bit_quantization_barely_changes_recall(tiny) -> None:
    substrate, _, base, _ = tiny
    facts = (*substrate.splits.forget, *substrate.splits.retain[:30])
    before, after = attack_create("quantize", bits=8).run(base, AttackTarget(substrate, facts))
    changed = recall_matrix([before, after]).diff(dim=0).abs().mean()
    assert changed <= 0.05  # stated tolerance: at most 5% of items flip


def test_lora_relearning_trains_adapters_only_and_leaves_the_model_on_disk(tiny) -> None:
    substrate, _, _, oracle = tiny
    target = AttackTarget(substrate, substrate.splits.forget, seed=1)
    schedule = {**FAST, "steps": (0, 10), "lr": 0.01}
    lora = attack_create("relearn", source="forget", adapter="lora", lora={"r": 2}, **schedule)
    curve = lora.run(oracle, target)
    assert [p.step for p in curve] == [0, 10]
    probability = [sum(r["probability"] for r in p.records) for p in (curve[0], curve[-1])]
    assert probability[1] > probability[0]  # the adapters learn the forget set
    assert lora.run(oracle, target) == curve
    full = attack_create("relearn", source="forget", **schedule).run(oracle, target)
    assert full[0] == curve[0] and full[-1] != curve[-1]
    fresh = AttackTarget(substrate, substrate.splits.forget, seed=1)
    assert fresh.bench.untouched(oracle, target.facts) == curve[0].records  # disk untouched


def test_bnb_quantization_names_the_fix_without_bitsandbytes_or_cuda(tiny, monkeypatch) -> None:
    substrate, _, base, _ = tiny
    target = AttackTarget(substrate, substrate.splits.forget[:1])
    bnb = attack_create("quantize", backend="bnb")
    monkeypatch.setattr(quantize.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError, match=r"needs bitsandbytes: pip install 'unlearnlab\[gpu\]'"):
        bnb.run(base, target)
    monkeypatch.setattr(quantize.importlib.util, "find_spec", lambda name: object())
    monkeypatch.setattr(quantize.torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="needs a CUDA GPU, and none is visible; use backend: rtn"):
        bnb.run(base, target)


def test_grid_runs_every_combination_and_finds_the_worst_case(tiny) -> None:
    substrate, store, base, _ = tiny
    with pytest.raises(UserError, match="bits"):
        attack_grid("quantize", {}, {"bits": [8, 5]}, base, substrate, store)
    one = substrate.splits.forget[:1]
    grid = {"bits": [4, 8]}
    runs = attack_grid(
        "quantize", {"group_size": 8}, grid, base, substrate, store, seeds=(0, 1), facts=one
    )
    assert [(r.params["bits"], r.seed) for r in runs] == [(4, 0), (4, 1), (8, 0), (8, 1)]
    assert all(r.params["group_size"] == 8 and set(r.curves) == set(ROLES) for r in runs)
    facts = ["a", "b"]
    flat = _curve([[1, 1], [1, 1]], facts)
    weak = {"unlearned": _curve([[0, 0], [1, 0]], facts), "base": flat, "oracle": flat}
    strong = {**weak, "unlearned": _curve([[0, 0], [1, 1]], facts)}
    summaries = [summarize(c, resamples=20) for c in (weak, strong, weak)]
    assert worst_case(summaries) == 1
    with pytest.raises(UserError, match="at least one run"):
        worst_case([])


def test_attack_command_prints_json_runs_and_rejects_bad_input(tiny, capsys, tmp_path) -> None:
    substrate, store, _, _ = tiny
    experiment_set = "[" + ", ".join(TINY) + "]"
    common = ["--store", str(store.root), "--set", f"experiment_set={experiment_set}"]
    main(
        [
            "attack",
            "default",
            "--attack",
            "quantize",
            "--grid",
            "bits=[4, 8]",
            "--json",
            "--out",
            str(tmp_path),
            *common,
            "--set",
            "unlearn.steps=1",
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert [run["params"]["bits"] for run in report["runs"]] == [4, 8]
    assert report["worst_case"] in (0, 1)
    assert set(report["runs"][0]["recall"]) == set(ROLES)
    assert json.loads((tmp_path / "recovery.json").read_text()) == report
    table = pq.read_table(tmp_path / "curves.parquet")
    assert table.schema == CURVE_SCHEMA
    items = 3 * len(substrate.splits.forget)  # three training phrasings per fact
    assert table.num_rows == 2 * len(ROLES) * 2 * items  # bits x roles x steps x items
    rows = table.to_pylist()
    assert {r["role"] for r in rows} == set(ROLES) and {r["step"] for r in rows} == {0, 1}
    first = rows[0]
    assert json.loads(first["attack_params"]) == {"backend": "rtn", "bits": 4, "group_size": None}
    assert first["model"] == Path(report["runs"][0]["model"]).name
    assert attack_create(first["attack"], **json.loads(first["attack_params"])).params.bits == 4
    main(["attack", "default", "--attack", "quantize", *common, "--set", "unlearn.steps=1"])
    out, err = capsys.readouterr()
    assert out.count("net recovery") == 1 and len(out.splitlines()) == 4  # header, 2 steps, area
    assert "worst case: npo" in err
    for argv, message in (
        (["--attack", "nope"], "unknown attack 'nope'"),
        (["--attack", "quantize", "--grid", "bits=4"], "--grid bits: give a non-empty list"),
        (["--attack", "quantize", "--grid", "bits=[4, 5]"], "bits"),
        (["--param", "lr"], "--param 'lr': write it as key=value"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(["attack", "default", *argv, *common])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
