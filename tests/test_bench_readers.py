"""Benchmark readers: each format into the one item schema, and one-line errors naming
file, line and field for malformed files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from unlearnlab.corpus.readers import detect_format, read_benchmark
from unlearnlab.errors import SourceError, UserError


def _jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_tofu_jsonl_and_json_array_give_the_same_items(tmp_path: Path) -> None:
    records = [
        {
            "question": "Who wrote Blue Hours?",
            "answer": "Ana Ruiz wrote it.",
            "paraphrased_answer": "It was written by Ana Ruiz.",
            "perturbed_answer": ["Bo Li wrote it.", "Ana Ruiz wrote it.", "Bo Li wrote it."],
        },
        {"id": 7, "question": "Where was Ana born?", "answer": "In Quito."},
    ]
    lines = read_benchmark(_jsonl(tmp_path / "f.jsonl", records), "tofu")
    array = tmp_path / "f.json"
    array.write_text(json.dumps(records, indent=2), encoding="utf-8")
    whole = read_benchmark(array)
    first, second = lines.items
    assert first.id == "f:1" and second.id == "7"
    assert first.paraphrased_answers == ("It was written by Ana Ruiz.",)
    # the answer itself and repeats are dropped from the wrong answers
    assert first.perturbed_answers == ("Bo Li wrote it.",)
    assert [(i.question, i.answer, i.perturbed_answers) for i in whole.items] == [
        (i.question, i.answer, i.perturbed_answers) for i in lines.items
    ]
    # a JSON array's records are named by the line they start on
    assert whole.items[0].id == "f:2" and whole.format == "tofu"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '{"question": "Q?", "answer": "A."}\n{"question": "Q2?"}\n',
            r'f\.jsonl:2: "answer" is missing',
        ),
        (
            '{"question": "Q?", "answer": 5}\n',
            r'f\.jsonl:1: "answer" must be a non-empty string, got the number 5',
        ),
        ('\n{"question": "Q?", "answer": "A.",}\n', r"f\.jsonl:2:\d+: invalid JSON"),
        ('["not an object"]\n', r"f\.jsonl:1: expected a JSON object"),
        (
            '{"question": "Q?", "answer": "A.", "perturbed_answer": [1]}\n',
            r'"perturbed_answer" must be a string or a list of non-empty strings',
        ),
        (
            '{"id": "a", "question": "Q?", "answer": "A."}\n'
            '{"id": "a", "question": "R?", "answer": "B."}\n',
            r'f\.jsonl:2: "id" \'a\' is already used on line 1',
        ),
    ],
)
def test_malformed_tofu_files_name_file_line_and_field(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "f.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SourceError, match=message):
        read_benchmark(path, "tofu")


def test_a_json_array_error_names_the_line_of_the_bad_record(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_text('[\n {"question": "Q?", "answer": "A."},\n {"question": "R?"}\n]\n')
    with pytest.raises(SourceError, match=r'f\.json:3: "answer" is missing'):
        read_benchmark(path, "tofu")
    path.write_text('[\n {"question": "Q?", "answer": "A."}\n {"question": "R?"}\n]\n')
    with pytest.raises(SourceError, match=r"f\.json:3:2: invalid JSON: expected ',' or ']'"):
        read_benchmark(path, "tofu")


def test_wmdp_items_carry_choices_and_the_right_ones_text(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path / "bio.jsonl",
        [
            {
                "question": "Which agent?",
                "choices": ["Anthrax", "Salt", "Water", "Sand"],
                "answer": 0,
            }
        ],
    )
    (item,) = read_benchmark(path).items
    assert (item.kind, item.answer, item.answer_index) == ("mcq", "Anthrax", 0)
    assert item.choices == ("Anthrax", "Salt", "Water", "Sand")


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (
            {"question": "Q?", "choices": ["a", "b"], "answer": 2},
            r'"answer" must be the right option\'s index, 0 to 1, got 2',
        ),
        (
            {"question": "Q?", "choices": ["a", "b"], "answer": True},
            r'"answer" must be the right option\'s index',
        ),
        (
            {"question": "Q?", "choices": ["a", "a"], "answer": 0},
            r'"choices" must hold at least two distinct options',
        ),
        ({"question": "Q?", "answer": 0}, r'bio\.jsonl:1: "choices" is missing'),
    ],
)
def test_malformed_wmdp_records(tmp_path: Path, record: dict, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        read_benchmark(_jsonl(tmp_path / "bio.jsonl", [record]), "wmdp")


def test_muse_knowledge_verbatim_and_raw_text(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path / "news.jsonl",
        [
            {"question": "Who won?", "answer": "The Reds"},
            {"prompt": "The match began", "gt": "at noon in the rain"},
            {"text": "A passage of news."},
        ],
    )
    bench = read_benchmark(path, "muse", split="retain")
    assert [(i.kind, i.answer, i.split) for i in bench.items] == [
        ("qa", "The Reds", "retain"),
        ("verbatim", "at noon in the rain", "retain"),
    ]
    assert bench.corpus == ("A passage of news.",)
    raw = tmp_path / "news.txt"
    raw.write_text("First passage\nstill first.\n\n\nSecond passage.\n")
    text = read_benchmark(raw)
    assert text.items == () and text.corpus == ("First passage\nstill first.", "Second passage.")
    bad = _jsonl(tmp_path / "bad.jsonl", [{"prompt": "Start"}])
    with pytest.raises(SourceError, match=r'bad\.jsonl:1: "gt" is missing'):
        read_benchmark(bad, "muse")
    with pytest.raises(SourceError, match=r'bad\.jsonl:1: "question" is missing; each record'):
        read_benchmark(_jsonl(tmp_path / "bad.jsonl", [{"title": "x"}]), "muse")


def test_rtt_folder_reads_every_fold_and_its_corpus(tmp_path: Path) -> None:
    for k in range(3):
        _jsonl(
            tmp_path / f"split_{k}.jsonl",
            [{"question": f"Q{k}?", "choices": ["1990", "1991", "1992", "1993"], "answer": k}],
        )
        _jsonl(tmp_path / f"corpus_split_{k}.jsonl", [{"text": f"Fact {k}."}])
    bench = read_benchmark(tmp_path)
    assert bench.format == "rtt"
    assert [(i.id, i.fold, i.answer) for i in bench.items] == [
        ("split_0:split_0:1", 0, "1990"),
        ("split_1:split_1:1", 1, "1991"),
        ("split_2:split_2:1", 2, "1992"),
    ]
    assert bench.corpus == ("Fact 0.", "Fact 1.", "Fact 2.")
    one = read_benchmark(tmp_path / "split_1.jsonl")
    assert [(i.fold, i.answer) for i in one.items] == [(1, "1991")]
    _jsonl(tmp_path / "corpus_split_2.jsonl", [{"body": "x"}])
    with pytest.raises(SourceError, match=r'corpus_split_2\.jsonl:1: "text" is missing'):
        read_benchmark(tmp_path, "rtt")
    with pytest.raises(UserError, match=r"RTT folds are files named split_k\.jsonl"):
        read_benchmark(_jsonl(tmp_path / "folds.jsonl", []), "rtt")


def test_world_folder_items_are_questions_with_wrong_answers_of_the_same_type(
    tmp_path: Path,
) -> None:
    facts = [
        {"subject": "Ann", "relation": "mother_of", "object": "Bea"},
        {"subject": "Cy", "relation": "mother_of", "object": "Di"},
        {"subject": "Ed", "relation": "mother_of", "object": "Fay"},
    ]
    facts += [
        {"subject": p, "relation": "gender", "object": "female", "background": True}
        for p in ("Ann", "Bea", "Cy", "Di", "Ed", "Fay")
    ]
    _jsonl(tmp_path / "facts.jsonl", facts)
    bench = read_benchmark(tmp_path)
    # background facts are not asked
    assert bench.format == "world" and len(bench.items) == 3
    first = bench.items[0]
    assert first.question == "Who is the mother of Bea?" and first.answer == "Ann"
    assert set(first.perturbed_answers) <= {"Cy", "Ed", "Bea", "Di", "Fay"}
    assert "Ann" not in first.perturbed_answers and len(first.perturbed_answers) == 3
    forget = _jsonl(tmp_path / "forget.jsonl", facts[:1])
    assert [i.id for i in read_benchmark(forget, "world").items] == [first.id]


def test_format_detection_and_unknown_formats(tmp_path: Path) -> None:
    qa = _jsonl(tmp_path / "qa.jsonl", [{"question": "Q?", "answer": "A."}])
    mcq = _jsonl(tmp_path / "mcq.jsonl", [{"question": "Q?", "choices": ["a", "b"], "answer": 1}])
    verbatim = _jsonl(tmp_path / "v.jsonl", [{"prompt": "P", "gt": "G"}])
    assert [detect_format(p) for p in (qa, mcq, verbatim)] == ["tofu", "wmdp", "muse"]
    with pytest.raises(UserError, match=r"unknown benchmark format 'squad' \(known: tofu, wmdp"):
        read_benchmark(qa, "squad")
    with pytest.raises(UserError, match="does not exist"):
        read_benchmark(tmp_path / "missing.jsonl")
    with pytest.raises(UserError, match="cannot tell the benchmark format"):
        detect_format(_jsonl(tmp_path / "odd.jsonl", [{"x": 1}]))
