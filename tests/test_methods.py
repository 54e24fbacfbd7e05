"""Unlearning methods: every registered method on a hand-computed case, one step on a tiny
trained model and bad hyper-parameters; plus the loop, LoRA, the grid and the CLI."""

from __future__ import annotations

import typing
from pathlib import Path
from types import SimpleNamespace

import annotated_types
import pytest
import torch

from unlearnlab.cli import main
from unlearnlab.errors import UserError
from unlearnlab.experiments.config import load_config
from unlearnlab.methods import METHODS, Batch, Tokens, handcase, method_create
from unlearnlab.methods.config import UnlearnConfig, load_unlearn_config, trajectories
from unlearnlab.methods.data import UnlearnData, build_data
from unlearnlab.methods.loop import (
    at_steps,
    run_key,
    train_unlearning,
    unlearn,
    unlearn_trajectory,
    unlearning_trajectory,
    warmup_factor,
)
from unlearnlab.methods.losses import logged_nll, sequence_logprob
from unlearnlab.methods.rmu import RMU
from unlearnlab.models.factory import load_model, load_tokenizer
from unlearnlab.models.store import ModelStore
from unlearnlab.probes.knowledge import QueryIndex
from unlearnlab.probes.outputs import output_rows
from unlearnlab.substrate import build as substrate_module
from unlearnlab.substrate.build import Substrate, build_substrate, train_reference_model

TINY = [
    "corpus.mcq=0",  # checked on this seeded tiny world without MCQ documents
    "world.params.people=30",
    "splits.forget=2",
    "splits.heldout=5",
    "splits.underivable=0",
    "train.epochs=null",
    "train.steps=40",
    "train.batch_size=8",
    "train.seq_len=32",
    "model.hidden_size=16",
    "model.intermediate_size=32",
    "model.layers=3",
    "model.heads=2",
]
LOSS_METHODS = sorted(
    n for n, cls in METHODS.items() if cls.kind in ("negative", "positive", "control")
)
FORGETTING = [n for n in LOSS_METHODS if METHODS[n].kind != "control"]
TINY_RMU = {"layer": 1}  # the tiny model has 3 blocks; rmu steers at most block 1


class FixedModel(torch.nn.Module):
    """A model whose outputs ignore the input: fixed logits and hidden states (float64)."""

    def __init__(self, logits: tuple, hidden: tuple) -> None:
        super().__init__()
        self.config = SimpleNamespace(hidden_size=len(hidden[0]), num_hidden_layers=4)
        self.logits = torch.nn.Parameter(torch.tensor(logits, dtype=torch.float64))  # (seq, V)
        self.hidden = torch.nn.Parameter(torch.tensor(hidden, dtype=torch.float64))  # (seq, d)

    def forward(self, input_ids: torch.Tensor, output_hidden_states: bool = False):
        rows = input_ids.shape[0]
        hidden = self.hidden.expand(rows, -1, -1)  # (batch, seq, d)
        return SimpleNamespace(
            logits=self.logits.expand(rows, -1, -1),  # (batch, seq, V)
            hidden_states=(hidden,) * 5 if output_hidden_states else None,
        )


def _tokens(labels: tuple) -> Tokens:
    return Tokens(
        torch.zeros((1, 3), dtype=torch.long),
        torch.tensor([labels]),
        torch.ones((1, 3), dtype=torch.bool),
    )


def hand_batch() -> Batch:
    """The batch of :mod:`unlearnlab.methods.handcase`."""
    model = FixedModel(handcase.MODEL_LOGITS, handcase.MODEL_HIDDEN)
    reference = FixedModel(handcase.REFERENCE_LOGITS, handcase.REFERENCE_HIDDEN)
    return Batch(
        model,
        reference,
        _tokens(handcase.FORGET_LABELS),
        _tokens(handcase.RETAIN_LABELS),
        _tokens(handcase.REFUSAL_LABELS),
    )


