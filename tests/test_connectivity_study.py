"""The connectivity study: verdicts and the isolated-facts bar on synthetic rows (they flip
when the rows flip), per-stratum aggregates by hand, and the kind end to end on a tiny
world."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from unlearnlab.errors import UserError
from unlearnlab.experiments.config import load_config
from unlearnlab.experiments.kinds import EXPERIMENT_KINDS
from unlearnlab.experiments.stages import RunContext
from unlearnlab.report.connectivity import (
    connectivity_sections,
    headline_table,
    isolated_bar,
    verdict,
)
from unlearnlab.report.strata import build_study, worst_point
from unlearnlab.report.table import result_rows

STRATA = {"isolated": 0, "many": 5}
TARGETS = 60
MODELS = {
    "base": {"role": "base"},
    "oracle": {"role": "oracle"},
    "deep_oracle": {"role": "deep_oracle"},
    "npo": {"role": "unlearned", "method": "npo", "forget_set": "targets", "params": "{}"},
}


def _hits(share: float) -> list[bool]:
    return [i < round(share * TARGETS) for i in range(TARGETS)]


def synthetic_rows(knows: dict[str, dict[str, float]], attacked: dict[str, dict[str, float]]):
    """Rows of the four models: direct recall = re-derivation = ``knows[model][stratum]``,
    recall after relearning (last of steps 0, 8) = ``attacked[model][stratum]``; retain and
    neighbour recall perfect everywhere; world rows with each stratum's derivations."""
    rows: list[dict[str, Any]] = []
    for stratum, derivations in STRATA.items():
        for i in range(TARGETS):
            for name in ("derivations", "deep_collateral", "dependents"):
                value = derivations if name == "derivations" else 1.0
                rows.append(
                    {
                        "probe": f"connectivity.{name}",
                        "split": "forget",
                        "item": f"t{stratum}{i}",
                        "value": float(value),
                        "stratum": stratum,
                    }
                )
    world = result_rows(rows, seed=0)
    models = []
    for model, columns in MODELS.items():
        records = []
        for stratum in STRATA:
            items = [f"t{stratum}{i}" for i in range(TARGETS)]
            for probe in ("recall.cloze_train", "rederive.cot"):
                for item, hit in zip(items, _hits(knows[model][stratum]), strict=True):
                    records.append(
                        {"probe": probe, "split": "forget", "item": item, "correct": hit}
                        | {"stratum": stratum, "chance": 0.1}
                    )
            for step, share in ((0, knows[model][stratum]), (8, attacked[model][stratum])):
                for item, hit in zip(items, _hits(share), strict=True):
                    records.append(
                        {"probe": "attack.recall", "split": "forget", "item": item}
                        | {"correct": hit, "stratum": stratum, "step": step, "format": "cloze"}
                        | {"attack": "relearn", "attack_params": "{}", "attack_seed": 0}
                    )
            for i in range(TARGETS):
                records.append(
                    {"probe": "recall.cloze_train", "split": "neighbour", "item": f"n{stratum}{i}"}
                    | {"correct": True, "stratum": stratum}
                )
        for i in range(TARGETS):
            records.append(
                {"probe": "recall.cloze_train", "split": "retain", "item": f"r{i}", "correct": True}
            )
        models += result_rows(records, **columns, seed=0)
    return world + models


GONE = {"isolated": 0.0, "many": 0.0}
KNOWN = {"isolated": 0.0, "many": 1.0}


def _study(npo_knows: dict[str, float], npo_attacked: dict[str, float], oracle_many=1.0):
    knows = {
        "base": {"isolated": 1.0, "many": 1.0},
        "oracle": {"isolated": 0.0, "many": oracle_many},
        "deep_oracle": GONE,
        "npo": npo_knows,
    }
    attacked = {**knows, "npo": npo_attacked}
    return build_study(synthetic_rows(knows, attacked))


def _line(study, label: str):
    return next(line for line in study.lines if line.label == label)


