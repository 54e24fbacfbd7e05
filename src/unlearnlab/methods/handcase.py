"""The hand-computed case every loss method is checked against.

A vocabulary of 3 tokens and rows of 3 positions. The model's logits are the same for
every row (a model that ignores its input), so each part of the batch differs only in its
labels; position 0 is a prompt position (no loss). Hidden states (width 2) are given for
representation methods. ``Method.hand_value`` is each method's loss on this case with
default hyper-parameters, written out by hand in the method's file.
"""

from __future__ import annotations

IGNORE = -100

MODEL_LOGITS = ((3.0, 0.0, -1.0), (1.0, 2.0, 0.5), (0.0, -1.0, 1.5))
"""Trained model's logits per position, ``(seq=3, vocab=3)``."""
REFERENCE_LOGITS = ((3.0, 0.0, -1.0), (0.5, 1.0, 1.0), (1.0, 0.0, 0.0))
"""Reference (before unlearning) logits per position, ``(seq=3, vocab=3)``."""
MODEL_HIDDEN = ((1.0, 0.0), (0.5, -1.0), (2.0, 1.0))
"""Trained model's hidden state per position, ``(seq=3, width=2)``, at every layer."""
REFERENCE_HIDDEN = ((1.0, 0.0), (0.0, -1.0), (1.0, 1.0))
"""Reference hidden state per position, ``(seq=3, width=2)``."""
FORGET_LABELS = (IGNORE, 1, 2)
"""The forget answer: tokens 1 then 2."""
RETAIN_LABELS = (IGNORE, 2, 0)
"""The retain answer: tokens 2 then 0."""
REFUSAL_LABELS = (IGNORE, 0, 0)
"""The refusal answer to the forget question: tokens 0 then 0."""
