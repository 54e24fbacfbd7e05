"""Closure of a world: semi-naive forward chaining over compiled Horn rules. Each derived
fact keeps its first, shallowest derivation (:class:`DerivationTree`), so a derivation
read back is one of minimum depth; ties break deterministically."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from unlearnlab.worlds.kg import Fact
from unlearnlab.worlds.rules import Atom, Const, Rule, Var

# ----------------------------------------------------------------------------- indexing


class FactIndex:
    """Facts of a closure, indexed by relation, subject and object for joins."""

    def __init__(self) -> None:
        self.pairs: dict[str, set[tuple[str, str]]] = defaultdict(set)
        self.by_subject: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        self.by_object: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))

    def add(self, fact: Fact) -> bool:
        """Add ``fact``; return False if it was already present."""
        pairs = self.pairs[fact.relation]
        key = (fact.subject, fact.object)
        if key in pairs:
            return False
        pairs.add(key)
        self.by_subject[fact.relation][fact.subject].add(fact.object)
        self.by_object[fact.relation][fact.object].add(fact.subject)
        return True

    def match(
        self, relation: str, subject: str | None, obj: str | None
    ) -> Iterator[tuple[str, str]]:
        """(subject, object) pairs of ``relation`` agreeing with the bound arguments."""
        if subject is not None and obj is not None:
            if (subject, obj) in self.pairs.get(relation, ()):
                yield subject, obj
        elif subject is not None:
            for o in self.by_subject[relation].get(subject, ()):
                yield subject, o
        elif obj is not None:
            for s in self.by_object[relation].get(obj, ()):
                yield s, obj
        else:
            yield from self.pairs.get(relation, ())


# ----------------------------------------------------------------------------- rule joins

# A compiled term: ("v", slot) for a variable, ("c", value) for a constant.
_CTerm = tuple[str, Any]


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    n_vars: int
    head: tuple[str, _CTerm, _CTerm]
    body: tuple[tuple[str, _CTerm, _CTerm], ...]
    inequalities: tuple[tuple[_CTerm, _CTerm], ...]
    plans: tuple[tuple[int, ...], ...]  # plans[i]: body order starting with atom i

    @staticmethod
    def compile(rule: Rule) -> CompiledRule:
        slots: dict[str, int] = {}

        def term(t: Var | Const) -> _CTerm:
            if isinstance(t, Const):
                return ("c", t.value)
            return ("v", slots.setdefault(t.name, len(slots)))

        def atom(a: Atom) -> tuple[str, _CTerm, _CTerm]:
            return (a.relation, term(a.subject), term(a.object))

        body = tuple(atom(a) for a in rule.body)
        head = atom(rule.head)
        inequalities = tuple((term(i.left), term(i.right)) for i in rule.inequalities)
        plans = tuple(_plan(body, first) for first in range(len(body)))
        return CompiledRule(rule, len(slots), head, body, inequalities, plans)


def _plan(body: Sequence[tuple[str, _CTerm, _CTerm]], first: int) -> tuple[int, ...]:
    """Join order: ``first``, then greedily the atom with the most bound arguments."""
    order = [first]
    bound = {t[1] for t in body[first][1:] if t[0] == "v"}
    rest = [i for i in range(len(body)) if i != first]
    while rest:
        scores = {i: sum(1 for t in body[i][1:] if t[0] == "c" or t[1] in bound) for i in rest}
        best = max(rest, key=lambda i: (scores[i], -i))
        rest.remove(best)
        order.append(best)
        bound |= {t[1] for t in body[best][1:] if t[0] == "v"}
    return tuple(order)


def _value(term: _CTerm, binding: list[str | None]) -> str | None:
    return term[1] if term[0] == "c" else binding[term[1]]


def _bind(term: _CTerm, value: str, binding: list[str | None], trail: list[int]) -> bool:
    if term[0] == "c":
        return term[1] == value
    current = binding[term[1]]
    if current is None:
        binding[term[1]] = value
        trail.append(term[1])
        return True
    return current == value


def instances(
    rule: CompiledRule,
    index: FactIndex,
    first: int | None = None,
    first_pairs: Iterable[tuple[str, str]] | None = None,
) -> Iterator[tuple[Fact, tuple[Fact, ...]]]:
    """Ground instances (head, body facts) of ``rule`` whose body holds in ``index``.

    With ``first``/``first_pairs`` the body atom ``first`` ranges over ``first_pairs`` only
    (the semi-naive delta) and the other atoms over ``index``.
    """
    order = rule.plans[first if first is not None else 0]
    binding: list[str | None] = [None] * rule.n_vars

    def inequalities_hold() -> bool:
        return all(_value(a, binding) != _value(b, binding) for a, b in rule.inequalities)

    def ground(atom: tuple[str, _CTerm, _CTerm]) -> Fact:
        return Fact(_value(atom[1], binding), atom[0], _value(atom[2], binding))  # type: ignore[arg-type]

    def step(k: int) -> Iterator[tuple[Fact, tuple[Fact, ...]]]:
        if k == len(order):
            if inequalities_hold():
                yield ground(rule.head), tuple(ground(a) for a in rule.body)
            return
        relation, s_term, o_term = rule.body[order[k]]
        if k == 0 and first_pairs is not None:
            candidates: Iterable[tuple[str, str]] = first_pairs
        else:
            candidates = index.match(relation, _value(s_term, binding), _value(o_term, binding))
        for s, o in candidates:
            trail: list[int] = []
            if _bind(s_term, s, binding, trail) and _bind(o_term, o, binding, trail):
                yield from step(k + 1)
            for slot in trail:
                binding[slot] = None

    yield from step(0)


# ----------------------------------------------------------------------------- closure


@dataclass(frozen=True)
class DerivationTree:
    """Why a fact holds: a stated fact (``rule`` None) or a rule applied to premises."""

    fact: Fact
    rule: Rule | None
    premises: tuple[DerivationTree, ...] = ()

    @property
    def depth(self) -> int:
        """Rule applications on the longest branch (0 for a stated fact)."""
        return 0 if self.rule is None else 1 + max(p.depth for p in self.premises)

    def leaves(self) -> frozenset[Fact]:
        """The stated facts the derivation rests on."""
        if self.rule is None:
            return frozenset({self.fact})
        return frozenset().union(*(p.leaves() for p in self.premises))

    def render(self, indent: str = "") -> str:
        """An indented text tree, one fact per line with the rule that derived it."""
        how = "stated" if self.rule is None else f"by {self.rule.describe()}"
        lines = [f"{indent}{self.fact}  [{how}]"]
        lines += [p.render(indent + "  ") for p in self.premises]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``{"fact", "rule", "premises"}`` (rule null for stated facts)."""
        return {
            "fact": str(self.fact),
            "rule": None if self.rule is None else str(self.rule),
            "premises": [p.to_dict() for p in self.premises],
        }


