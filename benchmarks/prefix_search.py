"""Benchmark: a universal prefix search (GCG, length 8, 100 steps) and the soft-prompt
attack against the default unlearned model (npo defaults), its base model and its oracle.

Prints, for each attack, the seconds on each model, held-out recall at each measured step
(the prefix is optimised on one half of the forget targets and measured on the other),
raw and net recovery (:mod:`unlearnlab.attacks.recovery`), and the oracle's held-out-half
recovery: how far the same search lifts the held-out recall of a model that never saw the
facts, in points and as a share of the unlearned model's forgetting gap (the term net
recovery subtracts; the floor every other number is read against).
Bar: the prefix search on the unlearned model under 180 s on the 2-core CPU.

    UNLEARNLAB_HOME=/work/cache/unlearnlab .venv/bin/python benchmarks/prefix_search.py
    .venv/bin/python benchmarks/prefix_search.py --attack soft_prompt --steps 0 50 --set ...
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from unlearnlab.attacks import Attack, AttackTarget, Curve, attack_create
from unlearnlab.attacks.recovery import recall_matrix, summarize
from unlearnlab.attacks.run import ROLES, attack_models
from unlearnlab.experiments.config import load_config
from unlearnlab.methods.config import load_unlearn_config
from unlearnlab.methods.loop import unlearn
from unlearnlab.models.store import ModelStore
from unlearnlab.substrate.build import build_substrate

BAR_SECONDS = 180.0


class Timed(Attack):
    """Another attack, with the seconds of each of its runs recorded."""

    def __init__(self, inner: Attack) -> None:
        super().__init__(inner.params)
        self.inner = inner
        self.seconds: list[float] = []

    def run(self, model_dir: Path, target: AttackTarget) -> Curve:
        """The inner attack's curve."""
        start = time.perf_counter()
        curve = self.inner.run(model_dir, target)
        self.seconds.append(time.perf_counter() - start)
        return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attack", nargs="+", default=["prefix_search", "soft_prompt"])
    parser.add_argument("--steps", nargs="+", type=int, default=[0, 10, 25, 50, 100])
    parser.add_argument("--length", type=int, default=8)
    parser.add_argument("--set", action="append", default=[], help="experiment override")
    args = parser.parse_args()
    overrides = [f"experiment_set=[{', '.join(args.set)}]"] if args.set else []
    file = load_unlearn_config("default", overrides)
    substrate = build_substrate(load_config(file.experiment, file.experiment_set))
    store = ModelStore()
    config = file.unlearn.expand()[0]
    unlearned = unlearn(substrate, config, store).path
    print(f"unlearned: {config.method} defaults, {len(substrate.splits.forget)} forget targets")
    for name in args.attack:
        attack = Timed(attack_create(name, length=args.length, steps=tuple(args.steps)))
        curves = attack_models(attack, unlearned, substrate, store)
        seconds = dict(zip(ROLES, attack.seconds, strict=True))
        held_out = len({r["fact"] for r in curves["unlearned"][0].records})
        chance = sum(r["chance"] for r in curves["unlearned"][0].records)
        chance /= len(curves["unlearned"][0].records)
        times = ", ".join(f"{role} {seconds[role]:.1f} s" for role in ROLES)
        print(f"\n{name} (universal, length {args.length}): {times}")
        print(f"held-out recall of {held_out} facts (chance {chance:.1%}):")
        recall = {role: recall_matrix(curves[role]).mean(-1).tolist() for role in ROLES}
        summary = summarize(curves)
        print(f"{'step':>5} {'unlearned':>9} {'base':>6} {'oracle':>6} {'raw':>7} {'net':>7}")
        for i, step in enumerate(args.steps):
            u, b, o = (recall[role][i] for role in ROLES)
            raw, net = summary.raw[i].value, summary.net[i].value
            print(f"{step:5d} {u:9.1%} {b:6.1%} {o:6.1%} {raw:7.1%} {net:7.1%}")
        o, gap = recall["oracle"], recall["base"][0] - recall["unlearned"][0]
        share = f"{(o[-1] - o[0]) / gap:.1%} of the unlearned model's gap" if gap > 0 else "no gap"
        print(
            f"oracle held-out-half recovery (the floor): {o[0]:.1%} -> {o[-1]:.1%} at step "
            f"{args.steps[-1]} ({(o[-1] - o[0]) * 100:+.1f} points; {share})"
        )
        if name == "prefix_search":
            ok = seconds["unlearned"] < BAR_SECONDS
            print(
                f"bar: search on the unlearned model {seconds['unlearned']:.1f} s "
                f"< {BAR_SECONDS:.0f} s: {'ok' if ok else 'MISSED'}"
            )


if __name__ == "__main__":
    main()