def test_verdict_flips_with_the_rows() -> None:
    study = _study(GONE, GONE)
    npo = verdict(study, _line(study, "npo"))
    assert npo.statement.startswith(
        "**npo**: unlearning holds in the least connected stratum isolated (0 derivations) "
        "(worst-case knowledge 0% [0, 6] vs the deep oracle's 0% [0, 6], +0 ± 4 points, n = 60"
    )
    assert "and in every stratum up to stratum many (5 derivations)" in npo.statement
    assert npo.holds is True and npo.n == TARGETS and npo.claim == "connectivity"
    # The oracle itself re-derives the connected targets: exact unlearning stops there.
    oracle = verdict(study, _line(study, "oracle")).statement
    assert "and stops holding at stratum many (5 derivations): 100% [" in oracle
    assert oracle.endswith("more than 10 points above.")
    relearned = _study(GONE, KNOWN)  # relearning brings the connected targets back
    assert "stops holding at stratum many (5 derivations): 100%" in (
        verdict(relearned, _line(relearned, "npo")).statement
    )
    leaky = _study({"isolated": 0.3, "many": 0.0}, GONE)
    found = verdict(leaky, _line(leaky, "npo"))
    assert found.holds is False and found.statement.startswith(
        "**npo**: unlearning does not hold even in the least connected stratum isolated "
        "(0 derivations): worst-case knowledge 30% ["
    )
    # 10 points on the point estimate: the interval straddles the threshold.
    edge = _study({"isolated": 0.1, "many": 0.0}, GONE)
    undecided = verdict(edge, _line(edge, "npo"))
    assert undecided.holds is None and "too few targets to decide" in undecided.statement


def test_ten_targets_per_stratum_decide_nothing(monkeypatch) -> None:
    """At 10 targets a stratum's exact 95% interval at 0% reaches 31%: 0% against 0% is
    undecided, not 'holds' (the point estimates alone said it held)."""
    import test_connectivity_study as me

    monkeypatch.setattr(me, "TARGETS", 10)
    study = _study(GONE, GONE)
    assert verdict(study, _line(study, "npo")).holds is None


def test_isolated_bar_flips_with_the_rows() -> None:
    within = isolated_bar(_study(GONE, {"isolated": 0.0, "many": 0.0}))
    assert "npo (relearn): recall 0% [0, 6]" in within.statement
    assert within.statement.endswith("within 10 points, as exact unlearning.")
    assert within.holds is True
    missed = isolated_bar(_study(GONE, {"isolated": 0.5, "many": 0.0}))
    assert "more than 10 points above. This is a finding" in missed.statement
    assert missed.holds is False


def test_aggregates_by_hand() -> None:
    study = _study({"isolated": 0.2, "many": 0.4}, {"isolated": 0.3, "many": 0.9})
    assert study.strata == ["isolated", "many"]
    assert [line.label for line in study.lines] == ["base", "oracle", "deep oracle", "npo"]
    npo = study.cell("npo", "many")
    assert (npo.recall.value, npo.rederive.value, npo.attacked["relearn"].value) == (0.4, 0.4, 0.9)
    assert npo.worst == 0.9 and npo.recall.n == TARGETS
    # Net recovery at step 8: npo gains 0.5 of the base's 0.6 lead, the oracle gains nothing.
    assert npo.net["relearn"].value == pytest.approx(0.5 / 0.6)
    assert npo.neighbour_loss is not None and npo.neighbour_loss.value == 0.0
    assert study.world["many"]["derivations"].value == 5.0
    assert study.derivations == {"isolated": (0, 0), "many": (5, 5)}
    assert study.chance == {"isolated": pytest.approx(0.1), "many": pytest.approx(0.1)}
    columns, table = headline_table(
        synthetic_rows(
            {"base": KNOWN, "oracle": KNOWN, "deep_oracle": GONE, "npo": GONE},
            {"base": KNOWN, "oracle": KNOWN, "deep_oracle": GONE, "npo": GONE},
        )
    )
    assert columns[0] == "model" and table[-1] == ["npo", "0.0%", "0.0%"]


def test_section_is_built_from_rows(tmp_path: Path) -> None:
    (section,) = connectivity_sections(_study_rows(), tmp_path)
    assert section.title == "Which facts can be unlearned"
    assert "- **npo**: unlearning holds" in section.markdown
    assert "**Recall after relearn**" in section.markdown
    assert (tmp_path / "connectivity.png").is_file() and (tmp_path / "connectivity.svg").is_file()
    assert (
        connectivity_sections(
            [r for r in _study_rows() if r["probe"] != ("connectivity.derivations")], tmp_path
        )
        == []
    )


