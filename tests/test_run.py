"""The main job end to end on a tiny world: report, resumption, reuse, errors."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tiny import TINY_RUN
from unlearnlab.attacks.quantize import Quantize
from unlearnlab.cli import main
from unlearnlab.methods import METHODS
from unlearnlab.report.record import RunRecord
from unlearnlab.report.table import read_results

pytestmark = pytest.mark.slow


def _run(out: Path, store: Path, *extra: str) -> None:
    args = [a for item in TINY_RUN for a in ("--set", item)]
    main(["run", "compositional", *args, *extra, "--out", str(out), "--store", str(store)])


def _exit_code(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    return caught.value.code


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, Path]:
    """One uninterrupted tiny run: (run folder, model store)."""
    root = tmp_path_factory.mktemp("run")
    _run(root / "runs", root / "store")
    return root / "runs" / "compositional", root / "store"


def _sorted(rows: list[dict]) -> list[dict]:
    """``rows`` in an order that float noise cannot change (floats are not in the key)."""
    return sorted(
        rows,
        key=lambda r: json.dumps(
            {k: v for k, v in r.items() if not isinstance(v, float)}, sort_keys=True, default=str
        ),
    )


def test_run_writes_the_report_and_its_parts(finished) -> None:
    run_dir, _ = finished
    for name in (
        "report.md", "report.html", "results.parquet", "verdicts.json", "config.yaml", "run.json",
    ):  # fmt: skip
        assert (run_dir / name).is_file(), name
    record = RunRecord.load(run_dir)
    assert record.status == "complete"
    assert record.packages["torch"].startswith("2.")
    assert record.stages_computed and not record.stages_loaded
    report = (run_dir / "report.md").read_text()
    for title in (
        "Summary",
        "Is the instrument calibrated?",
        "Compositional re-derivation",
        "Negative versus positive training",
        "Durability",
        "Evaluation validity",
    ):
        assert f"## {title}" in report
    for figure in ("rederivation", "forget_retain", "recovery_curves", "formats", "frontier"):
        for suffix in ("png", "svg"):
            assert (run_dir / "figures" / f"{figure}.{suffix}").stat().st_size > 1000
    assert "## World and forget targets" in report
    assert "4 forget facts" in report and "enumerations complete" in report
    assert (run_dir / "world" / "facts.jsonl").is_file() and (run_dir / "splits.json").is_file()
    rows = read_results(run_dir / "results.parquet")
    roles = {r["role"] for r in rows}
    assert roles == {"world", "base", "oracle", "deep_oracle", "unlearned"}
    assert {r["attack"] for r in rows} == {None, "quantize", "relearn"}
    # The sham control runs once, at the selected point's lr and steps, and is reported.
    shams = {r["params"] for r in rows if r["method"] == "sham"}
    assert len(shams) == 1 and json.loads(next(iter(shams)))["steps"] in (1, 2)
    assert "| sham |" in report
    # Relearning runs at both lrs on the references, at one calibrated lr on the method.
    relearn = [r for r in rows if r["attack"] == "relearn"]
    assert len({r["attack_params"] for r in relearn if r["role"] == "base"}) == 2
    assert len({r["attack_params"] for r in relearn if r["role"] == "unlearned"}) == 1
    for row in rows:
        if row["value"] is None and row["chance"] is not None:
            assert 0 < row["chance"] <= 1


def test_several_unlearning_seeds_finish_with_verdicts_carrying_n_and_ci(tmp_path) -> None:
    """Three unlearning seeds: attack curves of each seed pool into one verdict (this
    failed with 'the base curve measures other items than the unlearned one')."""
    _run(tmp_path / "runs", tmp_path / "store", "--set", "settings.seeds=[0, 1, 2]")
    run_dir = tmp_path / "runs" / "compositional"
    assert RunRecord.load(run_dir).status == "complete"
    verdicts = json.loads((run_dir / "verdicts.json").read_text())
    durability = [v for v in verdicts if v["claim"] == "durability"]
    assert durability and {v["subject"] for v in durability} == {"npo / quantize", "npo / relearn"}
    for v in verdicts:
        assert isinstance(v["n"], int) and "ci" in v
        assert v["ci"] is not None or v["holds"] is None
    rows = read_results(run_dir / "results.parquet")
    assert {r["seed"] for r in rows if r["role"] == "unlearned"} == {0, 1, 2}


def test_grid_points_carry_their_lr_and_steps_and_one_is_attacked(finished) -> None:
    run_dir, _ = finished
    rows = [r for r in read_results(run_dir / "results.parquet") if r["method"] == "npo"]
    points = {r["params"] for r in rows if r["attack"] is None}
    assert {(json.loads(p)["lr"], json.loads(p)["steps"]) for p in points} == {
        (METHODS["npo"].lr, 1),
        (METHODS["npo"].lr, 2),
    }
    attacked = {r["params"] for r in rows if r["attack"] is not None}
    assert len(attacked) == 1 and attacked < points
    record = RunRecord.load(run_dir)
    steps = json.loads(next(iter(attacked)))["steps"]
    sham = f"unlearn/sham/targets/lr={METHODS['npo'].lr}/seed0/steps={steps}"
    assert [s for s in record.stages_computed if s.startswith("unlearn/")] == [
        "unlearn/npo/targets/seed0/steps=1,2",
        sham,
    ]


def test_report_rebuilds_from_results_alone(finished, tmp_path) -> None:
    run_dir, _ = finished
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("run.json", "results.parquet"):
        (copy / name).write_bytes((run_dir / name).read_bytes())
    main(["report", str(copy)])
    assert (copy / "report.md").read_text() == (run_dir / "report.md").read_text()
    assert (copy / "verdicts.json").read_text() == (run_dir / "verdicts.json").read_text()
    assert (copy / "figures" / "recovery_curves.png").is_file()


def test_second_run_reuses_every_stage(finished) -> None:
    run_dir, store = finished
    before = read_results(run_dir / "results.parquet")
    _run(run_dir.parent, store)
    record = RunRecord.load(run_dir)
    assert record.stages_loaded and not record.stages_computed
    assert read_results(run_dir / "results.parquet") == before


def test_interrupted_run_resumes_to_the_same_results(finished, tmp_path, monkeypatch) -> None:
    reference, store = finished
    original = Quantize.run

    def interrupted(self, model_dir, target):
        raise KeyboardInterrupt

    monkeypatch.setattr(Quantize, "run", interrupted)
    out = tmp_path / "runs"
    args = [a for item in TINY_RUN for a in ("--set", item)]
    argv = ["run", "compositional", *args, "--out", str(out), "--store", str(store)]
    assert _exit_code(argv) == 130
    run_dir = out / "compositional"
    record = RunRecord.load(run_dir)
    assert record.status == "interrupted"
    assert not (run_dir / "results.parquet").exists()
    finished_first = set(record.stages_computed)
    assert {"reference/base", "reference/oracle", "reference/deep_oracle"} <= finished_first
    monkeypatch.setattr(Quantize, "run", original)
    _run(out, store)
    resumed = RunRecord.load(run_dir)
    assert resumed.status == "complete"
    assert finished_first <= set(resumed.stages_loaded)
    assert not finished_first & set(resumed.stages_computed)
    assert _sorted(read_results(run_dir / "results.parquet")) == _sorted(
        read_results(reference / "results.parquet")
    )


def test_bad_config_fails_before_any_training(tmp_path, capsys) -> None:
    store = tmp_path / "store"
    argv = ["run", "compositional", "--set", "settings.methods=[{method: npo2}]"]
    assert _exit_code([*argv, "--out", str(tmp_path / "runs"), "--store", str(store)]) == 2
    err = capsys.readouterr().err
    assert "settings.methods.0" in err and "unknown method 'npo2'" in err
    assert not store.exists() and not (tmp_path / "runs").exists()
    argv = ["run", "compositional", "--set", "settings.probes.smaple=3"]
    assert _exit_code([*argv, "--out", str(tmp_path / "runs")]) == 2
    assert "settings.probes.smaple: unknown field (did you mean 'sample'?)" in (
        capsys.readouterr().err
    )
    assert _exit_code(["run", "compositional", "--profile", "huge"]) == 2
    known = "(known: quick, checkpoint_cpu, checkpoint_gpu, full, no_cot)"
    assert f"unknown profile 'huge' {known}" in capsys.readouterr().err


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("UNLEARNLAB_REQUIRE_BROWSER"):
            pytest.fail("chromium is not installed (apt-get install chromium); .ci/run does it")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


def test_html_report_opens_in_headless_chromium(finished) -> None:
    from playwright.sync_api import sync_playwright

    run_dir, _ = finished
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=_chromium(),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((run_dir / "report.html").resolve().as_uri(), wait_until="load")
        loaded = page.evaluate(
            "Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)"
        )
        shot = run_dir / "screenshot.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    figures = sorted((run_dir / "figures").glob("*.png"))
    assert len(figures) >= 5
    assert len(loaded) == len(figures) and all(loaded)
    assert errors == []
    assert shot.stat().st_size > 10_000


def test_ray_fan_out_gives_the_local_results(finished, tmp_path) -> None:
    pytest.importorskip("ray")
    reference, store = finished
    _run(tmp_path / "runs", store, "--ray-address", "local")
    record = RunRecord.load(tmp_path / "runs" / "compositional")
    assert record.status == "complete" and not record.stages_loaded
    fanned = _sorted(read_results(tmp_path / "runs" / "compositional" / "results.parquet"))
    local = _sorted(read_results(reference / "results.parquet"))
    # Ray workers run torch on one thread: sums may round differently in the last bits.
    exact = [{k: v for k, v in r.items() if not isinstance(v, float)} for r in fanned]
    assert exact == [{k: v for k, v in r.items() if not isinstance(v, float)} for r in local]
    floats = [[v for v in r.values() if isinstance(v, float)] for r in fanned]
    assert floats == [pytest.approx([v for v in r.values() if isinstance(v, float)]) for r in local]


def test_durability_of_your_own_model(finished, tmp_path, capsys) -> None:
    _, store = finished
    sidecars = [p for p in store.rglob("unlearnlab.json") if '"unlearned"' in p.read_text()]
    own = sidecars[0].parent
    settings = [
        item
        for item in TINY_RUN
        if not item.startswith(("settings.methods", "settings.loop", "settings.attacks"))
    ]
    settings.append(
        "settings.attacks=[{attack: quantize, params: {bits: 4}}, {attack: prefix_search,"
        " params: {length: 2, steps: [0, 1], top_k: 4, batch: 4}}]"
    )
    args = [a for item in settings for a in ("--set", item)]
    out = tmp_path / "runs"
    main(
        ["run", "durability", "--model", str(own), *args, "--out", str(out), "--store", str(store)]
    )
    report = (out / "durability" / "report.md").read_text()
    assert report.index("## Durability") < report.index("## Compositional re-derivation")
    assert f"| {own.name} | quantize |" in report
    assert f"| {own.name} | prefix_search |" in report
    argv = ["run", "durability", *args, "--out", str(out)]
    assert _exit_code(argv) == 2
    assert "settings.model: give your unlearned model's folder: --model PATH" in (
        capsys.readouterr().err
    )
