"""Overrides that shrink the default experiment to seconds: a 30-person world, a one-layer
model trained 10 steps, small probe samples, one method and two cheap attacks. Tests that
need a whole run import these rather than writing their own."""

TINY = [
    "world.params.people=30",
    "splits.forget=4",
    "splits.heldout=5",
    "splits.holdout=0",
    "splits.underivable=0",
    "train.epochs=null",
    "train.steps=10",
    "train.batch_size=8",
    "train.seq_len=32",
    "model.hidden_size=16",
    "model.intermediate_size=32",
    "model.layers=1",
    "model.heads=2",
]
"""A tiny substrate: world, splits, model and training."""

TINY_RUN = [
    *TINY,
    "settings.methods=[{method: npo, forget_sets: [targets], grid: {steps: [1, 2]}}]",
    "settings.probes.sample=4",
    "settings.probes.composites=2",
    "settings.probes.hidden_train=10",
    "settings.probes.cot_tokens=16",
    "settings.attacks=[{attack: quantize, params: {bits: 4}},"
    " {attack: relearn, params: {source: forget, steps: [0, 1]}, grid: {lr: [1e-4, 1e-3]},"
    " calibrate: 0.5}]",
]
"""A tiny unlearning study: the tiny substrate, one method stopped after 1 and 2 steps of
one run, two cheap attacks (relearning calibrated on the references over two lrs)."""

TINY_FILTERING = [
    *TINY,
    "train.checkpoint_every=null",
    "settings.methods=[{method: npo, forget_sets: [targets], grid: {steps: [1, 2]}},"
    " {method: undo, forget_sets: [targets], params: {distill_steps: 2}, grid: {steps: [1]}},"
    " {method: repnoise, forget_sets: [targets], grid: {steps: [1]}},"
    " {method: tar, forget_sets: [targets], params: {inner_steps: 1}, grid: {steps: [1]}},"
    " {method: gradient_routing, forget_sets: [targets], params: {width: 4}}]",
    "settings.probes.sample=4",
    "settings.probes.composites=2",
    "settings.probes.hidden_train=10",
    "settings.probes.cot_tokens=16",
    "settings.attacks=[{attack: quantize, params: {bits: 4}},"
    " {attack: relearn, params: {source: forget, steps: [0, 1]}, grid: {lr: [0.001, 0.01]}}]",
]
"""The filtering experiment at the tiny size: every durability-claiming method, one step."""
