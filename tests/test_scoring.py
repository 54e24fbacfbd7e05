"""Scoring: exact log-likelihoods, padding invariance, rankings with near misses, decoding."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedModel, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from unlearnlab.corpus.tokenizer import build_tokenizer
from unlearnlab.errors import UserError
from unlearnlab.models.data import pairs_to_examples
from unlearnlab.models.factory import ModelSpec, build_model
from unlearnlab.models.training import TrainConfig, train
from unlearnlab.probes.candidates import candidate_logprobs, pack_candidates
from unlearnlab.probes.decoding import greedy_decode
from unlearnlab.probes.scoring import (
    answer_logprobs,
    encode_ranking,
    rank_answers,
    score_answers,
)

TINY = ModelSpec(hidden_size=32, layers=2, heads=2, intermediate_size=64, max_positions=64)


class Bigram(torch.nn.Module):
    """A causal LM whose next-token distribution depends on the current token only."""

    def __init__(self, probs: torch.Tensor) -> None:
        super().__init__()
        self.table = torch.nn.Parameter(probs.log())  # (vocab, vocab)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        cache: object = None,
        use_cache: bool = False,
        logits_to_keep: int = 0,
    ) -> SimpleNamespace:
        logits = self.table[input_ids]  # (batch, seq, vocab)
        return SimpleNamespace(logits=logits[:, -logits_to_keep:], cache=None)


@pytest.fixture(scope="module")
def words(tmp_path_factory: pytest.TempPathFactory) -> PreTrainedTokenizerBase:
    return build_tokenizer(["Ann is Lee Smith Bob."], tmp_path_factory.mktemp("words"))


def _bigram(tok: PreTrainedTokenizerBase, rules: dict[str, dict[str, float]]) -> Bigram:
    """Uniform rows, except that ``rules[a][b]`` is P(b | a) (the rest spread evenly)."""
    vocab = len(tok)
    named = {t for row in rules.values() for t in row} | set(rules)
    assert tok.unk_token_id not in tok.convert_tokens_to_ids(sorted(named))
    probs = torch.full((vocab, vocab), 1.0 / vocab, dtype=torch.float64)
    for a, row in rules.items():
        rest = (1.0 - sum(row.values())) / (vocab - len(row))
        probs[tok.convert_tokens_to_ids(a)] = rest
        for b, p in row.items():
            probs[tok.convert_tokens_to_ids(a), tok.convert_tokens_to_ids(b)] = p
    return Bigram(probs)


RULES = {
    "<bos>": {"▁Ann": 0.9},
    "▁Ann": {"▁is": 0.5, "▁Smith": 0.3, "▁Lee": 0.1},
    "▁is": {"▁Ann": 0.6, "▁Bob": 0.2},
    "▁Lee": {".": 0.7},
    "▁Bob": {".": 0.4},
    ".": {"<eos>": 0.95},
}


def test_hand_computed_logprobs(words: PreTrainedTokenizerBase) -> None:
    model = _bigram(words, RULES)
    scores = score_answers(model, words, ["Ann is", "Ann is", "Ann"], ["Ann Lee", "Bob", "is"])
    assert scores[0].logprob == pytest.approx(math.log(0.6 * 0.1))
    assert scores[0].mean_logprob == pytest.approx(math.log(0.6 * 0.1) / 2)
    assert scores[0].n_tokens == 2
    assert scores[1].logprob == pytest.approx(math.log(0.2))
    assert scores[2].logprob == pytest.approx(math.log(0.5))


def test_near_miss_sharing_first_token_is_not_correct(words: PreTrainedTokenizerBase) -> None:
    model = _bigram(words, RULES)
    options = ["Ann Lee", "Ann Smith", "Bob"]
    truth_lee, truth_smith = rank_answers(
        model, words, ["Ann is", "Ann is"], ["Ann Lee", "Ann Smith"], [options, options]
    )
    # Scores: Ann Lee 0.6 * 0.1, Ann Smith 0.6 * 0.3, Bob 0.2.
    total = 0.06 + 0.18 + 0.2
    assert (truth_lee.rank, truth_lee.correct) == (3, False)
    assert truth_lee.probability == pytest.approx(0.06 / total)
    assert (truth_smith.rank, truth_smith.correct) == (2, False)
    assert truth_smith.probability == pytest.approx(0.18 / total)
    assert truth_smith.scores == pytest.approx([math.log(p) for p in (0.06, 0.18, 0.2)])
    # Per-token means: Ann Lee sqrt(0.06), Ann Smith sqrt(0.18) > Bob 0.2.
    [by_mean] = rank_answers(
        model, words, ["Ann is"], ["Ann Smith"], [options], length_normalized=True
    )
    assert (by_mean.rank, by_mean.correct) == (1, True)


def test_ties_count_against_the_truth(words: PreTrainedTokenizerBase) -> None:
    model = _bigram(words, {"▁is": {"▁Lee": 0.3, "▁Bob": 0.3}})
    [tie] = rank_answers(model, words, ["Ann is"], ["Lee"], [["Lee", "Bob"]])
    assert (tie.rank, tie.correct, tie.probability) == (2, False, pytest.approx(0.5))


def test_ranking_input_errors(words: PreTrainedTokenizerBase) -> None:
    model = _bigram(words, RULES)
    with pytest.raises(UserError, match="contain the answer 'Lee'"):
        rank_answers(model, words, ["Ann is"], ["Lee"], [["Bob", "Smith"]])
    with pytest.raises(UserError, match="distinct"):
        rank_answers(model, words, ["Ann is"], ["Lee"], [["Lee", "Lee"]])
    with pytest.raises(UserError, match="answer encodes to no tokens"):
        score_answers(model, words, ["Ann is"], [""])


@pytest.fixture(scope="module")
def llama(words: PreTrainedTokenizerBase) -> PreTrainedModel:
    return build_model(TINY, words, seed=5).eval()


def test_padding_side_and_batching_do_not_change_scores(
    llama: PreTrainedModel, words: PreTrainedTokenizerBase
) -> None:
    prompts = ["Ann", "Ann is Lee Smith Bob", "Bob is", "Lee"]
    answers = ["is Lee Smith .", "Ann", "Ann Bob", "Smith ."]
    left = score_answers(llama, words, prompts, answers, batch_size=4, padding_side="left")
    right = score_answers(llama, words, prompts, answers, batch_size=4, padding_side="right")
    alone = score_answers(llama, words, prompts, answers, batch_size=1)
    for a, b, c, prompt, answer in zip(left, right, alone, prompts, answers, strict=True):
        assert a.logprob == pytest.approx(c.logprob, abs=1e-5)
        assert b.logprob == pytest.approx(c.logprob, abs=1e-5)
        # Reference: one unpadded forward pass, summed by hand.
        p = words(prompt)["input_ids"]
        ids = torch.tensor([p + words(answer, add_special_tokens=False)["input_ids"]])
        with torch.no_grad():
            logp = torch.log_softmax(llama(ids).logits[0, :-1], -1)  # (seq - 1, vocab)
        by_hand = sum(logp[t - 1, ids[0, t]].item() for t in range(len(p), ids.shape[1]))
        assert c.logprob == pytest.approx(by_hand, abs=1e-5)


def test_packed_candidates_equal_one_row_per_pair(llama: PreTrainedModel) -> None:
    # Prefix sharing (7 9 and 7 9 4 share two tokens), one-token candidates, prompts of
    # different lengths, and chunks of one row each (max_tokens=1) or all rows together.
    prompts = [[1, 5, 6], [1], [1, 8, 5, 6, 9]]
    groups = [[[7, 9], [7, 9, 4], [4], [9, 7]], [[5], [6, 6, 6]], [[7, 9, 4], [7, 8]]]
    pairs = [(p, c) for p, group in zip(prompts, groups, strict=True) for c in group]
    reference = answer_logprobs(llama, [p for p, _ in pairs], [c for _, c in pairs], pad_id=0)
    expected = [s.logprob for s in reference]
    for max_tokens in (1, 10_000):
        packed = candidate_logprobs(llama, prompts, groups, pad_id=0, max_tokens=max_tokens)
        got = [v for group in packed for v in group]
        assert [len(g) for g in packed] == [4, 2, 2]
        assert got == pytest.approx(expected, abs=1e-5)
    with pytest.raises(UserError, match="item 1: a prompt or candidate is empty"):
        candidate_logprobs(llama, [[1], [2]], [[[3]], [[]]], pad_id=0)


def test_answer_logprobs_checks_lengths(llama: PreTrainedModel) -> None:
    with pytest.raises(UserError, match="2 prompts but 1 answers"):
        answer_logprobs(llama, [[2], [2]], [[4]], pad_id=0)


def test_cached_greedy_equals_uncached_token_for_token(
    llama: PreTrainedModel, words: PreTrainedTokenizerBase
) -> None:
    prompts = ["Ann", "Ann is Lee Smith Bob .", "Bob is", "Lee Lee"]
    cached = greedy_decode(llama, words, prompts, max_new_tokens=12, batch_size=4)
    uncached = greedy_decode(llama, words, prompts, max_new_tokens=12, use_cache=False)
    one_by_one = greedy_decode(llama, words, prompts, max_new_tokens=12, batch_size=1)
    assert [g.token_ids for g in cached] == [g.token_ids for g in uncached]
    assert [g.token_ids for g in cached] == [g.token_ids for g in one_by_one]
    assert len({tuple(g.token_ids) for g in cached}) > 1  # not a degenerate constant output
    for g in cached:
        assert g.text == words.decode(g.token_ids, skip_special_tokens=True)


def test_decoding_stops_at_eos_stop_string_or_length(words: PreTrainedTokenizerBase) -> None:
    model = _bigram(words, {"▁is": {"▁Lee": 0.9}, "▁Lee": {".": 0.9}, ".": {"<eos>": 0.9}})
    [eos] = greedy_decode(model, words, ["Ann is"], max_new_tokens=10)
    assert (eos.text, eos.stop_reason, len(eos.token_ids)) == ("Lee.", "eos", 2)
    [stop] = greedy_decode(model, words, ["Ann is"], max_new_tokens=10, stop=["."])
    assert (stop.text, stop.stop_reason, len(stop.token_ids)) == ("Lee", "stop", 2)
    [length] = greedy_decode(model, words, ["Ann is"], max_new_tokens=1)
    assert (length.text, length.stop_reason) == ("Lee", "length")


def test_banned_tokens_are_never_generated(words: PreTrainedTokenizerBase) -> None:
    """The bigram's first choice after "is" is Lee; banned for the second prompt only, it
    takes the next most likely token there (Bob) and keeps Lee in the first."""
    model = _bigram(
        words, {"▁is": {"▁Lee": 0.6, "▁Bob": 0.3}, "▁Lee": {"<eos>": 0.9}, "▁Bob": {"<eos>": 0.9}}
    )
    lee = words.convert_tokens_to_ids("▁Lee")
    free, banned = greedy_decode(
        model, words, ["Ann is", "Ann is"], max_new_tokens=4, banned=[set(), {lee}]
    )
    assert (free.text, banned.text) == ("Lee", "Bob")
    with pytest.raises(UserError, match="banned has 1 entries for 2 prompts"):
        greedy_decode(model, words, ["Ann is", "Ann is"], max_new_tokens=4, banned=[set()])


def _subword_tokenizer() -> PreTrainedTokenizerFast:
    """A hand-built BPE: " Leeds" is "▁Lee" + "ds", " Leek" is "▁Lee" + "k"."""
    wholes = ["▁Ann", "▁Bob", "▁lives", "▁in", "▁Lee", "ds"]
    chars = sorted(set("".join(wholes)) | set("k."))
    vocab = {t: i for i, t in enumerate(["<pad>", "<unk>", "<bos>", "<eos>", *chars])}
    merges = []
    for word in wholes:
        for i in range(2, len(word) + 1):
            merges.append((word[: i - 1], word[i - 1]))
            vocab.setdefault(word[:i], len(vocab))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="always")
    tok.decoder = decoders.Metaspace(prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", special_tokens=[("<bos>", vocab["<bos>"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<bos>",
        eos_token="<eos>",
        unk_token="<unk>",
        pad_token="<pad>",
    )


def test_subword_answers_need_every_token(tmp_path: Path) -> None:
    tok = _subword_tokenizer()
    assert tok.tokenize(" Leeds") == ["▁Lee", "ds"]
    assert tok.tokenize("Leek.") == ["▁Lee", "k", "."]
    pairs = [("Ann lives in", "Leeds."), ("Bob lives in", "Leek.")]
    model = build_model(
        ModelSpec(hidden_size=64, layers=2, heads=2, intermediate_size=128), tok, seed=0
    )
    config = TrainConfig(
        steps=60, batch_size=2, seq_len=12, pack=False, lr=1e-2, warmup_steps=5, weight_decay=0.0
    )
    train(model, pairs_to_examples(tok, pairs), config, pad_id=0, show_progress=False)
    options = ["Leeds", "Leek", "Lee"]
    prompts = ["Ann lives in", "Bob lives in", "Ann lives in"]
    right_a, right_b, near_miss = rank_answers(
        model, tok, prompts, ["Leeds", "Leek", "Leek"], [options] * 3, suffix="."
    )
    assert right_a.correct and right_b.correct
    assert right_a.probability > 0.9
    assert not near_miss.correct and near_miss.rank >= 2
    # "Lee" is a token prefix of "Leeds": only the suffix keeps it from winning.
    [prefix_unsuffixed] = rank_answers(model, tok, ["Ann lives in"], ["Lee"], [options])
    [prefix_suffixed] = rank_answers(model, tok, ["Ann lives in"], ["Lee"], [options], suffix=".")
    assert prefix_unsuffixed.correct
    assert not prefix_suffixed.correct
    [gen] = greedy_decode(model, tok, ["Bob lives in"], max_new_tokens=5)
    assert (gen.text, gen.stop_reason) == ("Leek.", "eos")


@settings(max_examples=40, deadline=None)
@given(
    prompts=st.lists(st.lists(st.integers(1, 5), min_size=1, max_size=4), min_size=1, max_size=3),
    candidates=st.lists(
        st.lists(st.lists(st.integers(1, 3), min_size=1, max_size=3), min_size=1, max_size=4),
        min_size=3,
        max_size=3,
    ),
)
def test_the_tree_mask_is_the_brute_force_one(prompts, candidates) -> None:
    """Each position of a packed row attends exactly: in the prompt, the positions up to
    itself; in the tree, the whole prompt, its ancestors and itself (found by brute force
    from the node prefixes); padding, itself only."""
    groups = [[list(c) for c in dict.fromkeys(map(tuple, g))] for g in candidates[: len(prompts)]]
    packed = pack_candidates(prompts, groups, pad_id=0, max_tokens=64)
    rows = [(p, g) for p, g in zip(prompts, groups, strict=True)]
    at = 0
    for chunk in packed.chunks:
        for r in range(chunk.ids.shape[0]):
            prompt, group = rows[at]
            at += 1
            n = len(prompt)
            prefixes = list(dict.fromkeys(tuple(c[:d]) for c in group for d in range(1, len(c))))
            width = chunk.ids.shape[1]
            expected = torch.eye(width, dtype=torch.bool)
            for q in range(n):
                expected[q, : q + 1] = True
            for j, prefix in enumerate(prefixes):
                q = n + j
                expected[q, :n] = True
                for k, other in enumerate(prefixes):
                    if prefix[: len(other)] == other:
                        expected[q, n + k] = True
            assert torch.equal(chunk.allowed[r], expected)
    assert at == len(rows)


def test_encoded_rankings_are_reused_only_for_a_tokenizer_that_encodes_alike(
    words: PreTrainedTokenizerBase, tmp_path: Path
) -> None:
    """The same queries with the same tokenizer (or a fresh copy saved and loaded again)
    come from the cache; a tokenizer with another vocabulary encodes them anew."""
    args = (["Ann is"], ["Lee"], [["Lee", "Bob"]])
    first = encode_ranking(words, *args, reuse_prompt=True)
    assert encode_ranking(words, *args, reuse_prompt=True) is first
    words.save_pretrained(tmp_path / "copy")
    copy = PreTrainedTokenizerFast.from_pretrained(tmp_path / "copy")
    assert encode_ranking(copy, *args, reuse_prompt=True) is first
    other = build_tokenizer(["Bob is Lee Ann Smith Zed."], tmp_path / "other")
    fresh = encode_ranking(other, *args, reuse_prompt=True)
    assert fresh is not first and fresh.prompt_ids != first.prompt_ids
    assert encode_ranking(words, *args, reuse_prompt=False) is not first