@pytest.mark.parametrize("name", LOSS_METHODS)
def test_loss_equals_the_hand_computed_value(name: str) -> None:
    method = method_create(name)
    batch = hand_batch()
    method.prepare(batch.model, seed=0)
    assert METHODS[name].hand_value is not None, f"{name}: give hand_value"
    assert method.loss(batch).item() == pytest.approx(METHODS[name].hand_value, abs=1e-6)


def test_npo_gradient_tends_to_gradient_ascent_direction() -> None:
    def gradient(name: str, **params) -> torch.Tensor:
        batch = hand_batch()
        method_create(name, **params).loss(batch).backward()
        return batch.model.logits.grad.flatten()

    ga, npo = gradient("ga"), gradient("npo", beta=1e-6, alpha=0.0)
    cosine = torch.nn.functional.cosine_similarity(ga, npo, dim=0)
    assert cosine.item() == pytest.approx(1.0, abs=1e-9)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Substrate, ModelStore, Path]:
    """A tiny substrate with a trained base model in a scratch store."""
    substrate = build_substrate(load_config("compositional", TINY))
    store = ModelStore(tmp_path_factory.mktemp("store"))
    base = train_reference_model(substrate, "base", store, show_progress=False)
    return substrate, store, base


def _data(tiny, config: UnlearnConfig) -> UnlearnData:
    substrate, _, base = tiny
    deep = None if config.deep_set == "minimum" else int(config.deep_set)
    return build_data(substrate, load_tokenizer(base), config.forget_set, deep, config.seed)


def _forget_logprob(model: torch.nn.Module, data: UnlearnData) -> float:
    with torch.no_grad():
        logits = model(input_ids=data.forget.ids).logits.float()
        return sequence_logprob(logits, data.forget.labels).sum().item()


def _rmu_distance(model: torch.nn.Module, method: RMU, data: UnlearnData) -> float:
    with torch.no_grad():
        hidden = method.hidden(model(input_ids=data.forget.ids, output_hidden_states=True))
        return ((hidden - method.control) ** 2).mean(-1)[data.forget.mask].mean().item()


@pytest.mark.parametrize("name", FORGETTING)
def test_one_step_lowers_forget_likelihood(tiny, name: str) -> None:
    _, _, base = tiny
    # The forget objective alone (retain weight 0 where there is one): on a barely trained
    # model a retain term can outweigh it.
    params = {"alpha": 0.0} if "alpha" in METHODS[name].Params.model_fields else {}
    # idk_dpo's refusal NLL is not a forget objective: the preference term alone.
    params |= {"gamma": 0.0} if name == "idk_dpo" else {}
    params |= TINY_RMU if name == "rmu" else {}
    config = UnlearnConfig(method=name, params=params, steps=1, lr=1e-2, forget_batch=64)
    data = _data(tiny, config)
    model = load_model(base)
    reference = load_model(base) if METHODS[name].uses_reference else None
    method = method_create(name, **params)
    if isinstance(method, RMU):
        method.prepare(model, config.seed)
        before = _rmu_distance(model, method, data)
        final, _, _ = train_unlearning(model, reference, method, data, config)
        assert _rmu_distance(final, method, data) < before
        return
    before = _forget_logprob(model, data)
    final, history, _ = train_unlearning(model, reference, method, data, config)
    assert len(history) == 1
    assert _forget_logprob(final, data) < before


def _constrained_fields(name: str) -> list[tuple[str, float]]:
    """(field, a value below its lower bound) for every numeric field with a lower bound."""
    found = []
    for field, info in METHODS[name].Params.model_fields.items():
        for bound in info.metadata:
            if isinstance(bound, (annotated_types.Gt, annotated_types.Ge)):
                low = bound.gt if isinstance(bound, annotated_types.Gt) else bound.ge
                found.append((field, typing.cast(float, low) - 1))
    return found


@pytest.mark.parametrize("name", sorted(METHODS))
def test_bad_hyper_parameters_fail_at_validation(name: str, monkeypatch) -> None:
    monkeypatch.setattr(substrate_module, "train", lambda *a, **k: pytest.fail("trained"))
    method = [f"unlearn.method={name}"]
    for field, value in _constrained_fields(name):
        with pytest.raises(UserError, match=rf"unlearn\.params\.{field}: Input should be greater"):
            load_unlearn_config("default", [*method, f"unlearn.params.{field}={value}"])
    with pytest.raises(UserError, match=r"unlearn\.params\.bogus: unknown field"):
        load_unlearn_config("default", [*method, "unlearn.params.bogus=1"])


