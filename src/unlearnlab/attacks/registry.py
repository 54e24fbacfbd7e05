"""The attack registry: names to attack classes, filled by the ``@attack`` decorator."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from unlearnlab.attacks.base import Attack
from unlearnlab.errors import from_validation_error
from unlearnlab.registry import Registry

ATTACKS = Registry("attack")
"""Every registered attack class by name."""
attack = ATTACKS.register
"""Class decorator: register an attack under a name."""


def get_attack(name: str) -> type[Attack]:
    """The attack class registered as ``name``; a :class:`UserError` lists the known ones."""
    return ATTACKS.lookup(name)


def attack_create(name: str, **params: Any) -> Attack:
    """Build attack ``name`` from its parameters (validated, defaults filled in); a bad
    parameter is a :class:`UserError` naming the field."""
    cls = get_attack(name)
    try:
        return cls(cls.Params(**params))
    except ValidationError as exc:
        raise from_validation_error(exc, f"attack {name}", cls.Params) from None
