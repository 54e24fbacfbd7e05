"""Methods that claim durability (undo, repnoise, tar, gradient_routing): their defining
limits, and the compute they record, on the tiny substrate."""

from __future__ import annotations

import json

import pytest
import torch

from tiny import TINY_FILTERING
from unlearnlab.cli import main
from unlearnlab.errors import UserError
from unlearnlab.methods import METHODS, method_create
from unlearnlab.methods.config import UnlearnConfig, load_unlearn_config
from unlearnlab.methods.data import UnlearnData, batch_rows, build_data, select
from unlearnlab.methods.gradient_routing import ROUTED, GradientRoutingParams, expand
from unlearnlab.methods.loop import train_unlearning, unlearning_trajectory
from unlearnlab.models.compute import COMPUTE_PROBE, flop_params
from unlearnlab.models.factory import SIDECAR, load_model, load_tokenizer
from unlearnlab.models.routing import Routing
from unlearnlab.report.table import read_results

DURABLE = ("undo", "repnoise", "tar", "gradient_routing")


def _data(tiny, config: UnlearnConfig) -> UnlearnData:
    substrate, _, base, _ = tiny
    return build_data(substrate, load_tokenizer(base), config.forget_set, None, config.seed)


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: t.clone() for n, t in model.state_dict().items()}


def test_list_methods_shows_each_durable_method_with_its_paper(capsys) -> None:
    main(["list", "methods"])
    lines = capsys.readouterr().out.splitlines()
    for name in DURABLE:
        at = next(i for i, line in enumerate(lines) if line.split()[0] == name)
        assert lines[at + 1].split() == ["paper:", *METHODS[name].paper.split()]


def test_undo_without_noise_or_distillation_gives_back_the_unlearned_model(tiny) -> None:
    _, _, base, _ = tiny
    config = UnlearnConfig(method="npo", steps=2, lr=1e-2)
    data = _data(tiny, config)

    def run(name: str, **params) -> dict[str, torch.Tensor]:
        model, reference = load_model(base), load_model(base)
        final, _, _ = train_unlearning(
            model, reference, method_create(name, **params), data, config
        )
        return _weights(final)

    npo = run("npo")
    same = run("undo", unlearn="npo", noise=0.0, distill_steps=0)
    assert all(torch.equal(same[n], npo[n]) for n in npo)
    perturbed = run("undo", unlearn="npo", noise=0.5, distill_steps=0)
    assert not all(torch.equal(perturbed[n], npo[n]) for n in npo)
    distilled = run("undo", unlearn="npo", noise=0.0, distill_steps=1)
    assert not all(torch.equal(distilled[n], npo[n]) for n in npo)


def test_undo_rejects_a_teacher_that_is_not_an_unlearning_loss() -> None:
    with pytest.raises(UserError, match=r"unlearn\.params\.unlearn: .*retrain is not an"):
        load_unlearn_config("default", ["unlearn.method=undo", "unlearn.params.unlearn=retrain"])
    with pytest.raises(UserError, match=r"unknown method 'npo2'"):
        load_unlearn_config("default", ["unlearn.method=undo", "unlearn.params.unlearn=npo2"])


def test_unlearning_flops_add_up_on_a_hand_checked_run(tiny) -> None:
    """npo, 2 steps, forget and retain batches of 4 rows: per step the trained model's
    forward and backward on the forget and retain rows (6·N per token) and the
    reference's forward on the forget rows (2·N per token); undo adds, per distillation
    step, the student's forward and backward and the teacher's forward on 2 + 2 rows."""
    _, _, base, _ = tiny
    config = UnlearnConfig(method="npo", steps=2, lr=1e-2, forget_batch=4, retain_batch=4)
    data = _data(tiny, config)
    n = flop_params(load_model(base))

    def tokens(part, size: int, step: int, name: str, seed: int = 0) -> int:
        return select(part, batch_rows(len(part.ids), size, step, seed, name)).ids.numel()

    expected = sum(
        6 * n * (tokens(data.forget, 4, s, "forget") + tokens(data.retain, 4, s, "retain"))
        + 2 * n * tokens(data.forget, 4, s, "forget")
        for s in range(2)
    )
    points = list(
        unlearning_trajectory(
            load_model(base), load_model(base), method_create("npo"), data, config, [1, 2]
        )
    )
    first = 6 * n * (tokens(data.forget, 4, 0, "forget") + tokens(data.retain, 4, 0, "retain"))
    first += 2 * n * tokens(data.forget, 4, 0, "forget")
    assert [p.flops for p in points] == [first, expected]
    undo = method_create("undo", unlearn="npo", distill_steps=3, distill_batch=4)
    (point,) = unlearning_trajectory(load_model(base), load_model(base), undo, data, config, [2])
    distill = sum(
        8 * n * (tokens(data.forget, 2, s, "forget") + tokens(data.retain, 2, s, "retain"))
        for s in range(3)
    )
    assert point.flops == expected + distill


