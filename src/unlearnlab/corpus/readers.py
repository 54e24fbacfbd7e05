"""Benchmark readers: local benchmark files into :class:`~unlearnlab.corpus.items.BenchItem`
items. Nothing is downloaded.

Formats (``--format``; :func:`detect_format` guesses it when not given):

- ``tofu``: JSON or JSON Lines records with ``question``, ``answer``, and optionally
  ``paraphrased_answer`` (a string or a list) and ``perturbed_answer`` (a list);
- ``wmdp``: multiple choice, ``question``, ``choices`` (a list) and ``answer`` (the right
  option's index, from 0);
- ``muse``: knowledge memorisation ``question`` / ``answer``, verbatim memorisation
  ``prompt`` / ``gt`` (the passage's start and its true continuation), records holding
  only ``text``, or a ``.txt`` file of raw text (passages split at blank lines);
- ``rtt``: a folder of ``split_k.jsonl`` multiple-choice files (as ``wmdp``; fold ``k``)
  with their ``corpus_split_k.jsonl`` text (records with ``text``), or one such file;
- ``world``: a world folder (every stated fact that is not background becomes a
  question: "Who is the mother of Ann Lee?") or a facts file in one (its facts only); the
  perturbed answers are three entities of the answer's type that are not right answers.

A malformed file is a one-line error naming the file, the line and the field.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from pathlib import Path

from unlearnlab.corpus.corpus import answer_sets, entities_by_type
from unlearnlab.corpus.items import BenchItem, Benchmark, Record, Split, check_unique, json_records
from unlearnlab.corpus.templates import relation_texts, render
from unlearnlab.errors import UserError
from unlearnlab.worlds.io import FACTS_FILE, load_world, read_facts

_QA = '"question" and "answer"'
_MCQ = '"question", "choices" and "answer" (the right option\'s index)'
_RTT_SPLIT = re.compile(r"split_(\d+)\.jsonl")
PERTURBED_FROM_WORLD = 3
"""Perturbed answers drawn per world fact."""


def _distinct(answer: str, others: tuple[str, ...]) -> tuple[str, ...]:
    """``others`` without repeats and without ``answer`` itself, in order."""
    return tuple(o for o in dict.fromkeys(others) if o != answer)


def read_tofu(path: Path, split: Split) -> Benchmark:
    """TOFU-style question/answer records (see the module docstring)."""
    items = []
    for line, value in json_records(path):
        record = Record.of(path, line, value, _QA)
        answer = record.text("answer", _QA)
        item = BenchItem(
            id=record.item_id(),
            question=record.text("question", _QA),
            answer=answer,
            paraphrased_answers=_distinct("", record.texts("paraphrased_answer", single=True)),
            perturbed_answers=_distinct(answer, record.texts("perturbed_answer", single=True)),
            split=split,
        )
        items.append((line, item))
    return Benchmark(str(path), "tofu", check_unique(path, items))


def _mcq_item(record: Record, split: Split, fold: int | None) -> BenchItem:
    """A multiple-choice record as an item."""
    question = record.text("question", _MCQ)
    if "choices" not in record.data:
        raise record.error("choices", f"is missing; each record needs {_MCQ}")
    choices = record.texts("choices")
    if len(choices) < 2 or len(set(choices)) != len(choices):
        raise record.error("choices", f"must hold at least two distinct options, got {choices}")
    index = record.data.get("answer")
    if "answer" not in record.data:
        raise record.error("answer", f"is missing; each record needs {_MCQ}")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(choices):
        raise record.error(
            "answer", f"must be the right option's index, 0 to {len(choices) - 1}, got {index!r}"
        )
    return BenchItem(
        id=record.item_id(),
        question=question,
        answer=choices[index],
        kind="mcq",
        choices=choices,
        answer_index=index,
        fold=fold,
        split=split,
    )


def read_wmdp(path: Path, split: Split) -> Benchmark:
    """WMDP-style multiple-choice records (see the module docstring)."""
    items = [
        (line, _mcq_item(Record.of(path, line, value, _MCQ), split, None))
        for line, value in json_records(path)
    ]
    return Benchmark(str(path), "wmdp", check_unique(path, items))


_MUSE = '"question"/"answer", "prompt"/"gt" or "text"'


def read_muse(path: Path, split: Split) -> Benchmark:
    """MUSE knowledge and verbatim memorisation records, or raw text (see the module
    docstring)."""
    if path.suffix == ".txt":
        if not path.is_file():
            raise UserError(f"benchmark file {path} does not exist; give the path of a local file")
        passages = [p.strip() for p in re.split(r"\n\s*\n", path.read_text(encoding="utf-8"))]
        return Benchmark(str(path), "muse", (), tuple(p for p in passages if p))
    items, corpus = [], []
    for line, value in json_records(path):
        record = Record.of(path, line, value, _MUSE)
        if record.has("prompt") or record.has("gt"):
            needs = '"prompt" and "gt"'
            question, answer = record.text("prompt", needs), record.text("gt", needs)
            items.append(
                (line, BenchItem(record.item_id(), question, answer, "verbatim", split=split))
            )
        elif record.has("question") or record.has("answer"):
            question, answer = record.text("question", _QA), record.text("answer", _QA)
            items.append((line, BenchItem(record.item_id(), question, answer, split=split)))
        elif record.has("text"):
            corpus.append(record.text("text", _MUSE))
        else:
            raise record.error("question", f"is missing; each record needs {_MUSE}")
    return Benchmark(str(path), "muse", check_unique(path, items), tuple(corpus))


def _rtt_corpus(path: Path) -> list[str]:
    texts = []
    for line, value in json_records(path):
        texts.append(Record.of(path, line, value, '"text"').text("text", '"text"'))
    return texts


def read_rtt(path: Path, split: Split) -> Benchmark:
    """RTT folds: a folder of ``split_k.jsonl`` files, or one of them (see the module
    docstring); each item carries its fold ``k``."""
    files = sorted(path.glob("split_*.jsonl")) if path.is_dir() else [path]
    folds = [(f, _RTT_SPLIT.fullmatch(f.name)) for f in files]
    if not folds or any(m is None for _, m in folds):
        bad = next((f.name for f, m in folds if m is None), None)
        raise UserError(
            f"{path}: RTT folds are files named split_k.jsonl (k = 0, 1, ...)"
            + (f", not {bad}" if bad else ", and there are none")
            + "; give such a file or the folder that holds them"
        )
    items, corpus = [], []
    for file, match in folds:
        assert match is not None
        fold = int(match.group(1))
        for line, value in json_records(file):
            items.append((line, _mcq_item(Record.of(file, line, value, _MCQ), split, fold)))
        text_file = file.with_name(f"corpus_{file.name}")
        if text_file.is_file():
            corpus += _rtt_corpus(text_file)
    unique = check_unique(folds[0][0], items) if len(folds) == 1 else _unique_across(items)
    return Benchmark(str(path), "rtt", unique, tuple(corpus))


def _unique_across(items: list[tuple[int, BenchItem]]) -> tuple[BenchItem, ...]:
    """Items of several fold files, each id prefixed with its fold so ids stay unique."""
    return tuple(
        BenchItem(**{**vars(item), "id": f"split_{item.fold}:{item.id}"}) for _, item in items
    )


def read_world(path: Path, split: Split) -> Benchmark:
    """A world folder, or a facts file in one (see the module docstring)."""
    folder = path if path.is_dir() else path.parent
    world = load_world(folder)
    records = world.records if path.is_dir() else read_facts(path)
    texts = relation_texts(world)
    valid = answer_sets(world, texts)
    by_type = entities_by_type(world)
    items = []
    for number, record in enumerate(records, start=1):
        if record.background:
            continue
        fact = record.fact
        if fact.relation not in texts:
            raise UserError(
                f"{path}: fact {number}: relation {fact.relation!r} is not in the world of "
                f"{folder}; state it in {folder / FACTS_FILE}"
            )
        text = texts[fact.relation]
        question = render(fact, text, text.question()).prompt
        answer = text.answer(fact)
        right = valid.get((fact.relation, text.given(fact)), frozenset()) | {answer}
        pool = [e for e in by_type.get(world.entity_types.get(answer, ""), ()) if e not in right]
        wrong = random.Random(str(fact)).sample(pool, min(PERTURBED_FROM_WORLD, len(pool)))
        item = BenchItem(
            id=str(fact),
            question=question.removeprefix("Q: ").removesuffix(" A:"),
            answer=answer,
            perturbed_answers=tuple(wrong),
            split=split,
        )
        items.append((number, item))
    return Benchmark(str(path), "world", check_unique(path, items))


READERS: dict[str, Callable[[Path, Split], Benchmark]] = {
    "tofu": read_tofu,
    "wmdp": read_wmdp,
    "muse": read_muse,
    "rtt": read_rtt,
    "world": read_world,
}
"""Every benchmark format by name."""


def detect_format(path: Path) -> str:
    """The format of ``path``: a folder of ``split_k.jsonl`` files is ``rtt``, a world
    folder or facts file ``world``, a ``.txt`` file ``muse``; otherwise the first
    record's fields decide (``choices``: wmdp; ``prompt``/``gt`` or ``text``: muse;
    ``question``/``answer``: tofu)."""
    if path.is_dir():
        if any(path.glob("split_*.jsonl")):
            return "rtt"
        if (path / FACTS_FILE).is_file():
            return "world"
        raise UserError(
            f"{path} is a folder but neither RTT folds (split_k.jsonl) nor a world "
            f"({FACTS_FILE}); give a benchmark file or --format"
        )
    if path.suffix == ".txt":
        return "muse"
    if _RTT_SPLIT.fullmatch(path.name):
        return "rtt"
    for _, value in json_records(path):
        keys = set(value) if isinstance(value, dict) else set()
        if "relation" in keys and "subject" in keys:
            return "world"
        if "choices" in keys:
            return "wmdp"
        if keys & {"prompt", "gt", "text"}:
            return "muse"
        if keys & {"question", "answer"}:
            return "tofu"
        break
    raise UserError(
        f"{path}: cannot tell the benchmark format from its first record; give --format "
        f"({', '.join(READERS)})"
    )


def read_benchmark(
    path: str | Path, format: str | None = None, split: Split = "forget"
) -> Benchmark:
    """The items of the benchmark at ``path`` in ``format`` (guessed when None), each
    marked ``split``."""
    where = Path(path)
    if not where.exists():
        raise UserError(f"benchmark {where} does not exist; give the path of a local file")
    name = format or detect_format(where)
    if name not in READERS:
        raise UserError(f"unknown benchmark format {name!r} (known: {', '.join(READERS)})")
    return READERS[name](where, split)
