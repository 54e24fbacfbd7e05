"""The unlearning study's report: verdicts follow the numbers (synthetic results rows)."""

from __future__ import annotations

import json
import math

import pytest
from matplotlib.colors import to_hex

from unlearnlab.report.calibration import calibration_section
from unlearnlab.report.durability import durability_section
from unlearnlab.report.format import REFERENCE_COLORS, model_colors
from unlearnlab.report.in_context import in_context_section
from unlearnlab.report.models import ModelId
from unlearnlab.report.rederivation import rederivation_section
from unlearnlab.report.table import as_json, result_rows
from unlearnlab.report.unlearn import headline_table, unlearn_sections
from unlearnlab.report.validity import validity_section
from unlearnlab.report.verdicts import Verdict

ITEMS = [f"aunt(A{i}, B{i})" for i in range(20)]
NPO = {"method": "npo", "forget_set": "targets", "params": as_json({"beta": 0.1})}


def _probe(role: str, probe: str, split: str, hits: int, items=ITEMS, seed=0, **columns) -> list:
    rows = [
        {
            "probe": probe,
            "format": "f",
            "split": split,
            "item": item,
            "correct": i < hits,
            "chance": 0.05,
        }
        for i, item in enumerate(items)
    ]
    return result_rows(rows, role=role, seed=seed, **columns)


def _world(
    *, npo_direct: int, npo_cot: int, oracle_cot: int, base_direct: int = 20, elsewhere: int = 20
) -> list:
    rows = []
    for role, direct, cot, columns in (
        ("base", base_direct, 18, {}),
        ("oracle", 16, oracle_cot, {}),
        ("deep_oracle", 1, 0, {}),
        ("unlearned", npo_direct, npo_cot, NPO),
    ):
        rows += _probe(role, "recall.cloze_train", "forget", direct, **columns)
        rows += _probe(role, "rederive.cot", "forget", cot, **columns)
        rows += _probe(role, "recall.cloze_train", "premise", 20, **columns)
        rows += _probe(role, "recall.cloze_train", "retain", 20, **columns)
        reasoning = elsewhere if role == "unlearned" else 20
        rows += _probe(role, "rederive.cot", "unrelated_composite", reasoning, **columns)
    return rows


def _verdict(verdicts: list[Verdict], subject: str) -> Verdict:
    return next(v for v in verdicts if v.subject == subject)


@pytest.mark.parametrize("npo_direct, verb", [(0, "fell from 100% to 0%"), (20, "did not fall")])
def test_direct_recall_verdict_follows_the_numbers(tmp_path, npo_direct, verb) -> None:
    section = rederivation_section(
        _world(npo_direct=npo_direct, npo_cot=0, oracle_cot=0), tmp_path
    )
    assert f"npo: direct recall of targets {verb}" in section.markdown
    npo = _verdict(section.verdicts, "npo")
    assert npo.claim == "compositional" and npo.n == 20 and npo.threshold == 0.2
    assert npo.holds is (None if npo_direct else False)  # not forgotten: no conclusion


def test_rederivation_verdict_flips_with_the_numbers(tmp_path) -> None:
    shallow = rederivation_section(_world(npo_direct=0, npo_cot=18, oracle_cot=17), tmp_path)
    assert "chain-of-thought re-derivation is 90% [" in shallow.markdown
    assert "shallow" in shallow.markdown and _verdict(shallow.verdicts, "npo").holds is True
    oracle = _verdict(shallow.verdicts, "oracle")
    assert oracle.statement.startswith("The oracle, never trained on the targets, re-derives 85%")
    assert oracle.holds is True and oracle.ci[0] >= 0.2
    kept = rederivation_section(_world(npo_direct=20, npo_cot=18, oracle_cot=17), tmp_path)
    assert "not forgotten" in kept.markdown and "shallow" not in kept.markdown
    deep = rederivation_section(_world(npo_direct=0, npo_cot=0, oracle_cot=0), tmp_path)
    assert "not re-derived" in deep.markdown and "shallow" not in deep.markdown
    assert _verdict(deep.verdicts, "oracle").holds is False


