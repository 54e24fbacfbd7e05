"""The attack registry: names to attack classes, filled by the ``@attack`` decorator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import ValidationError

from unlearnlab.attacks.base import Attack
from unlearnlab.errors import UserError, from_validation_error

A = TypeVar("A", bound=type[Attack])
ATTACKS: dict[str, type[Attack]] = {}
"""Every registered attack class by name."""


def attack(name: str) -> Callable[[A], A]:
    """Class decorator: register an attack under ``name``."""

    def register(cls: A) -> A:
        if name in ATTACKS:
            raise RuntimeError(f"attack {name!r} is registered twice")
        cls.name = name
        ATTACKS[name] = cls
        return cls

    return register


def get_attack(name: str) -> type[Attack]:
    """The attack class registered as ``name``; a :class:`UserError` lists the known ones."""
    if name not in ATTACKS:
        raise UserError(f"unknown attack {name!r} (known: {', '.join(sorted(ATTACKS))})")
    return ATTACKS[name]


def attack_create(name: str, **params: Any) -> Attack:
    """Build attack ``name`` from its parameters (validated, defaults filled in); a bad
    parameter is a :class:`UserError` naming the field."""
    cls = get_attack(name)
    try:
        return cls(cls.Params(**params))
    except ValidationError as exc:
        raise from_validation_error(exc, f"attack {name}", cls.Params) from None
