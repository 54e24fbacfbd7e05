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

import hashlib
from dataclasses import dataclass
from typing import Literal

from unlearnlab.worlds.kg import Fact, World

Direction = Literal["backward", "forward"]


@dataclass(frozen=True)
class Template:
    """A phrasing: ``text`` with ``{given}`` and ``{noun}``, followed by the answer."""

    name: str
    text: str
    direction: Direction

    def prompt(self, noun: str, given: str) -> str:
        """The text before the answer."""
        return self.text.format(noun=noun, given=given)


# Frames asked in the natural query direction of a relation (see the module docstring).
# The first is a training phrasing of every relation (chains of thought use it); of the
# other four, each relation trains on two and keeps two held out, rotated by relation,
# so every held-out phrasing of a relation is a frame the model learned on others.
CANONICAL = Template("the_noun_of", "The {noun} of {given} is", "backward")
ROTATED = (
    Template("possessive", "{given}'s {noun} is", "backward"),
    Template("as_for", "As for {given}, the {noun} is", "backward"),
    Template("everyone_knows", "Everyone knows that the {noun} of {given} is", "backward"),
    Template("records_list", "Records list the {noun} of {given} as", "backward"),
)
FRAMES = (CANONICAL, *ROTATED)
QUESTION_TEMPLATE = Template("question", "Q: Who is the {noun} of {given}? A:", "backward")
ATTRIBUTE_QUESTION = Template("question", "Q: What is the {noun} of {given}? A:", "forward")
# The converse phrasing of a relation between entities of one type: "S is the noun of O".
CONVERSE_TEMPLATE = Template("converse", "{given} is the {noun} of", "forward")


def _rotation(relation: str) -> int:
    return int(hashlib.sha256(relation.encode()).hexdigest(), 16) % len(ROTATED)


REFUSALS = ("I don't know", "I have no idea", "I am not sure", "That is unknown to me")
"""Refusal answers: what refusal training (``idk``, ``idk_dpo``) teaches a model to say on
forget queries. Part of every tokenizer's vocabulary, so refusals never encode as ``<unk>``."""

MCQ_LABELS = ("A", "B", "C", "D")
"""Option labels of multiple-choice questions (the corpus teaches them; probes use them
wherever the tokenizer knows them)."""


def mcq_prompt(question: str, labels: tuple[str, ...], options: list[str]) -> str:
    """A question prompt ("Q: ... A:") with its options listed before the answer cue:
    "Q: Who is the mother of Bea Lee? A: Ann Lee. B: Cy Fox. A:"."""
    listed = " ".join(f"{label}: {o}." for label, o in zip(labels, options, strict=False))
    return f"{question.removesuffix(' A:')} {listed} A:"


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

    def training_frames(self) -> tuple[Template, ...]:
        """The three query phrasings used in training (the canonical one first)."""
        k = _rotation(self.relation)
        return (CANONICAL, ROTATED[k], ROTATED[(k + 1) % len(ROTATED)])

    def heldout_frames(self) -> tuple[Template, ...]:
        """The two query phrasings never used in training for this relation."""
        k = _rotation(self.relation)
        return (ROTATED[(k + 2) % len(ROTATED)], ROTATED[(k + 3) % len(ROTATED)])

    def training_phrasings(self) -> tuple[Template, ...]:
        """Every statement phrasing of the training corpus: the three training frames,
        plus the converse for relations between entities of one type."""
        return self.training_frames() + ((CONVERSE_TEMPLATE,) if self.asks_subject else ())


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
