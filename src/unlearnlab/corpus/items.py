"""Benchmark items: the one schema every benchmark reader produces, and the checked
reading of JSON and JSON Lines records that the readers share.

An item is a question with its answer and, where the benchmark has them, paraphrased
answers, perturbed (wrong but plausible) answers, or multiple-choice options with the
index of the right one. ``split`` says whether the item is to be forgotten, retained or
held out; ``fold`` numbers the fold of benchmarks that come in folds (RTT). A
:class:`Benchmark` holds the items of one file and any raw text that came with them
(the corpus relearning attacks may train on).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from unlearnlab.errors import SourceError, UserError

Split = Literal["forget", "retain", "holdout"]
"""What an item is for: forgotten, retained, or held out from both."""
Kind = Literal["qa", "mcq", "verbatim"]
"""How an item asks: a question with a free-text answer, a question with options, or a
passage to continue word for word (MUSE's verbatim memorisation)."""


@dataclass(frozen=True)
class BenchItem:
    """One benchmark question, in the schema every reader produces."""

    id: str
    """Unique within its file: the record's ``id`` when it has one, else ``<file>:<line>``."""
    question: str
    """The question (or, for verbatim items, the passage start)."""
    answer: str
    """The right answer's text (for multiple choice: the right option's text)."""
    kind: Kind = "qa"
    paraphrased_answers: tuple[str, ...] = ()
    """The right answer in other words."""
    perturbed_answers: tuple[str, ...] = ()
    """Wrong answers of the same form, to rank the right one against."""
    choices: tuple[str, ...] = ()
    """Multiple-choice options (the answer among them at ``answer_index``)."""
    answer_index: int | None = None
    """Index of the right option in ``choices``."""
    fold: int | None = None
    """The fold of benchmarks split into folds (RTT's ``split_k``)."""
    split: Split = "forget"

    def __str__(self) -> str:
        return self.id


@dataclass(frozen=True)
class Benchmark:
    """The items of one benchmark file or folder, and the raw text that came with them."""

    source: str
    """The path read."""
    format: str
    """The reader that read it: ``tofu``, ``wmdp``, ``muse``, ``rtt`` or ``world``."""
    items: tuple[BenchItem, ...]
    corpus: tuple[str, ...] = ()
    """Raw text passages (MUSE's text, RTT's ``corpus_split_k.jsonl``)."""


def json_records(path: Path) -> Iterator[tuple[int, Any]]:
    """``(line, value)`` of every record of a JSON array file or a JSON Lines file.

    A file whose first non-blank character is ``[`` is one JSON array (each element's
    line is where it starts); any other file has one JSON value per non-blank line.
    Invalid JSON is a :class:`~unlearnlab.errors.SourceError` at its line and column.
    """
    if not path.is_file():
        raise UserError(f"benchmark file {path} does not exist; give the path of a local file")
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        yield from _array_records(path, text)
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise SourceError(str(path), number, exc.colno, f"invalid JSON: {exc.msg}") from None


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _array_records(path: Path, text: str) -> Iterator[tuple[int, Any]]:
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1

    def skip(at: int) -> int:
        while at < len(text) and text[at].isspace():
            at += 1
        return at

    pos = skip(pos)
    if text[pos : pos + 1] == "]":
        return
    while True:
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise SourceError(
                str(path), exc.lineno, exc.colno, f"invalid JSON: {exc.msg}"
            ) from None
        yield _line_col(text, pos)[0], value
        pos = skip(end)
        if text[pos : pos + 1] == "]":
            return
        if text[pos : pos + 1] != ",":
            line, col = _line_col(text, pos)
            raise SourceError(str(path), line, col, "invalid JSON: expected ',' or ']'")
        pos = skip(pos + 1)


@dataclass(frozen=True)
class Record:
    """One JSON object of a benchmark file, with checked field access."""

    path: Path
    line: int
    data: dict[str, Any]

    @staticmethod
    def of(path: Path, line: int, value: Any, needs: str) -> Record:
        """``value`` as a record; a :class:`SourceError` unless it is a JSON object.
        ``needs`` words the fields a record must have."""
        if not isinstance(value, dict):
            raise SourceError(
                str(path), line, None, f"expected a JSON object with {needs}, got {_kind(value)}"
            )
        return Record(path, line, value)

    def error(self, key: str, problem: str) -> SourceError:
        """The error of field ``key``: ``file:line: "key" problem``."""
        return SourceError(str(self.path), self.line, None, f'"{key}" {problem}')

    def has(self, key: str) -> bool:
        """Whether the field is present and not null."""
        return self.data.get(key) is not None

    def text(self, key: str, needs: str) -> str:
        """Field ``key`` as a non-empty string (``needs``: what a record must hold)."""
        if key not in self.data:
            raise self.error(key, f"is missing; each record needs {needs}")
        value = self.data[key]
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, f"must be a non-empty string, got {_kind(value)}")
        return value.strip()

    def texts(self, key: str, *, single: bool = False) -> tuple[str, ...]:
        """Field ``key`` as a list of non-empty strings (absent: none); with ``single``
        one string is accepted as a list of one."""
        value = self.data.get(key)
        if value is None:
            return ()
        if single and isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            form = "a string or a list" if single else "a list"
            raise self.error(key, f"must be {form} of non-empty strings, got {_kind(value)}")
        return tuple(v.strip() for v in value)

    def item_id(self) -> str:
        """The record's ``id`` (a string or integer) when it has one, else ``file:line``."""
        value = self.data.get("id")
        if value is None:
            return f"{self.path.stem}:{self.line}"
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise self.error("id", f"must be a string or an integer, got {_kind(value)}")
        return str(value)


def _kind(value: Any) -> str:
    """A JSON value's type, as a user would name it (with the value when short)."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if type(value) in names:
        shown = repr(value) if isinstance(value, str) and len(value) < 30 else ""
        return names[type(value)] + (f" {shown}" if shown else "")
    return f"the number {value}" if isinstance(value, int | float) else type(value).__name__


def check_unique(path: Path, items: Sequence[tuple[int, BenchItem]]) -> tuple[BenchItem, ...]:
    """The items, in order; a :class:`SourceError` at the second use of an id."""
    first: dict[str, int] = {}
    for line, item in items:
        if item.id in first:
            raise SourceError(
                str(path),
                line,
                None,
                f'"id" {item.id!r} is already used on line {first[item.id]}; ids must be unique',
            )
        first[item.id] = line
    return tuple(item for _, item in items)
