"""Knowledge worlds: facts, Horn rules, exact deduction, generators and the file format."""

from unlearnlab.worlds.closure import DerivationTree, compute_closure
from unlearnlab.worlds.deduction import DeepUnlearningSets, SupportSets
from unlearnlab.worlds.family import FamilyParams, generate_family
from unlearnlab.worlds.io import load_world, save_world
from unlearnlab.worlds.kg import Fact, FactRecord, World, parse_fact
from unlearnlab.worlds.rules import Rule, format_rules, parse_rules

__all__ = [
    "DeepUnlearningSets",
    "DerivationTree",
    "Fact",
    "FactRecord",
    "FamilyParams",
    "Rule",
    "SupportSets",
    "World",
    "compute_closure",
    "format_rules",
    "generate_family",
    "load_world",
    "parse_fact",
    "parse_rules",
    "save_world",
]
