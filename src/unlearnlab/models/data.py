"""Training data: examples with loss masks, packed (or padded) into fixed-length rows.

An :class:`Example` is a token sequence plus a mask saying which tokens are predicted
with loss: every token of a document, or only the answer of a (prompt, answer) pair.
:class:`RowSource` turns examples into rows of ``seq_len`` inputs and labels. Packed, the
examples of an epoch are shuffled, concatenated and cut into rows with no padding (only
the last row of an epoch is padded), so a document lands at a different offset each
epoch; unpacked, each example is one right-padded row. The rows of step ``s`` are a pure
function of ``(seed, s)``, which makes resumed runs exact.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from unlearnlab.errors import UserError

IGNORE = -100
"""Label of a position without loss (PyTorch's ``cross_entropy`` ``ignore_index``)."""


@dataclass(frozen=True)
class Example:
    """One training sequence and the tokens whose prediction counts in the loss."""

    ids: torch.Tensor
    """Token ids, ``(length,)`` int64."""
    loss_mask: torch.Tensor
    """``(length,)`` bool: True where predicting this token from the ones before counts."""


def encode_prompt(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    """Token ids of a prompt or document start, with the tokenizer's special prefix (bos)."""
    return list(tokenizer(text, add_special_tokens=True)["input_ids"])


def encode_answer(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    """Token ids of a continuation, to be appended to :func:`encode_prompt`'s ids.

    With sub-word tokenizers that mark spaces inside tokens (GPT-2 style), pass the
    space that separates answer from prompt as part of the answer: ``" Lee"``.
    """
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def continuation(prompt: str, text: str) -> str:
    """``text`` as it follows ``prompt`` in a document: after one space, unless the prompt
    ends in whitespace or ``text`` begins with it. Encode this, not the bare text: sub-word
    tokenizers (GPT-2, SentencePiece) mark the space inside the next token, and a word-level
    tokenizer ignores it."""
    if not text or not prompt or prompt[-1].isspace() or text[0].isspace():
        return text
    return f" {text}"


def _eos(tokenizer: PreTrainedTokenizerBase) -> int:
    if tokenizer.eos_token_id is None:
        raise UserError("the tokenizer has no eos token; set tokenizer.eos_token before training")
    return int(tokenizer.eos_token_id)


def documents_to_examples(
    tokenizer: PreTrainedTokenizerBase, documents: Iterable[str]
) -> list[Example]:
    """Examples that train on every token of each document, ended by eos."""
    eos = _eos(tokenizer)
    examples = []
    for doc in documents:
        ids = torch.tensor([*encode_prompt(tokenizer, doc), eos], dtype=torch.long)  # (len,)
        mask = torch.ones_like(ids, dtype=torch.bool)
        mask[0] = ids[0] != tokenizer.bos_token_id  # bos is given, never predicted
        examples.append(Example(ids, mask))
    return examples


def pairs_to_examples(
    tokenizer: PreTrainedTokenizerBase, pairs: Iterable[tuple[str, str]]
) -> list[Example]:
    """Examples that train only on the answer (and the eos after it) of each pair."""
    eos = _eos(tokenizer)
    examples = []
    for prompt, answer in pairs:
        prompt_ids = encode_prompt(tokenizer, prompt)
        answer_ids = [*encode_answer(tokenizer, continuation(prompt, answer)), eos]
        ids = torch.tensor(prompt_ids + answer_ids, dtype=torch.long)  # (len,)
        mask = torch.zeros_like(ids, dtype=torch.bool)
        mask[len(prompt_ids) :] = True
        examples.append(Example(ids, mask))
    return examples


def fingerprint(examples: Sequence[Example]) -> str:
    """sha256 of the examples' ids and masks, in order (to check a resume uses the same data)."""
    digest = hashlib.sha256()
    for ex in examples:
        digest.update(ex.ids.numpy().tobytes())
        digest.update(ex.loss_mask.numpy().tobytes())
        digest.update(b"|")
    return digest.hexdigest()


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    mixed = hashlib.sha256(f"unlearnlab-data:{seed}:{epoch}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(mixed[:8], "little") >> 1)


class RowSource:
    """Rows of ``(inputs, labels)``, each ``(seq_len,)``, drawn epoch after epoch.

    Labels are the next tokens, or :data:`IGNORE` where there is no loss. Epoch ``e``
    shuffles the examples with a generator seeded by ``(seed, e)``; step ``s`` takes rows
    ``s * rows_per_step`` to ``(s + 1) * rows_per_step`` of the endless sequence of epochs.
    """

    def __init__(
        self,
        examples: Sequence[Example],
        *,
        seq_len: int,
        pad_id: int,
        pack: bool,
        seed: int,
    ) -> None:
        if not examples:
            raise UserError("no training examples; give at least one document or pair")
        self._ids = [ex.ids for ex in examples]
        self._masks = [ex.loss_mask for ex in examples]
        self._seq_len = seq_len
        self.pad_token_id = pad_id
        self._pack = pack
        self._seed = seed
        self._cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        if pack:
            total = sum(len(ids) for ids in self._ids)
            self.rows_per_epoch = max(1, math.ceil((total - 1) / seq_len))
        else:
            longest = max(len(ids) for ids in self._ids)
            if longest > seq_len + 1:
                raise UserError(
                    f"an example has {longest} tokens but unpacked rows hold seq_len + 1 = "
                    f"{seq_len + 1}; raise seq_len to at least {longest - 1} or use packing"
                )
            self.rows_per_epoch = len(self._ids)

    def _epoch(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and labels of all rows of ``epoch``, each ``(rows_per_epoch, seq_len)``."""
        if epoch not in self._cache:
            self._cache = {e: rows for e, rows in self._cache.items() if e >= epoch - 1}
            order = torch.randperm(len(self._ids), generator=_epoch_generator(self._seed, epoch))
            if self._pack:
                self._cache[epoch] = self._packed(order.tolist())
            else:
                self._cache[epoch] = self._padded(order.tolist())
        return self._cache[epoch]

    def _packed(self, order: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        rows, width = self.rows_per_epoch, self._seq_len
        stream = torch.cat([self._ids[i] for i in order])  # (total,)
        mask = torch.cat([self._masks[i] for i in order])  # (total,)
        room = rows * width + 1
        stream = torch.nn.functional.pad(stream, (0, room - len(stream)), value=self.pad_token_id)
        mask = torch.nn.functional.pad(mask, (0, room - len(mask)), value=False)
        inputs = stream[:-1].view(rows, width)  # (rows, seq)
        labels = stream[1:].masked_fill(~mask[1:], IGNORE).view(rows, width)  # (rows, seq)
        return inputs, labels

    def _padded(self, order: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        rows, width = len(order), self._seq_len
        inputs = torch.full((rows, width), self.pad_token_id, dtype=torch.long)  # (rows, seq)
        labels = torch.full((rows, width), IGNORE, dtype=torch.long)  # (rows, seq)
        for row, i in enumerate(order):
            ids, mask = self._ids[i], self._masks[i]
            inputs[row, : len(ids) - 1] = ids[:-1]
            labels[row, : len(ids) - 1] = ids[1:].masked_fill(~mask[1:], IGNORE)
        return inputs, labels

    def rows(self, start: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows ``start`` to ``start + count`` of the endless epoch sequence, ``(count, seq)``."""
        index = torch.arange(start, start + count)  # (count,)
        epochs, offsets = index // self.rows_per_epoch, index % self.rows_per_epoch
        inputs = torch.empty((count, self._seq_len), dtype=torch.long)  # (count, seq)
        labels = torch.empty((count, self._seq_len), dtype=torch.long)  # (count, seq)
        for epoch in epochs.unique().tolist():
            pick = epochs == epoch
            epoch_inputs, epoch_labels = self._epoch(epoch)
            inputs[pick] = epoch_inputs[offsets[pick]]
            labels[pick] = epoch_labels[offsets[pick]]
        return inputs, labels
