"""Hidden-state probes: is a fact still readable from the residual stream?

- ``hidden.linear_probe.layer{k}``: a multinomial logistic regression per layer (``k`` = 0
  is the embedding output, ``k`` = i the output of block i), trained on retain facts to
  predict the answer entity from the representation of the query's given entity (its
  last token in the canonical prompt "The mother of Bea Lee is"), tested on other facts
  (forget targets). Predictions are restricted to entities of the answer's type, as in
  ranking; chance is 1 / their number.
- ``hidden.logit_lens.layer{k}``: the last prompt position's residual at layer ``k``,
  decoded through the final norm and the output embedding; ``rank`` is the rank of the
  answer's first token in the whole vocabulary, ``correct`` that it is top-1.

Activations are captured by forward hooks that :func:`residual_stream` installs and
always removes; :func:`residual_hooks` lets a hook replace them (attacks edit the
residual stream through it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearnlab.corpus.templates import CANONICAL, relation_texts, render
from unlearnlab.models.data import continuation, encode_answer, encode_prompt
from unlearnlab.probes.registry import SuiteInputs, probes, sample
from unlearnlab.probes.results import ProbeRow
from unlearnlab.probes.scoring import pad_rows, pad_token_id
from unlearnlab.worlds.kg import Fact, World

LINEAR_PROBE = "hidden.linear_probe.layer{k}"
LOGIT_LENS = "hidden.logit_lens.layer{k}"

Edit = Callable[[int, torch.Tensor], torch.Tensor | None]
"""A residual-stream hook: (layer index, residual (batch, seq, hidden)) -> a replacement,
or None to leave it as it is."""


@contextmanager
def residual_hooks(model: PreTrainedModel, edit: Edit) -> Iterator[None]:
    """Inside the block, every forward pass calls ``edit`` on the embedding output (layer
    0) and on every block's output (layer i), in order, and continues with what it
    returns. The hooks are removed on exit, also after an error."""
    decoder = model.get_decoder()
    modules = [model.get_input_embeddings(), *decoder.layers]

    def hook_for(index: int):
        def hook(module: torch.nn.Module, args: object, output: object) -> object:
            tensor = output[0] if isinstance(output, tuple) else output
            replaced = edit(index, tensor)
            if replaced is None:
                return None
            return (replaced, *output[1:]) if isinstance(output, tuple) else replaced

        return hook

    handles = []
    try:
        for i, module in enumerate(modules):
            handles.append(module.register_forward_hook(hook_for(i)))
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def residual_stream(model: PreTrainedModel) -> Iterator[list[torch.Tensor]]:
    """Capture the residual stream: inside the block, each forward pass fills the yielded
    list with the embedding output and every block's output, each (batch, seq, hidden)."""
    captured: list[torch.Tensor] = []

    def keep(index: int, tensor: torch.Tensor) -> None:
        if index == 0:
            captured.clear()
        captured.append(tensor.detach())

    with residual_hooks(model, keep):
        yield captured


