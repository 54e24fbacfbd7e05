"""Derivable against underivable targets: the draw of the underivable ones, their own
probe split, and the report's contrast verdicts (issue 16)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tiny import TINY, TINY_RUN
from unlearnlab.corpus.splits import DERIVABLE, UNDERIVABLE
from unlearnlab.corpus.target_draws import Individuals
from unlearnlab.errors import UserError
from unlearnlab.experiments.config import load_config
from unlearnlab.experiments.kinds import EXPERIMENT_KINDS
from unlearnlab.experiments.stages import RunContext
from unlearnlab.probes.registry import FORGET_UNDERIVABLE
from unlearnlab.probes.stats import Rate
from unlearnlab.probes.suite import SuiteConfig, probe_splits
from unlearnlab.report.contrast import NO_CONTRAST, contrast_section, contrast_verdict, known
from unlearnlab.report.models import ModelId, RowIndex
from unlearnlab.substrate.build import build_substrate
from unlearnlab.worlds.closure import compute_closure


def _splits(people: int, seed: int, underivable: int = 3) -> Any:
    overrides = [
        *TINY,
        f"world.params.people={people}",
        f"world.params.seed={seed}",
        f"splits.seed={seed}",
        f"splits.underivable={underivable}",
    ]
    return build_substrate(load_config("compositional", overrides))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(people=st.integers(30, 50), seed=st.integers(0, 50))
def test_underivable_targets_are_underivable_and_share_no_person(people: int, seed: int) -> None:
    """Brute force: no underivable target is in the closure of the other stated facts; no
    person of one is named by a derivable target, a premise, a holdout fact or another
    underivable target; the derivable targets are those drawn without them."""
    substrate = _splits(people, seed)
    world, splits = substrate.world, substrate.splits
    isolated = splits.underivable
    assert len(isolated) == 3 and splits.strata[UNDERIVABLE] == isolated
    for fact in isolated:
        closure = compute_closure(frozenset(set(world.stated) - {fact}), world.rules).facts
        assert fact not in closure, fact
    people_of = Individuals(world)
    derivable = splits.strata[DERIVABLE]
    premises = [p for t in derivable for p in splits.premises_of[t]]
    taken = people_of.of([*derivable, *premises, *splits.holdout])
    named = [people_of.of([f]) for f in isolated]
    assert all(n and not n & taken for n in named)
    assert len(set().union(*named)) == sum(map(len, named))  # pairwise disjoint
    plain = _splits(people, seed, underivable=0).splits
    assert derivable == plain.forget and splits.holdout == plain.holdout
    assert set(splits.forget) == set(derivable) | set(isolated)


def test_too_many_underivable_targets_is_a_clear_error() -> None:
    with pytest.raises(UserError, match=r"splits\.underivable: asked for 500"):
        _splits(30, 0, underivable=500)


def test_the_oracles_never_see_an_underivable_target_and_the_probes_split_them() -> None:
    substrate = _splits(30, 0)
    isolated = set(substrate.splits.underivable)
    for role in ("oracle", "deep_oracle"):
        assert not any(set(d.facts) & isolated for d in substrate.documents(role)), role
    assert any(set(d.facts) & isolated for d in substrate.documents("base"))
    facts = probe_splits(substrate.world, substrate.splits, SuiteConfig(sample=4))
    assert set(facts[FORGET_UNDERIVABLE]) == isolated
    assert set(facts["forget"]) == set(substrate.splits.strata[DERIVABLE])


def _rows(model: ModelId, split: str, probe: str, outcomes: list[bool], seed: int = 0) -> list:
    return [
        {
            "role": model.role, "method": model.method or None,
            "forget_set": model.forget_set or None, "params": model.params or None,
            "attack": None, "probe": probe, "split": split, "item": f"f{i}",
            "correct": ok, "value": None, "chance": 0.1, "seed": seed,
        }
        for i, ok in enumerate(outcomes)
    ]  # fmt: skip


def test_a_target_is_known_when_recall_or_chain_of_thought_gets_it() -> None:
    """Hand-computed: recall gets f0, f1; CoT gets f1, f2; f3 unknown: 3 of 4 known. A
    refusal method is read by what it answers, not by its ranking."""
    oracle = ModelId("oracle")
    rows = _rows(oracle, "forget", "recall.cloze_train", [True, True, False, False])
    rows += _rows(oracle, "forget", "rederive.cot", [False, True, True, False])
    assert known(RowIndex(rows), oracle, "forget").value == pytest.approx(0.75)
    idk = ModelId("unlearned", "idk", "targets", json.dumps({"lr": 0.001, "steps": 60}))
    rows = _rows(idk, "forget", "recall.cloze_train", [True] * 4)
    rows += _rows(idk, "forget", "output.correct", [False, False, False, True])
    rows += _rows(idk, "forget", "rederive.cot", [False] * 4)
    assert known(RowIndex(rows), idk, "forget").value == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("derivable", "underivable", "holds"),
    [(0.9, 0.05, True), (0.05, 0.0, False), (0.5, 0.3, None)],
)
def test_the_contrast_verdict_holds_fails_or_is_undecided(
    derivable: float, underivable: float, holds: bool | None
) -> None:
    def rate(v: float) -> Rate:
        return Rate(v, max(0.0, v - 0.12), min(1.0, v + 0.12), 20)

    d, u = rate(derivable), rate(underivable)
    verdict = contrast_verdict("npo", d, u)
    assert verdict.holds is holds and verdict.claim == "contrast" and verdict.n == 20
    assert verdict.value == pytest.approx(derivable - underivable)
    assert verdict.ci == pytest.approx((d.low - u.high, d.high - u.low))
    if holds is False:
        assert verdict.ci[1] < NO_CONTRAST


def test_the_section_reads_each_model_on_both_groups() -> None:
    rows = []
    for model, d, u in ((ModelId("base"), 20, 20), (ModelId("oracle"), 16, 0)):
        for probe in ("recall.cloze_train", "rederive.cot"):
            rows += _rows(model, "forget", probe, [i < d for i in range(20)])
            rows += _rows(model, FORGET_UNDERIVABLE, probe, [i < u for i in range(20)])
    section = contrast_section(rows)
    verdicts = {v.subject: v for v in section.verdicts}
    assert verdicts["oracle"].holds is True and verdicts["oracle"].value == pytest.approx(0.8)
    assert verdicts["base"].holds is False  # 100% against 100%: [-17, +17] rules out 20 points
    assert contrast_section([r for r in rows if r["split"] == "forget"]) is None


@pytest.mark.slow
def test_a_tiny_run_with_underivable_targets_reports_the_contrast(tmp_path: Path) -> None:
    config = load_config("compositional", [*TINY_RUN, "splits.underivable=3"])
    kind = EXPERIMENT_KINDS["unlearn"]()
    ctx = RunContext(tmp_path / "run", store_root=tmp_path / "store", show_progress=False)
    rows = kind.run(config, ctx)
    splits = {r["split"] for r in rows if r["probe"] == "attack.recall"}
    assert splits == {"forget", FORGET_UNDERIVABLE}
    sections = kind.sections(rows, tmp_path / "figures", config.settings)
    titles = [s.title for s in sections]
    assert "Derivable against underivable targets" in titles
    contrast = sections[titles.index("Derivable against underivable targets")]
    subjects = {v.subject for v in contrast.verdicts}
    assert {"base", "oracle", "deep oracle"} <= subjects
    assert all(v.n == 3 and v.ci is not None for v in contrast.verdicts)
    world = sections[titles.index("World and forget targets")].markdown
    assert "Each of the 4 forget targets" in world and "3 underivable targets" in world


def test_a_stratum_cannot_take_a_name_the_contrast_uses() -> None:
    with pytest.raises(UserError, match=r"reserved for splits\.underivable"):
        load_config("connectivity", ["splits.strata=[{name: underivable, targets: 2}]"])
