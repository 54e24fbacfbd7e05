"""Registries of named things (unlearning methods, attacks, probes), filled by decorators."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from unlearnlab.errors import UserError

C = TypeVar("C", bound=type)


class Registry(dict[str, Any]):
    """Registered things by name. ``kind`` ("method", "attack", "probe") and ``hint`` word
    the error of an unknown name, which lists the known ones."""

    def __init__(self, kind: str, hint: str = "") -> None:
        super().__init__()
        self.kind = kind
        self.hint = hint

    def register(self, name: str) -> Callable[[C], C]:
        """Class decorator: register the class under ``name`` and set its ``name``."""

        def add(cls: C) -> C:
            self.add(name, cls)
            cls.name = name  # type: ignore[attr-defined]
            return cls

        return add

    def add(self, name: str, value: Any) -> None:
        """Register ``value`` under ``name``, which must be new."""
        if name in self:
            raise RuntimeError(f"{self.kind} {name!r} is registered twice")
        self[name] = value

    def unknown(self, name: str) -> UserError:
        """The error for a name nothing is registered under."""
        hint = f"; {self.hint}" if self.hint else ""
        return UserError(f"unknown {self.kind} {name!r} (known: {', '.join(sorted(self))}{hint})")

    def lookup(self, name: str) -> Any:
        """The class registered as ``name``; :meth:`unknown`'s error otherwise."""
        if name not in self:
            raise self.unknown(name)
        return self[name]
