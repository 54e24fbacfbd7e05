"""``unlearnlab world ...``: generate, import, inspect worlds and their deep-unlearning sets.

With ``--json`` every command prints one JSON document on stdout (see README.md for the
schemas) and nothing else; human output goes through Rich. The world engine is imported
by the commands that run, so that ``--help`` stays fast.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from unlearnlab.cli.options import JsonOption
from unlearnlab.errors import UserError

if TYPE_CHECKING:
    from unlearnlab.worlds.kg import Fact, World

app = typer.Typer(
    help="Knowledge worlds: generate, import, statistics, deep-unlearning sets.",
    no_args_is_help=True,
)
console = Console()
_warn = Console(stderr=True)

RulesOption = typer.Option(
    None, "--rules", help="Rules file to use where the folder holds more than one *.dl file."
)
FactsOption = typer.Option(
    [], "--facts", help="More facts files to load (ids get the file stem as prefix)."
)


def _emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _load(folder: Path, rules: str | None, facts: list[str], as_json: bool) -> World:
    from unlearnlab.worlds.io import load_world

    world = load_world(folder, rules, facts)
    if not as_json:
        for warning in world.warnings():
            _warn.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    return world


def _stats(world: World) -> dict[str, Any]:
    start = time.perf_counter()
    closure = world.closure()
    seconds = time.perf_counter() - start
    derived = Counter(f.relation for f in world.derived_facts)
    stated_and_derivable = sum(1 for f in world.base_facts if world.rederivable(f))
    return {
        "name": world.metadata.get("name"),
        "rules_file": world.metadata.get("rules_file"),
        "entities": dict(sorted(Counter(world.entity_types.values()).items())),
        "base_facts": dict(sorted(Counter(f.relation for f in world.base_facts).items())),
        "background_facts": dict(
            sorted(Counter(f.relation for f in world.background_facts).items())
        ),
        "rules": len(world.rules),
        "derived_facts": dict(sorted(derived.items())),
        "totals": {
            "stated": len(world.records),
            "base": len(world.base_facts),
            "background": len(world.background_facts),
            "derived": len(world.derived_facts),
            "closure": len(closure),
            "stated_and_derivable": stated_and_derivable,
        },
        "closure_rounds": world.closure_details.rounds,
        "closure_seconds": round(seconds, 6),
        "warnings": world.warnings(),
    }


def _print_stats(stats: dict[str, Any]) -> None:
    totals = stats["totals"]
    console.print(
        f"[bold]{escape(str(stats['name'] or 'world'))}[/]: {totals['base']} base facts, "
        f"{totals['background']} background, {stats['rules']} rules, {totals['derived']} derived "
        f"({totals['closure']} in the closure, {stats['closure_rounds']} rounds, "
        f"{stats['closure_seconds']:.3f} s); {totals['stated_and_derivable']} stated facts are "
        "also derivable from others"
    )
    table = Table("relation", "base", "background", "derived")
    relations = sorted(
        set(stats["base_facts"]) | set(stats["background_facts"]) | set(stats["derived_facts"])
    )
    for relation in relations:
        table.add_row(
            relation,
            str(stats["base_facts"].get(relation, 0)),
            str(stats["background_facts"].get(relation, 0)),
            str(stats["derived_facts"].get(relation, 0)),
        )
    console.print(table)
    console.print(
        "entities: " + ", ".join(f"{n} {t}" for t, n in stats["entities"].items()), highlight=False
    )


def _report(world: World, written_to: Path | None, as_json: bool) -> None:
    """Print a world's statistics (and where it was written), or emit them as JSON."""
    result = _stats(world)
    if as_json:
        _emit_json({"path": None if written_to is None else str(written_to), **result})
        return
    _print_stats(result)
    if written_to is not None:
        console.print(f"written to [bold]{escape(str(written_to))}[/]")


