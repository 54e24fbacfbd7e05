"""Start-up and ``unlearnlab list``: the command line imports no model code until a command
needs it, and the listings of registries come from a cache keyed by the source."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from unlearnlab.attacks import ATTACKS
from unlearnlab.cli import catalog, main
from unlearnlab.cli.listing import attack_rows, kind_rows, method_rows, probe_rows
from unlearnlab.errors import UserError
from unlearnlab.experiments.config import load_config
from unlearnlab.experiments.kinds import EXPERIMENT_KINDS
from unlearnlab.methods import METHODS
from unlearnlab.probes.registry import ordered

MODEL_CODE = (
    "torch",
    "transformers",
    "unlearnlab.methods",
    "unlearnlab.attacks",
    "unlearnlab.probes",
)


def _imported_after(code: str, home: Path, prefixes: tuple[str, ...] = MODEL_CODE) -> list[str]:
    """Modules starting with ``prefixes`` in ``sys.modules`` after running ``code`` afresh."""
    probe = (
        f"{code}\nimport json, sys\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({prefixes!r}))))"
    )
    env = {**os.environ, "UNLEARNLAB_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(done.stdout.splitlines()[-1])


def test_importing_the_command_line_imports_no_model_code(tmp_path: Path) -> None:
    """Nor the world engine: ``--help`` and ``world --help`` need none of it."""
    assert (
        _imported_after("import unlearnlab.cli", tmp_path, (*MODEL_CODE, "unlearnlab.worlds")) == []
    )


def test_listing_from_the_cache_imports_no_model_code(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("UNLEARNLAB_HOME", str(tmp_path))
    built = {
        "methods": method_rows,
        "attacks": attack_rows,
        "kinds": kind_rows,
        "probes": probe_rows,
    }
    for name, build in built.items():
        catalog.cached_listing(name, build)
    for command in (*built, "experiments", "generators"):
        code = f"from unlearnlab.cli import main\nmain(['list', {command!r}])"
        assert _imported_after(code, tmp_path) == [], command


def test_a_listing_is_rebuilt_when_the_source_changes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("UNLEARNLAB_HOME", str(tmp_path))
    calls = []

    def build() -> list[dict]:
        calls.append(1)
        return [{"name": "x", "values": (1, 2)}]

    assert catalog.cached_listing("test", build) == [{"name": "x", "values": [1, 2]}]
    assert catalog.cached_listing("test", build) == [{"name": "x", "values": [1, 2]}]
    assert len(calls) == 1
    monkeypatch.setattr(catalog, "source_digest", lambda: "0" * 64)
    catalog.cached_listing("test", build)
    assert len(calls) == 2
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["list-test-0000000000000000.json"]


def test_list_attacks_gives_every_attack_with_its_defaults(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("UNLEARNLAB_HOME", str(tmp_path))
    main(["list", "attacks"])
    out = capsys.readouterr().out
    for name, cls in ATTACKS.items():
        assert f"\n{name} " in f"\n{out}"
        for key in cls.Params.model_fields:
            assert f"{key}=" in out
    assert "steps=[0, 1, 2, 4, 8, 16, 32, 64, 128]" in out  # relearn's default


def test_list_methods_and_kinds_give_every_registered_name(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("UNLEARNLAB_HOME", str(tmp_path))
    main(["list", "methods"])
    methods = capsys.readouterr().out
    assert all(f"\n{name} " in f"\n{methods}" for name in METHODS)
    main(["list", "kinds"])
    kinds = capsys.readouterr().out
    assert all(f"\n{name} " in f"\n{kinds}" for name in EXPERIMENT_KINDS)
    assert "shipped: compositional, polarity" in kinds


def test_list_probes_gives_every_probe_with_family_and_description_in_suite_order(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("UNLEARNLAB_HOME", str(tmp_path))
    main(["list", "probes"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [[p.name, p.family] for p in ordered()]
    for line, probe in zip(lines, ordered(), strict=True):
        assert line.endswith(f" {probe.description}")
    assert lines[0].startswith("recall.cloze_train ") and lines[-1].startswith("muse.privleak ")
    assert any(line.split()[:2] == ["hidden.linear_probe.layer{k}", "hidden"] for line in lines)


def test_an_unknown_kind_points_to_list_kinds() -> None:
    with pytest.raises(UserError, match=r"unknown experiment kind 'unlern'.*list kinds"):
        load_config("compositional", ["kind=unlern"])