def test_a_drop_of_reasoning_everywhere_is_not_called_specific(tmp_path) -> None:
    rows = _world(npo_direct=0, npo_cot=0, oracle_cot=0, elsewhere=2)
    npo = _verdict(rederivation_section(rows, tmp_path).verdicts, "npo")
    assert "reasoning on unrelated composites fell to 10%" in npo.statement
    assert "not specific to the targets" in npo.statement
    rows = _world(npo_direct=0, npo_cot=0, oracle_cot=0, elsewhere=19)
    assert "not specific" not in _verdict(
        rederivation_section(rows, tmp_path).verdicts, "npo"
    ).statement


def test_nothing_to_forget_is_said(tmp_path) -> None:
    section = rederivation_section(
        _world(npo_direct=0, npo_cot=0, oracle_cot=0, base_direct=1), tmp_path
    )
    assert "nothing to forget" in section.markdown
    assert _verdict(section.verdicts, "base").holds is False


def test_too_few_items_do_not_conclude(tmp_path) -> None:
    few = ITEMS[:4]
    rows = []
    for role, direct, cot, columns in (("base", 4, 4, {}), ("unlearned", 0, 4, NPO)):
        rows += _probe(role, "recall.cloze_train", "forget", direct, items=few, **columns)
        rows += _probe(role, "rederive.cot", "forget", cot, items=few, **columns)
    npo = _verdict(rederivation_section(rows, tmp_path).verdicts, "npo")
    assert npo.holds is None and "Too few items to decide (n = 4" in npo.statement


def _curve(role: str, recalls: list[int], seed: int = 0, items=ITEMS, **columns) -> list[dict]:
    rows = []
    for step, hits in enumerate(recalls):
        rows += [
            {
                **r,
                "step": step,
                "attack": "relearn",
                "attack_params": as_json({"lr": 0.001}),
                "attack_seed": 0,
            }
            for r in _probe(
                role, "attack.recall", "forget", hits, items=items, seed=seed, **columns
            )
        ]
    return rows


@pytest.mark.parametrize("after", [0, 1])
def test_durability_verdict_flips_with_recovery(tmp_path, after) -> None:
    """60 facts: nothing regained is durable (0 of 60 allows at most 6%), everything
    regained is recovered."""
    items = [f"aunt(C{i}, D{i})" for i in range(60)]
    rows = _curve("base", [60, 60, 60], items=items)
    rows += _curve("oracle", [50, 50, 50], items=items)
    rows += _curve("unlearned", [0, 30 * after, 60 * after], items=items, **NPO)
    section = durability_section(rows, tmp_path)
    npo = _verdict(section.verdicts, "npo / relearn")
    assert npo.holds is (not after) and npo.n == 60 and npo.threshold == 0.1
    assert ("durable (durable: upper end < 10%" if not after else "recovered") in npo.statement
    # recovery is the mean over the attacked points: (0.5 + 1) / 2
    assert npo.value == pytest.approx(0.75 if after else 0.0)
    columns, body = headline_table(rows)
    assert columns[-1] == "worst net recovery"
    row = next(r for r in body if r[0] == "npo")
    assert row[-1].startswith("0% [0, 6]" if not after else "75%")


def test_nothing_regained_over_20_facts_is_undecided_not_durable(tmp_path) -> None:
    """A bootstrap of a curve stuck at 0% has no spread; 0 of 20 facts still allows 17%."""
    rows = _curve("base", [20, 20, 20]) + _curve("oracle", [16, 16, 16])
    rows += _curve("unlearned", [0, 0, 0], **NPO)
    npo = _verdict(durability_section(rows, tmp_path).verdicts, "npo / relearn")
    assert npo.holds is None and npo.ci[1] == pytest.approx(1 - 0.025 ** (1 / 20), abs=1e-6)


