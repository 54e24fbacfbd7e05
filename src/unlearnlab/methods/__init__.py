"""Unlearning methods: one module per method, registered by name with ``@method``.

Every module of this package is imported here, so adding a method is adding one file.
"""

from __future__ import annotations

import importlib
import pkgutil

from unlearnlab.methods.base import Batch, Method, Tokens
from unlearnlab.methods.registry import METHODS, get_method, method, method_create

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["METHODS", "Batch", "Method", "Tokens", "get_method", "method", "method_create"]
