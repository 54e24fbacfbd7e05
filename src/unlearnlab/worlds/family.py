"""The family world generator: family trees with base relations, derived relations given by
rules (``family_rules.dl``), and per-person attributes unrelated to the family structure.

A world is a forest of family trees. Each tree starts from a founding couple; every child
of a generation before the last marries a partner from outside the world (so no one
marries a relative), and each couple has 1 to 4 children. Trees are added until the world
has exactly ``people`` people. Children take their father's surname.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field, field_validator

from unlearnlab.errors import UserError
from unlearnlab.worlds.closure import compute_closure
from unlearnlab.worlds.family_names import CITIES, FEMALE_NAMES, JOBS, MALE_NAMES, SURNAMES
from unlearnlab.worlds.kg import Fact, FactRecord, World
from unlearnlab.worlds.rules import Rule, parse_rules

BASE_RELATIONS = ("mother", "father", "husband", "wife", "child", "brother", "sister")
ATTRIBUTE_RELATIONS = ("birth_year", "birth_city", "job")


def family_rules(sibling_rules: bool = True) -> tuple[Rule, ...]:
    """The rules of the family world (shipped as ``family_rules.dl``), with the rules that
    siblings share their parents and relatives through them (``family_sibling_rules.dl``)
    if ``sibling_rules``."""
    files = ["family_rules.dl"] + (["family_sibling_rules.dl"] if sibling_rules else [])
    rules: tuple[Rule, ...] = ()
    for name in files:
        text = resources.files("unlearnlab.worlds").joinpath(name).read_text("utf-8")
        rules += parse_rules(text, name)
    return rules


class FamilyParams(BaseModel):
    """Parameters of the family world generator."""

    model_config = ConfigDict(extra="forbid")

    people: int = Field(200, ge=4, le=50_000, description="people in the world, exactly")
    generations: int = Field(4, ge=2, le=8, description="generations per family tree")
    seed: int = Field(0, description="random seed; the same seed gives the same world")
    base_relations: tuple[str, ...] = Field(
        BASE_RELATIONS,
        description="relations whose every fact is stated (the rest must be derivable)",
    )
    stated_fraction: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="fraction of the facts of each other relation that are also stated; "
        "stated and derivable facts are the forget targets of later experiments",
    )
    attributes: bool = Field(True, description="state birth year, birth city and job")
    sibling_rules: bool = Field(
        True,
        description="rules that siblings share parents, grandparents, aunts, uncles and "
        "cousins, inferences a model makes from the corpus; they multiply derivations "
        "(support-set counts grow large), so studies that count derivations turn them off",
    )

    @field_validator("base_relations")
    @classmethod
    def _known_relations(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        known = {rule.head.relation for rule in family_rules()}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(
                f"unknown relation(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return value


@dataclass(frozen=True)
class _Person:
    name: str
    gender: str
    generation: int
    surname: str


class _Names:
    """Unique "First Last" names drawn without replacement."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def draw(self, gender: str, surname: str | None = None) -> tuple[str, str]:
        firsts = FEMALE_NAMES if gender == "female" else MALE_NAMES
        surnames = [surname] if surname else list(SURNAMES)
        for _ in range(200):
            last = self.rng.choice(surnames)
            first = self.rng.choice(firsts)
            name = f"{first} {last}"
            if name not in self.used:
                self.used.add(name)
                return name, last
        free = [f"{f} {s}" for s in surnames for f in firsts if f"{f} {s}" not in self.used]
        if not free:
            free = [f"{f} {s}" for s in SURNAMES for f in firsts if f"{f} {s}" not in self.used]
        if not free:
            raise UserError(
                f"the family generator ran out of unique {gender} names; "
                f"ask for at most {len(SURNAMES) * len(MALE_NAMES) * 2} people"
            )
        name = self.rng.choice(sorted(free))
        self.used.add(name)
        return name, name.split(" ", 1)[1]