@torch.inference_mode()
def states_at(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    from_end: Sequence[int],
    *,
    batch_size: int = 256,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The residual stream of every layer at position ``len(prompt) - from_end[i]`` of each
    prompt, (layers + 1, n, hidden), and the next-token log-probabilities after each whole
    prompt, (n, vocab)."""
    model.eval()
    device = next(model.parameters()).device
    states, logps = [], []
    for start in range(0, len(prompts), batch_size):
        rows = [encode_prompt(tokenizer, p) for p in prompts[start : start + batch_size]]
        pad = pad_token_id(tokenizer)
        ids, mask, positions = pad_rows(rows, pad, "left", device)  # each (batch, seq)
        with residual_stream(model) as captured:
            logits = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
        column = ids.shape[1] - torch.tensor(from_end[start : start + len(rows)], device=device)
        rows_index = torch.arange(len(rows), device=device)
        stacked = torch.stack(captured)  # (layers + 1, batch, seq, hidden)
        states.append(stacked[:, rows_index, column])  # (layers + 1, batch, hidden)
        logps.append(torch.log_softmax(logits[:, -1].float(), dim=-1))  # (batch, vocab)
    return torch.cat(states, dim=1), torch.cat(logps)


def _subject_states(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, world: World, facts: Sequence[Fact]
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """States at the given entity's last token and at the prompt's end, and the answers."""
    texts = relation_texts(world)
    prompts, from_end, answers = [], [], []
    for fact in facts:
        r = render(fact, texts[fact.relation], CANONICAL)
        given = texts[fact.relation].given(fact)
        head = r.prompt[: r.prompt.index(given) + len(given)]
        full = len(encode_prompt(tokenizer, r.prompt))
        from_end.append(full - len(encode_prompt(tokenizer, head)) + 1)
        prompts.append(r.prompt)
        answers.append(r.answer)
    subject, _ = states_at(model, tokenizer, prompts, from_end)
    last, _ = states_at(model, tokenizer, prompts, [1] * len(prompts))
    return subject, last, answers


def _fit(features: torch.Tensor, labels: torch.Tensor, classes: int, steps: int) -> torch.nn.Linear:
    """Full-batch logistic regression from zero weights (deterministic)."""
    probe = torch.nn.Linear(features.shape[1], classes)
    torch.nn.init.zeros_(probe.weight)
    torch.nn.init.zeros_(probe.bias)
    optimiser = torch.optim.Adam(probe.parameters(), lr=0.05, weight_decay=1e-3)
    for _ in range(steps):
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(probe(features), labels)
        loss.backward()
        optimiser.step()
    return probe


def hidden_rows(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    world: World,
    train_facts: Sequence[Fact],
    test_facts: Sequence[Fact],
    *,
    split: str,
    steps: int = 200,
) -> list[ProbeRow]:
    """Linear-probe and logit-lens rows for ``test_facts``, per layer (see the module)."""
    train_subject, _, train_answers = _subject_states(model, tokenizer, world, train_facts)
    test_subject, test_last, test_answers = _subject_states(model, tokenizer, world, test_facts)
    types = world.entity_types
    entities = sorted({*train_answers, *test_answers})
    position = {e: i for i, e in enumerate(entities)}
    labels = torch.tensor([position[a] for a in train_answers])  # (n_train,)
    allowed = torch.tensor(
        [[types.get(e) == types.get(a) for e in entities] for a in test_answers]
    )  # (n_test, classes)
    rows = []
    decoder = model.get_decoder()
    head = model.get_output_embeddings()
    # the first token of each answer as it follows "... is" in a sentence
    first = [encode_answer(tokenizer, continuation("is", a))[0] for a in test_answers]
    first_tokens = torch.tensor(first)
    pools = allowed.sum(-1).tolist()  # (n_test,)
    for layer in range(train_subject.shape[0]):
        x_train, x_test = train_subject[layer].float(), test_subject[layer].float()
        mean, std = x_train.mean(0), x_train.std(0).clamp(min=1e-6)  # (hidden,)
        with torch.enable_grad():
            probe = _fit((x_train - mean) / std, labels, len(entities), steps)
        with torch.no_grad():
            scores = probe((x_test - mean) / std).masked_fill(~allowed, float("-inf"))
            predicted = scores.argmax(-1)  # (n_test,)
            lens = head(decoder.norm(test_last[layer])).float()  # (n_test, vocab)
        truth = lens.gather(-1, first_tokens[:, None])  # (n_test, 1)
        lens_rank = 1 + (lens > truth).sum(-1)  # (n_test,)
        for i, (fact, answer) in enumerate(zip(test_facts, test_answers, strict=True)):
            rows.append(
                ProbeRow(
                    LINEAR_PROBE.format(k=layer),
                    "subject_state",
                    split,
                    str(fact),
                    entities[int(predicted[i])] == answer,
                    chance=1.0 / pools[i],
                )
            )
            rank = int(lens_rank[i])
            rows.append(
                ProbeRow(
                    LOGIT_LENS.format(k=layer),
                    "last_position",
                    split,
                    str(fact),
                    rank == 1,
                    rank=rank,
                    chance=1.0 / lens.shape[-1],
                )
            )
    return rows


@probes(
    "hidden",
    {
        LINEAR_PROBE: "a linear probe on layer k's state of the given entity names the answer",
        LOGIT_LENS: "the logit lens at layer k ranks the answer's first token top-1",
    },
)
def hidden_suite(inputs: SuiteInputs, earlier: Sequence[ProbeRow]) -> list[ProbeRow]:
    """The hidden-state probes on the forget targets (and the holdout, where there is one),
    trained once on a sample of retain facts."""
    config = inputs.config
    train = sample(inputs.splits.retain, config.hidden_train, config.seed, "hidden")
    holdout = inputs.facts.get("holdout", [])
    facts = [*inputs.facts["forget"], *holdout]
    rows = hidden_rows(inputs.model, inputs.tokenizer, inputs.world, train, facts, split="forget")
    held = {str(f) for f in holdout}
    return [replace(r, split="holdout") if r.item in held else r for r in rows]
