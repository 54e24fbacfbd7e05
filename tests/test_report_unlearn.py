"""The unlearning study's report: verdicts follow the numbers (synthetic results rows)."""

from __future__ import annotations

import pytest

from unlearnlab.report.section import Section
from unlearnlab.report.table import as_json, result_rows
from unlearnlab.report.unlearn import (
    durability_section,
    headline_table,
    rederivation_section,
    validity_section,
)

ITEMS = [f"aunt(A{i}, B{i})" for i in range(20)]
NPO = {"method": "npo", "forget_set": "targets", "params": as_json({"beta": 0.1})}


def _probe(role: str, probe: str, split: str, hits: int, **columns) -> list[dict]:
    rows = [
        {
            "probe": probe,
            "format": "f",
            "split": split,
            "item": item,
            "correct": i < hits,
            "chance": 0.05,
        }
        for i, item in enumerate(ITEMS)
    ]
    return result_rows(rows, role=role, seed=0, **columns)


def _world(*, npo_direct: int, npo_cot: int, oracle_cot: int, base_direct: int = 20) -> list:
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
    return rows


def _text(section: Section) -> str:
    return section.markdown


@pytest.mark.parametrize("npo_direct, verb", [(0, "fell from 100% to 0%"), (20, "did not fall")])
def test_direct_recall_verdict_follows_the_numbers(tmp_path, npo_direct, verb) -> None:
    text = _text(
        rederivation_section(_world(npo_direct=npo_direct, npo_cot=0, oracle_cot=0), tmp_path)
    )
    assert f"npo: direct recall of targets {verb}" in text


def test_rederivation_verdict_flips_with_the_numbers(tmp_path) -> None:
    shallow = _text(rederivation_section(_world(npo_direct=0, npo_cot=18, oracle_cot=17), tmp_path))
    assert "chain-of-thought re-derivation stayed at 90% [" in shallow
    assert "shallow" in shallow
    assert "The oracle, never trained on the targets, re-derives 85% [" in shallow
    assert "entailed" in shallow
    kept = _text(rederivation_section(_world(npo_direct=20, npo_cot=18, oracle_cot=17), tmp_path))
    assert "not forgotten, the model still states and derives" in kept and "shallow" not in kept
    deep = _text(rederivation_section(_world(npo_direct=0, npo_cot=0, oracle_cot=0), tmp_path))
    assert "not re-derived" in deep and "shallow" not in deep
    assert "below the re-derivation threshold (lower end ≥ 20%)" in deep


def test_nothing_to_forget_is_said(tmp_path) -> None:
    text = _text(
        rederivation_section(_world(npo_direct=0, npo_cot=0, oracle_cot=0, base_direct=1), tmp_path)
    )
    assert "nothing to forget" in text


def _curve(role: str, recalls: list[int], **columns) -> list[dict]:
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
            for r in _probe(role, "attack.recall", "forget", hits, **columns)
        ]
    return rows


@pytest.mark.parametrize("after, verdict", [(0, "durable for npo;"), (20, "recovered (net")])
def test_durability_verdict_flips_with_recovery(tmp_path, after, verdict) -> None:
    rows = _world(npo_direct=0, npo_cot=0, oracle_cot=0)
    rows += _curve("base", [20, 20, 20]) + _curve("oracle", [16, 16, 16])
    rows += _curve("unlearned", [0, after // 2, after], **NPO)
    text = _text(durability_section(rows, tmp_path))
    if after:
        assert "recovered (net area upper end ≥ 10%) for npo." in text
    else:
        assert verdict in text
    columns, body = headline_table(rows)
    assert columns[-1] == "worst net recovery"
    npo = next(row for row in body if row[0] == "npo")
    assert npo[-1].startswith("0%" if not after else "5")


def test_format_dependent_forgetting_is_flagged(tmp_path) -> None:
    rows = []
    for role, train, heldout, columns in (("base", 20, 20, {}), ("unlearned", 0, 20, NPO)):
        rows += _probe(role, "recall.cloze_train", "forget", train, **columns)
        rows += _probe(role, "recall.cloze_heldout", "forget", heldout, **columns)
    text = _text(validity_section(rows, tmp_path))
    assert "FLAG npo: forgetting holds in cloze_train but not in cloze_heldout" in text
    rows = [
        r for r in rows if not (r["role"] == "unlearned" and r["probe"] == "recall.cloze_heldout")
    ]
    rows += _probe("unlearned", "recall.cloze_heldout", "forget", 0, **NPO)
    assert "FLAG" not in _text(validity_section(rows, tmp_path))
