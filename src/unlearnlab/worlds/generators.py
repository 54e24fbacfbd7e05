"""World generators, registered by name: ``unlearnlab world generate NAME``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from unlearnlab.errors import UserError, from_validation_error
from unlearnlab.worlds.family import FamilyParams, generate_family
from unlearnlab.worlds.kg import World
from unlearnlab.worlds.synthesis import SynthesisParams, generate_synthesis


@dataclass(frozen=True)
class Generator:
    """A world generator: its parameter model and the function that builds the world."""

    params: type[BaseModel]
    build: Callable[[Any], World]


GENERATORS: dict[str, Generator] = {
    "family": Generator(FamilyParams, generate_family),
    "synthesis": Generator(SynthesisParams, generate_synthesis),
}


def generate_world(name: str, params: Mapping[str, Any]) -> World:
    """Validate ``params`` for generator ``name`` and generate the world."""
    generator = GENERATORS.get(name)
    if generator is None:
        raise UserError(
            f"unknown world generator {name!r} (known: {', '.join(sorted(GENERATORS))})"
        )
    try:
        validated = generator.params(**params)
    except ValidationError as exc:
        raise from_validation_error(exc, name, generator.params) from None
    return generator.build(validated)
