"""Selection rules and sanity bars on synthetic results rows."""

from __future__ import annotations

from typing import Any

import pytest

from unlearnlab.experiments.selected_points import attacked_runs
from unlearnlab.experiments.study_settings import MethodSpec, UnlearnSettings
from unlearnlab.methods.config import UnlearnConfig
from unlearnlab.report.frontier import frontier_section, frontier_verdict
from unlearnlab.report.sanity import sanity_verdicts
from unlearnlab.report.selection import SelectionRule, oracle_point, select, selection_section
from unlearnlab.report.table import as_json, result_rows

N = 10


def _model(role: str, measures: dict[tuple[str, str], float], **point: Any) -> list[dict]:
    """``N`` rows per (probe, split) of ``measures``, the given share of them correct."""
    method = point.pop("method", None)
    columns = {"role": role, "method": method, "seed": 0, "experiment": "x", "variant": "{}"}
    if method is not None:
        columns |= {"forget_set": "targets", "params": as_json(point)}
    rows = []
    for (probe, split), share in measures.items():
        records = [
            {
                "probe": probe,
                "format": "f",
                "split": split,
                "item": f"i{i}",
                "correct": i < share * N,
            }
            for i in range(N)
        ]
        rows += result_rows(records, **columns)
    return rows


def _point(forget: float, premise: float, retain: float) -> dict[tuple[str, str], float]:
    return {
        ("recall.cloze_train", "forget"): forget,
        ("recall.cloze_train", "premise"): premise,
        ("recall.cloze_train", "retain"): retain,
    }


ORACLE = _model("oracle", _point(0.3, 1.0, 1.0))


def _npo(steps: int) -> dict[str, Any]:
    return UnlearnConfig(method="npo", lr=0.01, steps=steps).resolved_point()


def _npo_grid() -> list[dict]:
    return [
        *ORACLE,
        *_model("unlearned", _point(0.0, 0.5, 0.6), method="npo", **_npo(60)),
        *_model("unlearned", _point(0.2, 0.8, 0.9), method="npo", **_npo(30)),
        *_model("unlearned", _point(0.5, 1.0, 1.0), method="npo", **_npo(10)),
    ]


def test_matched_retention_picks_the_least_knowledge_within_the_margin() -> None:
    rows = _npo_grid()
    chosen = select(rows, SelectionRule(rule="matched_retention", margin=0.2))
    assert chosen[("npo", "targets")].params["steps"] == 30
    assert chosen[("npo", "targets")].knowledge == pytest.approx(0.2)


@pytest.mark.parametrize(("margin", "steps"), [(0.0, 10), (0.1, 10), (0.2, 30), (0.5, 60)])
def test_a_change_of_margin_flips_the_selected_point(margin: float, steps: int) -> None:
    chosen = select(_npo_grid(), SelectionRule(margin=margin))[("npo", "targets")]
    assert chosen.params["steps"] == steps


def test_no_point_qualifies_without_an_oracle_but_least_knowledge_needs_none() -> None:
    rows = [r for r in _npo_grid() if r["role"] != "oracle"]
    assert select(rows, SelectionRule())[("npo", "targets")] is None
    anywhere = select(rows, SelectionRule(rule="least_knowledge"))[("npo", "targets")]
    assert anywhere.params["steps"] == 60
    assert "none qualifies" in selection_section(rows, SelectionRule()).markdown


def test_knowledge_is_the_largest_of_recall_and_re_derivation() -> None:
    measures = _point(0.0, 1.0, 1.0) | {("rederive.cot", "forget"): 0.7}
    rows = [*ORACLE, *_model("unlearned", measures, method="ga", steps=5)]
    chosen = select(rows, SelectionRule(rule="least_knowledge"))[("ga", "targets")]
    assert chosen.knowledge == pytest.approx(0.7)


