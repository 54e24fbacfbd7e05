"""``unlearnlab run``: the main job, end to end, from a fresh checkout."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from unlearnlab.cli.world import _print_stats, _stats, sample_rederivable
from unlearnlab.worlds.family import FamilyParams, generate_family
from unlearnlab.worlds.io import save_world

console = Console()


def run(
    out: Path = typer.Option(Path("runs/default"), "--out", help="Folder for the outputs."),
    people: int = typer.Option(300, "--people", min=4, help="People in the family world."),
    seed: int = typer.Option(0, "--seed", help="Seed of the world and of the target sample."),
    targets: int = typer.Option(5, "--targets", min=1, help="Forget targets to analyse."),
) -> None:
    """Generate the default family world, print its statistics and the exact minimal
    deep-unlearning sets of a sample of stated facts that the rest of the world implies."""
    world = generate_family(FamilyParams(people=people, seed=seed))
    world_dir = save_world(world, out / "world")
    _print_stats(_stats(world))
    console.print(f"world written to [bold]{escape(str(world_dir))}[/]\n")
    for target in sample_rederivable(world, targets, seed):
        result = world.minimal_deep_unlearning_sets(target)
        tree = world.derivation(target, without=[target])
        assert tree is not None
        console.print(
            f"[bold]{escape(str(target))}[/]: {len(result)} minimal deep-unlearning sets "
            f"({'complete' if result.complete else 'INCOMPLETE'}), minimum size "
            f"{result.minimum_size}: forgetting it for good costs {result.minimum_size - 1} "
            "other facts. Re-derived without it as:"
        )
        console.print(escape(tree.render("    ")), highlight=False)
