"""Knowledge probes: filtered candidates, ranking records, chain-of-thought scoring."""

from __future__ import annotations

import pytest

from unlearnlab.corpus.templates import CANONICAL
from unlearnlab.probes import knowledge
from unlearnlab.probes.decoding import Generation
from unlearnlab.probes.knowledge import QueryIndex, chain_of_thought, recall_by_ranking
from unlearnlab.probes.scoring import Ranking
from unlearnlab.worlds import Fact, FactRecord, World, parse_rules

PEOPLE = ("Ann Lee", "Bea Lee", "Cal Lee", "Dan Lee", "Eve Ray")


def _world() -> World:
    rules = parse_rules("grandmother(X, Z) :- mother(X, Y), mother(Y, Z).\n")
    facts = [
        Fact("Ann Lee", "mother", "Bea Lee"),
        Fact("Bea Lee", "mother", "Cal Lee"),
        Fact("Bea Lee", "mother", "Dan Lee"),
        Fact("Eve Ray", "mother", "Ann Lee"),
        Fact("Cal Lee", "birth_year", "1990"),
        Fact("Dan Lee", "birth_year", "1992"),
    ]
    types = {p: "person" for p in PEOPLE} | {"1990": "year", "1992": "year"}
    return World(tuple(FactRecord(f, i) for i, f in enumerate(facts)), rules, types)


def test_candidates_are_filtered_of_other_correct_answers() -> None:
    world = _world()
    index = QueryIndex.build(world)
    # Bea Lee's children: Cal and Dan; asking "the mother of Cal Lee" has one answer.
    mother = Fact("Bea Lee", "mother", "Cal Lee")
    assert index.valid_answers(mother) == {"Bea Lee"}
    assert index.candidates(mother, world.entity_types) == list(PEOPLE)
    # Grandmother of Cal Lee is Ann Lee only; Ann Lee's grandchildren are Cal and Dan.
    assert index.valid_answers(Fact("Ann Lee", "grandmother", "Dan Lee")) == {"Ann Lee"}
    year = Fact("Cal Lee", "birth_year", "1990")
    assert index.candidates(year, world.entity_types) == ["1990", "1992"]


def test_filtered_candidates_drop_other_answers_of_a_multi_answer_query() -> None:
    rules = parse_rules("child(X, Y) :- mother(Y, X).\n")
    facts = [Fact("Bea Lee", "mother", "Cal Lee"), Fact("Bea Lee", "mother", "Dan Lee")]
    types = {p: "person" for p in PEOPLE}
    world = World(tuple(FactRecord(f, i) for i, f in enumerate(facts)), rules, types)
    index = QueryIndex.build(world)
    cal = Fact("Cal Lee", "child", "Bea Lee")
    assert index.valid_answers(cal) == {"Cal Lee", "Dan Lee"}
    assert index.candidates(cal, world.entity_types) == ["Ann Lee", "Bea Lee", "Cal Lee", "Eve Ray"]


def test_recall_records_carry_rank_chance_and_template(monkeypatch) -> None:
    world = _world()
    seen = {}

    def fake_encode(tokenizer, prompts, answers, candidates, **kwargs):
        seen.update(prompts=prompts, answers=answers, candidates=candidates, kwargs=kwargs)
        return candidates

    def fake_rank(model, candidates):
        return [Ranking(2, 0.25, False, [0.0] * len(c)) for c in candidates]

    monkeypatch.setattr(knowledge, "encode_ranking", fake_encode)
    monkeypatch.setattr(knowledge, "rank_encoded", fake_rank)
    fact = Fact("Ann Lee", "mother", "Bea Lee")
    records = recall_by_ranking(None, None, world, [fact], lambda t: (CANONICAL,))
    assert seen["prompts"] == ["The mother of Bea Lee is"]
    assert seen["answers"] == ["Ann Lee"]
    assert seen["kwargs"]["suffix"] == "."
    assert records == [
        {
            "fact": str(fact),
            "relation": "mother",
            "template": "the_noun_of",
            "rank": 2,
            "correct": False,
            "probability": 0.25,
            "chance": 0.2,
        }
    ]


