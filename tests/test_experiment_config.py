"""Experiment configs: shipped names, YAML files, --set overrides and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from unlearnlab.errors import UserError
from unlearnlab.experiments.config import load_config
from unlearnlab.experiments.selected_points import sham_runs
from unlearnlab.methods.config import UnlearnConfig
from unlearnlab.substrate.files import PROFILE_QUICK, config_source, shipped_experiments


def test_the_default_experiment_is_shipped_and_valid() -> None:
    assert "compositional" in shipped_experiments()
    config = load_config("compositional")
    assert config.name == "compositional"
    assert config.world.generator == "family"
    assert config.train.epochs is not None


def test_every_shipped_experiment_validates_in_every_profile(tmp_path: Path) -> None:
    """A profile's overrides are validated only when it is run: check them all now."""
    (tmp_path / "model.safetensors").touch()  # durability's --model: a weights folder
    checked = []
    for name in shipped_experiments():
        _, text = config_source(name, "experiment")
        overrides = [f"settings.model={tmp_path}"] if name == "durability" else []
        for profile in [PROFILE_QUICK, *(yaml.safe_load(text).get("profiles") or {})]:
            config = load_config(name, overrides, profile)
            checked.append((config.name, profile))
    assert ("compositional", "full") in checked and len(checked) >= 9
    full = load_config("compositional", [], "full")
    assert "prefix_search" in [a["attack"] for a in full.settings["attacks"]]


def test_overrides_are_read_as_yaml_and_change_the_digest() -> None:
    base = load_config("compositional")
    changed = load_config("compositional", ["train.lr=0.01", "world.params.people=50"])
    assert changed.train.lr == 0.01 and changed.world.params["people"] == 50
    assert changed.digest() != base.digest()
    assert load_config("compositional").digest() == base.digest()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.lrr=1"], "compositional.yaml: train.lrr: unknown field (did you mean 'lr'?)"),
        (
            ["world.params.peple=3"],
            "compositional.yaml: world.params.peple: unknown field (did you mean 'people'?)",
        ),
        (
            ["splits.forget=0"],
            "compositional.yaml: splits.forget: Input should be greater than or equal to 1",
        ),
        (
            ["model.heads=3"],
            "compositional.yaml: model: heads (3) must divide hidden_size (128); "
            "change one of them",
        ),
        (
            ["world.generator=famly"],
            "compositional.yaml: world: unknown generator 'famly' (known: family, synthesis)",
        ),
        (["train"], "--set 'train': write it as key.path=value, e.g. train.lr=0.001"),
    ],
)
def test_bad_values_name_the_key_and_the_fix(overrides: list[str], message: str) -> None:
    with pytest.raises(UserError) as caught:
        load_config("compositional", overrides)
    assert str(caught.value) == message


def test_unknown_experiment_lists_the_known_ones() -> None:
    with pytest.raises(UserError) as caught:
        load_config("compositionnal")
    known = ", ".join(shipped_experiments())
    assert "compositional" in known
    assert str(caught.value) == (
        f"unknown experiment 'compositionnal' (known: {known}; or give the path of a YAML file)"
    )


def test_user_config_files(tmp_path: Path) -> None:
    good = tmp_path / "mine.yaml"
    good.write_text("name: mine\ntrain:\n  steps: 5\n")
    assert load_config(str(good)).train.steps == 5
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(UserError, match=r"^broken.yaml:2:1: invalid YAML"):
        load_config(str(broken))
    with pytest.raises(UserError, match=r"config file .*missing.yaml does not exist"):
        load_config(str(tmp_path / "missing.yaml"))
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n")
    with pytest.raises(UserError, match="an experiment config must be a YAML mapping"):
        load_config(str(listing))


def test_sham_runs_match_each_selected_point_and_the_weights_it_trains() -> None:
    npo = UnlearnConfig(method="npo", lr=0.001, steps=50, params={"beta": 0.2})
    rmu = UnlearnConfig(method="rmu", lr=0.01, steps=120, params={"steering": 50.0})
    twin = UnlearnConfig(method="simnpo", lr=0.001, steps=50)
    shams = sham_runs([npo, rmu, twin])
    assert [(s.method, s.lr, s.steps) for s in shams] == [
        ("sham", 0.001, 50),
        ("sham", 0.01, 120),
    ]
    assert shams[0].params == {}
    assert shams[1].params["like"] == "rmu"
    assert shams[1].params["like_params"]["steering"] == 50.0
    assert shams[1].resolved_params().like == "rmu"


def test_a_training_time_method_gets_no_sham() -> None:
    routed = UnlearnConfig(method="gradient_routing")
    npo = UnlearnConfig(method="npo", lr=0.001, steps=50)
    assert [s.lr for s in sham_runs([routed, npo])] == [0.001]


def test_the_polarity_and_metrics_experiments_share_the_default_run_s_models() -> None:
    """Their configs say so: the same world, splits, corpus and training, so the same
    reference models from the store (a change to the default's splits must follow them)."""
    from unlearnlab.substrate.build import build_substrate

    default = build_substrate(load_config("compositional"))
    for name in ("polarity", "metrics"):
        other = build_substrate(load_config(name))
        for role in ("base", "oracle", "deep_oracle"):
            assert other.key(role) == default.key(role), (name, role)


def test_the_no_cot_profile_trains_on_no_chain_of_thought() -> None:
    from unlearnlab.substrate.build import build_substrate

    default = build_substrate(load_config("compositional"))
    ablated = build_substrate(load_config("compositional", [], "no_cot"))
    assert ablated.splits.forget == default.splits.forget
    for role in ("base", "oracle", "deep_oracle"):
        kinds = {d.kind for d in ablated.documents(role)}
        assert "cot" not in kinds and "cot" in {d.kind for d in default.documents(role)}
