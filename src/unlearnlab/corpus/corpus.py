"""Training corpora rendered from a world and its splits.

A corpus is a list of short documents, each rendering one or more facts: statements in
the training phrasings, question-and-answer pairs, and chain-of-thought traces of
stated facts that follow from others ("Q: ... Reason: premise. premise. So the ... is X."),
and multiple-choice questions (answered by option letter and by option text) on derived
facts outside every probed split, so that the format itself is known before unlearning.
Held-out phrasings are never rendered for training; held-out composites and holdout facts
are never rendered at all (every corpus leaves the holdout out as if removed: traces that
used a holdout fact are re-derived without it).

A reference corpus (the oracle's, the deep oracle's) is the same recipe minus every
document that mentions a removed fact (:func:`dropped_documents`), matched to the base
corpus in reasoning practice: the trace of another fact whose derivation used a removed
fact is re-derived without it, and each trace that cannot be is replaced by another fact's
trace (its copies repeated once more), so every corpus holds as many traces as the base.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from unlearnlab.corpus.splits import Splits
from unlearnlab.corpus.templates import (
    CANONICAL,
    CONVERSE_TEMPLATE,
    MCQ_LABELS,
    RelationText,
    Template,
    mcq_prompt,
    relation_texts,
    render,
)
from unlearnlab.worlds.closure import DerivationTree
from unlearnlab.worlds.kg import Fact, World

Kind = Literal["statement", "question", "cot", "mcq"]
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
    mcq: int = Field(
        0,
        ge=0,
        description="derived facts taught as multiple-choice questions (by letter and by "
        "text): not held out, derived without any forget target or premise",
    )
    mcq_draws: int = Field(
        4,
        ge=1,
        le=64,
        description="option draws per MCQ fact; draw i puts the answer under label i mod 4",
    )


@dataclass(frozen=True)
class Document:
    """One training document and the facts it mentions; ``text`` starts with ``prompt``
    (the question or sentence start that the rest of the document answers)."""

    text: str
    kind: Kind
    facts: tuple[Fact, ...]
    prompt: str

    @property
    def completion(self) -> str:
        """The text after the prompt."""
        return self.text.removeprefix(self.prompt).lstrip()


def _rendered(fact: Fact, text: RelationText, template: Template, kind: Kind) -> Document:
    rendering = render(fact, text, template)
    return Document(rendering.text, kind, (fact,), rendering.prompt)


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


def cot_trace(
    world: World, fact: Fact, texts: dict[str, RelationText], without: Iterable[Fact] = ()
) -> Document | None:
    """The chain-of-thought document of ``fact``, derived without the fact itself (when
    stated) and without the stated facts ``without``; None if the rest does not imply it."""
    removed = set(without) | ({fact} if world.record(fact) else set())
    tree = world.derivation(fact, without=removed)
    if tree is None or tree.rule is None:
        return None
    text = texts[fact.relation]
    steps = cot_steps(tree, texts, world.background_facts)
    conclusion = f"{cot_conclusion_prefix(fact, text)} {text.answer(fact)}."
    prompt = cot_prompt(fact, text)
    body = " ".join([prompt, *steps, conclusion])
    mentioned = tuple(sorted((tree.leaves() | _internal(tree)) - world.background_facts))
    return Document(body, "cot", mentioned, prompt)


def _internal(tree: DerivationTree) -> set[Fact]:
    found = {tree.fact}
    for premise in tree.premises:
        if premise.rule is not None:
            found |= _internal(premise)
    return found


def dropped_documents(
    documents: Iterable[Document], removed: Iterable[Fact]
) -> tuple[Document, ...]:
    """The distinct documents that mention a fact of ``removed``, in order: what a
    reference corpus without ``removed`` leaves out."""
    hidden = set(removed)
    return tuple(dict.fromkeys(d for d in documents if hidden & set(d.facts)))


def mcq_facts(world: World, splits: Splits, count: int) -> list[Fact]:
    """Up to ``count`` derived facts that no split holds and no probe asks directly: not
    held out, and derived without any forget target or premise (so neither they nor the
    oracle's copy of them tell anything about the targets); their answers are in the
    chain-of-thought traces already. A fixed sample, sorted."""
    probed = set(splits.forget) | set(splits.premises) | set(splits.holdout)
    heldout = set(splits.heldout)
    pool = []
    for fact in sorted(world.derived_facts):
        tree = world.derivation(fact)
        if fact not in heldout and tree is not None and not tree.leaves() & probed:
            pool.append(fact)
    return sorted(random.Random("unlearnlab-mcq").sample(pool, min(count, len(pool))))


def answer_sets(
    world: World, texts: dict[str, RelationText]
) -> dict[tuple[str, str], frozenset[str]]:
    """Every correct answer of each query (relation, given entity) over the closure."""
    answers: dict[tuple[str, str], set[str]] = defaultdict(set)
    for fact in world.closure():
        text = texts[fact.relation]
        answers[(fact.relation, text.given(fact))].add(text.answer(fact))
    return {k: frozenset(v) for k, v in answers.items()}


def entities_by_type(world: World) -> dict[str, tuple[str, ...]]:
    """The entities of each type, sorted."""
    by_type: dict[str, list[str]] = defaultdict(list)
    for entity, kind in sorted(world.entity_types.items()):
        by_type[kind].append(entity)
    return {k: tuple(v) for k, v in by_type.items()}


def mcq_documents(world: World, facts: Iterable[Fact], draws: int) -> list[Document]:
    """``2 * draws`` documents per fact: its question with four options (the answer and
    three entities of its type that are not correct answers, drawn per fact and draw), the
    answer under label ``i mod 4`` in draw ``i``, each answered by the option's letter and
    by its text."""
    texts = relation_texts(world)
    answers = answer_sets(world, texts)
    by_type = entities_by_type(world)
    documents = []
    for fact in facts:
        text = texts[fact.relation]
        question = render(fact, text, text.question())
        valid = answers[(fact.relation, text.given(fact))]
        pool = [e for e in by_type[world.entity_types[question.answer]] if e not in valid]
        rng = random.Random(f"mcq:{fact}")
        for draw in range(draws):
            options = rng.sample(pool, min(len(MCQ_LABELS) - 1, len(pool)))
            options.insert(min(draw % len(MCQ_LABELS), len(options)), question.answer)
            prompt = mcq_prompt(question.prompt, MCQ_LABELS, options)
            label = MCQ_LABELS[options.index(question.answer)]
            for answer in (label, question.answer):
                documents.append(Document(f"{prompt} {answer}.", "mcq", (fact,), prompt))
    return documents


def build_corpus(
    world: World, splits: Splits, config: CorpusConfig, *, remove: Iterable[Fact] = ()
) -> list[Document]:
    """Render the training corpus, without any document that mentions a fact of
    ``remove`` (the forget targets, for the oracle), a holdout fact or a held-out
    composite, with as many traces as without ``remove`` (see the module docstring); the
    order is deterministic."""
    texts = relation_texts(world)
    removed = set(remove) | set(splits.holdout)
    hidden = set(splits.heldout) | removed
    stated = list(world.base_facts)
    if config.background:
        stated += sorted(world.background_facts)
    documents: list[Document] = []
    for fact in stated:
        text = texts[fact.relation]
        if config.statements:
            documents += [_rendered(fact, text, t, "statement") for t in text.training_phrasings()]
        if config.questions:
            documents.append(_rendered(fact, text, text.question(), "question"))
    if config.mcq:
        documents += mcq_documents(world, mcq_facts(world, splits, config.mcq), config.mcq_draws)
    kept = [d for d in documents if not hidden & set(d.facts)]
    return kept + _traces(world, splits, config, texts, removed)


def _traces(
    world: World,
    splits: Splits,
    config: CorpusConfig,
    texts: dict[str, RelationText],
    removed: set[Fact],
) -> list[Document]:
    """The chain-of-thought documents of a corpus without ``removed`` (see the module
    docstring), ``config.cot_repeats`` copies each, topped up to the base corpus's count."""
    if config.cot == "none":
        return []
    relations = set(config.cot_relations or {f.relation for f in splits.forget + splits.heldout})
    traced = [f for f in world.base_facts if f.relation in relations]
    if config.cot == "derived":
        traced += [f for f in world.derived_facts if f.relation in relations]
    heldout = set(splits.heldout)
    base_count, traces = 0, []
    for fact in traced:
        trace = cot_trace(world, fact, texts)
        if trace is None or heldout & set(trace.facts):
            continue
        base_count += 1
        if removed & set(trace.facts) and fact not in removed:
            trace = cot_trace(world, fact, texts, without=removed)
        if trace is not None and not (heldout | removed) & set(trace.facts):
            traces.append(trace)
    extra = sorted(traces, key=lambda d: hashlib.sha256(d.text.encode()).hexdigest())
    traces += extra[: base_count - len(traces)]
    return [d for d in traces for _ in range(config.cot_repeats)]