def test_durable_presupposes_forgetting(tmp_path) -> None:
    """A model whose recall never fell is 'not forgotten', never 'durable'."""
    rows = _curve("base", [20, 20, 20]) + _curve("oracle", [16, 16, 16])
    rows += _curve("unlearned", [20, 20, 20], **NPO)
    npo = _verdict(durability_section(rows, tmp_path).verdicts, "npo / relearn")
    assert npo.holds is None and "not forgotten" in npo.statement
    assert math.isnan(npo.value)


def test_several_unlearning_seeds_pool_into_one_verdict(tmp_path) -> None:
    """Three unlearning seeds attacked identically: one verdict over 20 facts (crossed),
    not an error about mismatched items."""
    rows = _curve("base", [20, 20]) + _curve("oracle", [16, 16])
    for seed in range(3):
        rows += _curve("unlearned", [0, 2 * seed], seed=seed, **NPO)
    [npo] = durability_section(rows, tmp_path).verdicts
    assert npo.n == 20 and npo.value == pytest.approx(2 / 20)  # mean of 0, 2/20, 4/20
    assert npo.ci[0] <= 0.1 <= npo.ci[1]


def test_format_dependent_forgetting_is_flagged(tmp_path) -> None:
    rows = []
    for role, train, heldout, columns in (("base", 20, 20, {}), ("unlearned", 0, 20, NPO)):
        rows += _probe(role, "recall.cloze_train", "forget", train, **columns)
        rows += _probe(role, "recall.cloze_heldout", "forget", heldout, **columns)
    section = validity_section(rows, tmp_path)
    assert "FLAG npo: forgetting holds in cloze_train but not in cloze_heldout" in section.markdown
    assert _verdict(section.verdicts, "npo").holds is False
    assert _verdict(section.verdicts, "cloze_train").holds is True
    rows = [
        r for r in rows if not (r["role"] == "unlearned" and r["probe"] == "recall.cloze_heldout")
    ]
    rows += _probe("unlearned", "recall.cloze_heldout", "forget", 0, **NPO)
    assert "FLAG" not in validity_section(rows, tmp_path).markdown


def test_calibration_checks_null_recoveries_and_attack_damage(tmp_path) -> None:
    rows = _curve("base", [20, 20, 19]) + _curve("oracle", [16, 10, 16])
    verdicts = {v.subject: v for v in calibration_section(rows, tmp_path).verdicts}
    assert verdicts["relearn: base as unlearned"].holds is True
    assert verdicts["relearn: oracle as unlearned"].holds is True
    assert verdicts["relearn: base damage"].value == pytest.approx(0.05)
    assert verdicts["relearn: base damage"].holds is True
    assert verdicts["relearn: oracle damage"].value == pytest.approx(0.3)
    assert verdicts["relearn: oracle damage"].holds is False


def test_damage_is_read_at_the_strength_the_methods_met(tmp_path) -> None:
    """A calibrated attack: the references ran at two lrs, the method at the weak one;
    the strong lr's damage to the oracle is not the damage the method's recovery met."""
    strong = {"attack_params": as_json({"lr": 0.01})}
    rows = _curve("base", [20, 20, 20]) + _curve("oracle", [16, 15, 16])
    rows += [{**r, **strong} for r in _curve("oracle", [16, 4, 4])]
    verdicts = {v.subject: v for v in calibration_section(rows, tmp_path).verdicts}
    assert verdicts["relearn: oracle damage"].value == pytest.approx(0.6)
    rows += _curve("unlearned", [0, 1, 2], **NPO)
    verdicts = {v.subject: v for v in calibration_section(rows, tmp_path).verdicts}
    assert verdicts["relearn: oracle damage"].value == pytest.approx(0.05)
    assert verdicts["relearn: oracle damage"].holds is True


