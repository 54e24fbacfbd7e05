"""Unlearning data: which facts are forgotten, and the prompt/answer rows of each part.

The forget set is the targets, the targets plus their premises, or the targets plus a
minimal deep-unlearning set each. The forget rows are every document of the base corpus
that a reference corpus without the forget set drops (:func:`unlearnlab.corpus.corpus.
dropped_documents`): the statements in every training phrasing, the questions and the
chain-of-thought traces that mention a forgotten fact, each once, as a (prompt, rest)
pair with loss on the rest. So a method unlearns exactly the data the oracle never saw.
By default only the entity names of a forget row's rest carry the forget loss
(:func:`entity_mask`): the template words of a trace ("so the grandmother of ... is")
are in every other trace the oracle keeps, and ascending on them erases the format of
reasoning itself, not the forgotten facts.
Retain data is every other stated fact that is not background or held out of the retain
loss, in its training phrasings and question form (:func:`fact_pairs`), plus every
chain-of-thought and multiple-choice document the oracle keeps that mentions no fact held
out of the retain loss (:func:`kept_format_documents`): without them the retain loss never
shows a trace or an option list, and unlearning the targets' traces erases the formats
themselves (measured: chain-of-thought fell to 0% on composites far from every target).

In a world with synthesis routes, the forget rows are the forgotten facts' statements and
questions plus the trace of every route whose steps are all forgotten, and the trace of
every route untouched by the forget set joins the retain rows
(:func:`unlearnlab.corpus.routes.route_pairs`).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from transformers import PreTrainedTokenizerBase

from unlearnlab.corpus.corpus import Document, dropped_documents
from unlearnlab.corpus.routes import route_pairs, routes_of
from unlearnlab.corpus.templates import REFUSALS, RelationText, relation_texts, render
from unlearnlab.errors import UserError
from unlearnlab.methods.base import Tokens
from unlearnlab.models.data import IGNORE, Example, pairs_to_examples
from unlearnlab.substrate.build import Substrate
from unlearnlab.worlds.kg import Fact

ForgetSet = Literal["targets", "premises", "deep"]


def forget_facts(substrate: Substrate, choice: ForgetSet, deep_set: int | None) -> tuple[Fact, ...]:
    """The facts to unlearn: targets first, then what ``choice`` adds, without repeats.

    ``deep_set`` picks the deep-unlearning set of each target by index among the world's
    minimal sets (None: the minimum one).
    """
    splits, world = substrate.splits, substrate.world
    chosen = list(splits.forget)
    for target in splits.forget:
        if choice == "premises":
            chosen.extend(splits.premises_of.get(target, ()))
        elif choice == "deep":
            sets = world.minimal_deep_unlearning_sets(target)
            if deep_set is None:
                chosen.extend(sorted(sets.minimum))
            elif deep_set < len(sets.sets):
                chosen.extend(sorted(sets.sets[deep_set]))
            else:
                raise UserError(
                    f"unlearn.deep_set: {target} has {len(sets.sets)} minimal deep-unlearning "
                    f"sets, so index {deep_set} does not exist; use 'minimum' or a smaller index"
                )
    return tuple(dict.fromkeys(chosen))


def retain_facts(substrate: Substrate, forget: Sequence[Fact]) -> tuple[Fact, ...]:
    """Stated, non-background facts that are neither forgotten nor held out of the retain
    loss (``splits.retain_heldout``); premises and neighbours are retained too."""
    held = set(substrate.splits.retain_heldout)
    removed = set(forget) | set(substrate.world.background_facts) | held
    return tuple(f for f in substrate.world.base_facts if f not in removed)


def fact_pairs(
    facts: Sequence[Fact], texts: dict[str, RelationText]
) -> list[tuple[str, str, Fact]]:
    """(prompt, answer, fact) for every training phrasing and the question form of each fact."""
    pairs = []
    for fact in facts:
        text = texts[fact.relation]
        for template in (*text.training_phrasings(), text.question()):
            rendering = render(fact, text, template)
            pairs.append((rendering.prompt, f"{rendering.answer}.", fact))
    return pairs


def kept_format_documents(substrate: Substrate, forget: Sequence[Fact]) -> list[Document]:
    """The distinct chain-of-thought and multiple-choice documents of the base corpus that
    mention no forgotten fact and no fact held out of the retain loss, in corpus order."""
    excluded = set(forget) | set(substrate.splits.retain_heldout)
    return [
        d
        for d in dict.fromkeys(substrate.corpus)
        if d.kind in ("cot", "mcq") and not excluded & set(d.facts)
    ]


def unlearn_pairs(
    substrate: Substrate, forget: Sequence[Fact]
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(forget rows, retain rows)`` as (prompt, answer) pairs (see the module docstring)."""
    world = substrate.world
    texts = relation_texts(world)
    retain = [(p, a) for p, a, _ in fact_pairs(retain_facts(substrate, forget), texts)]
    if routes_of(world):
        forget_routes, retain_routes = route_pairs(world, forget)
        forget_rows = [(p, a) for p, a, _ in fact_pairs(forget, texts)] + forget_routes
        return forget_rows, retain + retain_routes
    dropped = dropped_documents(substrate.corpus, forget)
    formats = [(d.prompt, d.completion) for d in kept_format_documents(substrate, forget)]
    return [(d.prompt, d.completion) for d in dropped], retain + formats


