"""Loss terms shared by the methods: sequence log-probabilities, NLL, KL, the retain term.

Every function takes float logits ``(batch, seq, vocab)`` and next-token labels
``(batch, seq)`` with ``IGNORE`` where there is no loss (the prompt and the padding).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from unlearnlab.methods.base import Batch, Tokens, widen
from unlearnlab.models.data import IGNORE

RetainKind = Literal["nll", "kl"]


def token_logprobs(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``(batch, seq)`` log-probability of each label token, 0 where the label is ignored."""
    logp = torch.log_softmax(logits, dim=-1)  # (batch, seq, vocab)
    safe = labels.clamp(min=0)  # (batch, seq)
    picked = logp.gather(-1, safe.unsqueeze(-1)).squeeze(-1)  # (batch, seq)
    return picked * (labels != IGNORE)


def answer_lengths(labels: torch.Tensor) -> torch.Tensor:
    """``(batch,)`` number of loss tokens |y| of each row (at least 1)."""
    return (labels != IGNORE).sum(-1).clamp(min=1)


def sequence_logprob(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``(batch,)`` log π(y|x): summed log-probability of each row's answer tokens."""
    return token_logprobs(logits, labels).sum(-1)


def nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``()`` mean negative log-likelihood over all answer tokens of the batch."""
    n = (labels != IGNORE).sum().clamp(min=1)
    return -token_logprobs(logits, labels).sum() / n


def kl_to_reference(
    logits: torch.Tensor, reference_logits: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """``()`` KL(reference || model) of the next-token distributions, averaged over the
    answer positions of the batch."""
    logp = torch.log_softmax(logits, dim=-1)  # (batch, seq, vocab)
    ref_logp = torch.log_softmax(reference_logits, dim=-1)  # (batch, seq, vocab)
    per_position = (ref_logp.exp() * (ref_logp - logp)).sum(-1)  # (batch, seq)
    keep = labels != IGNORE  # (batch, seq)
    return (per_position * keep).sum() / keep.sum().clamp(min=1)


def soft_cross_entropy(
    logits: torch.Tensor, target_probs: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """``()`` cross-entropy -Σ_v q(v) log p(v) of the model against target distributions
    ``q`` ``(batch, seq, vocab)``, averaged over the answer positions."""
    logp = torch.log_softmax(logits, dim=-1)  # (batch, seq, vocab)
    per_position = -(target_probs * logp).sum(-1)  # (batch, seq)
    keep = labels != IGNORE  # (batch, seq)
    return (per_position * keep).sum() / keep.sum().clamp(min=1)


def retain_term(batch: Batch, kind: RetainKind) -> torch.Tensor:
    """``()`` the retain loss: NLL of the retain answers, or KL(reference || model) on them."""
    logits = batch.logits(batch.retain)
    if kind == "nll":
        return nll(logits, batch.retain.labels)
    return kl_to_reference(logits, batch.reference_logits(batch.retain), batch.retain.labels)


def npo_term(log_ratio: torch.Tensor, beta: float) -> torch.Tensor:
    """``()`` -(2/β)·mean log σ(-β·r) of per-row log-ratios ``r`` ``(batch,)``
    (NPO, Zhang et al. 2024, Eq. 3)."""
    return -(2.0 / beta) * F.logsigmoid(-beta * log_ratio).mean()


def logged_nll(batch: Batch, tokens: Tokens) -> float:
    """The mean answer NLL of ``tokens`` at the weights the step's loss saw (before the
    update): from the logits of the loss's own forward pass on them where it made one,
    else from a forward pass without gradients."""
    logits = batch.seen.get(id(tokens))
    if logits is None:
        logits = batch.model(input_ids=tokens.ids).logits
    return nll(widen(logits), tokens.labels).item()
