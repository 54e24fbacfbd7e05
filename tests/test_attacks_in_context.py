"""In-context relearning: context pools never hold the queried fact, an empty context is
plain recall, and shot counts are checked against fold and retain pools (premise counts
are a ceiling: a fact with fewer premises gets all of them)."""

from __future__ import annotations

import pytest

from unlearnlab.attacks import AttackTarget, attack_create
from unlearnlab.attacks.in_context import statement
from unlearnlab.errors import UserError
from unlearnlab.models.factory import load_model, load_tokenizer
from unlearnlab.probes.knowledge import QueryIndex, recall_by_ranking


def test_fold_contexts_never_hold_the_queried_fact(tiny) -> None:
    substrate, _, _, _ = tiny
    target = AttackTarget(substrate, substrate.splits.forget, seed=2)
    attack = attack_create("in_context", shots=(0, 2))
    pools = attack.pools(target)
    assert list(pools) == list(substrate.splits.forget)
    for fact, pool in pools.items():
        assert fact not in pool and set(pool) <= set(substrate.splits.forget)
    assert attack.pools(target) == pools
    retain = attack_create("in_context", source="retain", shots=(0, 3)).pools(target)
    assert all(set(pool) <= set(substrate.splits.retain) for pool in retain.values())
    with pytest.raises(UserError, match=r"3 context facts asked, but .* has only 2"):
        attack_create("in_context", shots=(0, 3)).pools(target)


def test_premise_contexts_are_the_targets_own_derivation(tiny) -> None:
    substrate, _, _, _ = tiny
    world = substrate.world
    target = AttackTarget(substrate, substrate.splits.forget, seed=1)
    pools = attack_create("in_context", source="premises", shots=(0, 1)).pools(target)
    background = set(world.background_facts)
    for fact, pool in pools.items():
        assert fact not in pool and not set(pool) & background
        assert len(pool) >= 1
        kept = set(world.base_facts) - {fact}
        derived = world.derivation(fact, without=[fact])
        assert derived is not None and set(pool) == derived.leaves() - background
        assert set(pool) <= kept
    assert attack_create("in_context", source="premises", shots=(0, 50)).pools(target) == pools


def test_premise_shots_beyond_a_derivation_give_all_its_premises(tiny) -> None:
    substrate, _, base, _ = tiny
    target = AttackTarget(substrate, substrate.splits.forget, seed=1)
    most = max(
        len(pool) for pool in attack_create("in_context", source="premises").pools(target).values()
    )
    capped = attack_create("in_context", source="premises", shots=(0, most)).run(base, target)
    beyond = attack_create("in_context", source="premises", shots=(0, most + 5)).run(base, target)
    assert [p.records for p in capped] == [p.records for p in beyond]


def test_empty_context_is_plain_recall_and_context_is_stated_facts(tiny) -> None:
    substrate, _, base, _ = tiny
    target = AttackTarget(substrate, substrate.splits.forget)
    curve = attack_create("in_context", shots=(0, 1, 2)).run(base, target)
    assert [p.step for p in curve] == [0, 1, 2]
    index = QueryIndex.build(substrate.world)
    plain = recall_by_ranking(
        load_model(base),
        load_tokenizer(base),
        substrate.world,
        target.facts,
        lambda t: t.training_frames(),
    )
    assert curve[0].records == plain
    assert [(r["fact"], r["template"]) for r in curve[2].records] == [
        (r["fact"], r["template"]) for r in plain
    ]
    sentence = statement(substrate.splits.forget[0], index)
    assert sentence.endswith(".") and substrate.splits.forget[0].subject in sentence
