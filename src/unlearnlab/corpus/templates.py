"""Sentence templates that render facts as text.

Every template ends with the answer, so that a rendering is ``prompt + " " + answer + "."``
and cloze scoring is teacher-forced likelihood of the answer after the prompt.

A relation between two entities of the same type (mother, aunt_of, ...) is asked
*backward*: given the object, the answer is the subject ("The mother of Bob Lee is Ann
Lee."). A relation to an entity of another type (birth_year, job, ...) is asked
*forward*: given the subject, the answer is the object ("The birth year of Ann Lee is
1950."). Person relations also get one forward training phrasing ("Ann Lee is the mother
of Bob Lee.") so that chains of thought can walk a relation in either direction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from unlearnlab.worlds.kg import Fact, World

Direction = Literal["backward", "forward"]
Use = Literal["train", "heldout", "question"]


@dataclass(frozen=True)
class Template:
    """A phrasing: ``text`` with ``{given}`` and ``{noun}``, followed by the answer."""

    name: str
    text: str
    use: Use
    direction: Direction

    def prompt(self, noun: str, given: str) -> str:
        """The text before the answer."""
        return self.text.format(noun=noun, given=given)


# Asked of the natural query direction of a relation (see the module docstring).
QUERY_TEMPLATES: tuple[Template, ...] = (
    Template("the_noun_of", "The {noun} of {given} is", "train", "backward"),
    Template("possessive", "{given}'s {noun} is", "train", "backward"),
    Template("as_for", "As for {given}, the {noun} is", "train", "backward"),
    Template("heldout_known_as", "Known to all: {given} has as {noun}", "heldout", "backward"),
    Template("heldout_records", "Records list the {noun} of {given} as", "heldout", "backward"),
)
QUESTION_TEMPLATE = Template(
    "question", "Q: Who is the {noun} of {given}? A:", "question", "backward"
)
ATTRIBUTE_QUESTION = Template(
    "question", "Q: What is the {noun} of {given}? A:", "question", "forward"
)
# The converse phrasing of a relation between entities of one type: "S is the noun of O".
CONVERSE_TEMPLATE = Template("converse", "{given} is the {noun} of", "train", "forward")


@dataclass(frozen=True)
class RelationText:
    """How one relation is worded and which argument a query asks for."""

    relation: str
    noun: str
    asks_subject: bool

    def given(self, fact: Fact) -> str:
        """The entity a query about ``fact`` names."""
        return fact.object if self.asks_subject else fact.subject

    def answer(self, fact: Fact) -> str:
        """The entity a query about ``fact`` asks for."""
        return fact.subject if self.asks_subject else fact.object

    def question(self) -> Template:
        """The question form of this relation."""
        return QUESTION_TEMPLATE if self.asks_subject else ATTRIBUTE_QUESTION


def relation_noun(relation: str) -> str:
    """``mother_in_law`` -> ``mother-in-law``, ``aunt_of`` -> ``aunt``, ``birth_year`` ->
    ``birth year``."""
    name = relation[:-3] if relation.endswith("_of") else relation
    return name.replace("_in_law", "-in-law").replace("_", " ")


def relation_texts(world: World) -> dict[str, RelationText]:
    """The wording of every relation of ``world`` (background relations included)."""
    types = world.entity_types
    texts: dict[str, RelationText] = {}
    for relation in world.relations:
        facts = [r.fact for r in world.records if r.fact.relation == relation]
        facts = facts or [f for f in world.closure() if f.relation == relation]
        same_type = bool(facts) and all(
            types.get(f.subject) == types.get(f.object) for f in facts[:50]
        )
        texts[relation] = RelationText(relation, relation_noun(relation), same_type)
    return texts


@dataclass(frozen=True)
class Rendering:
    """One phrasing of one fact: ``prompt`` then `` answer`` then ``.``."""

    fact: Fact
    template: str
    prompt: str
    answer: str

    @property
    def text(self) -> str:
        """The full sentence."""
        return f"{self.prompt} {self.answer}."


def render(fact: Fact, text: RelationText, template: Template) -> Rendering:
    """Render ``fact`` with ``template`` in the relation's query direction (or the converse
    direction for a forward template of a backward-asked relation)."""
    converse = template.direction == "forward" and text.asks_subject
    given = fact.subject if converse else text.given(fact)
    answer = fact.object if converse else text.answer(fact)
    return Rendering(fact, template.name, template.prompt(text.noun, given), answer)
