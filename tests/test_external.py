"""External data sets are found through UNLEARNLAB_EXTERNAL before the default places."""

from __future__ import annotations

from pathlib import Path

from unlearnlab.external import external_dataset, external_roots


def test_environment_variable_comes_first(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "edu-relat").mkdir()
    monkeypatch.setenv("UNLEARNLAB_EXTERNAL", str(tmp_path))
    assert external_roots()[0] == tmp_path
    assert external_dataset("edu-relat") == tmp_path / "edu-relat"
    assert external_dataset("no-such-data-set") is None


def test_without_the_variable_the_shared_folders_are_searched(monkeypatch) -> None:
    monkeypatch.delenv("UNLEARNLAB_EXTERNAL", raising=False)
    roots = external_roots()
    assert roots[-1] == Path("/work/shared/external")
    assert all(root.name == "external" for root in roots)
