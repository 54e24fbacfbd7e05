"""The method registry: names to method classes, filled by the ``@method`` decorator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from unlearnlab.errors import UserError
from unlearnlab.methods.base import Method

M = TypeVar("M", bound=type[Method])
METHODS: dict[str, type[Method]] = {}
"""Every registered method class by name."""


def method(name: str) -> Callable[[M], M]:
    """Class decorator: register an unlearning method under ``name``."""

    def register(cls: M) -> M:
        if name in METHODS:
            raise RuntimeError(f"method {name!r} is registered twice")
        cls.name = name
        METHODS[name] = cls
        return cls

    return register


def get_method(name: str) -> type[Method]:
    """The method class registered as ``name``; a :class:`UserError` lists the known ones."""
    if name not in METHODS:
        known = ", ".join(sorted(METHODS))
        raise UserError(f"unknown method {name!r} (known: {known}; see 'unlearnlab list methods')")
    return METHODS[name]


def method_create(name: str, **params: Any) -> Method:
    """Build method ``name`` from its hyper-parameters (validated; defaults filled in)."""
    cls = get_method(name)
    return cls(cls.Params(**params))