def test_every_section_verdict_reaches_the_summary_and_carries_n_and_ci(tmp_path) -> None:
    rows = _world(npo_direct=0, npo_cot=18, oracle_cot=17)
    rows += _curve("base", [20, 20, 20]) + _curve("oracle", [16, 16, 16])
    rows += _curve("unlearned", [0, 10, 20], **NPO)
    sections = unlearn_sections(rows, tmp_path)
    assert sections[0].title == "Summary"
    verdicts = [v for s in sections for v in s.verdicts]
    assert {v.claim for v in verdicts} >= {"compositional", "durability", "calibration"}
    for v in verdicts:
        data = v.to_dict()
        assert set(data) == {
            "claim", "subject", "statement", "value", "ci", "n", "threshold", "holds",
            "half_width",
        }  # fmt: skip
        assert isinstance(data["n"], int)
        json.dumps(data)
    summary = sections[0].markdown
    assert "**Durability.**" in summary
    assert "Recovered (lower end at or above it): npo / relearn" in summary


def test_an_overlap_that_cannot_exclude_a_drop_says_underpowered(tmp_path) -> None:
    wide = rederivation_section(_world(npo_direct=15, npo_cot=0, oracle_cot=0), tmp_path)
    npo = _verdict(wide.verdicts, "npo")
    assert "did not fall" in npo.statement and "underpowered" in npo.statement
    same = rederivation_section(_world(npo_direct=20, npo_cot=0, oracle_cot=0), tmp_path)
    assert "underpowered" not in _verdict(same.verdicts, "npo").statement


def test_an_interval_straddling_the_threshold_is_undecided(tmp_path) -> None:
    """15% [3, 38] of 20 is neither re-derived (lower end below 20%) nor 'not
    re-derived' (upper end above it)."""
    section = rederivation_section(_world(npo_direct=0, npo_cot=3, oracle_cot=3), tmp_path)
    npo, oracle = _verdict(section.verdicts, "npo"), _verdict(section.verdicts, "oracle")
    assert npo.holds is None and "undecided (the interval straddles 20%)" in npo.statement
    assert "not re-derived" not in npo.statement
    assert oracle.holds is None and "cannot be said to re-derive" in oracle.statement


def test_a_method_that_missed_its_sanity_bar_is_not_compared(tmp_path) -> None:
    """idk never refuses: its sanity verdict fails and no per-question section treats
    its point as a working refusal method."""
    idk = {"method": "idk", "forget_set": "targets", "params": as_json({"lr": 0.001})}
    rows = _world(npo_direct=0, npo_cot=0, oracle_cot=0)
    for probe, split, hits in (
        ("recall.cloze_train", "forget", 0),
        ("rederive.cot", "forget", 0),
        ("recall.cloze_train", "premise", 20),
        ("recall.cloze_train", "retain", 20),
        ("output.refusal", "forget", 0),
        ("output.correct", "forget", 0),
    ):
        rows += _probe("unlearned", probe, split, hits, **idk)
    sections = unlearn_sections(rows, tmp_path)
    fair = next(s for s in sections if s.title.startswith("Fair comparison"))
    sanity = {v.subject: v for v in fair.verdicts}
    assert sanity["idk"].holds is False and sanity["npo"].holds is True
    compositional = next(s for s in sections if s.title == "Compositional re-derivation")
    subjects = {v.subject for v in compositional.verdicts}
    assert "npo" in subjects and "idk" not in subjects


def test_polarity_reports_stability_over_every_grid_point(tmp_path) -> None:
    from unlearnlab.report.polarity import polarity_section

    rows = []
    for lr, refusals in ((0.001, 4), (0.003, 18)):
        point = {"method": "idk", "forget_set": "targets", "params": as_json({"lr": lr})}
        rows += _probe("unlearned", "output.refusal", "forget", refusals, **point)
        rows += _probe("unlearned", "recall.cloze_train", "forget", 0, **point)
        rows += _probe("unlearned", "recall.cloze_train", "retain", 20, **point)
    chosen = [r for r in rows if json.loads(r["params"])["lr"] == 0.003]
    section = polarity_section(chosen, tmp_path, rows)
    assert "Stability of idk (targets) over its 2 grid points: forget recall 0%-0%" in (
        section.markdown
    )
    assert "refusal 20%-90%" in section.markdown
    [verdict] = section.verdicts  # the compared point only
    assert verdict.value == pytest.approx(0.9)