def _routed(tiny, forget: tuple, tmp_path) -> dict[str, torch.Tensor]:
    substrate, _, base, _ = tiny
    model, _ = method_create("gradient_routing", width=8).routed_model(
        substrate, forget, load_tokenizer(base), tmp_path, False
    )
    return _weights(model)


def test_gradient_routing_with_nothing_to_forget_trains_the_base_model(tiny, tmp_path) -> None:
    base = _weights(load_model(tiny[2]))
    routed = _routed(tiny, (), tmp_path / "empty")
    assert set(routed) == set(base)
    assert all(torch.equal(routed[n], base[n]) for n in base)


def test_gradient_routing_keeps_the_forget_documents_out_of_the_kept_weights(
    tiny, tmp_path
) -> None:
    substrate, _, base_path, _ = tiny
    base = _weights(load_model(base_path))
    routed = _routed(tiny, tuple(substrate.splits.forget), tmp_path / "targets")
    assert set(routed) == set(base)  # ablated back to the base architecture
    assert not all(torch.equal(routed[n], base[n]) for n in base)


def test_reference_model_flops_are_six_per_parameter_per_trained_token(tiny) -> None:
    substrate, _, base, _ = tiny
    sidecar = json.loads((base / SIDECAR).read_text(encoding="utf-8"))
    train = substrate.config.train
    tokens = 10 * train.batch_size * train.seq_len  # tests/tiny.py: 10 steps of 8 x 32
    assert sidecar["flops"] == 6 * flop_params(load_model(base)) * tokens


@pytest.mark.slow
def test_filtering_experiment_reports_worst_case_recovery_against_compute(tmp_path) -> None:
    args = [a for item in TINY_FILTERING for a in ("--set", item)]
    main(["run", "filtering", *args, "--out", str(tmp_path / "runs"), "--store", str(tmp_path)])
    run_dir = tmp_path / "runs" / "filtering"
    rows = read_results(run_dir / "results.parquet")
    flops = {(r["role"], r["method"]): r["value"] for r in rows if r["probe"] == COMPUTE_PROBE}
    # Base, oracle: 10 steps of 8 x 32 tokens; gradient routing: the same with 4 more
    # neurons in the one block (3 projections of 16 x 4).
    assert flops[("base", None)] == flops[("oracle", None)]
    extra = 6 * 10 * 8 * 32 * 3 * 16 * 4
    assert flops[("unlearned", "gradient_routing")] == flops[("base", None)] + extra
    for method in ("npo", "undo", "repnoise", "tar"):
        assert flops[("unlearned", method)] > 0
    verdicts = [
        v for v in json.loads((run_dir / "verdicts.json").read_text()) if v["claim"] == "filtering"
    ]
    attacked = {r["method"] for r in rows if r["attack"] is not None and r["method"]}
    assert {v["subject"].split(" ")[0] for v in verdicts} == attacked
    assert all(v["n"] == 4 and v["threshold"] == 0.1 for v in verdicts)
    report = (run_dir / "report.md").read_text()
    assert "## Durability against data filtering" in report
    assert (run_dir / "figures" / "filtering_compute.png").is_file()


def test_routed_tokens_train_only_the_region_and_the_rest_everything_else(tiny) -> None:
    substrate, _, base, _ = tiny
    model = load_model(base)
    expand(model, GradientRoutingParams(width=4), seed=0)
    model.requires_grad_(True)
    routing = Routing([True], lambda n: ROUTED in n)
    ids = torch.tensor([[1, 2, 3, 4, 5, 6]])  # (batch, seq)
    labels = torch.tensor([[2, 3, 4, 5, 6, -100]])  # (batch, seq)
    config = substrate.config.train.model_copy(update={"batch_size": 1, "grad_accum": 1})

    def trained(routed: list[bool]) -> tuple[bool, bool]:
        """Whether the region, and whether everything else, got a gradient."""
        model.zero_grad(set_to_none=True)
        routing.accumulate(model, ids, labels, torch.tensor([routed]), config)
        got = {ROUTED in n: p.grad is not None for n, p in model.named_parameters()}
        assert all((p.grad is not None) == got[ROUTED in n] for n, p in model.named_parameters())
        return got[True], got[False]

    assert trained([True] * 3 + [False] * 3) == (True, True)
    assert trained([False] * 6) == (False, True)
    assert trained([True] * 5 + [False]) == (True, False)  # the last position has no loss
