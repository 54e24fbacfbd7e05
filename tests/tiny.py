"""Overrides that shrink the default experiment to seconds: a 30-person world, a one-layer
model trained 10 steps, small probe samples, one method and two cheap attacks. Tests that
need a whole run import these rather than writing their own."""

TINY = [
    "world.params.people=30",
    "splits.forget=4",
    "splits.heldout=5",
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
