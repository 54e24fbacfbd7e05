"""Teacher-forced statistics of each answer token, and the gradient of an answer's loss:
what the memorisation metrics and the membership-inference attacks read.

Prompts and answers are encoded as everywhere else (:mod:`unlearnlab.probes.scoring`):
the prompt with the tokenizer's special prefix, the answer without it, concatenated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearnlab.models.data import continuation, encode_answer, encode_prompt
from unlearnlab.probes.scoring import pad_rows, pad_token_id


@dataclass(frozen=True)
class TokenStats:
    """Per answer token ``y_t``, given the prompt and ``y_<t`` (teacher forcing)."""

    logprobs: list[float]
    """``log p(y_t)``."""
    hits: list[bool]
    """Whether ``y_t`` is the most likely token (the greedy choice)."""
    means: list[float]
    """``E_{z ~ p}[log p(z)]``, the expected log-probability of the next token."""
    stds: list[float]
    """The standard deviation of ``log p(z)`` under ``z ~ p``."""

    @property
    def mean_logprob(self) -> float:
        """The answer's log-likelihood per token (minus its loss)."""
        return sum(self.logprobs) / len(self.logprobs)


def _encode(
    tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], answers: Sequence[str]
) -> list[tuple[list[int], list[int]]]:
    if len(prompts) != len(answers):
        raise ValueError(f"got {len(prompts)} prompts but {len(answers)} answers")
    pairs = [
        (encode_prompt(tokenizer, p), encode_answer(tokenizer, continuation(p, a)))
        for p, a in zip(prompts, answers, strict=True)
    ]
    if any(not a for _, a in pairs):
        raise ValueError("an answer encodes to no tokens")
    return pairs


@torch.inference_mode()
def answer_token_stats(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    answers: Sequence[str],
    *,
    batch_size: int = 64,
) -> list[TokenStats]:
    """The :class:`TokenStats` of each answer after its prompt, in batches."""
    model.eval()
    pairs = _encode(tokenizer, prompts, answers)
    device = next(model.parameters()).device
    results = []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        rows = [p + a for p, a in chunk]
        ids, mask, positions = pad_rows(rows, pad_token_id(tokenizer), "right", device)
        logits = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
        logp = torch.log_softmax(logits.float(), dim=-1)  # (batch, seq, vocab)
        for row, (prompt, answer) in enumerate(chunk):
            at = torch.arange(len(prompt) - 1, len(prompt) + len(answer) - 1, device=device)
            dist = logp[row, at]  # (answer, vocab): the distribution of each answer token
            target = torch.tensor(answer, device=device)  # (answer,)
            p = dist.exp()
            mean = (p * dist).nan_to_num().sum(-1)  # (answer,)
            var = (p * dist.square()).nan_to_num().sum(-1) - mean.square()  # (answer,)
            results.append(
                TokenStats(
                    logprobs=dist.gather(-1, target[:, None]).squeeze(-1).tolist(),
                    hits=(dist.argmax(-1) == target).tolist(),
                    means=mean.tolist(),
                    stds=var.clamp(min=0).sqrt().tolist(),
                )
            )
    return results


def answer_gradient_norms(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    answers: Sequence[str],
) -> list[float]:
    """The L2 norm, over every trainable parameter, of the gradient of each answer's
    mean token loss after its prompt (one backward pass per item; gradients are cleared
    afterwards and the weights are not changed)."""
    model.eval()
    device = next(model.parameters()).device
    params = [p for p in model.parameters() if p.requires_grad]
    norms = []
    for prompt, answer in _encode(tokenizer, prompts, answers):
        ids = torch.tensor([prompt + answer], device=device)  # (1, seq)
        with torch.enable_grad():
            logits = model(input_ids=ids).logits[0, len(prompt) - 1 : -1]  # (answer, vocab)
            loss = torch.nn.functional.cross_entropy(logits.float(), ids[0, len(prompt) :])
            grads = torch.autograd.grad(loss, params, allow_unused=True)
        squares = sum(float(g.float().square().sum()) for g in grads if g is not None)
        norms.append(math.sqrt(squares))
    return norms