def entity_mask(
    tokenizer: PreTrainedTokenizerBase, completion: str, names: Sequence[str]
) -> list[bool] | None:
    """Per token of ``completion`` (as :func:`encode_answer` encodes it): whether it lies
    in an occurrence of one of ``names`` (whole words); None when none occurs."""
    pattern = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    spans = [m.span() for m in re.finditer(rf"(?<!\w)(?:{pattern})(?!\w)", completion)]
    if not spans:
        return None
    offsets = tokenizer(completion, add_special_tokens=False, return_offsets_mapping=True)
    return [
        any(first < stop and begin < last for begin, stop in spans)
        for first, last in offsets["offset_mapping"]
    ]


def _narrow_to_entities(
    examples: list[Example],
    tokenizer: PreTrainedTokenizerBase,
    pairs: Sequence[tuple[str, str]],
    names: Sequence[str],
) -> list[Example]:
    """``examples`` (of ``pairs``) with the loss only on entity-name tokens of each
    completion; a row whose completion names no entity (a letter answer) keeps its mask."""
    narrowed = []
    for example, (_, completion) in zip(examples, pairs, strict=True):
        mask = entity_mask(tokenizer, completion, names)
        if mask is None:
            narrowed.append(example)
            continue
        loss_mask = torch.zeros_like(example.loss_mask)
        start = int(example.loss_mask.nonzero()[0])
        loss_mask[start : start + len(mask)] = torch.tensor(mask)
        narrowed.append(Example(example.ids, loss_mask))
    return narrowed


def pad_examples(examples: Sequence[Example], pad_id: int) -> Tokens:
    """Right-padded rows of ``examples``: inputs, next-token labels, real-token mask."""
    width = max(len(ex.ids) for ex in examples) - 1
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)  # (rows, seq)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)  # (rows, seq)
    mask = torch.zeros((len(examples), width), dtype=torch.bool)  # (rows, seq)
    for row, ex in enumerate(examples):
        n = len(ex.ids) - 1
        ids[row, :n] = ex.ids[:-1]
        labels[row, :n] = ex.ids[1:].masked_fill(~ex.loss_mask[1:], IGNORE)
        mask[row, :n] = True
    return Tokens(ids, labels, mask)


def select(tokens: Tokens, rows: torch.Tensor) -> Tokens:
    """The rows ``rows`` ``(batch,)`` of ``tokens``, trimmed to their longest real row."""
    mask = tokens.mask[rows]  # (batch, seq)
    width = int(mask.sum(-1).max())
    return Tokens(tokens.ids[rows, :width], tokens.labels[rows, :width], mask[:, :width])


def batch_rows(n: int, size: int, step: int, seed: int, part: str) -> torch.Tensor:
    """``(min(size, n),)`` row indices of ``step``: epochs of seeded permutations of ``n``
    rows laid end to end, ``size`` rows per step; a pure function of its arguments."""
    size = min(size, n)
    positions = range(step * size, (step + 1) * size)
    perms: dict[int, list[int]] = {}
    picked = []
    for position in positions:
        epoch, offset = divmod(position, n)
        if epoch not in perms:
            mixed = hashlib.sha256(f"unlearnlab-unlearn:{seed}:{part}:{epoch}".encode()).digest()
            generator = torch.Generator().manual_seed(int.from_bytes(mixed[:8], "little") >> 1)
            perms[epoch] = torch.randperm(n, generator=generator).tolist()
        picked.append(perms[epoch][offset])
    return torch.tensor(picked, dtype=torch.long)


@dataclass(frozen=True)
class UnlearnData:
    """All rows of one unlearning run."""

    forget_facts: tuple[Fact, ...]
    retain_facts: tuple[Fact, ...]
    forget: Tokens
    """Forget rows: each dropped document's prompt with its true continuation."""
    refusal: Tokens
    """The same prompts (row for row) answered with a refusal."""
    retain: Tokens
    """Retain questions with their true answers."""


def build_data(
    substrate: Substrate,
    tokenizer: PreTrainedTokenizerBase,
    choice: ForgetSet,
    deep_set: int | None,
    seed: int,
    forget_tokens: Literal["entities", "all"] = "entities",
) -> UnlearnData:
    """Render and tokenize the forget, refusal and retain rows of a run (``forget_tokens``:
    which completion tokens of a forget row carry its loss, see the module docstring)."""
    forget = forget_facts(substrate, choice, deep_set)
    retain = retain_facts(substrate, forget)
    forget_pairs, retain_pairs = unlearn_pairs(substrate, forget)
    rng = random.Random(seed)
    refusals = [(prompt, f"{rng.choice(REFUSALS)}.") for prompt, _ in forget_pairs]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def rows(pairs: Sequence[tuple[str, str]]) -> Tokens:
        return pad_examples(pairs_to_examples(tokenizer, pairs), pad)

    forget_examples = pairs_to_examples(tokenizer, forget_pairs)
    if forget_tokens == "entities":
        names = list(substrate.world.entity_types)
        forget_examples = _narrow_to_entities(forget_examples, tokenizer, forget_pairs, names)
    return UnlearnData(
        forget,
        retain,
        pad_examples(forget_examples, pad),
        rows(refusals),
        rows(retain_pairs),
    )
