"""Attacks on unlearned models: relearning, in-context relearning, quantization; one
module per attack, registered by name with ``@attack``, run identically on the unlearned
model, the base model and the oracle (``run``), with recovery metrics net of the oracle
(``recovery``).

Every module of this package is imported here, so adding an attack is adding one file.
"""

from __future__ import annotations

import importlib
import pkgutil

from unlearnlab.attacks.base import Attack, AttackTarget, Curve, CurvePoint
from unlearnlab.attacks.registry import ATTACKS, attack, attack_create, get_attack

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "ATTACKS",
    "Attack",
    "AttackTarget",
    "Curve",
    "CurvePoint",
    "attack",
    "attack_create",
    "get_attack",
]