def test_unknown_method_and_grid_typos_are_config_errors() -> None:
    with pytest.raises(UserError, match=r"unlearn\.method: unknown method 'npo2' \(known: ga, "):
        load_unlearn_config("default", ["unlearn.method=npo2"])
    with pytest.raises(UserError, match=r"grid\.bta: not a parameter of npo \(did you mean 'beta'"):
        load_unlearn_config("default", ["unlearn.grid.bta=[1]"])
    with pytest.raises(UserError, match=r"unlearn\.params\.beta: Input should be greater than 0"):
        load_unlearn_config("default", ["unlearn.grid.beta=[0.1, -1]"])
    with pytest.raises(UserError, match="retrained without the forget targets only"):
        load_unlearn_config("default", ["unlearn.method=retrain", "unlearn.forget_set=deep"])


def test_grid_expands_into_one_run_per_combination() -> None:
    config = UnlearnConfig(method="npo", grid={"beta": [0.1, 0.2], "seed": [0, 1, 2]})
    runs = config.expand()
    assert len(runs) == 6
    assert {(r.params["beta"], r.seed) for r in runs} == {
        (b, s) for b in (0.1, 0.2) for s in (0, 1, 2)
    }
    assert all(not r.grid for r in runs)


def test_task_vector_with_zero_scale_returns_the_base_weights(tiny) -> None:
    _, _, base = tiny
    config = UnlearnConfig(method="task_vector", params={"scale": 0.0}, steps=2, lr=1e-2)
    model = load_model(base)
    final, _, _ = train_unlearning(
        model, None, method_create("task_vector", scale=0.0), _data(tiny, config), config
    )
    start = load_model(base).state_dict()
    assert all(torch.equal(value, start[name]) for name, value in final.state_dict().items())


def test_forget_set_choices_grow_from_targets_to_deep_sets(tiny) -> None:
    substrate = tiny[0]
    sizes = {
        choice: len(_data(tiny, UnlearnConfig(forget_set=choice)).forget_facts)
        for choice in ("targets", "premises", "deep")
    }
    assert sizes["targets"] == len(substrate.splits.forget)
    assert sizes["premises"] > sizes["targets"] and sizes["deep"] > sizes["targets"]
    for target in substrate.splits.forget:
        minimum = substrate.world.minimal_deep_unlearning_sets(target).minimum
        assert minimum <= set(_data(tiny, UnlearnConfig(forget_set="deep")).forget_facts)


@pytest.mark.parametrize("adapter", ["full", "lora"])
def test_full_and_lora_runs_store_a_plain_model(tiny, adapter: str) -> None:
    substrate, store, base = tiny
    config = UnlearnConfig(
        method="ga", adapter=adapter, steps=2, lr=1e-2, eval_every=1, retain_sample=5
    )
    result = unlearn(substrate, config, store)
    assert not result.cached and len(result.history) == 2
    assert [e["step"] for e in result.evals] == [1, 2, "final"]
    model, start = load_model(result.path), load_model(base)
    assert set(model.state_dict()) == set(start.state_dict())  # adapters merged away
    assert any(not torch.equal(p, start.state_dict()[n]) for n, p in model.state_dict().items())
    assert {e.role for e in store.list() if e.path == result.path} == {"unlearned"}
    again = unlearn(substrate, config, store)
    assert again.cached and again.path == result.path and again.history == result.history


def test_same_config_and_seed_give_the_same_run(tiny, tmp_path: Path) -> None:
    substrate, store, _ = tiny
    config = UnlearnConfig(method="npo", steps=3, lr=1e-2, retain_sample=5)
    first = unlearn(substrate, config, store)
    other = ModelStore(tmp_path)
    for role in ("base",):
        (other.root / substrate.key(role)).parent.mkdir(parents=True, exist_ok=True)
        (other.root / substrate.key(role)).symlink_to(store.root / substrate.key(role))
    second = unlearn(substrate, config, other)
    assert not second.cached and second.history == first.history
    a, b = load_model(first.path).state_dict(), load_model(second.path).state_dict()
    assert all(torch.equal(a[n], b[n]) for n in a)
    reseeded = unlearn(substrate, config.model_copy(update={"seed": 1}), store)
    assert reseeded.path != first.path


