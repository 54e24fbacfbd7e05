"""Training corpora rendered from a world and its splits.

A corpus is a list of short documents, each rendering one or more facts: statements in
the training phrasings, question-and-answer pairs, and chain-of-thought traces of
stated facts that follow from others ("Q: ... Reason: premise. premise. So the ... is X.").
Held-out phrasings are never rendered for training; held-out composites are never
rendered at all. The oracle's corpus is the same recipe minus every document that
mentions a forget target; the deep oracle's also drops a deep-unlearning set.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from unlearnlab.corpus.splits import Splits
from unlearnlab.corpus.templates import (
    CANONICAL,
    CONVERSE_TEMPLATE,
    RelationText,
    relation_texts,
    render,
)
from unlearnlab.worlds.deduction import DerivationTree
from unlearnlab.worlds.kg import Fact, World

Kind = Literal["statement", "question", "cot"]
COT_PROMPT = "Q: Who is the {noun} of {given}? Reason:"
COT_ATTRIBUTE_PROMPT = "Q: What is the {noun} of {given}? Reason:"
COT_CONCLUSION = "So the {noun} of {given} is"


class CorpusConfig(BaseModel):
    """Which facts appear in which forms."""

    model_config = ConfigDict(extra="forbid")

    statements: bool = Field(True, description="every stated fact in each training phrasing")
    questions: bool = Field(True, description="a question-and-answer pair per stated fact")
    background: bool = Field(True, description="render background facts (genders) too")
    cot: Literal["none", "stated", "derived"] = Field(
        "derived",
        description="chain-of-thought traces: none; for stated facts that others imply; or "
        "for every derived fact of the cot relations except the held-out composites",
    )
    cot_repeats: int = Field(1, ge=1, le=20, description="copies of each trace in the corpus")
    cot_relations: tuple[str, ...] | None = Field(
        None, description="relations that get traces; default: the splits' target relations"
    )


@dataclass(frozen=True)
class Document:
    """One training document and the facts it mentions."""

    text: str
    kind: Kind
    facts: tuple[Fact, ...]


def cot_prompt(fact: Fact, text: RelationText) -> str:
    """The question that asks for a chain of thought about ``fact``."""
    template = COT_PROMPT if text.asks_subject else COT_ATTRIBUTE_PROMPT
    return template.format(noun=text.noun, given=text.given(fact))


def cot_conclusion_prefix(fact: Fact, text: RelationText) -> str:
    """The start of a trace's last sentence, which the answer completes."""
    return COT_CONCLUSION.format(noun=text.noun, given=text.given(fact))


def cot_steps(
    tree: DerivationTree, texts: dict[str, RelationText], background: frozenset[Fact]
) -> list[str]:
    """The premises of a derivation as sentences, ordered so that each names an entity
    already mentioned first (walking from the question's entity to the answer)."""
    steps: list[Fact] = []

    def visit(node: DerivationTree) -> None:
        for premise in node.premises:
            visit(premise)
        if node is not tree and node.fact not in background and node.fact not in steps:
            steps.append(node.fact)

    visit(tree)
    known = {texts[tree.fact.relation].given(tree.fact)}
    sentences = []
    while steps:
        fact = next((f for f in steps if f.subject in known or f.object in known), steps[0])
        steps.remove(fact)
        text = texts[fact.relation]
        given = text.given(fact)
        template = CANONICAL
        if text.asks_subject and given not in known and fact.subject in known:
            template = CONVERSE_TEMPLATE
        sentences.append(render(fact, text, template).text)
        known |= {fact.subject, fact.object}
    return sentences


def cot_trace(world: World, fact: Fact, texts: dict[str, RelationText]) -> Document | None:
    """The chain-of-thought document of a stated fact, derived without the fact itself;
    None if the other facts do not imply it."""
    tree = world.derivation(fact, without=[fact]) if world.record(fact) else world.derivation(fact)
    if tree is None or tree.rule is None:
        return None
    text = texts[fact.relation]
    steps = cot_steps(tree, texts, world.background_facts)
    conclusion = f"{cot_conclusion_prefix(fact, text)} {text.answer(fact)}."
    body = " ".join([cot_prompt(fact, text), *steps, conclusion])
    mentioned = tuple(sorted((tree.leaves() | _internal(tree)) - world.background_facts))
    return Document(body, "cot", mentioned)


def _internal(tree: DerivationTree) -> set[Fact]:
    found = {tree.fact}
    for premise in tree.premises:
        if premise.rule is not None:
            found |= _internal(premise)
    return found


def build_corpus(
    world: World, splits: Splits, config: CorpusConfig, *, remove: Iterable[Fact] = ()
) -> list[Document]:
    """Render the training corpus, without any document that mentions a fact of
    ``remove`` (the forget targets, for the oracle) or a held-out composite; the order is
    deterministic."""
    texts = relation_texts(world)
    stated = list(world.base_facts)
    if config.background:
        stated += sorted(world.background_facts)
    documents: list[Document] = []
    for fact in stated:
        text = texts[fact.relation]
        if config.statements:
            for template in text.training_phrasings():
                documents.append(Document(render(fact, text, template).text, "statement", (fact,)))
        if config.questions:
            documents.append(
                Document(render(fact, text, text.question()).text, "question", (fact,))
            )
    if config.cot != "none":
        relations = set(
            config.cot_relations or {f.relation for f in splits.forget + splits.heldout}
        )
        traced = [f for f in world.base_facts if f.relation in relations]
        if config.cot == "derived":
            traced += [f for f in world.derived_facts if f.relation in relations]
        for fact in traced:
            trace = cot_trace(world, fact, texts)
            if trace is not None:
                documents += [trace] * config.cot_repeats
    hidden = set(splits.heldout) | set(remove)
    return [d for d in documents if not hidden & set(d.facts)]
