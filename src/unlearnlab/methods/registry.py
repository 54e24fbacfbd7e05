"""The method registry: names to method classes, filled by the ``@method`` decorator."""

from __future__ import annotations

from typing import Any

from unlearnlab.methods.base import Method
from unlearnlab.registry import Registry

METHODS = Registry("method", "see 'unlearnlab list methods'")
"""Every registered method class by name."""
method = METHODS.register
"""Class decorator: register an unlearning method under a name."""


def get_method(name: str) -> type[Method]:
    """The method class registered as ``name``; a :class:`UserError` lists the known ones."""
    return METHODS.lookup(name)


def method_create(name: str, **params: Any) -> Method:
    """Build method ``name`` from its hyper-parameters (validated; defaults filled in)."""
    cls = get_method(name)
    return cls(cls.Params(**params))