def test_retrain_is_the_oracle_from_the_store(tiny, monkeypatch) -> None:
    substrate, store, _ = tiny
    oracle = train_reference_model(substrate, "oracle", store, show_progress=False)
    monkeypatch.setattr(substrate_module, "train", lambda *a, **k: pytest.fail("retrained"))
    result = unlearn(substrate, UnlearnConfig(method="retrain"), store)
    assert result.path == oracle and result.cached


def test_unlearn_command_prints_steps_and_the_model_path(tiny, capsys) -> None:
    _, store, _ = tiny
    experiment_set = "[" + ", ".join(TINY) + "]"
    main(
        [
            "unlearn",
            "default",
            "--store",
            str(store.root),
            "--set",
            "unlearn.grid.steps=[1, 2]",
            "--set",
            "unlearn.eval_every=2",
            "--set",
            "unlearn.retain_sample=5",
            "--set",
            "unlearn.grid.beta=[0.1, 0.2]",
            "--set",
            f"experiment_set={experiment_set}",
        ]
    )
    out, err = capsys.readouterr()
    # Two runs (one per beta), each stopped after 1 and 2 steps.
    assert out.count("forget_nll") == 2 and out.count("forget recall") == 2
    assert err.count("model after 1 steps: ") == 2 and err.count("model after 2 steps: ") == 2
    main(["list", "methods"])
    listing = capsys.readouterr().out
    assert all(name in listing for name in METHODS)


@pytest.mark.parametrize(
    ("name", "adapter", "warmup"),
    [("npo", "full", 0), ("npo", "full", 2), ("task_vector", "full", 0), ("ga", "lora", 0)],
)
def test_trajectory_checkpoints_equal_runs_stopped_there(
    tiny, name: str, adapter: str, warmup: int
) -> None:
    _, _, base = tiny
    config = UnlearnConfig(
        method=name, adapter=adapter, lr=1e-2, steps=3, seed=1, warmup_steps=warmup
    )
    data = _data(tiny, config)

    def fresh() -> tuple[torch.nn.Module, torch.nn.Module | None]:
        reference = load_model(base) if METHODS[name].uses_reference else None
        return load_model(base), reference

    model, reference = fresh()
    method = method_create(name)
    points = list(unlearning_trajectory(model, reference, method, data, config, [3, 1, 2]))
    assert [p.steps for p in points] == [1, 2, 3]
    assert [len(p.history) for p in points] == [1, 2, 3]
    for point in points:
        model, reference = fresh()
        alone, history, _ = train_unlearning(
            model, reference, method_create(name), data, at_steps(config, point.steps)
        )
        assert history == point.history
        trained = alone.state_dict()
        assert all(torch.equal(v, trained[k]) for k, v in point.model.state_dict().items())
    first, last = points[0].model.state_dict(), points[-1].model.state_dict()
    assert any(not torch.equal(v, last[k]) for k, v in first.items())


def test_an_early_stop_ends_every_later_checkpoint(tiny) -> None:
    _, _, base = tiny
    config = UnlearnConfig(method="ga", lr=1e-2, eval_every=1, stop_forget_at=1.0)
    data = _data(tiny, config)
    evaluate = lambda model: {"forget_recall": 0.0, "retain_recall": 1.0}  # noqa: E731
    stopped = list(
        unlearning_trajectory(
            load_model(base), None, method_create("ga"), data, config, [2, 4], evaluate
        )
    )
    assert [p.steps for p in stopped] == [2, 4]
    assert all(len(p.history) == 1 for p in stopped)


