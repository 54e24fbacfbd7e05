"""In-context controls: the copy-the-last-name baseline, counterfactual premises and
another item's premises, on hand-written text and on a family world's forget targets."""

from __future__ import annotations

import pytest

from unlearnlab.corpus.splits import SplitConfig, make_splits
from unlearnlab.probes.controls import (
    copy_rows,
    counterfactual_queries,
    last_named,
    other_premise_queries,
)
from unlearnlab.probes.knowledge import QueryIndex
from unlearnlab.probes.recall import Query
from unlearnlab.probes.rederivation import in_context_queries
from unlearnlab.worlds import FamilyParams, World, generate_family


def test_last_named_is_the_latest_whole_name() -> None:
    names = ("Al Li", "Al Lin", "Bo Li", "Cy Li")
    assert last_named("The mother of Bo Li is Al Li. Al Li is the sister of Cy Li.", names) == (
        "Cy Li"
    )
    # A near miss: "Al Li" inside "Al Lin" is not a mention of Al Li.
    assert last_named("Bo Li met Al Lin.", names) == "Al Lin"
    assert last_named("Bo Li met Al Lin.", ("Al Li", "Bo Li")) == "Bo Li"
    assert last_named("Nobody here.", names) is None


@pytest.fixture(scope="module")
def contexts() -> tuple[World, QueryIndex, list[Query]]:
    world = generate_family(FamilyParams(people=80, seed=2))
    splits = make_splits(world, SplitConfig(forget=8, heldout=5, seed=1))
    index = QueryIndex.build(world)
    return world, index, in_context_queries(world, splits.forget, index)


def test_counterfactual_premises_change_what_a_copier_answers(contexts) -> None:
    _, index, queries = contexts
    copied = copy_rows(queries, index, "forget")
    assert [r.item for r in copied] == [str(q.fact) for q in queries]
    assert sum(r.correct for r in copied) >= len(queries) // 2  # the answer is often last
    counterfactual = counterfactual_queries(queries, seed=0)
    assert len(counterfactual) == len(queries)
    for original, changed in zip(queries, counterfactual, strict=True):
        assert changed.answer == original.answer and changed.prompt != original.prompt
        assert original.answer not in changed.prompt
    # A copier that was right on the original premises is wrong on the counterfactual ones.
    assert not any(r.correct for r in copy_rows(counterfactual, index, "forget"))
    assert counterfactual_queries(queries, seed=0) == counterfactual


def test_other_premises_keep_the_question_and_drop_the_answer(contexts) -> None:
    _, index, queries = contexts
    others = other_premise_queries(queries, index)
    assert len(others) == len(queries)
    for q, o, nxt in zip(queries, others, [*queries[1:], queries[0]], strict=True):
        question = q.prompt.split(" Reason: ")[0]
        assert o.prompt.startswith(f"{question} Reason: ")
        assert o.prompt.endswith(q.prompt.rsplit(". ", 1)[-1])
        assert nxt.prompt.split(" Reason: ")[1].rsplit(" So the ", 1)[0] in o.prompt
        assert q.answer not in o.prompt  # independent targets share no person
    assert other_premise_queries(queries[:1], index) == []
