"""``unlearnlab audit`` end to end on tiny checkpoints the test builds: a byte-level BPE
tokenizer, a base model trained on TOFU-format items, an oracle trained without the
forget items, and the base model after gradient ascent on them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from checkpoints import audit_models
from unlearnlab.attacks.items import ItemTarget
from unlearnlab.cli import main
from unlearnlab.corpus.items import BenchItem
from unlearnlab.errors import UserError
from unlearnlab.report.verdicts import read_verdicts


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    return audit_models(tmp_path_factory.mktemp("audit"))


def _audit(models: dict[str, Path], out: Path, *extra: str) -> None:
    args = ["audit", "--unlearned", str(models["unlearned"]), "--base", str(models["base"])]
    args += ["--forget", str(models["forget"]), "--retain", str(models["retain"])]
    main([*args, "--out", str(out), *extra])  # returns (exit code 0) when it succeeds


def _forget_rate(table: list[dict], role: str, probe: str = "item.rank") -> float:
    rows = [
        r
        for r in table
        if r["role"] == role and r["probe"] == probe and r["split"] == "forget" and not r["attack"]
    ]
    return sum(r["correct"] for r in rows) / len(rows)


def test_audit_with_three_models_writes_the_report_and_base_beats_unlearned(
    models: dict[str, Path], tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out"
    _audit(models, out, "--oracle", str(models["oracle"]), "--format", "tofu", "--json")
    for name in ("report.html", "report.md", "results.parquet", "verdicts.json", "run.json"):
        assert (out / name).is_file(), name
    table = pq.read_table(out / "results.parquet").to_pylist()
    assert {r["role"] for r in table} == {"unlearned", "base", "oracle"}
    assert _forget_rate(table, "base") == 1.0  # the base model learned every forget item
    assert _forget_rate(table, "base") > _forget_rate(table, "unlearned") + 0.3
    # the attacks ran identically on the three models, at the quick preset's points
    attacked = {(r["attack"], r["role"], r["step"]) for r in table if r["attack"]}
    assert {s for a, role, s in attacked if a == "relearn_folds" and role == "oracle"} == {0, 2, 8}
    assert {role for a, role, _ in attacked if a == "quantize"} == {"unlearned", "base", "oracle"}
    verdicts = {v.subject: v for v in read_verdicts(out / "verdicts.json")}
    assert verdicts["unlearned / forgot"].holds is True
    assert verdicts["unlearned / forgot"].n == 8
    assert verdicts["unlearned / oracle"].holds is not None or "undecided" in (
        verdicts["unlearned / oracle"].statement
    )
    assert any(v.claim == "durability" and v.n == 8 for v in verdicts.values())
    printed = json.loads(capsys.readouterr().out)
    assert {m["role"] for m in printed["metrics"]} == {"unlearned", "base", "oracle"}
    base_rank = next(
        m
        for m in printed["metrics"]
        if m["role"] == "base" and m["probe"] == "item.rank" and m["split"] == "forget"
    )
    assert base_rank["value"] == 1.0 and base_rank["n"] == 8 and base_rank["chance"] == 0.25
    assert len(printed["verdicts"]) == len(verdicts)


def test_without_an_oracle_the_report_says_which_verdicts_need_one(
    models: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    _audit(models, out, "--attacks", "quantize")
    report = (out / "report.md").read_text()
    assert "**No oracle was given.**" in report
    needs = [v for v in read_verdicts(out / "verdicts.json") if "needs an oracle" in v.statement]
    assert {v.subject for v in needs} == {"unlearned / oracle", "unlearned / quantize"}
    assert all(v.holds is None for v in needs)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--attacks", "in_context"], "attack 'in_context' needs a world's facts"),
        (["--attacks", "relearnn"], "unknown attack 'relearnn'"),
        (["--prompt", "Q: {query}"], r"--prompt 'Q: \{query\}' must contain \{question\}"),
        (["--format", "squad"], "--format: Input should be 'tofu'"),
    ],
)
def test_bad_options_are_one_line_errors(
    models: dict[str, Path], tmp_path: Path, capsys, extra: list[str], message: str
) -> None:
    args = ["audit", "--unlearned", str(models["unlearned"]), "--base", str(models["base"])]
    args += ["--forget", str(models["forget"]), "--out", str(tmp_path)]
    with pytest.raises(SystemExit) as exit_:
        main([*args, *extra])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and re.search(message, err)


def test_a_model_folder_without_weights_is_named(models: dict[str, Path], tmp_path: Path, capsys):
    args = ["audit", "--unlearned", str(tmp_path), "--base", str(models["base"])]
    with pytest.raises(SystemExit):
        main([*args, "--forget", str(models["forget"]), "--out", str(tmp_path / "o")])
    assert "is not a model folder (config.json and *.safetensors)" in capsys.readouterr().err


def test_item_targets_relearn_on_the_items_own_folds_and_retain_items() -> None:
    items = tuple(BenchItem(f"q{k}", f"Q{k}?", f"A{k}", fold=k % 2) for k in range(6))
    target = ItemTarget(items, {}, retain=items[:1])
    assert target.folds(2) == [items[0::2], items[1::2]]  # RTT: split_0 and split_1
    three = target.folds(3)  # not the items' own fold count: seeded folds
    assert sorted(i.id for fold in three for i in fold) == sorted(i.id for i in items)
    assert len(three) == 3 and all(len(f) == 2 for f in three)
    assert target.source("retain") == items[:1]
    with pytest.raises(UserError, match="relearn source 'unrelated' needs a world"):
        target.source("unrelated")
    with pytest.raises(UserError, match="give --retain FILE"):
        ItemTarget(items, {}).source("retain")
