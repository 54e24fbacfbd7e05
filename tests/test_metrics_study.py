"""The meta-evaluation (kind ``metrics``): grades computed by hand on constructed rows, and
the kind end to end on a tiny world."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tiny import TINY
from unlearnlab.cli import main
from unlearnlab.report.metrics import fact_values, grade, metrics_section
from unlearnlab.report.table import read_results


def _rows(metric: str, values: dict[tuple[str, str | None, str], list[float]]) -> list[dict]:
    """Rows of ``metric``: ``(role, change, split) -> one value per fact f0, f1, ...``."""
    return [
        {"probe": metric, "split": split, "item": f"f{i}", "value": v, "correct": False,
         "role": role, "attack": change}
        for (role, change, split), vs in values.items()
        for i, v in enumerate(vs)
    ]  # fmt: skip


def test_a_constant_metric_has_faithfulness_one_half_and_no_gap_to_judge_by() -> None:
    cells = [("base", None, "forget"), ("oracle", None, "forget"), ("base", None, "holdout"),
             ("oracle", None, "holdout"), ("deep_oracle", None, "forget"),
             ("oracle", "quantize4", "forget"), ("oracle", "relearn_forget", "forget")]  # fmt: skip
    rows = _rows("mia.loss", {cell: [0.3] * 10 for cell in cells})
    g = grade(fact_values(rows), "mia.loss", ["quantize4", "relearn_forget"])
    assert g.faithfulness.value == 0.5 and g.faithfulness.n == 10
    assert g.rederivation.value == 0.5
    assert g.robust is None and g.shifts["quantize4"].n == 0


def test_grades_by_hand() -> None:
    """The base model holds the targets (0.9), nothing else does (0.1): faithfulness 1;
    quantization moves the oracle by 0.04 of the 0.8 gap (5%), relearning by 0.8 (100%);
    the oracle's targets sit above the deep oracle's on 2 of 10 facts (AUC 0.6)."""
    rows = _rows(
        "tofu.truth_ratio",  # oriented: lower ratio means holding the fact
        {
            ("base", None, "forget"): [0.1] * 10,
            ("oracle", None, "forget"): [0.9] * 10,
            ("base", None, "holdout"): [0.9] * 10,
            ("oracle", None, "holdout"): [0.9] * 10,
            ("deep_oracle", None, "forget"): [0.9] * 8 + [1.0] * 2,
            ("oracle", "quantize4", "forget"): [0.86] * 10,
            ("oracle", "relearn_forget", "forget"): [0.1] * 10,
        },
    )
    g = grade(fact_values(rows), "tofu.truth_ratio", ["quantize4", "relearn_forget"])
    assert g.faithfulness.value == 1.0
    assert g.shifts["quantize4"].value == pytest.approx(0.05)
    assert g.shifts["relearn_forget"].value == pytest.approx(1.0)
    assert g.rederivation.value == pytest.approx(0.6)  # 0.9 beats 1.0 on 2 of 10; ties half
    assert g.robust is True


def test_the_section_ranks_metrics_and_states_the_membership_bars(tmp_path: Path) -> None:
    low = [float(i) for i in range(10)]
    high = [float(i) for i in range(10, 20)]
    cells = {("base", None, "forget"): high, ("base", None, "holdout"): low,
             ("oracle", None, "forget"): low, ("oracle", None, "holdout"): low}  # fmt: skip
    perfect = _rows("mia.loss", cells)
    flat = _rows("gen.rouge_l", {("base", None, s): [1.0] * 10 for s in ("forget", "holdout")})
    section = metrics_section(perfect + flat, tmp_path)
    table = section.markdown.split("\n\n")[1]
    assert table.index("mia.loss") < table.index("gen.rouge_l")
    bars = {v.subject: v for v in section.verdicts if v.subject.startswith("mia.loss / ")}
    assert bars["mia.loss / base"].holds and bars["mia.loss / base"].value == 1.0
    assert bars["mia.loss / oracle"].holds and bars["mia.loss / oracle"].value == 0.5
    assert (tmp_path / "metrics_trust.png").is_file()


@pytest.mark.slow
def test_the_metrics_study_end_to_end(tmp_path: Path) -> None:
    overrides = [
        *TINY, "splits.holdout=3", "settings.probes.sample=3", "settings.probes.hidden_train=10",
        "settings.probes.cot_tokens=16", "settings.relearn.steps=[0, 2]",
    ]  # fmt: skip
    args = [a for item in overrides for a in ("--set", item)]
    main(["run", "metrics", *args, "--out", str(tmp_path / "runs"), "--store", str(tmp_path / "s")])
    run = tmp_path / "runs" / "metrics"
    report = (run / "report.md").read_text(encoding="utf-8")
    assert "Which metric can you trust?" in report
    rows = read_results(run / "results.parquet")
    models = {(r["role"], r["attack"]) for r in rows}
    assert models == {("base", None), ("oracle", None), ("deep_oracle", None),
                      ("oracle", "quantize4"), ("oracle", "quantize8"),
                      ("oracle", "relearn_unrelated"), ("oracle", "relearn_forget")}  # fmt: skip
    verdicts = json.loads((run / "verdicts.json").read_text(encoding="utf-8"))
    subjects = {v["subject"] for v in verdicts}
    assert {"mia.loss / base", "mia.loss / oracle", "tofu.truth_ratio / faithfulness"} <= subjects
