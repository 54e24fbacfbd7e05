"""Splits, templates and corpus rendering."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from unlearnlab.attacks.base import kfold
from unlearnlab.corpus.corpus import CorpusConfig, build_corpus, cot_trace, mcq_facts
from unlearnlab.corpus.splits import SplitConfig, Splits, make_splits
from unlearnlab.corpus.templates import (
    CANONICAL,
    CONVERSE_TEMPLATE,
    FRAMES,
    MCQ_LABELS,
    relation_noun,
    relation_texts,
    render,
)
from unlearnlab.errors import UserError
from unlearnlab.probes.knowledge import QueryIndex
from unlearnlab.probes.recall import mcq_queries
from unlearnlab.worlds import Fact, FactRecord, FamilyParams, World, generate_family, parse_rules


@pytest.fixture(scope="module")
def world() -> World:
    return generate_family(FamilyParams(people=80, seed=2))


@pytest.fixture(scope="module")
def splits(world: World) -> Splits:
    return make_splits(world, SplitConfig(forget=10, heldout=40, seed=1))


def _tiny_world() -> World:
    rules = parse_rules(
        "grandmother(X, Z) :- mother(X, Y), mother(Y, Z).\n"
        'mother(X, Y) :- child(Y, X), gender(X, "female").\n'
    )
    facts = [
        Fact("Ann Lee", "mother", "Bea Lee"),
        Fact("Bea Lee", "mother", "Cal Lee"),
        Fact("Ann Lee", "grandmother", "Cal Lee"),
        Fact("Cal Lee", "birth_year", "1990"),
    ]
    records = [FactRecord(f, i) for i, f in enumerate(facts)]
    records += [FactRecord(Fact(p, "gender", "female"), None, True) for p in ("Ann Lee", "Bea Lee")]
    types = {
        "Ann Lee": "person",
        "Bea Lee": "person",
        "Cal Lee": "person",
        "1990": "year",
        "female": "gender",
    }
    return World(tuple(records), rules, types)


def test_relation_nouns() -> None:
    assert relation_noun("mother_in_law") == "mother-in-law"
    assert relation_noun("aunt_of") == "aunt"
    assert relation_noun("birth_year") == "birth year"


def test_renderings_are_exact_and_end_with_the_answer() -> None:
    world = _tiny_world()
    texts = relation_texts(world)
    fact = Fact("Ann Lee", "mother", "Bea Lee")
    rendered = [render(fact, texts["mother"], t).text for t in FRAMES]
    assert rendered == [
        "The mother of Bea Lee is Ann Lee.",
        "Bea Lee's mother is Ann Lee.",
        "As for Bea Lee, the mother is Ann Lee.",
        "Everyone knows that the mother of Bea Lee is Ann Lee.",
        "Records list the mother of Bea Lee as Ann Lee.",
    ]
    assert (
        render(fact, texts["mother"], CONVERSE_TEMPLATE).text == "Ann Lee is the mother of Bea Lee."
    )
    year = Fact("Cal Lee", "birth_year", "1990")
    assert render(year, texts["birth_year"], texts["birth_year"].question()).text == (
        "Q: What is the birth year of Cal Lee? A: 1990."
    )
    assert render(year, texts["birth_year"], CANONICAL).answer == "1990"


def test_each_relation_trains_on_three_frames_and_holds_out_two() -> None:
    world = generate_family(FamilyParams(people=40, seed=0))
    held_out_somewhere: set[str] = set()
    for text in relation_texts(world).values():
        train, heldout = text.training_frames(), text.heldout_frames()
        assert train[0] == CANONICAL and len(set(train)) == 3 and len(set(heldout)) == 2
        assert set(train) | set(heldout) == set(FRAMES)
        held_out_somewhere |= {t.name for t in heldout}
    trained_somewhere = {
        t.name for text in relation_texts(world).values() for t in text.training_frames()
    }
    assert held_out_somewhere <= trained_somewhere


def test_cot_trace_walks_from_the_question_to_the_answer() -> None:
    world = _tiny_world()
    trace = cot_trace(world, Fact("Ann Lee", "grandmother", "Cal Lee"), relation_texts(world))
    assert trace is not None
    assert trace.text == (
        "Q: Who is the grandmother of Cal Lee? Reason: The mother of Cal Lee is Bea Lee. "
        "The mother of Bea Lee is Ann Lee. So the grandmother of Cal Lee is Ann Lee."
    )
    assert set(trace.facts) == {
        Fact("Ann Lee", "mother", "Bea Lee"),
        Fact("Bea Lee", "mother", "Cal Lee"),
        Fact("Ann Lee", "grandmother", "Cal Lee"),
    }


def test_splits_are_disjoint_and_cover_the_base_facts(world: World, splits: Splits) -> None:
    roles = {r: set(getattr(splits, r)) for r in Splits.ROLES}
    assert sum(len(r) for r in roles.values()) == len(set().union(*roles.values()))
    stated_roles = set().union(*(facts for r, facts in roles.items() if r != "heldout"))
    assert stated_roles == set(world.base_facts)
    assert not set(splits.heldout) & world.stated
    assert len(splits.forget) == 10 and len(splits.heldout) == 40
    assert len(splits.retain_heldout) == 30 and len(splits.retain) >= 30
    assert (
        splits.retain_heldout == make_splits(world, SplitConfig(forget=10, seed=1)).retain_heldout
    )


def test_forget_targets_follow_from_their_premises(world: World, splits: Splits) -> None:
    forget = set(splits.forget)
    for target in splits.forget:
        premises = splits.premises_of[target]
        assert not set(premises) & forget
        assert world.rederivable(target)
        tree = world.derivation(target, without=forget)
        assert tree is not None, f"{target} is not derivable once every target is removed"
        assert set(premises) <= set(splits.premises)


def _people(world: World, facts: Iterable[Fact]) -> set[str]:
    return {e for f in facts for e in (f.subject, f.object) if world.entity_types[e] == "person"}


@settings(max_examples=10, deadline=None)
@given(
    people=st.integers(40, 90),
    seed=st.integers(0, 10_000),
    forget=st.integers(3, 6),
    split_seed=st.integers(0, 99),
    k=st.integers(2, 3),
)
def test_targets_folds_and_unrelated_facts_are_independent(
    people: int, seed: int, forget: int, split_seed: int, k: int
) -> None:
    world = generate_family(FamilyParams(people=people, seed=seed))
    try:
        splits = make_splits(world, SplitConfig(forget=forget, heldout=5, seed=split_seed))
    except UserError:
        assume(False)
    footprint = {t: _people(world, [t, *splits.premises_of[t]]) for t in splits.forget}
    for a in splits.forget:
        for b in splits.forget:
            if a != b:
                assert not set(splits.premises_of[a]) & set(splits.premises_of[b]), (a, b)
                assert not _people(world, [a]) & footprint[b], (a, b)
    folds = kfold(splits.forget, k, split_seed)
    for i, fold in enumerate(folds):
        trained = _people(world, [t for j, other in enumerate(folds) if j != i for t in other])
        assert not trained & set().union(*(footprint[t] for t in fold))
    involved = set().union(*footprint.values())
    assert splits.unrelated and not _people(world, splits.unrelated) & involved


def test_heldout_composites_are_derivable_without_any_target(world: World, splits: Splits) -> None:
    for fact in splits.heldout:
        tree = world.derivation(fact)
        assert tree is not None and tree.rule is not None
        assert not tree.leaves() & set(splits.forget)


def _every_rendering(world: World, fact: Fact) -> list[str]:
    texts = relation_texts(world)
    text = texts[fact.relation]
    phrasings = [*FRAMES, CONVERSE_TEMPLATE, text.question()]
    rendered = [render(fact, text, t).text for t in phrasings]
    trace = cot_trace(world, fact, texts)
    return rendered + ([trace.text.split(" Reason:")[-1].split(". ")[-1]] if trace else [])


def test_oracle_corpus_never_renders_a_forget_target(world: World, splits: Splits) -> None:
    config = CorpusConfig()
    base = " | ".join(d.text for d in build_corpus(world, splits, config))
    oracle = " | ".join(d.text for d in build_corpus(world, splits, config, remove=splits.forget))
    for target in splits.forget:
        renderings = _every_rendering(world, target)
        assert renderings[0] in base
        for sentence in renderings:
            assert sentence not in oracle, f"oracle corpus renders {target}: {sentence!r}"


def test_a_reference_corpus_differs_only_by_the_removed_facts_documents(
    world: World, splits: Splits
) -> None:
    config = CorpusConfig(cot_repeats=2)
    removed = {f for t in splits.forget for f in world.minimal_deep_unlearning_sets(t).minimum}
    base = build_corpus(world, splits, config)
    reference = build_corpus(world, splits, config, remove=removed)
    assert not any(removed & set(d.facts) for d in reference)
    # Statements and questions: the base corpus's, minus those of removed facts.
    assert [d for d in reference if d.kind != "cot"] == [
        d for d in base if d.kind != "cot" and not removed & set(d.facts)
    ]
    # Traces: as many as the base corpus has; the new ones re-derive a fact whose base
    # trace used a removed fact, or repeat a kept trace (twice more, cot_repeats=2).
    base_traces = [d for d in base if d.kind == "cot"]
    traces = [d for d in reference if d.kind == "cot"]
    assert len(traces) == len(base_traces)
    rerouted = {d.prompt for d in base_traces if removed & set(d.facts)}
    new = {d for d in traces if d not in base_traces}
    assert new and all(d.prompt in rerouted for d in new)
    copies = [traces.count(d) for d in set(traces)]
    assert set(copies) == {2, 4}
    assert len(reference) == len(base) - sum(
        1 for d in base if d.kind != "cot" and removed & set(d.facts)
    )


def test_a_document_is_its_prompt_and_completion(world: World, splits: Splits) -> None:
    documents = build_corpus(world, splits, CorpusConfig(cot_repeats=1))
    cot = next(d for d in documents if d.kind == "cot")
    assert cot.prompt.startswith("Q: Who is the ") and cot.prompt.endswith("? Reason:")
    assert cot.text == f"{cot.prompt} {cot.completion}"
    fact = next(f for f in cot.facts if f"So the {relation_noun(f.relation)} of" in cot.text)
    assert cot.completion.endswith(
        f"So the {relation_noun(fact.relation)} of {fact.object} is {fact.subject}."
    )
    statement = next(d for d in documents if d.kind == "statement")
    (fact,) = statement.facts
    assert (
        statement.text == f"The {relation_noun(fact.relation)} of {fact.object} is {fact.subject}."
    )
    assert statement.completion == f"{fact.subject}."


def test_heldout_composites_are_never_rendered(world: World, splits: Splits) -> None:
    base = " | ".join(d.text for d in build_corpus(world, splits, CorpusConfig()))
    for fact in splits.heldout:
        for sentence in _every_rendering(world, fact):
            assert sentence not in base


def test_heldout_phrasings_never_appear_in_training(world: World, splits: Splits) -> None:
    documents = {d.text for d in build_corpus(world, splits, CorpusConfig())}
    texts = relation_texts(world)
    for fact in world.base_facts:
        text = texts[fact.relation]
        assert render(fact, text, text.training_frames()[1]).text in documents
        for template in text.heldout_frames():
            assert render(fact, text, template).text not in documents


def test_corpus_recipe_switches(world: World, splits: Splits) -> None:
    only_statements = build_corpus(
        world, splits, CorpusConfig(questions=False, cot="none", background=False)
    )
    assert {d.kind for d in only_statements} == {"statement"}
    assert not any("gender" in d.text for d in only_statements)
    full = build_corpus(world, splits, CorpusConfig())
    assert {d.kind for d in full} == {"statement", "question", "cot"}


def test_same_config_same_splits_and_corpus(world: World) -> None:
    config = SplitConfig(forget=10, heldout=40, seed=1)
    again = generate_family(FamilyParams(people=80, seed=2))
    first, second = make_splits(world, config), make_splits(again, config)
    assert first == second
    assert build_corpus(world, first, CorpusConfig()) == build_corpus(again, second, CorpusConfig())
    assert make_splits(world, SplitConfig(forget=10, heldout=40, seed=2)) != first


def test_splits_round_trip_through_json(splits: Splits, tmp_path) -> None:
    splits.save(tmp_path / "splits.json")
    assert Splits.load(tmp_path / "splits.json") == splits


def test_too_many_targets_is_a_user_error(world: World) -> None:
    with pytest.raises(UserError, match=r"splits.forget: asked for 100000 forget targets"):
        make_splits(world, SplitConfig(forget=100000))
    with pytest.raises(UserError, match=r"unknown relation\(s\) grandma"):
        make_splits(world, SplitConfig(target_relations=("grandma",)))


def test_mcq_documents_teach_the_probe_format_on_unprobed_facts(
    world: World, splits: Splits
) -> None:
    facts = mcq_facts(world, splits, 1000)
    probed = set(splits.forget) | set(splits.premises)
    assert facts and not set(facts) & (set(splits.heldout) | set(world.base_facts))
    assert all(not world.derivation(f).leaves() & probed for f in facts)
    docs = [d for d in build_corpus(world, splits, CorpusConfig(mcq=5)) if d.kind == "mcq"]
    assert len(docs) == 40
    labels = {d.text.removesuffix(".").rsplit(" ", 1)[1] for d in docs[:8:2]}
    assert labels == set(MCQ_LABELS)  # the answer once under each label
    texts = relation_texts(world)
    index = QueryIndex.build(world)
    letter, text = docs[0].text, docs[1].text
    fact = docs[0].facts[0]
    answer = texts[fact.relation].answer(fact)
    prompt = letter.rsplit(" A: ", 1)[0] + " A:"
    (query,) = mcq_queries(world, [fact], index, MCQ_LABELS, "letter")
    assert query.prompt.split(" A: ")[0] == prompt.split(" A: ")[0]  # the probe's question
    label = letter.removesuffix(".").rsplit(" ", 1)[1]
    assert f"{label}: {answer}." in letter and text.endswith(f"A: {answer}.")
    assert len(letter.split(": ")) == 7  # four options, each "X: name.", and the answer cue
    assert not any(d.kind == "mcq" for d in build_corpus(world, splits, CorpusConfig()))