def test_a_negative_method_fails_its_bar_unless_some_point_forgets() -> None:
    converged = sanity_verdicts(_npo_grid(), SelectionRule())
    assert [(v.claim, v.subject, v.holds) for v in converged] == [("sanity", "npo", True)]
    assert converged[0].value == 0.0 and converged[0].threshold == 0.1
    rows = [r for r in _npo_grid() if "60" not in (r["params"] or "")]
    (stuck,) = sanity_verdicts(rows, SelectionRule())
    assert stuck.holds is False and "did not converge at any grid point" in stuck.statement
    assert stuck.value == pytest.approx(0.2)


def _idk(refusal: float, retain: float, steps: int) -> list[dict]:
    measures = _point(1.0, 1.0, retain) | {
        ("output.refusal", "forget"): refusal,
        ("output.correct", "forget"): 1.0 - refusal,
    }
    return _model("unlearned", measures, method="idk", steps=steps)


def test_a_refusal_method_is_checked_at_its_selected_point() -> None:
    rows = [*ORACLE, *_idk(0.9, 1.0, 30), *_idk(0.1, 1.0, 10)]
    (ok,) = sanity_verdicts(rows, SelectionRule())
    assert ok.holds is True and ok.value == pytest.approx(0.9)
    # It refuses only where retain recall has collapsed: below the retain bar.
    rows = [*ORACLE, *_idk(0.9, 0.5, 30), *_idk(0.1, 1.0, 10)]
    (bad,) = sanity_verdicts(rows, SelectionRule(margin=0.6))
    assert bad.holds is False and "did not converge" in bad.statement
    # Refuses with its retain recall intact, but its premises fell beyond the margin.
    measures = _point(1.0, 0.5, 1.0) | {
        ("output.refusal", "forget"): 0.9,
        ("output.correct", "forget"): 0.1,
    }
    rows = [*ORACLE, *_model("unlearned", measures, method="idk", steps=30)]
    (unmatched,) = sanity_verdicts(rows, SelectionRule(margin=0.1))
    assert unmatched.holds is None and "no point of its grid meets" in unmatched.statement


def _idk_at(refusal: float, correct: float, steps: int) -> list[dict]:
    measures = _point(1.0, 1.0, 1.0) | {
        ("output.refusal", "forget"): refusal,
        ("output.correct", "forget"): correct,
    }
    return _model("unlearned", measures, method="idk", steps=steps)


def test_a_refusal_method_is_selected_among_the_points_that_pass_its_bar() -> None:
    """The 60-step point says the answer least (10%) but refuses on only 70% (broken text on
    the rest); the 120-step point refuses on 90%: it is the one compared, and its bar holds.
    Where no point passes, the rule falls back to the least knowledge."""
    rows = [*ORACLE, *_idk_at(0.7, 0.1, 60), *_idk_at(0.9, 0.2, 120)]
    chosen = select(rows, SelectionRule())[("idk", "targets")]
    assert chosen.params["steps"] == 120 and chosen.sane is True
    (verdict,) = sanity_verdicts(rows, SelectionRule())
    assert verdict.holds is True and verdict.value == pytest.approx(0.9)
    rows = [*ORACLE, *_idk_at(0.7, 0.1, 60), *_idk_at(0.6, 0.2, 120)]
    chosen = select(rows, SelectionRule())[("idk", "targets")]
    assert chosen.params["steps"] == 60 and chosen.sane is False
    (verdict,) = sanity_verdicts(rows, SelectionRule())
    assert verdict.holds is False and "did not converge" in verdict.statement


def test_a_preference_method_needs_its_refusal_ranked_first() -> None:
    measures = _point(0.0, 1.0, 1.0) | {("output.prefers_refusal", "forget"): 0.7}
    rows = [*ORACLE, *_model("unlearned", measures, method="idk_dpo", steps=30)]
    (verdict,) = sanity_verdicts(rows, SelectionRule())
    assert verdict.holds is False and verdict.threshold == 0.8


def test_too_few_items_do_not_decide() -> None:
    rows = [r for r in _npo_grid() if r["item"] in ("i0", "i1", "i2")]
    (verdict,) = sanity_verdicts(rows, SelectionRule(margin=1.0))
    assert verdict.holds is None and "too few items" in verdict.statement


