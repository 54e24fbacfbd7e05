"""Prompt variants: which prompts each variant asks, and curve points that are the best
prompt so far (training phrasings first, the best of every variant last)."""

from __future__ import annotations

from unlearnlab.attacks import AttackTarget, attack_create
from unlearnlab.models.factory import load_model, load_tokenizer
from unlearnlab.probes.knowledge import recall_by_ranking


def test_variants_ask_held_out_few_shot_and_inverse_questions(tiny) -> None:
    substrate, _, _, _ = tiny
    world = substrate.world
    target = AttackTarget(substrate, substrate.splits.forget, seed=4)
    attack = attack_create("prompt_variants", shots=2)
    queries = attack.queries(target)
    closure = world.closure()
    for fact in target.facts:
        mine = [q for q in queries if q.fact == fact]
        text = target.bench.index.texts[fact.relation]
        assert [q.name for q in mine if q.variant == "training"] == [
            f"training:{t.name}" for t in text.training_frames()
        ]
        assert [q.name for q in mine if q.variant == "heldout"] == [
            f"heldout:{t.name}" for t in text.heldout_frames()
        ]
        [few] = [q for q in mine if q.variant == "few_shot"]
        assert few.prompt.count("Q: ") == 3 and few.prompt.endswith(f"{fact.object}? A:")
        own = f"Q: Who is the {text.noun} of {fact.object}? A: {fact.subject}."
        assert own not in few.prompt  # demonstrations are retain facts, never the target
        for inverse in (q for q in mine if q.variant == "inverse"):
            relation = inverse.name.split(":")[1]
            assert inverse.answer == fact.object and fact.subject in inverse.prompt
            assert any(f.relation == relation for f in closure if f.subject == fact.object)
    inverses = {q.name.split(":")[1] for q in queries if q.variant == "inverse"}
    assert inverses  # the tiny world's targets (uncle, cousin, aunt, ...) have inverses
    cousins = [q for q in queries if q.variant == "inverse" and q.fact.relation == "cousin"]
    assert all(q.name.startswith("inverse:cousin:") for q in cousins)  # its own inverse
    assert attack.queries(target) == queries


def test_points_are_the_best_prompt_so_far(tiny) -> None:
    substrate, _, base, _ = tiny
    target = AttackTarget(substrate, substrate.splits.forget)
    curve = attack_create("prompt_variants", variants=("inverse", "heldout")).run(base, target)
    assert [p.step for p in curve] == [0, 1, 2, 3]
    facts = [str(f) for f in target.facts]
    assert all([r["fact"] for r in p.records] == facts for p in curve)
    model, tokenizer = load_model(base), load_tokenizer(base)
    plain = recall_by_ranking(
        model, tokenizer, substrate.world, target.facts, lambda t: t.training_frames()
    )
    for i, fact in enumerate(facts):
        ranks = [r["rank"] for r in plain if r["fact"] == fact]
        assert curve[0].records[i]["rank"] == min(ranks)
        assert curve[0].records[i]["correct"] == (min(ranks) == 1)
        assert curve[0].records[i]["prompt"].startswith("training:")
        for point in curve[1:]:
            assert point.records[i]["rank"] <= curve[0].records[i]["rank"]
        assert curve[3].records[i]["rank"] == min(p.records[i]["rank"] for p in curve)
    assert {r["prompt"].split(":")[0] for r in curve[1].records} <= {"training", "inverse"}
