"""``unlearnlab world ...`` end to end through ``unlearnlab.cli.main``: JSON outputs checked
against the Python API, and user errors exiting with code 2 and one line on stderr."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from unlearnlab.cli import main
from unlearnlab.cli.world import sample_rederivable
from unlearnlab.external import external_dataset
from unlearnlab.worlds.io import load_world
from unlearnlab.worlds.kg import Fact, World

EDU_RELAT = external_dataset("edu-relat") or Path("edu-relat-not-found")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the command line; return (exit code, stdout, stderr)."""
    code = 0
    try:
        main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def family(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A generated 60-person family world, and what ``generate --json`` printed."""
    folder = tmp_path_factory.mktemp("cli") / "family"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        main(
            [
                "world",
                "generate",
                "family",
                "--people",
                "60",
                "--seed",
                "1",
                "--out",
                str(folder),
                "--json",
            ]
        )
    return folder, json.loads(stdout.getvalue())


@pytest.fixture(scope="module")
def world(family: tuple[Path, dict[str, Any]]) -> World:
    return load_world(family[0])


def _unwrapped(text: str) -> str:
    """Human output with Rich's line wrapping undone (words joined by single spaces)."""
    return " ".join(text.split())


def _fact_text(f: Fact) -> str:
    return f"{f.relation}({f.subject}, {f.object})"


def _sets(data: dict[str, Any]) -> set[frozenset[Fact]]:
    return {
        frozenset(Fact(m["subject"], m["relation"], m["object"]) for m in members)
        for members in data["sets"]
    }


# ----- generate and stats


def test_generate_writes_the_world_and_reports_its_totals(
    family: tuple[Path, dict[str, Any]], world: World
) -> None:
    folder, report = family
    assert sorted(p.name for p in folder.iterdir()) == [
        "entities.jsonl",
        "facts.jsonl",
        "rules.dl",
        "world.json",
    ]
    assert report["path"] == str(folder)
    assert report["name"] == "family-60-s1"
    assert report["entities"]["person"] == 60
    assert report["background_facts"] == {"gender": 60}
    assert report["totals"] == {
        "stated": len(world.records),
        "base": len(world.base_facts),
        "background": 60,
        "derived": len(world.derived_facts),
        "closure": len(world.closure()),
        "stated_and_derivable": sum(1 for f in world.base_facts if world.rederivable(f)),
    }
    assert report["totals"]["closure"] == report["totals"]["stated"] + report["totals"]["derived"]
    assert report["rules"] == len(world.rules) == 53


def test_stats_json_of_the_written_world(
    capsys: pytest.CaptureFixture[str], family: tuple[Path, dict[str, Any]]
) -> None:
    folder, report = family
    code, out, err = _run(capsys, "world", "stats", str(folder), "--json")
    assert (code, err) == (0, "")
    stats = json.loads(out)
    assert stats["rules_file"] == "rules.dl"
    for key in ("name", "entities", "base_facts", "background_facts", "derived_facts", "totals"):
        assert stats[key] == report[key], key
    assert sum(stats["base_facts"].values()) == stats["totals"]["base"]
    assert sum(stats["derived_facts"].values()) == stats["totals"]["derived"]
    assert stats["warnings"] == []


def test_stats_human_output(
    capsys: pytest.CaptureFixture[str], family: tuple[Path, dict[str, Any]]
) -> None:
    folder, report = family
    code, out, _ = _run(capsys, "world", "stats", str(folder))
    assert code == 0
    totals = report["totals"]
    assert _unwrapped(out).startswith(
        f"family-60-s1: {totals['base']} base facts, 60 background, 53 rules, "
        f"{totals['derived']} derived ({totals['closure']} in the closure"
    )


# ----- deep-sets


def _targets(world: World) -> list[Fact]:
    """A derived fact and a stated fact the others imply."""
    derived = next(f for f in world.derived_facts if f.relation == "aunt")
    stated = next(f for f in world.base_facts if f.relation == "cousin" and world.rederivable(f))
    return [derived, stated]


def test_deep_sets_json_matches_the_python_api(
    capsys: pytest.CaptureFixture[str], family: tuple[Path, dict[str, Any]], world: World
) -> None:
    targets = _targets(world)
    argv = ["world", "deep-sets", str(family[0]), "--json"]
    for t in targets:
        argv += ["--target", _fact_text(t)]
    code, out, err = _run(capsys, *argv)
    assert (code, err) == (0, "")
    results = json.loads(out)["targets"]
    assert len(results) == 2
    for data, target in zip(results, targets, strict=True):
        expected = world.minimal_deep_unlearning_sets(target)
        assert data["target"] == {
            "id": world.id_of(target),
            "subject": target.subject,
            "relation": target.relation,
            "object": target.object,
        }
        assert data["count"] == len(expected) > 0
        assert data["complete"] is True and data["stopped_by"] is None
        assert data["minimum_size"] == expected.minimum_size
        assert _sets(data) == set(expected.sets)
        for members in data["sets"]:  # members carry the ids of the stated facts
            for m in members:
                fact = Fact(m["subject"], m["relation"], m["object"])
                assert m["id"] == world.id_of(fact) is not None


def test_deep_sets_all_targets_file_and_max_sets(
    capsys: pytest.CaptureFixture[str],
    family: tuple[Path, dict[str, Any]],
    world: World,
    tmp_path: Path,
) -> None:
    derived, stated = _targets(world)
    path = tmp_path / "targets.txt"
    path.write_text(
        "# targets\n\n"
        f"{_fact_text(derived)}\n"
        + json.dumps(
            {"subject": stated.subject, "relation": stated.relation, "object": stated.object}
        )
        + "\n"
    )
    code, out, _ = _run(
        capsys,
        "world",
        "deep-sets",
        str(family[0]),
        "--all-targets",
        str(path),
        "--max-sets",
        "1",
        "--json",
    )
    assert code == 0
    results = json.loads(out)["targets"]
    assert [r["target"]["relation"] for r in results] == [derived.relation, stated.relation]
    for data, target in zip(results, [derived, stated], strict=True):
        full = world.minimal_deep_unlearning_sets(target)
        assert data["count"] == 1
        assert data["complete"] is (len(full) == 1)
        assert data["stopped_by"] == (None if len(full) == 1 else "max_sets=1")
        assert data["minimum_size"] == full.minimum_size
        assert _sets(data) <= set(full.sets)


def test_deep_sets_sample(
    capsys: pytest.CaptureFixture[str], family: tuple[Path, dict[str, Any]], world: World
) -> None:
    code, out, _ = _run(
        capsys, "world", "deep-sets", str(family[0]), "--sample", "2", "--seed", "3", "--json"
    )
    assert code == 0
    got = [
        Fact(**{k: r["target"][k] for k in ("subject", "relation", "object")})
        for r in json.loads(out)["targets"]
    ]
    assert got == sample_rederivable(world, 2, 3)
    assert all(f in world.base_facts for f in got)


def test_deep_sets_human_output(
    capsys: pytest.CaptureFixture[str], family: tuple[Path, dict[str, Any]], world: World
) -> None:
    derived = _targets(world)[0]
    result = world.minimal_deep_unlearning_sets(derived)
    code, out, _ = _run(
        capsys, "world", "deep-sets", str(family[0]), "--target", _fact_text(derived)
    )
    assert code == 0
    assert _unwrapped(out).startswith(
        f"{derived}: {len(result)} minimal deep-unlearning sets, "
        f"minimum size {result.minimum_size}, complete, "
    )
    assert out.count("{#") == len(result)
    assert f"#{world.id_of(next(iter(result.sets[0])))} " in out


# ----- why


def test_why_json(
    capsys: pytest.CaptureFixture[str], family: tuple[Path, dict[str, Any]], world: World
) -> None:
    derived, stated = _targets(world)
    code, out, _ = _run(
        capsys, "world", "why", str(family[0]), "--target", _fact_text(derived), "--json"
    )
    assert code == 0
    data = json.loads(out)
    tree = world.derivation(derived)
    assert tree is not None and tree.depth >= 1
    assert data["target"] == str(derived)
    assert data["without"] == []
    assert data["derivation"] == tree.to_dict()
    proofs = world.proofs(derived)
    assert data["support_sets"]["count"] == len(proofs)
    assert _sets(data["support_sets"]) == set(proofs.sets)

    # A stated fact, asked without itself: how the others re-derive it.
    code, out, _ = _run(
        capsys,
        "world",
        "why",
        str(family[0]),
        "--target",
        _fact_text(stated),
        "--without",
        _fact_text(stated),
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    assert data["without"] == [str(stated)]
    rederived = world.derivation(stated, without=[stated])
    assert rederived is not None
    assert data["derivation"] == rederived.to_dict()
    assert data["derivation"]["rule"] is not None


def test_why_human_output_for_a_fact_that_does_not_hold(
    capsys: pytest.CaptureFixture[str], family: tuple[Path, dict[str, Any]]
) -> None:
    code, out, _ = _run(capsys, "world", "why", str(family[0]), "--target", "aunt(Nobody, Noone)")
    assert code == 0
    assert out == "aunt(Nobody, Noone) does not hold\n"


# ----- user errors: exit code 2, one line on stderr


def test_malformed_facts_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "facts.jsonl").write_text(
        '{"subject": "a", "relation": "r", "object": "b"}\n'
        '{"subject": "a", "relation": "r" "object": "c"}\n'
    )
    code, out, err = _run(capsys, "world", "stats", str(tmp_path))
    assert (code, out) == (2, "")
    assert err == f"error: {tmp_path / 'facts.jsonl'}:2:34: invalid JSON: Expecting ',' delimiter\n"


def test_malformed_rules_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "facts.jsonl").write_text('{"subject": "a", "relation": "r", "object": "b"}\n')
    (tmp_path / "rules.dl").write_text("s(X, Y) :- r(X, Y).\ns(X) :- r(X, Y).\n")
    code, _, err = _run(capsys, "world", "deep-sets", str(tmp_path), "--target", "r(a, b)")
    assert code == 2
    assert err == (
        f"error: {tmp_path / 'rules.dl'}:2:1: 's' has 1 argument(s); relations are binary: "
        "s(Subject, Object)\n"
    )