def test_attacks_target_each_method_s_selected_point() -> None:
    spec = MethodSpec(
        method="npo", grid={"steps": [10, 30, 60], "lr": [0.01]}, forget_sets=("targets",)
    )
    settings = UnlearnSettings(methods=[spec], selection=SelectionRule(margin=0.2))
    runs = settings.runs_of(spec)
    assert [r.steps for r in attacked_runs(runs, _npo_grid(), settings)] == [30]
    everything = settings.model_copy(update={"attack_points": "all"})
    assert len(attacked_runs(runs, _npo_grid(), everything)) == 3
    # No point within the margin: the point of least knowledge is attacked.
    strict = settings.model_copy(update={"selection": SelectionRule(margin=0.0)})
    assert [r.steps for r in attacked_runs(runs, _npo_grid(), strict)] == [10]


def _frontier_rows(npo_knowledge: float) -> list[dict]:
    oracle = _model("oracle", _point(0.8, 1.0, 1.0) | {("rederive.cot", "forget"): 0.9})
    npo = _point(0.0, 0.98, 1.0) | {("rederive.cot", "forget"): npo_knowledge}
    far = _point(0.0, 0.3, 0.5)  # forgets everything, premises destroyed: not matched
    return [
        *oracle,
        *_model("unlearned", npo, method="npo", **_npo(30)),
        *_model("unlearned", far, method="npo", **_npo(60)),
    ]


def test_frontier_verdict_flips_when_a_method_goes_below_the_oracle(tmp_path) -> None:
    below = frontier_verdict(_frontier_rows(0.1))
    assert below.claim == "compositional" and below.holds is True
    assert below.value == pytest.approx(0.1) and below.threshold == pytest.approx(0.9)
    level = frontier_verdict(_frontier_rows(0.9))
    assert level.holds is False and level.value == pytest.approx(0.9)
    elsewhere = _model("oracle", {("rederive.cot", "unrelated_composite"): 0.6})
    section = frontier_section([*_frontier_rows(0.1), *elsewhere], tmp_path)
    assert (tmp_path / "frontier.png").is_file() and section.verdicts == [below]
    assert "| oracle | 90% [" in section.markdown and "| 60% [" in section.markdown


def test_frontier_ignores_points_that_lost_their_premises() -> None:
    rows = [r for r in _frontier_rows(0.1) if '"steps":30' not in (r["params"] or "")]
    verdict = frontier_verdict(rows)
    assert verdict.holds is None and "No grid point keeps premise retention" in verdict.statement


def test_in_context_re_derivation_counts_only_where_the_copy_baseline_allows() -> None:
    """The oracle 're-derives' every target in context; where copying the context's last
    name answers them all, that is copying and the oracle's knowledge is its recall."""
    in_context = ("rederive.in_context", "forget")
    copy = ("rederive.in_context_copy", "forget")
    oracle = _model("oracle", _point(0.3, 1.0, 1.0) | {in_context: 1.0})
    for copies, knowledge in ((1.0, 0.3), (0.0, 1.0)):
        base = _model("base", _point(1.0, 1.0, 1.0) | {copy: copies})
        assert oracle_point([*base, *oracle]).knowledge == pytest.approx(knowledge)


def test_the_frontier_reads_a_refusal_method_s_ranked_recall_not_what_it_says() -> None:
    """idk refuses on every query (says the answer on none) but still ranks the true answer
    first on 90%: at the oracle's premise retention it has not gone below the oracle's 50%."""
    measures = _point(0.9, 1.0, 1.0) | {
        ("output.refusal", "forget"): 1.0,
        ("output.correct", "forget"): 0.0,
    }
    rows = [
        *_model("oracle", _point(0.5, 1.0, 1.0)),
        *_model("unlearned", measures, method="idk", steps=120),
    ]
    assert select(rows, SelectionRule())[("idk", "targets")].knowledge == 0.0
    verdict = frontier_verdict(rows)
    assert verdict.holds is False and verdict.value == pytest.approx(0.9)
