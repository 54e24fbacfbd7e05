"""Membership inference on the forget targets against the holdout (stated facts drawn
like the targets that no model trained on), and MUSE's PrivLeak. Each attack gives every
fact a score, higher meaning "more likely trained on", computed on the answer to the
fact's question (with its closing ``"."``) after the question. Stable probe names:

- ``mia.loss``: minus the answer's mean token loss (Yeom et al. 2018);
- ``mia.zlib``: minus the loss over the zlib-compressed length in bytes of the question
  and answer (Carlini et al. 2021);
- ``mia.min_k``: Min-K% Prob, the mean log-probability of the :data:`K` lowest-probability
  answer tokens (Shi et al. 2024);
- ``mia.min_k_plus_plus``: Min-K%++, the same mean over each token's log-probability
  standardised by the mean and standard deviation of the log-probability of the next
  token under the model's distribution (Zhang et al. 2024);
- ``mia.reference``: minus the loss minus the oracle's (reference-model attack, Carlini
  et al. 2022, the oracle as the reference);
- ``mia.gradnorm``: minus the L2 norm of the gradient of the answer's loss over every
  weight (members sit where the loss is flat).

Rows of split ``forget`` and ``holdout`` carry each fact's score in ``value``; rows of
split ``forget_vs_holdout``, one per target, carry the share of holdout facts it
out-scores (a tie counts half), whose mean is the attack's AUC: 1 when every target
out-scores every holdout fact, 0.5 when the attack cannot tell them apart. The AUC with
an interval over both sides is :func:`~unlearnlab.probes.stats.auc`.

- ``muse.privleak``: ``(AUC_model - AUC_oracle) / AUC_oracle`` of Min-K% Prob (Shi et al.
  2024, "MUSE: Machine Unlearning Six-Way Evaluation", section 3; times 100 it is MUSE's
  percentage): 0 when the model leaks membership no more than a model never trained on
  the targets, positive when it leaks more (under-unlearning), negative when less.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from statistics import fmean

from unlearnlab.probes.registry import SuiteInputs, member_facts, probes
from unlearnlab.probes.results import ProbeRow
from unlearnlab.probes.tokens import TokenStats, answer_gradient_norms, answer_token_stats

K = 0.2
"""The share of lowest-probability tokens Min-K% averages (Shi et al.'s recommended 20%;
at least one token)."""


def zlib_bytes(text: str) -> int:
    """The length in bytes of ``text`` compressed by zlib."""
    return len(zlib.compress(text.encode("utf-8")))


def min_k(values: Sequence[float], k: float = K) -> float:
    """The mean of the ``ceil(k * n)`` smallest of ``values`` (at least one)."""
    lowest = sorted(values)[: max(1, math.ceil(k * len(values)))]
    return sum(lowest) / len(lowest)


def min_k_plus_plus(stats: TokenStats, k: float = K) -> float:
    """Min-K%++: :func:`min_k` of ``(log p(y_t) - mu_t) / sigma_t``."""
    z = [
        (lp - mu) / sigma if sigma > 0 else 0.0
        for lp, mu, sigma in zip(stats.logprobs, stats.means, stats.stds, strict=True)
    ]
    return min_k(z, k)


def placements(members: Sequence[float], others: Sequence[float]) -> list[float]:
    """Each member's share of ``others`` it out-scores, a tie counting half (their mean is
    the AUC)."""
    return [sum((m > o) + 0.5 * (m == o) for o in others) / len(others) for m in members]


def privleak(auc_model: float, auc_oracle: float) -> float:
    """MUSE's PrivLeak as a fraction: ``(auc_model - auc_oracle) / auc_oracle`` (NaN
    when the oracle's AUC is 0)."""
    if auc_oracle == 0:
        return float("nan")
    return (auc_model - auc_oracle) / auc_oracle


ATTACKS = {
    "mia.loss": "minus the answer's mean token loss (LOSS attack)",
    "mia.zlib": "minus the loss over the zlib length of the text",
    "mia.min_k": "mean log-probability of the 20% least likely answer tokens (Min-K%)",
    "mia.min_k_plus_plus": "Min-K% of standardised token log-probabilities (Min-K%++)",
    "mia.reference": "minus the loss minus the oracle's loss (reference attack)",
    "mia.gradnorm": "minus the L2 norm of the answer loss's gradient",
}
PRIVLEAK = "muse.privleak"
SPLIT = "forget_vs_holdout"


def _scores(
    inputs: SuiteInputs, prompts: list[str], answers: list[str]
) -> tuple[dict[str, list[float]], list[float] | None]:
    """Every attack's score of each (prompt, answer), and the oracle's Min-K% scores (None
    without an oracle)."""
    model, tokenizer = inputs.model, inputs.tokenizer
    stats = answer_token_stats(model, tokenizer, prompts, answers)
    scores = {
        "mia.loss": [s.mean_logprob for s in stats],
        "mia.zlib": [
            s.mean_logprob / zlib_bytes(f"{p} {a}")
            for s, p, a in zip(stats, prompts, answers, strict=True)
        ],
        "mia.min_k": [min_k(s.logprobs) for s in stats],
        "mia.min_k_plus_plus": [min_k_plus_plus(s) for s in stats],
        "mia.gradnorm": [-g for g in answer_gradient_norms(model, tokenizer, prompts, answers)],
    }
    if inputs.reference is None:
        return scores, None
    oracle = answer_token_stats(inputs.reference, tokenizer, prompts, answers)
    scores["mia.reference"] = [
        s.mean_logprob - o.mean_logprob for s, o in zip(stats, oracle, strict=True)
    ]
    return scores, [min_k(o.logprobs) for o in oracle]


@probes("muse", {PRIVLEAK: "Min-K% AUC gap to the oracle's, over the oracle's, in value"})
@probes("mia", {name: f"{text}, in value" for name, text in ATTACKS.items()})
def mia_suite(inputs: SuiteInputs, earlier: Sequence[ProbeRow]) -> list[ProbeRow]:
    """Every attack's scores on the forget targets and the holdout, their placements, and
    PrivLeak; nothing without a holdout, and the oracle's comparisons only with it."""
    splits = member_facts(inputs)
    if set(splits) != {"forget", "holdout"}:
        return []
    facts = [*splits["forget"], *splits["holdout"]]
    questions = [inputs.index.question(f) for f in facts]
    scores, oracle = _scores(
        inputs, [q.prompt for q in questions], [f"{q.answer}." for q in questions]
    )
    n = len(splits["forget"])
    rows: list[ProbeRow] = []
    for name, values in scores.items():
        for i, (fact, value) in enumerate(zip(facts, values, strict=True)):
            split = "forget" if i < n else "holdout"
            rows.append(ProbeRow(name, "question", split, str(fact), False, value=value))
        for fact, share in zip(splits["forget"], placements(values[:n], values[n:]), strict=True):
            rows.append(ProbeRow(name, "auc", SPLIT, str(fact), share > 0.5, value=share))
    if oracle is not None:
        model_auc = fmean(placements(scores["mia.min_k"][:n], scores["mia.min_k"][n:]))
        leak = privleak(model_auc, fmean(placements(oracle[:n], oracle[n:])))
        item = f"{n} forget targets against {len(facts) - n} holdout facts"
        rows.append(ProbeRow(PRIVLEAK, "min_k", SPLIT, item, abs(leak) <= 0.05, value=leak))
    return rows