def test_the_worst_setting_is_named_by_the_parameters_its_grid_varies(tmp_path) -> None:
    rows = _curve("base", [20, 20]) + _curve("oracle", [16, 16])
    rows += _curve("unlearned", [0, 10], **NPO)
    for r in list(rows):
        rows.append({**r, "attack_params": as_json({"lr": 0.01, "novel": 3})})
    rows = [
        {**r, "attack_params": as_json({"lr": 0.001, "novel": 3})}
        if r["attack_params"] == as_json({"lr": 0.001})
        else r
        for r in rows
    ]
    text = durability_section(rows, tmp_path).markdown
    assert "lr=0.001, attack seed 0" in text and "novel" not in text.split("| relearn |")[1]


def test_the_refusal_preference_bar_reads_the_share_not_the_margin(tmp_path) -> None:
    """output.prefers_refusal rows carry the log-probability margin in value; the bar is
    about the share of queries where the refusal wins (this read 808% before)."""
    from unlearnlab.report.sanity import sanity_verdicts
    from unlearnlab.report.selection import SelectionRule

    point = {"method": "idk_dpo", "forget_set": "targets", "params": as_json({"lr": 0.003})}
    rows = _world(npo_direct=0, npo_cot=0, oracle_cot=0)
    for probe, split, hits in (
        ("recall.cloze_train", "premise", 20),
        ("recall.cloze_train", "retain", 20),
        ("output.correct", "forget", 0),
    ):
        rows += _probe("unlearned", probe, split, hits, **point)
    rows += [
        {**r, "value": 8.0}
        for r in _probe("unlearned", "output.prefers_refusal", "forget", 18, **point)
    ]
    verdicts = {v.subject: v for v in sanity_verdicts(rows, SelectionRule(margin=0.2))}
    assert verdicts["idk_dpo"].value == pytest.approx(0.9) and verdicts["idk_dpo"].holds


SHAM = {"method": "sham", "forget_set": "targets"}


@pytest.mark.parametrize(("sham_cot", "says"), [(18, "comes from the forget term"), (1, "drift")])
def test_the_sham_run_decides_where_the_fall_of_rederivation_comes_from(
    tmp_path, sham_cot: int, says: str
) -> None:
    point = {"beta": 0.1, "lr": 0.001, "steps": 50}
    npo = {**NPO, "params": as_json(point)}
    rows = [r for r in _world(npo_direct=0, npo_cot=0, oracle_cot=0) if r["role"] != "unlearned"]
    rows += _probe("unlearned", "recall.cloze_train", "forget", 0, **npo)
    rows += _probe("unlearned", "rederive.cot", "forget", 0, **npo)
    sham = {**SHAM, "params": as_json({"alpha": 1.0, "lr": 0.001, "steps": 50})}
    other = {**SHAM, "params": as_json({"alpha": 1.0, "lr": 0.01, "steps": 50})}
    rows += _probe("unlearned", "rederive.cot", "forget", sham_cot, **sham)
    rows += _probe("unlearned", "rederive.cot", "forget", 20 - sham_cot, **other)
    section = rederivation_section(rows, tmp_path)
    npo_verdict = _verdict(section.verdicts, "npo")
    assert f"the sham run (retain loss alone, same lr and steps) re-derives {sham_cot * 5}%" in (
        npo_verdict.statement
    )
    assert says in npo_verdict.statement
    assert not any(v.subject.startswith("sham") for v in section.verdicts)


@pytest.mark.parametrize(("copied", "holds"), [(20, False), (2, True), (10, None)])
def test_the_copy_baseline_decides_whether_in_context_rederivation_informs(
    copied: int, holds: bool | None
) -> None:
    rows = _probe("base", "rederive.in_context", "forget", 20)
    rows += _probe("base", "rederive.in_context_copy", "forget", copied)
    rows += _probe("base", "rederive.in_context_counterfactual", "forget", 11)
    section = in_context_section(rows)
    assert section is not None
    (verdict,) = section.verdicts
    assert verdict.claim == "validity" and verdict.n == 20 and verdict.holds is holds
    assert "| base | 100% [" in section.markdown and "55% [" in section.markdown
    assert in_context_section(_probe("base", "rederive.in_context", "forget", 20)) is None


