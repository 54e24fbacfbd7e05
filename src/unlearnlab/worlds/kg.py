"""Facts, stated-fact records and the :class:`World` that holds facts, rules and entity types."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from unlearnlab.errors import UserError

if TYPE_CHECKING:
    from unlearnlab.worlds.closure import Closure, DerivationTree
    from unlearnlab.worlds.deduction import DeepUnlearningSets, SupportSets
    from unlearnlab.worlds.grounding import Grounding
    from unlearnlab.worlds.rules import Rule

FactId = int | str | None


@dataclass(frozen=True, order=True, slots=True)
class Fact:
    """``relation(subject, object)``: "subject is the relation of object".

    Example: ``Fact("Ann Lee", "mother", "Bob Lee")`` reads "Ann Lee is Bob Lee's mother".
    """

    subject: str
    relation: str
    object: str

    def __str__(self) -> str:
        return f"{self.relation}({self.subject}, {self.object})"


_FACT_TEXT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)\s*$")


def parse_fact(text: str) -> Fact:
    """Parse ``'relation(subject, object)'``; arguments may be double-quoted.

    Quotes are needed only where a name contains a comma or parenthesis.
    """
    match = _FACT_TEXT.match(text)
    if match is None:
        raise UserError(
            f"cannot read fact {text!r}; write it as 'relation(subject, object)', "
            "for example 'aunt_of(Sophia Martinez, Tristan Perry)'"
        )
    relation, inner = match.groups()
    args = _split_arguments(inner)
    if len(args) != 2:
        raise UserError(
            f"fact {text!r} has {len(args)} argument(s); facts are binary: "
            "'relation(subject, object)'"
        )
    return Fact(args[0], relation, args[1])


def _split_arguments(inner: str) -> list[str]:
    args: list[str] = []
    current: list[str] = []
    quoted = False
    for char in inner:
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            args.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    args.append("".join(current).strip())
    return args


@dataclass(frozen=True, slots=True)
class FactRecord:
    """A stated fact as it appears in ``facts.jsonl``: the fact, its optional id, and whether
    it is background (context that always holds and is never removed, such as genders)."""

    fact: Fact
    id: FactId = None
    background: bool = False


@dataclass
class World:
    """A knowledge world: stated facts, Horn rules and entity types.

    ``records`` keeps the order and ids of the stated facts, so that export round-trips.
    The knowledge base that unlearning acts on is :attr:`base_facts` (stated, not
    background); background facts hold in every closure and never belong to a
    deep-unlearning set.
    """

    records: tuple[FactRecord, ...]
    rules: tuple[Rule, ...] = ()
    entity_types: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.records = tuple(self.records)
        self.rules = tuple(self.rules)
        seen: dict[Fact, FactRecord] = {}
        by_id: dict[FactId, FactRecord] = {}
        for record in self.records:
            previous = seen.get(record.fact)
            if previous is not None:
                raise UserError(
                    f"fact {record.fact} is stated twice (ids {previous.id!r} and "
                    f"{record.id!r}); state each fact once"
                )
            seen[record.fact] = record
            if record.id is not None:
                clash = by_id.get(record.id)
                if clash is not None:
                    raise UserError(
                        f"id {record.id!r} names two facts, {clash.fact} and {record.fact}; "
                        "ids must be unique"
                    )
                by_id[record.id] = record
        self._record_of = seen
        self._by_id = by_id
        if not self.entity_types:
            self.entity_types = infer_entity_types(r.fact for r in self.records)

    # ----- the stated facts

    @cached_property
    def base_facts(self) -> tuple[Fact, ...]:
        """Stated facts that unlearning may remove, in file order."""
        return tuple(r.fact for r in self.records if not r.background)

    @cached_property
    def base_positions(self) -> dict[Fact, int]:
        """Each base fact's position in :attr:`base_facts` (file order)."""
        return {fact: i for i, fact in enumerate(self.base_facts)}

    @cached_property
    def background_facts(self) -> frozenset[Fact]:
        """Stated facts that always hold and are never removed."""
        return frozenset(r.fact for r in self.records if r.background)

    @cached_property
    def stated(self) -> frozenset[Fact]:
        """Every stated fact, base and background."""
        return frozenset(self._record_of)

    def record(self, fact: Fact) -> FactRecord | None:
        """The stated record of ``fact``, or None if it is not stated."""
        return self._record_of.get(fact)

    def fact_by_id(self, fact_id: FactId) -> Fact:
        """The fact stated with ``fact_id``."""
        record = self._by_id.get(fact_id)
        if record is None:
            raise UserError(f"no fact has id {fact_id!r}")
        return record.fact

    def id_of(self, fact: Fact) -> FactId:
        """The id ``fact`` was stated with (None for derived or id-less facts)."""
        record = self._record_of.get(fact)
        return None if record is None else record.id

    @cached_property
    def relations(self) -> tuple[str, ...]:
        """Every relation of a stated fact or a rule head, sorted."""
        names = {r.fact.relation for r in self.records} | {
            rule.head.relation for rule in self.rules
        }
        return tuple(sorted(names))

    def entities_of_type(self, entity_type: str) -> tuple[str, ...]:
        """The entities of one type, sorted."""
        return tuple(sorted(e for e, t in self.entity_types.items() if t == entity_type))

    # ----- deduction (delegated to unlearnlab.worlds.deduction, cached per world)

    @cached_property
    def closure_details(self) -> Closure:
        """The closure with its rounds and the first derivation of every derived fact."""
        from unlearnlab.worlds.closure import compute_closure

        return compute_closure(self.stated, self.rules)

    def closure(self) -> frozenset[Fact]:
        """Every fact that holds: stated facts plus everything the rules derive from them."""
        return self.closure_details.facts

    @cached_property
    def derived_facts(self) -> tuple[Fact, ...]:
        """Facts in the closure that are not stated, sorted."""
        return tuple(sorted(self.closure() - self.stated))

    @cached_property
    def grounding(self) -> Grounding:
        """Every ground rule instance whose body holds in the closure."""
        from unlearnlab.worlds.grounding import Grounding

        return Grounding.build(self)

    def derivation(self, fact: Fact, without: Iterable[Fact] = ()) -> DerivationTree | None:
        """A shortest derivation tree of ``fact`` from the base facts minus ``without``.

        None when ``fact`` does not hold once ``without`` is removed. With ``without``
        empty a stated fact is its own (leaf) derivation; pass ``without=[fact]`` to ask how
        a stated fact is re-derived from the others.
        """
        removed = frozenset(without)
        if not removed:
            return self.closure_details.tree(fact)
        self._check_removable(set(removed))
        if fact not in self.closure():
            return None
        return self.grounding.derivation(fact, removed, self.background_facts)

    def proofs(
        self, fact: Fact, *, max_sets: int | None = 1000, time_limit: float | None = 10.0
    ) -> SupportSets:
        """The minimal support sets of ``fact``: minimal sets of base facts that imply it."""
        from unlearnlab.worlds.deduction import minimal_support_sets

        return minimal_support_sets(self, fact, max_sets=max_sets, time_limit=time_limit)

    def minimal_deep_unlearning_sets(
        self, fact: Fact, *, max_sets: int | None = 10000, time_limit: float | None = 30.0
    ) -> DeepUnlearningSets:
        """All minimal sets U of base facts with ``fact`` not in closure(base - U)."""
        from unlearnlab.worlds.deduction import minimal_deep_unlearning_sets

        return minimal_deep_unlearning_sets(self, fact, max_sets=max_sets, time_limit=time_limit)

    @cached_property
    def _deep_sets(self) -> dict[tuple[Fact, ...], tuple[Fact, ...]]:
        return {}

    def deep_forget_set(self, targets: Iterable[Fact]) -> tuple[Fact, ...]:
        """The union of a minimum deep-unlearning set of each of ``targets`` (the targets
        among them), sorted: what the deep oracle never sees. Memoised per targets."""
        key = tuple(sorted(set(targets)))
        if key not in self._deep_sets:
            sets = (self.minimal_deep_unlearning_sets(t).minimum for t in key)
            self._deep_sets[key] = tuple(sorted({f for minimum in sets for f in minimum}))
        return self._deep_sets[key]

    def rederivable(self, fact: Fact) -> bool:
        """Whether a stated base fact also follows from the other stated facts."""
        self._check_removable({fact})
        cone = self.grounding.cone(fact)
        return cone.derives(i for i in range(cone.n_base) if cone.atoms[i] != fact)

    def is_deep_unlearning_set(self, fact: Fact, removed: Iterable[Fact]) -> bool:
        """Whether removing ``removed`` from the base facts makes ``fact`` underivable."""
        from unlearnlab.worlds.closure import compute_closure

        removed = set(removed)
        self._check_removable(removed)
        return fact not in compute_closure(self.stated - removed, self.rules).facts

    def _check_removable(self, removed: set[Fact]) -> None:
        for fact in removed:
            record = self._record_of.get(fact)
            if record is None or record.background:
                kind = "a background fact" if record else "not a stated fact"
                raise UserError(f"cannot remove {fact}: it is {kind}")

    def warnings(self) -> list[str]:
        """Likely mistakes that are not errors, such as a rule body relation nothing produces."""
        from unlearnlab.worlds.rules import unproducible_relations

        producible = {r.fact.relation for r in self.records}
        return [
            f"rule {rule.describe()}: relation '{relation}' is in the body but no fact and "
            "no rule head produces it (a typo?); the rule never fires"
            for rule, relation in unproducible_relations(self.rules, producible)
        ]