@dataclass(frozen=True)
class Closure:
    """The closure of a set of stated facts, with the first (shallowest) derivation of each
    derived fact, so that :meth:`tree` gives a derivation tree of minimum depth."""

    facts: frozenset[Fact]
    stated: frozenset[Fact]
    rounds: int
    first_derivation: dict[Fact, tuple[Rule, tuple[Fact, ...]]]

    def tree(self, fact: Fact) -> DerivationTree | None:
        """A minimum-depth derivation tree of ``fact``, or None if it does not hold."""
        if fact not in self.facts:
            return None
        if fact in self.stated:
            return DerivationTree(fact, None)
        rule, body = self.first_derivation[fact]
        return DerivationTree(fact, rule, tuple(self.tree(b) for b in body))  # type: ignore[misc]


def compute_closure(stated: Iterable[Fact], rules: Sequence[Rule]) -> Closure:
    """Semi-naive forward chaining to the least fixpoint.

    Round k joins each rule with one body atom ranging over the facts new in round k-1 and
    the others over all facts known before round k; facts found in round k are added only
    after it, so every fact's recorded derivation has minimum depth.
    """
    compiled = [CompiledRule.compile(r) for r in rules]
    stated = frozenset(stated)
    index = FactIndex()
    for fact in stated:
        index.add(fact)
    known = set(stated)
    delta: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for fact in stated:
        delta[fact.relation].append((fact.subject, fact.object))
    first_derivation: dict[Fact, tuple[Rule, tuple[Fact, ...]]] = {}
    rounds = 0
    while delta:
        rounds += 1
        # Of a round's derivations of a fact, the first rule's with the smallest body is
        # kept: the choice must not depend on set iteration order (string hashing).
        found: dict[Fact, tuple[int, tuple[Fact, ...]]] = {}
        for number, rule in enumerate(compiled):
            for position, (relation, _, _) in enumerate(rule.body):
                pairs = delta.get(relation)
                if not pairs:
                    continue
                for head, body in instances(rule, index, position, pairs):
                    if head not in known and (head not in found or (number, body) < found[head]):
                        found[head] = (number, body)
        delta = defaultdict(list)
        for fact, (number, body) in found.items():
            index.add(fact)
            known.add(fact)
            first_derivation[fact] = (compiled[number].rule, body)
            delta[fact.relation].append((fact.subject, fact.object))
        if not found:
            rounds -= 1
            break
    return Closure(frozenset(known), stated, rounds, first_derivation)
