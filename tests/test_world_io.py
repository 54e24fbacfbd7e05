"""The world interchange format: facts.jsonl errors word for word, round trips, rules files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from unlearnlab.errors import SourceError, UserError
from unlearnlab.external import external_dataset
from unlearnlab.worlds.family import FamilyParams, generate_family
from unlearnlab.worlds.io import load_world, read_facts, save_world
from unlearnlab.worlds.kg import Fact, FactRecord, World, infer_entity_types

EDU_RELAT = external_dataset("edu-relat") or Path("edu-relat-not-found")
needs_edu_relat = pytest.mark.skipif(
    not (EDU_RELAT / "facts.jsonl").is_file(),
    reason="EDU-RELAT not found; set UNLEARNLAB_EXTERNAL to the folder holding edu-relat/",
)


def _write(folder: Path, text: str, name: str = "facts.jsonl") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# ----- facts.jsonl errors, word for word


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            '{"subject": "a", "relation": "r", "object": "b"}\n'
            '{"subject": "a", "relation": "r" "object": "c"}\n',
            "{path}:2:34: invalid JSON: Expecting ',' delimiter",
            id="invalid-json",
        ),
        pytest.param(
            '{"subject": "a", "relation": "r"}\n',
            '{path}:1:1: missing "object"; each line needs subject, relation, object',
            id="missing-object",
        ),
        pytest.param(
            '{"subject": "a", "relation": "r", "object": "b", "backgrond": true}\n',
            "{path}:1:50: unknown key 'backgrond' (did you mean 'background'?); "
            "allowed keys: id, subject, relation, object, background",
            id="unknown-key",
        ),
        pytest.param(
            '{"subject": "a", "relation": "r", "object": "b", "colour": "red"}\n',
            "{path}:1:50: unknown key 'colour'; "
            "allowed keys: id, subject, relation, object, background",
            id="unknown-key-no-close-match",
        ),
        pytest.param(
            '{"subject": 3, "relation": "r", "object": "b"}\n',
            '{path}:1:2: "subject" must be a non-empty string',
            id="non-string-subject",
        ),
        pytest.param(
            '{"subject": "a", "relation": "r", "object": "  "}\n',
            '{path}:1:35: "object" must be a non-empty string',
            id="blank-object",
        ),
        pytest.param(
            '{"subject": "object", "relation": "r", "object": 5}\n',
            '{path}:1:40: "object" must be a non-empty string',
            id="column-of-the-key-not-of-an-equal-value",
        ),
        pytest.param(
            '{"subject": "a ", "relation": "r", "object": "b"}\n',
            "{path}:1:2: \"subject\" 'a ' has leading or trailing spaces; remove them",
            id="untrimmed-name",
        ),
        pytest.param(
            '{"subject": "a", "relation": "Mother of", "object": "b"}\n',
            "{path}:1:18: relation 'Mother of' is not a valid name; use a lower-case letter "
            "followed by letters, digits or '_' (it must be writable in rules)",
            id="bad-relation-name",
        ),
        pytest.param(
            '{"id": 1, "subject": "a", "relation": "r", "object": "b"}\n'
            '{"id": 2, "subject": "c", "relation": "r", "object": "d"}\n'
            "\n"
            '{"id": 3, "subject": "a", "relation": "r", "object": "b"}\n',
            "{path}:4:1: fact r(a, b) is stated again with id 3 (first on line 1 with id 1); "
            "state each fact once",
            id="duplicate-fact-other-id",
        ),
        pytest.param(
            '{"id": "x", "subject": "a", "relation": "r", "object": "b"}\n'
            '{"id": "x", "subject": "a", "relation": "r", "object": "c"}\n',
            "{path}:2:2: id 'x' is already used by r(a, b) on line 1; ids must be unique",
            id="one-id-two-facts",
        ),
        pytest.param(
            '{"subject": "a", "relation": "r", "object": "b", "background": "yes"}\n',
            '{path}:1:50: "background" must be true or false',
            id="background-not-bool",
        ),
        pytest.param(
            '{"id": true, "subject": "a", "relation": "r", "object": "b"}\n',
            '{path}:1:2: "id" must be an integer, a string or null',
            id="bool-id",
        ),
        pytest.param(
            '["a", "r", "b"]\n',
            '{path}:1:1: each line must be a JSON object {"subject": ..., "relation": ..., '
            '"object": ...}',
            id="not-an-object",
        ),
    ],
)
def test_facts_errors_name_file_line_column(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(SourceError) as caught:
        read_facts(path)
    assert str(caught.value) == message.replace("{path}", str(path))


def test_exact_duplicate_line_is_ignored_and_blank_lines_skipped(tmp_path: Path) -> None:
    line = '{"id": 1, "subject": "a", "relation": "r", "object": "b"}\n'
    path = _write(
        tmp_path, line + "\n" + line + '{"subject": "b", "relation": "r", "object": "c"}\n'
    )
    assert read_facts(path) == [
        FactRecord(Fact("a", "r", "b"), 1),
        FactRecord(Fact("b", "r", "c"), None),
    ]


def test_background_and_ids_are_read(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '{"id": "k7", "subject": "a", "relation": "r", "object": "b"}\n'
        '{"subject": "a", "relation": "gender", "object": "female", "background": true}\n'
        '{"id": null, "subject": "b", "relation": "r", "object": "c", "background": false}\n',
    )
    assert read_facts(path) == [
        FactRecord(Fact("a", "r", "b"), "k7"),
        FactRecord(Fact("a", "gender", "female"), None, background=True),
        FactRecord(Fact("b", "r", "c"), None),
    ]


def test_id_prefix_is_put_before_ids_of_extra_files(tmp_path: Path) -> None:
    _write(tmp_path, '{"id": 0, "subject": "a", "relation": "r", "object": "b"}\n')
    _write(
        tmp_path, '{"id": 0, "subject": "a", "relation": "job", "object": "baker"}\n', "bio.jsonl"
    )
    world = load_world(tmp_path, extra_facts=["bio.jsonl"])
    assert [r.id for r in world.records] == [0, "bio:0"]
    assert world.fact_by_id("bio:0") == Fact("a", "job", "baker")


def test_missing_folder_and_missing_facts_file(tmp_path: Path) -> None:
    with pytest.raises(UserError) as caught:
        load_world(tmp_path / "nope")
    assert str(caught.value) == f"world folder {tmp_path / 'nope'} does not exist"
    with pytest.raises(UserError) as caught:
        load_world(tmp_path)
    assert str(caught.value) == (
        f"facts file {tmp_path / 'facts.jsonl'} does not exist; a world folder needs facts.jsonl"
    )


def test_world_rejects_one_fact_stated_in_two_files(tmp_path: Path) -> None:
    _write(tmp_path, '{"id": 0, "subject": "a", "relation": "r", "object": "b"}\n')
    _write(tmp_path, '{"id": 0, "subject": "a", "relation": "r", "object": "b"}\n', "more.jsonl")
    with pytest.raises(UserError) as caught:
        load_world(tmp_path, extra_facts=["more.jsonl"])
    assert str(caught.value) == (
        "fact r(a, b) is stated twice (ids 0 and 'more:0'); state each fact once"
    )


# ----- rules-file choice


def test_several_rules_files_without_a_choice_is_an_error_naming_them(tmp_path: Path) -> None:
    _write(tmp_path, '{"subject": "a", "relation": "r", "object": "b"}\n')
    _write(tmp_path, "s(X, Y) :- r(X, Y).\n", "b.dl")
    _write(tmp_path, "s(X, Y) :- r(Y, X).\n", "a.dl")
    with pytest.raises(UserError) as caught:
        load_world(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path} holds 2 rules files (a.dl, b.dl); choose one with --rules FILE"
    )
    world = load_world(tmp_path, rules="b.dl")
    assert world.closure() == {Fact("a", "r", "b"), Fact("a", "s", "b")}
    assert world.metadata["rules_file"] == "b.dl"


def test_a_single_rules_file_is_found_and_none_means_no_rules(tmp_path: Path) -> None:
    _write(tmp_path, '{"subject": "a", "relation": "r", "object": "b"}\n')
    assert load_world(tmp_path).rules == ()
    assert load_world(tmp_path).metadata["rules_file"] is None
    _write(tmp_path, "s(X, Y) :- r(Y, X).\n", "only.dl")
    world = load_world(tmp_path)
    assert world.metadata["rules_file"] == "only.dl"
    assert world.closure() == {Fact("a", "r", "b"), Fact("b", "s", "a")}


def test_missing_rules_file_and_rules_syntax_error_in_a_world(tmp_path: Path) -> None:
    _write(tmp_path, '{"subject": "a", "relation": "r", "object": "b"}\n')
    with pytest.raises(UserError) as caught:
        load_world(tmp_path, rules="other.dl")
    assert str(caught.value) == f"rules file other.dl does not exist (looked in . and {tmp_path})"
    _write(tmp_path, "% rules\ns(X, Y) :- r(X, Y)\n", "rules.dl")
    with pytest.raises(SourceError) as caught:
        load_world(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path / 'rules.dl'}:3:1: expected ',' or '.' after a body literal, found end of file"
    )


# ----- round trips


def _assert_same_world(a: World, b: World) -> None:
    assert a.records == b.records
    assert a.rules == b.rules
    assert a.entity_types == b.entity_types


def test_round_trip_of_a_generated_family_world(tmp_path: Path) -> None:
    world = generate_family(FamilyParams(people=40, seed=3))
    save_world(world, tmp_path / "one")
    loaded = load_world(tmp_path / "one")
    _assert_same_world(world, loaded)
    assert loaded.metadata["params"] == world.metadata["params"]
    save_world(loaded, tmp_path / "two")
    again = load_world(tmp_path / "two")
    _assert_same_world(loaded, again)
    for name in ("facts.jsonl", "rules.dl", "entities.jsonl", "world.json"):
        assert (tmp_path / "one" / name).read_text() == (tmp_path / "two" / name).read_text()


@needs_edu_relat
def test_round_trip_of_edu_relat_with_biographies(tmp_path: Path) -> None:
    world = load_world(EDU_RELAT, rules="rules.dl", extra_facts=["biographies.jsonl"])
    assert len(world.records) == 800
    assert len(world.background_facts) == 100
    assert world.fact_by_id("biographies:0") == Fact("Sloane Lee", "birthyear", "1908")
    save_world(world, tmp_path / "copy")
    loaded = load_world(tmp_path / "copy")
    _assert_same_world(world, loaded)
    save_world(loaded, tmp_path / "again")
    _assert_same_world(loaded, load_world(tmp_path / "again"))
    # The rules file, comments included, and the 500 original lines come back byte for byte.
    assert (tmp_path / "copy" / "rules.dl").read_text() == (EDU_RELAT / "rules.dl").read_text()
    written = (tmp_path / "copy" / "facts.jsonl").read_text().splitlines()
    assert written[:500] == (EDU_RELAT / "facts.jsonl").read_text().splitlines()
    assert json.loads(written[500]) == {
        "id": "biographies:0",
        "subject": "Sloane Lee",
        "relation": "birthyear",
        "object": "1908",
    }


# ----- entity types


def test_infer_entity_types_one_shared_type_is_entity() -> None:
    facts = [
        Fact("Ann", "mother", "Bob"),
        Fact("Carl", "father", "Bob"),
        Fact("Ann", "birthyear", "1950"),
        Fact("Carl", "birthyear", "1948"),
        Fact("Bob", "birthyear", "1975"),
        Fact("Bob", "job", "baker"),
    ]
    assert infer_entity_types(facts) == {
        "1948": "birthyear.object",
        "1950": "birthyear.object",
        "1975": "birthyear.object",
        "Ann": "entity",
        "Bob": "entity",
        "Carl": "entity",
        "baker": "job.object",
    }


def test_infer_entity_types_two_shared_types_are_named_by_their_first_slot() -> None:
    # Carl shares no slot with Ann or Bob, so people split into two types.
    facts = [
        Fact("Ann", "mother", "Bob"),
        Fact("Bob", "birthyear", "1980"),
        Fact("Carl", "father", "Dan"),
        Fact("Carl", "job", "baker"),
    ]
    assert infer_entity_types(facts) == {
        "1980": "birthyear.object",
        "Ann": "mother.subject",
        "Bob": "birthyear.subject",
        "Carl": "father.subject",
        "Dan": "father.object",
        "baker": "job.object",
    }


def test_world_infers_types_only_when_none_are_given() -> None:
    records = (FactRecord(Fact("a", "r", "b")),)
    assert World(records).entity_types == {"a": "r.subject", "b": "r.object"}
    assert World(records, entity_types={"a": "x", "b": "y"}).entity_types == {"a": "x", "b": "y"}


def test_entities_file_is_read(tmp_path: Path) -> None:
    _write(tmp_path, '{"subject": "a", "relation": "r", "object": "b"}\n')
    _write(
        tmp_path,
        '{"name": "a", "type": "person"}\n{"name": "b", "type": "city"}\n',
        "entities.jsonl",
    )
    assert load_world(tmp_path).entity_types == {"a": "person", "b": "city"}
    _write(tmp_path, '{"name": "a", "type": "person"}\n{"name": "b"}\n', "entities.jsonl")
    with pytest.raises(SourceError) as caught:
        load_world(tmp_path)
    assert str(caught.value) == (
        f'{tmp_path / "entities.jsonl"}:2:1: each line must be {{"name": ..., "type": ...}}'
    )