def infer_entity_types(facts: Iterable[Fact]) -> dict[str, str]:
    """Infer entity types from argument positions.

    Two argument slots (relation, subject|object) have the same type when some entity
    occurs in both. A type whose slots span several relations (people, in a family world)
    is called ``entity`` when it is the only such type; every other type is named after its
    alphabetically first slot, e.g. ``birthyear.object``. Generated worlds state their
    types instead.
    """
    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def find(slot: tuple[str, str]) -> tuple[str, str]:
        while parent[slot] != slot:
            parent[slot] = parent[parent[slot]]
            slot = parent[slot]
        return slot

    slot_of: dict[str, tuple[str, str]] = {}
    for fact in facts:
        for entity, slot in (
            (fact.subject, (fact.relation, "subject")),
            (fact.object, (fact.relation, "object")),
        ):
            parent.setdefault(slot, slot)
            previous = slot_of.setdefault(entity, slot)
            a, b = find(previous), find(slot)
            if a != b:
                parent[max(a, b)] = min(a, b)
    relations_of: dict[tuple[str, str], set[str]] = {}
    for slot in parent:
        relations_of.setdefault(find(slot), set()).add(slot[0])
    shared = [root for root, relations in relations_of.items() if len(relations) > 1]
    names = {root: ".".join(root) for root in relations_of}
    if len(shared) == 1:
        names[shared[0]] = "entity"
    return {entity: names[find(slot)] for entity, slot in sorted(slot_of.items())}
