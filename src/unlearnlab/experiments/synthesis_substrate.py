"""The training substrate of a synthesis world: splits by route, and the three corpora of
the dual-use question.

Splits (the family world's :func:`~unlearnlab.corpus.splits.make_splits` does not apply:
a synthesis step fact is never derivable from others):

- ``forget``: every step fact of every harmful route, shared steps included ("harmful
  synthesis", what an unlearning request names);
- ``retain``: the step facts of benign-only steps;
- ``unrelated``: hazard tags, states and colours;
- premises, neighbours and held-out composites are empty.

Corpora: every stated fact in the usual statements and questions, plus the training trace
of every route (``corpus.cot_repeats`` copies; none with ``corpus.cot: none``). The
**oracle** never saw a harmful route: no harmful trace, and no document about a step
exclusive to harmful routes, but every shared step (as benign data), as data filtering
would leave it. The **deep oracle** saw no step of any harmful route, so benign traces
that pass through a shared step are gone too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from unlearnlab.corpus.corpus import Document, build_corpus
from unlearnlab.corpus.routes import Route, route_document, routes_of, step_classes
from unlearnlab.corpus.splits import Splits
from unlearnlab.corpus.templates import relation_texts
from unlearnlab.errors import UserError
from unlearnlab.models.store import cache_key
from unlearnlab.substrate.build import Role, Substrate, world_from_config
from unlearnlab.substrate.config import ExperimentConfig
from unlearnlab.worlds.kg import Fact, World


def synthesis_splits(world: World) -> Splits:
    """The splits of a synthesis world (see the module docstring)."""
    routes = routes_of(world)
    if not routes:
        raise UserError(
            f"world {world.metadata.get('name', '?')!r} records no synthesis routes; the dual-use "
            "experiment needs world.generator: synthesis"
        )
    classes = step_classes(routes)
    harmful = dict.fromkeys(f for r in routes if r.hazard == "harmful" for f in r.facts())
    benign_only = {
        f
        for r in routes
        for step in r.steps
        if classes[step.product] == "benign_exclusive"
        for f in step.facts()
    }
    retain = [f for f in world.base_facts if f in benign_only]
    unrelated = [f for f in world.base_facts if f not in harmful and f not in benign_only]
    return Splits(tuple(harmful), (), (), tuple(retain), tuple(unrelated), ())


def harmful_facts(routes: tuple[Route, ...], *, exclusive: bool) -> set[Fact]:
    """Step facts of harmful routes: all of them, or only those of harmful-only steps."""
    classes = step_classes(routes)
    return {
        f
        for r in routes
        if r.hazard == "harmful"
        for step in r.steps
        if not exclusive or classes[step.product] == "harmful_exclusive"
        for f in step.facts()
    }


@dataclass(frozen=True)
class SynthesisSubstrate(Substrate):
    """A :class:`Substrate` whose model keys hash each role's documents instead of naming
    the role (the oracle recipes here are not a function of the splits alone), so roles
    trained on identical documents (oracle and deep oracle at overlap 0) share a model."""

    def key(self, role: Role) -> str:
        """The cache key of the ``role`` model."""
        text = "\n".join(d.text for d in self.documents(role))
        return cache_key(
            substrate=super().key("base"), documents=hashlib.sha256(text.encode()).hexdigest()
        )


def build_synthesis_substrate(config: ExperimentConfig) -> SynthesisSubstrate:
    """Generate the synthesis world, split it and render the three corpora."""
    world = world_from_config(config.world)
    splits = synthesis_splits(world)
    routes = routes_of(world)
    statements = build_corpus(world, splits, config.corpus.model_copy(update={"cot": "none"}))
    repeats = 0 if config.corpus.cot == "none" else config.corpus.cot_repeats
    texts = relation_texts(world)
    traces = {r.product: [route_document(r, texts)] * repeats for r in routes}
    every = harmful_facts(routes, exclusive=False)
    exclusive = harmful_facts(routes, exclusive=True)

    def corpus(removed: set[Fact]) -> tuple[Document, ...]:
        kept = [d for d in statements if not removed & set(d.facts)]
        for route in routes:
            if route.hazard == "benign" and not removed & set(route.facts()):
                kept += traces[route.product]
        return tuple(kept)

    base = tuple(statements) + tuple(d for r in routes for d in traces[r.product])
    return SynthesisSubstrate(
        config, world, splits, base, corpus(exclusive), tuple(sorted(every)), corpus(every)
    )