def _study_rows() -> list[dict[str, Any]]:
    knows = {"base": KNOWN, "oracle": KNOWN, "deep_oracle": GONE, "npo": GONE}
    return synthetic_rows(knows, knows)


TINY = [
    "world.params.people=40",
    "splits.heldout=4",
    "splits.strata=[{name: isolated, max_derivations: 0, targets: 3, relations: [birth_year,"
    " birth_city, job]}, {name: '1', min_derivations: 1, max_derivations: 1, targets: 3},"
    " {name: '2-3', min_derivations: 2, max_derivations: 3, targets: 3},"
    " {name: '4+', min_derivations: 4, targets: 3}]",
    "train.epochs=null",
    "train.steps=10",
    "train.batch_size=8",
    "train.seq_len=32",
    "model.hidden_size=16",
    "model.intermediate_size=32",
    "model.layers=1",
    "model.heads=2",
    "settings.methods=[{method: ga, forget_sets: [targets], grid: {steps: [2]}},"
    " {method: idk, forget_sets: [targets], grid: {steps: [2]}}]",
    "settings.probes={families: [recall, rederive], sample: 10, composites: 2, cot_tokens: 12}",
    "settings.attacks=[{attack: relearn, params: {steps: [0, 1], batch_size: 8}},"
    " {attack: quantize, params: {bits: 4}}]",
]


def test_the_kind_needs_strata(tmp_path: Path) -> None:
    config = load_config("compositional", ["kind=connectivity"])
    with pytest.raises(UserError, match="kind connectivity draws forget targets per"):
        EXPERIMENT_KINDS["connectivity"]().run(config, RunContext(tmp_path, show_progress=False))


@pytest.mark.slow
def test_the_kind_end_to_end_on_a_tiny_world(tmp_path: Path) -> None:
    config = load_config("connectivity", TINY)
    kind = EXPERIMENT_KINDS["connectivity"]()
    ctx = RunContext(tmp_path / "run", store_root=tmp_path / "store", show_progress=False)
    rows = kind.run(config, ctx)
    forget = [r for r in rows if r["split"] == "forget" and r["probe"] == "recall.cloze_train"]
    assert {r["stratum"] for r in forget} == {"isolated", "1", "2-3", "4+"}
    world = {r["item"]: r for r in rows if r["probe"] == "connectivity.derivations"}
    assert len(world) == 12
    assert all(r["value"] == 0 for r in world.values() if r["stratum"] == "isolated")
    assert all(r["value"] >= 4 for r in world.values() if r["stratum"] == "4+")
    (section,) = kind.sections(rows, tmp_path / "figures", {})
    assert section.markdown.count("- **") == 3  # ga, idk and the oracle
    assert "**Recall after quantize**" in section.markdown
    study = build_study(rows)
    for cell in study.cells.values():
        for rate in (cell.recall, cell.rederive, *cell.attacked.values()):
            assert 0.0 <= rate.low <= rate.value <= rate.high <= 1.0
        assert not math.isnan(cell.worst)
    assert all(study.world[s]["deep_collateral"].value >= 0 for s in study.strata)
    columns, table = kind.headline(rows)
    assert len(columns) == 5 and len(table) == 5  # base, oracle, deep oracle, ga, idk
    again = kind.run(config, ctx)  # every stage cached: the same rows
    assert again == rows


def test_the_worst_attack_point_is_chosen_on_one_half_and_read_on_the_other() -> None:
    """Hand-computed: items f0, f2 lie in half 0 and f1, f7 in half 1 (stable hash).
    Point A recalls f0, f2 (half 0), point B recalls f1, f7 (half 1): each looks worst on
    its own half, so the naive maximum reads 50% where the cross-fitted reading (A read
    on half 1, B on half 0) is 0%. A single point is read as it is."""

    def rows(hits: set[str]) -> list[dict[str, Any]]:
        return [
            {"item": i, "correct": i in hits, "seed": 0, "attack_seed": 0}
            for i in ("f0", "f1", "f2", "f7")
        ]

    points = {"A": rows({"f0", "f2"}), "B": rows({"f1", "f7"})}
    chosen, rate = worst_point(points)
    assert chosen == "A" and rate.value == 0.0 and rate.n == 4
    assert rate.high > 0.3  # exact interval of 0 of 4, not a collapse at 0
    only, single = worst_point({"A": points["A"]})
    assert only == "A" and single.value == 0.5