def test_trajectory_points_are_stored_as_runs_of_their_steps(tiny) -> None:
    substrate, store, _ = tiny
    config = UnlearnConfig(method="gd", lr=1e-2, eval_every=1, retain_sample=5, seed=3)
    points = unlearn_trajectory(substrate, config, [2, 1], store)
    assert [len(p.history) for p in points] == [2, 1]
    assert not any(p.cached for p in points)
    alone = unlearn(substrate, at_steps(config, 1), store)
    assert alone.cached and alone.key == points[1].key
    assert [e["step"] for e in alone.evals] == [1, "final"]
    again = unlearn_trajectory(substrate, config, [1, 2, 3], store)
    assert [p.cached for p in again] == [True, True, False]


def test_grid_steps_group_into_one_trajectory_per_other_point() -> None:
    config = UnlearnConfig(method="npo", grid={"steps": [30, 10], "beta": [0.1, 0.2], "lr": [0.01]})
    groups = trajectories(config.expand())
    assert [(run.params["beta"], steps) for run, steps in groups] == [
        (0.1, [30, 10]),
        (0.2, [30, 10]),
    ]
    (default,) = trajectories(UnlearnConfig(method="ga").expand())
    assert default[1] == [METHODS["ga"].steps]


def test_refusal_training_makes_the_refusal_preferred(tiny) -> None:
    substrate, _, base = tiny
    config = UnlearnConfig(method="idk", params={"alpha": 0.0}, lr=3e-2, steps=60)
    final, _, _ = train_unlearning(
        load_model(base), None, method_create("idk", alpha=0.0), _data(tiny, config), config
    )
    index = QueryIndex.build(substrate.world)
    forget = list(substrate.splits.forget)

    def preferred(model: torch.nn.Module) -> list[bool]:
        rows = output_rows(model, load_tokenizer(base), substrate.world, forget, index, split="f")
        return [r.correct for r in rows if r.probe == "output.prefers_refusal"]

    assert not any(preferred(load_model(base)))
    assert all(preferred(final)) and len(preferred(final)) == len(forget)


def test_a_run_resolves_its_lr_and_steps_in_one_place(tiny) -> None:
    substrate = tiny[0]
    implicit = UnlearnConfig(method="rmu")
    explicit = UnlearnConfig(method="rmu", lr=METHODS["rmu"].lr, steps=METHODS["rmu"].steps)
    assert implicit.resolved_point() == explicit.resolved_point()
    assert implicit.resolved_point()["lr"] == 1e-2 and implicit.resolved_point()["steps"] == 60
    assert run_key(substrate, implicit) == run_key(substrate, explicit)
    assert run_key(substrate, at_steps(implicit, 61)) != run_key(substrate, implicit)


def test_a_sham_like_rmu_trains_only_rmu_weights(tiny) -> None:
    _, _, base = tiny
    model = load_model(base)
    rmu = method_create("rmu", **TINY_RMU)
    sham = method_create("sham", like="rmu", like_params=TINY_RMU)
    plain = method_create("sham")
    for m in (rmu, sham, plain):
        m.prepare(model, 0)
    names = [n for n, _ in model.named_parameters()]
    assert [n for n in names if sham.trains(n)] == [n for n in names if rmu.trains(n)]
    assert 0 < sum(map(sham.trains, names)) < len(names) == sum(map(plain.trains, names))


def test_warmup_rises_linearly_then_holds() -> None:
    assert [warmup_factor(k, 4) for k in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert warmup_factor(0, 0) == 1.0


def test_step_losses_are_logged_from_the_loss_s_own_forward_pass() -> None:
    """Gradient ascent reads the forget rows only: their logged NLL is minus its loss
    (the hand value), taken from that forward pass; the retain rows, which its loss never
    read, take one forward pass of their own (retain NLL 1.865368, as in gd.py)."""
    batch = hand_batch()
    calls = []
    batch.model.register_forward_hook(lambda *_: calls.append(1))
    loss = method_create("ga").loss(batch)
    assert len(calls) == 1
    assert logged_nll(batch, batch.forget) == pytest.approx(-loss.item(), abs=1e-12)
    assert len(calls) == 1
    assert logged_nll(batch, batch.retain) == pytest.approx(1.865368, abs=1e-6)
    assert len(calls) == 2