def _family_tree_facts(
    params: FamilyParams, rng: random.Random
) -> tuple[list[_Person], list[Fact]]:
    """People and the facts fixing the structure: mother, father, husband (+ genders)."""
    names = _Names(rng)
    people: list[_Person] = []
    facts: list[Fact] = []

    def new_person(gender: str, generation: int, surname: str | None = None) -> _Person | None:
        if len(people) >= params.people:
            return None
        name, last = names.draw(gender, surname)
        person = _Person(name, gender, generation, last)
        people.append(person)
        return person

    while len(people) < params.people:
        if params.people - len(people) < 2:
            new_person(rng.choice(["female", "male"]), 0)
            break
        husband = new_person("male", 0)
        wife = new_person("female", 0)
        couples = [(husband, wife)]
        for generation in range(1, params.generations):
            next_couples = []
            for father, mother in couples:
                assert father is not None and mother is not None
                facts.append(Fact(father.name, "husband", mother.name))
                for _ in range(rng.randint(1, 4)):
                    child = new_person(rng.choice(["female", "male"]), generation, father.surname)
                    if child is None:
                        break
                    facts.append(Fact(mother.name, "mother", child.name))
                    facts.append(Fact(father.name, "father", child.name))
                    if generation < params.generations - 1 and rng.random() < 0.8:
                        partner_gender = "male" if child.gender == "female" else "female"
                        partner = new_person(partner_gender, generation)
                        if partner is not None:
                            pair = (child, partner) if child.gender == "male" else (partner, child)
                            next_couples.append(pair)
            couples = next_couples
            if not couples:
                break
        for father, mother in couples:
            assert father is not None and mother is not None
            facts.append(Fact(father.name, "husband", mother.name))
    return people, facts


def generate_family(params: FamilyParams | None = None) -> World:
    """Generate a family world; the same parameters give the same world."""
    params = params or FamilyParams()
    rng = random.Random(params.seed)
    rules = family_rules(params.sibling_rules)
    people, structure = _family_tree_facts(params, rng)
    genders = [FactRecord(Fact(p.name, "gender", p.gender), None, True) for p in people]
    truth = compute_closure(structure + [r.fact for r in genders], rules).facts
    by_relation: dict[str, list[Fact]] = {}
    for fact in sorted(truth):
        if fact.relation != "gender":
            by_relation.setdefault(fact.relation, []).append(fact)
    stated: list[Fact] = []
    for relation in sorted(by_relation):
        facts = by_relation[relation]
        if relation in params.base_relations:
            stated += facts
        else:
            stated += sorted(rng.sample(facts, round(params.stated_fraction * len(facts))))
    if params.attributes:
        rng = random.Random(f"attributes-{params.seed}")
        for person in people:
            year = 1900 + 25 * person.generation + rng.randint(-4, 4)
            stated.append(Fact(person.name, "birth_year", str(year)))
            stated.append(Fact(person.name, "birth_city", rng.choice(CITIES)))
            stated.append(Fact(person.name, "job", rng.choice(JOBS)))
    records = [FactRecord(f, i) for i, f in enumerate(stated)] + genders
    entity_types = {p.name: "person" for p in people}
    entity_types.update({g: "gender" for g in ("female", "male")})
    for fact in stated:
        if fact.relation in ATTRIBUTE_RELATIONS:
            entity_types[fact.object] = fact.relation
    world = World(
        tuple(records),
        rules,
        entity_types,
        {
            "name": f"family-{params.people}-s{params.seed}",
            "generator": "family",
            "params": params.model_dump(mode="json"),
        },
    )
    missing = truth - world.closure()
    if missing:
        relations = sorted({f.relation for f in missing})
        raise UserError(
            f"base_relations {list(params.base_relations)} do not determine the family: "
            f"{len(missing)} facts of {', '.join(relations)} are neither stated nor derivable; "
            "include mother or child, father or child, and husband or wife"
        )
    return world
