"""Synthesis routes as text: the chain-of-thought trace of a full route.

A world made by the synthesis generator records its routes in ``metadata["routes"]``
(product -> hazard and the products of its steps, first step first). A step makes one
product from its main reagent and co-reagent under a condition: the facts
``main_reagent(A, P)``, ``co_reagent(B, P)`` and ``condition(P, C)``.

The trace of a route walks back from the product, three sentences per step, each ending
with the answer a query about the step asks for::

    Q: How is Velium made? Route: The main reagent of Velium is Dalol. The co reagent of
    Velium is Borine. The condition of Velium is heat. The main reagent of Dalol is ...

Each sentence is the fact in one frame of its relation (:mod:`unlearnlab.corpus.templates`):
the canonical frame in the training trace; in the held-out trace, the first held-out frame
of each relation (never used in training for that relation, learned on others). Worlds
without routes render no traces, so other worlds' corpora are unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from unlearnlab.corpus.corpus import Document
from unlearnlab.corpus.templates import CANONICAL, RelationText, Template, relation_texts, render
from unlearnlab.worlds.kg import Fact, World

ROUTE_PROMPT = "Q: How is {product} made? Route:"
STEP_RELATIONS = ("main_reagent", "co_reagent", "condition")
"""The three facts of a step, in the order a trace states them."""
Phrasing = Literal["train", "heldout"]
PHRASINGS: tuple[Phrasing, ...] = ("train", "heldout")


@dataclass(frozen=True)
class Step:
    """One reaction: ``main`` + ``co`` under ``condition`` gives ``product``."""

    product: str
    main: str
    co: str
    condition: str

    def facts(self) -> tuple[Fact, Fact, Fact]:
        """The step's facts, in :data:`STEP_RELATIONS` order."""
        return (
            Fact(self.main, "main_reagent", self.product),
            Fact(self.co, "co_reagent", self.product),
            Fact(self.product, "condition", self.condition),
        )


@dataclass(frozen=True)
class Route:
    """A product's route: its hazard class and its steps, first step first."""

    product: str
    hazard: str
    steps: tuple[Step, ...]

    def facts(self) -> tuple[Fact, ...]:
        """Every step fact of the route, first step first."""
        return tuple(f for step in self.steps for f in step.facts())

    def backward(self) -> tuple[Step, ...]:
        """The steps in trace order: the product's own step first."""
        return tuple(reversed(self.steps))


def routes_of(world: World) -> tuple[Route, ...]:
    """The routes a world records (none for worlds without ``metadata["routes"]``),
    ordered by product."""
    recorded = world.metadata.get("routes") or {}
    if not recorded:
        return ()
    made: dict[tuple[str, str], str] = {}
    for fact in world.base_facts:
        if fact.relation in ("main_reagent", "co_reagent"):
            made[(fact.relation, fact.object)] = fact.subject
        elif fact.relation == "condition":
            made[("condition", fact.subject)] = fact.object
    routes = []
    for product in sorted(recorded):
        info = recorded[product]
        steps = tuple(
            Step(p, made[("main_reagent", p)], made[("co_reagent", p)], made[("condition", p)])
            for p in info["steps"]
        )
        routes.append(Route(product, info["hazard"], steps))
    return tuple(routes)


def step_frames(texts: dict[str, RelationText], phrasing: Phrasing) -> dict[str, Template]:
    """The frame each step relation is written in for ``phrasing``."""
    if phrasing == "train":
        return {r: CANONICAL for r in STEP_RELATIONS}
    return {r: texts[r].heldout_frames()[0] for r in STEP_RELATIONS}


@dataclass(frozen=True)
class Slot:
    """One answer of a trace: the text before it (the route prompt and every earlier
    sentence, teacher-forced) and the true answer."""

    fact: Fact
    step: int
    """Index of the slot's step on the route (0 = the first step made)."""
    prefix: str
    answer: str


def trace_slots(route: Route, texts: dict[str, RelationText], phrasing: Phrasing) -> list[Slot]:
    """The answers of ``route``'s trace in ``phrasing``, in trace order."""
    frames = step_frames(texts, phrasing)
    written = ROUTE_PROMPT.format(product=route.product)
    slots = []
    for index, step in zip(range(len(route.steps) - 1, -1, -1), route.backward(), strict=True):
        for fact in step.facts():
            rendering = render(fact, texts[fact.relation], frames[fact.relation])
            slots.append(Slot(fact, index, f"{written} {rendering.prompt}", rendering.answer))
            written = f"{written} {rendering.text}"
    return slots


def trace_text(route: Route, texts: dict[str, RelationText], phrasing: Phrasing) -> str:
    """The whole trace of ``route`` in ``phrasing``: prompt and every sentence."""
    last = trace_slots(route, texts, phrasing)[-1]
    return f"{last.prefix} {last.answer}."


def route_document(route: Route, texts: dict[str, RelationText]) -> Document:
    """The training trace of ``route``; it mentions every step fact of the route."""
    prompt = ROUTE_PROMPT.format(product=route.product)
    return Document(trace_text(route, texts, "train"), "cot", route.facts(), prompt)


def route_pairs(
    world: World, forget: Iterable[Fact]
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(forget rows, retain rows)`` of route traces for unlearning ``forget``: the
    (route prompt, rest of the trace) of every route whose steps are all forgotten, and of
    every route none of whose steps is; routes partly forgotten are in neither."""
    texts = relation_texts(world)
    removed = set(forget)
    forgotten: list[tuple[str, str]] = []
    kept: list[tuple[str, str]] = []
    for route in routes_of(world):
        facts = set(route.facts())
        if not facts <= removed and facts & removed:
            continue
        prompt = ROUTE_PROMPT.format(product=route.product)
        rest = trace_text(route, texts, "train").removeprefix(prompt).strip()
        (forgotten if facts <= removed else kept).append((prompt, rest))
    return forgotten, kept


StepClass = Literal["shared", "harmful_exclusive", "benign_exclusive"]
STEP_CLASSES: tuple[StepClass, ...] = ("shared", "harmful_exclusive", "benign_exclusive")


def step_classes(routes: Sequence[Route]) -> dict[str, StepClass]:
    """Each step (by its product) as shared (on a harmful and a benign route) or exclusive
    to one side."""
    sides: dict[str, set[str]] = {}
    for route in routes:
        for step in route.steps:
            sides.setdefault(step.product, set()).add(route.hazard)
    classes: dict[str, StepClass] = {}
    for product, hazards in sides.items():
        if len(hazards) > 1:
            classes[product] = "shared"
        else:
            classes[product] = "harmful_exclusive" if "harmful" in hazards else "benign_exclusive"
    return classes
