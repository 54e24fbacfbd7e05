"""The interchange format of worlds: a folder with ``facts.jsonl``, a Datalog rules file,
and optionally ``entities.jsonl`` (entity types) and ``world.json`` (metadata).

``facts.jsonl``: one ``{"subject", "relation", "object"}`` object per line meaning
relation(subject, object), with an optional ``"id"`` (integer or string) and an optional
``"background": true`` for context facts that always hold and are never removed.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from unlearnlab.errors import SourceError, UserError
from unlearnlab.io import write_atomic, write_json_atomic
from unlearnlab.worlds.kg import Fact, FactRecord, World
from unlearnlab.worlds.rules import Rule, format_rules, parse_rules

FACTS_FILE = "facts.jsonl"
ENTITIES_FILE = "entities.jsonl"
METADATA_FILE = "world.json"
RULES_FILE = "rules.dl"

_FACT_KEYS = ("id", "subject", "relation", "object", "background")
_RELATION = re.compile(r"^[a-z][A-Za-z0-9_]*$")


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def parse_fact_line(line: str, path: str, number: int) -> FactRecord:
    """Read one line of ``facts.jsonl``; any problem is a :class:`SourceError`."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise SourceError(path, number, exc.colno, f"invalid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise SourceError(
            path,
            number,
            1,
            'each line must be a JSON object {"subject": ..., "relation": ..., "object": ...}',
        )
    for key in data:
        if key not in _FACT_KEYS:
            raise SourceError(
                path,
                number,
                _column(line, key),
                f"unknown key {key!r}{_did_you_mean(key, _FACT_KEYS)}; "
                f"allowed keys: {', '.join(_FACT_KEYS)}",
            )
    for key in ("subject", "relation", "object"):
        if key not in data:
            raise SourceError(
                path,
                number,
                1,
                f'missing "{key}"; each line needs subject, relation, object',
            )
        value = data[key]
        if not isinstance(value, str) or not value.strip():
            raise SourceError(
                path, number, _column(line, key), f'"{key}" must be a non-empty string'
            )
        if value != value.strip():
            raise SourceError(
                path,
                number,
                _column(line, key),
                f'"{key}" {value!r} has leading or trailing spaces; remove them',
            )
    if not _RELATION.match(data["relation"]):
        raise SourceError(
            path,
            number,
            _column(line, "relation"),
            f"relation {data['relation']!r} is not a valid name; use a lower-case letter "
            "followed by letters, digits or '_' (it must be writable in rules)",
        )
    fact_id = data.get("id")
    if fact_id is not None and (isinstance(fact_id, bool) or not isinstance(fact_id, (int, str))):
        raise SourceError(
            path, number, _column(line, "id"), '"id" must be an integer, a string or null'
        )
    background = data.get("background", False)
    if not isinstance(background, bool):
        raise SourceError(
            path, number, _column(line, "background"), '"background" must be true or false'
        )
    return FactRecord(Fact(data["subject"], data["relation"], data["object"]), fact_id, background)


def _column(line: str, key: str) -> int:
    # The key, not an equal string value: '{"subject": "object", "object": 5}'.
    match = re.search(rf'"{re.escape(key)}"\s*:', line)
    return match.start() + 1 if match else 1


def read_facts(path: str | Path, id_prefix: str = "") -> list[FactRecord]:
    """Read a ``facts.jsonl`` file. ``id_prefix`` is put before every id (used to keep ids
    of extra files apart, e.g. ``biographies:7``).

    The same fact twice with different ids, and one id on two facts, are errors naming
    both lines; an exact repeat of a line is ignored.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"facts file {path} does not exist; a world folder needs {FACTS_FILE}")
    records: list[FactRecord] = []
    first_line: dict[Fact, tuple[int, FactRecord]] = {}
    id_line: dict[Any, tuple[int, FactRecord]] = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            record = parse_fact_line(line, str(path), number)
            if id_prefix and record.id is not None:
                record = FactRecord(record.fact, f"{id_prefix}{record.id}", record.background)
            seen = first_line.get(record.fact)
            if seen is not None:
                if seen[1] == record:
                    continue
                raise SourceError(
                    str(path),
                    number,
                    1,
                    f"fact {record.fact} is stated again with id {record.id!r} (first on line "
                    f"{seen[0]} with id {seen[1].id!r}); state each fact once",
                )
            if record.id is not None and record.id in id_line:
                other_line, other = id_line[record.id]
                raise SourceError(
                    str(path),
                    number,
                    _column(line, "id"),
                    f"id {record.id!r} is already used by {other.fact} on line {other_line}; "
                    "ids must be unique",
                )
            first_line[record.fact] = (number, record)
            if record.id is not None:
                id_line[record.id] = (number, record)
            records.append(record)
    return records


def read_rules(path: str | Path) -> tuple[Rule, ...]:
    """Read a Datalog rules file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"rules file {path} does not exist")
    return parse_rules(path.read_text(encoding="utf-8"), str(path))