@app.command("generate")
def generate(
    generator: str = typer.Argument(..., help="Generator name (see 'unlearnlab list generators')."),
    out: Path = typer.Option(..., "--out", help="Folder to write the world to."),
    people: int | None = typer.Option(None, "--people", help="Number of people."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed."),
    generations: int | None = typer.Option(None, "--generations", help="Generations per tree."),
    stated_fraction: float | None = typer.Option(
        None, "--stated-fraction", help="Fraction of each derived relation also stated."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Generate a world and write it in the interchange format."""
    from unlearnlab.worlds.generators import generate_world
    from unlearnlab.worlds.io import save_world

    given = {
        "people": people,
        "seed": seed,
        "generations": generations,
        "stated_fraction": stated_fraction,
    }
    world = generate_world(generator, {k: v for k, v in given.items() if v is not None})
    save_world(world, out)
    _report(world, out, as_json)


@app.command("import")
def import_world(
    folder: Path = typer.Argument(..., help="World folder with facts.jsonl and a rules file."),
    rules: str | None = RulesOption,
    facts: list[str] = FactsOption,
    out: Path | None = typer.Option(None, "--out", help="Write a canonical copy here."),
    as_json: bool = JsonOption,
) -> None:
    """Validate a world folder (and optionally write a canonical copy)."""
    from unlearnlab.worlds.io import save_world

    world = _load(folder, rules, facts, as_json)
    if out is not None:
        save_world(world, out)
    _report(world, out, as_json)


@app.command("stats")
def stats(
    folder: Path = typer.Argument(..., help="World folder."),
    rules: str | None = RulesOption,
    facts: list[str] = FactsOption,
    as_json: bool = JsonOption,
) -> None:
    """Entities, facts per relation, rules and closure statistics."""
    world = _load(folder, rules, facts, as_json)
    result = _stats(world)
    if as_json:
        _emit_json(result)
    else:
        _print_stats(result)


def _read_targets(path: Path) -> list[Fact]:
    from unlearnlab.worlds.kg import Fact, parse_fact

    if not path.is_file():
        raise UserError(f"targets file {path} does not exist")
    targets = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith(("#", "%")):
            continue
        if text.startswith("{"):
            try:
                data = json.loads(text)
                targets.append(Fact(data["subject"], data["relation"], data["object"]))
            except (json.JSONDecodeError, KeyError, TypeError):
                raise UserError(
                    f"{path}:{number}: expected a JSON object with subject, relation, object "
                    "or a line 'relation(subject, object)'"
                ) from None
        else:
            try:
                targets.append(parse_fact(text))
            except UserError as exc:
                raise UserError(f"{path}:{number}: {exc}") from None
    return targets


@app.command("deep-sets")
def deep_sets(
    folder: Path = typer.Argument(..., help="World folder."),
    target: list[str] = typer.Option(
        [], "--target", help="Target fact 'relation(subject, object)'; repeatable."
    ),
    all_targets: Path | None = typer.Option(
        None,
        "--all-targets",
        help="File of targets, one 'relation(subject, object)' or JSON fact per line.",
    ),
    sample: int = typer.Option(
        0,
        "--sample",
        min=0,
        help="Also take this many stated facts that are derivable from others.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for --sample."),
    rules: str | None = RulesOption,
    facts: list[str] = FactsOption,
    max_sets: int = typer.Option(10000, "--max-sets", min=1, help="Stop after this many sets."),
    time_limit: float = typer.Option(30.0, "--time-limit", min=0.001, help="Seconds per target."),
    as_json: bool = JsonOption,
) -> None:
    """All minimal deep-unlearning sets of targets, their count and minimum size."""
    from unlearnlab.worlds.kg import parse_fact

    targets = [parse_fact(t) for t in target]
    if all_targets is not None:
        targets += _read_targets(all_targets)
    if not targets and sample == 0:
        raise UserError(
            "no target given; pass --target 'relation(subject, object)', --all-targets FILE "
            "or --sample N"
        )
    world = _load(folder, rules, facts, as_json)
    targets += sample_rederivable(world, sample, seed)
    results = [
        world.minimal_deep_unlearning_sets(t, max_sets=max_sets, time_limit=time_limit)
        for t in targets
    ]
    if as_json:
        _emit_json({"targets": [r.to_dict(world) for r in results]})
        return
    for result in results:
        status = (
            "complete"
            if result.complete
            else f"[red]INCOMPLETE[/] (stopped by {result.stopped_by})"
        )
        console.print(
            f"[bold]{escape(str(result.target))}[/]: {len(result)} minimal deep-unlearning sets, "
            f"minimum size {result.minimum_size}, {status}, {result.seconds:.3f} s"
        )
        for members in result.to_dict(world)["sets"]:
            console.print("  {" + ", ".join(_short(m) for m in members) + "}", highlight=False)


def sample_rederivable(world: World, count: int, seed: int) -> list[Fact]:
    """``count`` stated facts that also follow from the other facts, drawn with ``seed``."""
    if count == 0:
        return []
    candidates = sorted(f for f in world.base_facts if world.rederivable(f))
    if len(candidates) < count:
        raise UserError(
            f"--sample {count}: the world has only {len(candidates)} stated facts that are "
            "derivable from others; ask for fewer"
        )
    return random.Random(seed).sample(candidates, count)


def _short(member: dict[str, Any]) -> str:
    fact = f"{member['relation']}({member['subject']}, {member['object']})"
    return escape(fact if member["id"] is None else f"#{member['id']} {fact}")


@app.command("why")
def why(
    folder: Path = typer.Argument(..., help="World folder."),
    target: str = typer.Option(..., "--target", help="Fact 'relation(subject, object)'."),
    without: list[str] = typer.Option(
        [],
        "--without",
        help="Remove this base fact first; repeatable. Use the target itself "
        "to see how a stated fact is re-derived from the others.",
    ),
    rules: str | None = RulesOption,
    facts: list[str] = FactsOption,
    as_json: bool = JsonOption,
) -> None:
    """A shortest derivation tree of a fact, and its minimal support sets."""
    from unlearnlab.worlds.kg import parse_fact

    world = _load(folder, rules, facts, as_json)
    fact = parse_fact(target)
    removed = [parse_fact(w) for w in without]
    tree = world.derivation(fact, without=removed)
    supports = world.proofs(fact) if fact in world.closure() else None
    if as_json:
        _emit_json(
            {
                "target": str(fact),
                "without": [str(f) for f in removed],
                "derivation": None if tree is None else tree.to_dict(),
                "support_sets": None if supports is None else supports.to_dict(world),
            }
        )
        return
    if tree is None:
        console.print(
            f"{escape(str(fact))} does not hold"
            + (" once the given facts are removed" if removed else "")
        )
    else:
        console.print(escape(tree.render()), highlight=False)
    if supports is not None:
        state = (
            "complete" if supports.complete else f"incomplete (stopped by {supports.stopped_by})"
        )
        console.print(f"{len(supports)} minimal support sets in the full world, {state}")
