"""Greedy decoding, batched, with a KV cache, stop strings and banned tokens: the other
way models are asked things (scoring is in :mod:`unlearnlab.probes.scoring`; the same
prompt encoding and padding)."""

from __future__ import annotations

import inspect
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearnlab.errors import UserError
from unlearnlab.models.data import encode_prompt
from unlearnlab.probes.scoring import model_device, pad_rows, pad_token_id


@dataclass(frozen=True)
class Generation:
    """A greedy continuation of one prompt."""

    text: str
    """Decoded continuation, without eos and cut before the first stop string."""
    token_ids: list[int]
    """Generated ids, up to and including the one that completed a stop string; no eos."""
    stop_reason: Literal["eos", "stop", "length"]
    """Why generation ended: eos, a stop string, or ``max_new_tokens``."""


def cache_argument(model: PreTrainedModel) -> str:
    """The KV-cache keyword: ``cache`` in current transformers, formerly ``past_key_values``."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _cut_at_stop(text: str, stop: Sequence[str]) -> str | None:
    """``text`` before the earliest stop string in it, or None if there is none."""
    hits = [text.index(s) for s in stop if s in text]
    return text[: min(hits)] if hits else None


@torch.inference_mode()
def greedy_decode(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    *,
    max_new_tokens: int,
    stop: Sequence[str] = (),
    batch_size: int = 32,
    use_cache: bool = True,
    banned: Sequence[Collection[int]] | None = None,
) -> list[Generation]:
    """Greedy continuation of each prompt until eos, a stop string, or ``max_new_tokens``.

    Prompts are left-padded into batches and decoded with a KV cache; ``use_cache=False``
    recomputes the whole sequence at every step and yields the same tokens. ``banned``
    gives, per prompt, token ids the continuation never takes (their logits are -inf).
    """
    if banned is not None and len(banned) != len(prompts):
        raise UserError(f"banned has {len(banned)} entries for {len(prompts)} prompts")
    if max_new_tokens < 1:
        raise UserError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
    if any(not s for s in stop):
        raise UserError("stop strings must be non-empty")
    model.eval()
    device, pad, eos = model_device(model), pad_token_id(tokenizer), tokenizer.eos_token_id
    cache_name = cache_argument(model)
    results: list[Generation] = []
    for start in range(0, len(prompts), batch_size):
        rows = [encode_prompt(tokenizer, p) for p in prompts[start : start + batch_size]]
        if not all(rows):
            raise UserError("a prompt encodes to no tokens; give non-empty prompts")
        ids, mask, positions = pad_rows(rows, pad, "left", device)  # each (batch, prompt)
        generated: list[list[int]] = [[] for _ in rows]
        ended: list[Generation | None] = [None] * len(rows)
        step_ids, step_positions, cache = ids, positions, None
        for _ in range(max_new_tokens):
            inputs = (
                {"input_ids": step_ids, "position_ids": step_positions}
                if use_cache
                else {"input_ids": ids, "position_ids": positions}
            )
            out = model(
                **inputs,
                attention_mask=mask,
                use_cache=use_cache,
                logits_to_keep=1,
                **({cache_name: cache} if use_cache else {}),
            )
            cache = getattr(out, cache_name) if use_cache else None
            logits = out.logits[:, -1]  # (batch, vocab)
            if banned is not None:
                logits = logits.clone()
                for row, tokens in enumerate(banned[start : start + len(rows)]):
                    if tokens:
                        logits[row, list(tokens)] = float("-inf")
            next_ids = logits.argmax(dim=-1)  # (batch,)
            for row, token in enumerate(next_ids.tolist()):
                if ended[row] is not None:
                    continue
                if token == eos:
                    ended[row] = _generation(tokenizer, generated[row], stop, "eos")
                    continue
                generated[row].append(token)
                if stop:
                    text = tokenizer.decode(generated[row], skip_special_tokens=True)
                    if _cut_at_stop(text, stop) is not None:
                        ended[row] = _generation(tokenizer, generated[row], stop, "stop")
            if all(e is not None for e in ended):
                break
            step_ids = next_ids.unsqueeze(-1)  # (batch, 1)
            step_positions = positions[:, -1:] + 1  # (batch, 1)
            ids = torch.cat([ids, step_ids], dim=-1)  # (batch, seq + 1)
            positions = torch.cat([positions, step_positions], dim=-1)  # (batch, seq + 1)
            mask = torch.cat([mask, torch.ones_like(step_ids)], dim=-1)  # (batch, seq + 1)
        results.extend(
            e if e is not None else _generation(tokenizer, g, stop, "length")
            for e, g in zip(ended, generated, strict=True)
        )
    return results


def _generation(
    tokenizer: PreTrainedTokenizerBase,
    token_ids: list[int],
    stop: Sequence[str],
    reason: Literal["eos", "stop", "length"],
) -> Generation:
    text = tokenizer.decode(token_ids, skip_special_tokens=True)
    cut = _cut_at_stop(text, stop)
    return Generation(
        text=text if cut is None else cut, token_ids=list(token_ids), stop_reason=reason
    )