def test_only_the_shams_of_compared_points_are_reported(tmp_path) -> None:
    point = {"beta": 0.1, "lr": 0.001, "steps": 50}
    npo = {**NPO, "params": as_json(point)}
    rows = [r for r in _world(npo_direct=0, npo_cot=0, oracle_cot=0) if r["role"] != "unlearned"]
    for probe, split, hits in (
        ("recall.cloze_train", "forget", 0),
        ("rederive.cot", "forget", 0),
        ("recall.cloze_train", "premise", 20),
        ("recall.cloze_train", "retain", 20),
    ):
        rows += _probe("unlearned", probe, split, hits, **npo)
    for lr in (0.001, 0.01):
        sham = {**SHAM, "params": as_json({"alpha": 1.0, "lr": lr, "steps": 50})}
        rows += _probe("unlearned", "rederive.cot", "forget", 18, **sham)
    sections = {s.title: s for s in unlearn_sections(rows, tmp_path)}
    table = sections["Compositional re-derivation"].markdown
    assert table.count("\n| sham |") == 1 and "the sham run (retain loss alone" in table
    assert "| sham" not in sections["Fair comparison: sanity bars and selected points"].markdown


@pytest.mark.parametrize(("targets", "floor", "holds"), [(7, 4, True), (10, 4, False)])
def test_the_deep_oracle_is_read_against_its_guessing_floor(tmp_path, targets, floor, holds):
    """Of 20 items: the deep oracle recalls 7 targets and 4 never-seen underivable facts
    (gap 15 points, within 20) or 10 against 4 (gap 30 points: more than 20)."""
    rows = [r for r in _world(npo_direct=0, npo_cot=0, oracle_cot=0) if r["role"] != "deep_oracle"]
    rows += _probe("deep_oracle", "recall.cloze_train", "forget", targets)
    rows += _probe("deep_oracle", "recall.cloze_train", "deep_underivable", floor)
    verdict = _verdict(rederivation_section(rows, tmp_path).verdicts, "deep oracle floor")
    assert verdict.claim == "validity" and verdict.threshold == 0.2 and verdict.n == 20
    assert verdict.holds is holds
    assert verdict.value == pytest.approx((targets - floor) / 20)
    assert verdict.ci[0] < verdict.value < verdict.ci[1]


def test_a_refusal_method_s_chain_of_thought_is_read_as_what_it_says(tmp_path) -> None:
    idk = {"method": "idk", "forget_set": "targets", "params": as_json({"steps": 60})}
    rows = [r for r in _world(npo_direct=0, npo_cot=0, oracle_cot=17) if r["role"] != "unlearned"]
    rows += _probe("unlearned", "recall.cloze_train", "forget", 12, **idk)
    rows += _probe("unlearned", "rederive.cot", "forget", 0, **idk)
    rows += _probe("unlearned", "output.refusal", "forget", 19, **idk)
    verdict = _verdict(rederivation_section(rows, tmp_path).verdicts, "idk")
    assert "a refusal method (it refuses on 95% [" in verdict.statement
    assert verdict.value == 0.0


def test_no_method_takes_a_reference_s_colour() -> None:
    """Seven methods (tab10 would give the fourth the oracle's red and the fifth the deep
    oracle's purple) and then twelve: every method's colour differs from every reference's
    and from every other method's."""
    for count in (7, 12):
        methods = [ModelId("unlearned", f"m{i}", "targets", "{}") for i in range(count)]
        refs = [ModelId(role) for role in REFERENCE_COLORS]
        colours = model_colors([*refs, *methods])
        taken = {to_hex(REFERENCE_COLORS[r.role]) for r in refs}
        assert len({colours[m] for m in methods}) == count
        assert not {colours[m] for m in methods} & taken