@pytest.mark.parametrize(
    ("generated", "correct", "exact", "written", "true"),
    [
        (
            "The mother of Cal Lee is Bea Lee. The mother of Bea Lee is Ann Lee. "
            "So the grandmother of Cal Lee is Ann Lee.",
            True,
            True,
            2,
            2,
        ),
        (
            "The mother of Cal Lee is Eve Ray. The mother of Eve Ray is Bea Lee. "
            "So the grandmother of Cal Lee is Bea Lee.",
            False,
            False,
            2,
            0,
        ),
        (
            "Bea Lee is the mother of Cal Lee. So the grandmother of Cal Lee is Ann Lee.",
            True,
            True,
            1,
            1,
        ),
        ("The mother of Cal Lee is Bea Lee.", False, False, 1, 1),
    ],
)
def test_chain_of_thought_scores_conclusion_and_premises(
    monkeypatch, generated: str, correct: bool, exact: bool, written: int, true: int
) -> None:
    world = _world()
    prompts_seen = []

    def fake_decode(model, tokenizer, prompts, **kwargs):
        prompts_seen.extend(prompts)
        return [Generation(generated, [], "eos") for _ in prompts]

    monkeypatch.setattr(knowledge, "greedy_decode", fake_decode)
    target = Fact("Ann Lee", "grandmother", "Cal Lee")
    [record] = chain_of_thought(None, None, world, [target])
    assert prompts_seen == ["Q: Who is the grandmother of Cal Lee? Reason:"]
    assert (record["correct"], record["exact"]) == (correct, exact)
    assert (record["premises_written"], record["premises_true"]) == (written, true)


def test_cot_rederivation_bans_the_other_valid_answers_from_the_chain(monkeypatch) -> None:
    """Two aunts: the constrained chain may not name the other aunt (Dot) but may name the
    fact's own (Cat); the free chain is unconstrained. rederive.cot scores the
    constrained chain, rederive.cot_any the free one."""
    from unlearnlab.probes import rederivation

    rules = parse_rules("aunt(X, Z) :- sister(X, Y), mother(Y, Z).\n")
    people = ("Ann Lee", "Bea Lee", "Cat Lee", "Dot Lee")
    facts = [
        Fact("Cat Lee", "sister", "Bea Lee"),
        Fact("Dot Lee", "sister", "Bea Lee"),
        Fact("Bea Lee", "mother", "Ann Lee"),
    ]
    world = World(
        tuple(FactRecord(f, i) for i, f in enumerate(facts)), rules, dict.fromkeys(people, "person")
    )
    vocab = {w: i for i, w in enumerate(["Ann", "Bea", "Cat", "Dot", "Lee"])}

    def tokenizer(text, add_special_tokens=False):
        return {"input_ids": [vocab[w] for w in text.split()]}

    calls = []

    def fake_decode(model, tok, prompts, *, banned=None, **kwargs):
        calls.append(banned)
        text = "Ann Lee is the child of Bea Lee. The sister of Bea Lee is {0} Lee. So the aunt "
        text += "of Ann Lee is {0} Lee."
        return [Generation(text.format("Dot" if banned is None else "Cat"), [], "eos")]

    monkeypatch.setattr(knowledge, "greedy_decode", fake_decode)
    target = Fact("Cat Lee", "aunt", "Ann Lee")
    index = QueryIndex.build(world)
    rows = rederivation.cot_rows(None, tokenizer, world, [target], index, split="x")
    assert calls == [None, [{vocab["Dot"]}]]  # Dot's first token; never Cat's or "Lee"
    by_probe = {r.probe: r for r in rows}
    assert by_probe["rederive.cot"].correct is True  # the constrained chain reaches Cat
    assert by_probe["rederive.cot_any"].correct is True  # Dot is a valid answer too
    assert by_probe["rederive.cot_any"].chance == pytest.approx(2 / 4)