def find_rules_file(folder: Path, rules: str | Path | None) -> Path | None:
    """The rules file of a world folder: ``rules`` if given (relative to the folder or the
    working directory), else the folder's only ``*.dl`` file, else None if it has none."""
    if rules is not None:
        for candidate in (Path(rules), folder / rules):
            if candidate.is_file():
                return candidate
        raise UserError(f"rules file {rules} does not exist (looked in . and {folder})")
    found = sorted(folder.glob("*.dl"))
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise UserError(
            f"{folder} holds {len(found)} rules files ({names}); choose one with --rules FILE"
        )
    return found[0] if found else None


def load_world(
    folder: str | Path,
    rules: str | Path | None = None,
    extra_facts: Sequence[str | Path] = (),
) -> World:
    """Load a world folder.

    ``extra_facts`` are more facts files (such as EDU-RELAT's ``biographies.jsonl``); their
    ids are prefixed with the file's stem and a colon to keep them apart.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"world folder {folder} does not exist")
    records = read_facts(folder / FACTS_FILE)
    for extra in extra_facts:
        extra_path = Path(extra) if Path(extra).is_file() else folder / extra
        records += read_facts(extra_path, id_prefix=f"{extra_path.stem}:")
    rules_path = find_rules_file(folder, rules)
    rule_set = read_rules(rules_path) if rules_path is not None else ()
    entity_types = _read_entities(folder / ENTITIES_FILE)
    metadata: dict[str, Any] = {}
    if (folder / METADATA_FILE).is_file():
        try:
            metadata = json.loads((folder / METADATA_FILE).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise SourceError(
                str(folder / METADATA_FILE), exc.lineno, exc.colno, f"invalid JSON: {exc.msg}"
            ) from None
    metadata.setdefault("source", str(folder))
    metadata["rules_file"] = None if rules_path is None else rules_path.name
    return World(tuple(records), rule_set, entity_types, metadata)


def _read_entities(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    types: dict[str, str] = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SourceError(
                    str(path), number, exc.colno, f"invalid JSON: {exc.msg}"
                ) from None
            if not isinstance(data, dict) or set(data) != {"name", "type"}:
                raise SourceError(
                    str(path), number, 1, 'each line must be {"name": ..., "type": ...}'
                )
            types[data["name"]] = data["type"]
    return types


def fact_json(record: FactRecord) -> dict[str, Any]:
    """The ``facts.jsonl`` object of one record."""
    data: dict[str, Any] = {
        "id": record.id,
        "subject": record.fact.subject,
        "relation": record.fact.relation,
        "object": record.fact.object,
    }
    if record.background:
        data["background"] = True
    return data


def save_world(world: World, folder: str | Path) -> Path:
    """Write ``world`` to ``folder`` in the interchange format (each file atomically,
    ``world.json`` last, so a folder with ``world.json`` is complete)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / METADATA_FILE).unlink(missing_ok=True)
    write_atomic(
        folder / FACTS_FILE,
        "".join(json.dumps(fact_json(r), ensure_ascii=False) + "\n" for r in world.records),
    )
    write_atomic(folder / RULES_FILE, format_rules(world.rules))
    write_atomic(
        folder / ENTITIES_FILE,
        "".join(
            json.dumps({"name": name, "type": kind}, ensure_ascii=False) + "\n"
            for name, kind in sorted(world.entity_types.items())
        ),
    )
    metadata = {k: v for k, v in world.metadata.items() if k not in ("source", "rules_file")}
    write_json_atomic(folder / METADATA_FILE, metadata)
    return folder