def test_missing_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = _run(capsys, "world", "stats", str(tmp_path / "nope"), "--json")
    assert (code, out) == (2, "")
    assert err == f"error: world folder {tmp_path / 'nope'} does not exist\n"


@pytest.mark.skipif(
    not (EDU_RELAT / "facts.jsonl").is_file(), reason="EDU-RELAT not found; set UNLEARNLAB_EXTERNAL"
)
def test_edu_relat_without_rules_names_the_three_rules_files(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = _run(capsys, "world", "stats", str(EDU_RELAT))
    assert code == 2
    assert err == (
        f"error: {EDU_RELAT} holds 3 rules files (rules.dl, rules_as_published.dl, "
        "rules_raw.dl); choose one with --rules FILE\n"
    )
    code, out, _ = _run(
        capsys,
        "world",
        "stats",
        str(EDU_RELAT),
        "--rules",
        "rules.dl",
        "--facts",
        "biographies.jsonl",
        "--json",
    )
    assert code == 0
    totals = json.loads(out)["totals"]
    assert (totals["base"], totals["background"], totals["derived"]) == (700, 100, 162)


def test_unknown_generator(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _run(capsys, "world", "generate", "famly", "--out", str(tmp_path / "w"))
    assert code == 2
    assert err == "error: unknown world generator 'famly' (known: family, synthesis)\n"
    assert not (tmp_path / "w").exists()


def test_bad_generator_parameter(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _run(
        capsys, "world", "generate", "family", "--people", "3", "--out", str(tmp_path / "w")
    )
    assert code == 2
    assert err == "error: family: people: Input should be greater than or equal to 4\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            [],
            "no target given; pass --target 'relation(subject, object)', --all-targets FILE "
            "or --sample N",
        ),
        (
            ["--target", "aunt Ann Bob"],
            "cannot read fact 'aunt Ann Bob'; write it as 'relation(subject, object)', for "
            "example 'aunt_of(Sophia Martinez, Tristan Perry)'",
        ),
        (
            ["--target", "aunt(Nobody, Noone)"],
            "aunt(Nobody, Noone) does not hold in this world (neither stated nor derivable); "
            "check the relation, the names and the argument order",
        ),
        (
            ["--target", "gender(Nobody, female, x)"],
            "fact 'gender(Nobody, female, x)' has 3 argument(s); facts are binary: "
            "'relation(subject, object)'",
        ),
        (
            ["--sample", "100000"],
            "--sample 100000: the world has only {n} stated facts that are derivable from "
            "others; ask for fewer",
        ),
    ],
)
def test_deep_sets_errors(
    capsys: pytest.CaptureFixture[str],
    family: tuple[Path, dict[str, Any]],
    world: World,
    argv: list[str],
    message: str,
) -> None:
    code, _, err = _run(capsys, "world", "deep-sets", str(family[0]), *argv)
    assert code == 2
    n = sum(1 for f in world.base_facts if world.rederivable(f))
    assert err == "error: " + message.replace("{n}", str(n)) + "\n"


def test_targets_file_errors(
    capsys: pytest.CaptureFixture[str], family: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    path = tmp_path / "targets.txt"
    path.write_text('aunt(A, B)\n{"subject": "A", "relation": "aunt"}\n')
    code, _, err = _run(capsys, "world", "deep-sets", str(family[0]), "--all-targets", str(path))
    assert code == 2
    assert err == (
        f"error: {path}:2: expected a JSON object with subject, relation, object or a line "
        "'relation(subject, object)'\n"
    )
    code, _, err = _run(
        capsys, "world", "deep-sets", str(family[0]), "--all-targets", str(tmp_path / "none.txt")
    )
    assert (code, err) == (2, f"error: targets file {tmp_path / 'none.txt'} does not exist\n")
