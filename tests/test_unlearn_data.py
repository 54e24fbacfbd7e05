"""Which tokens of a forget row carry the forget loss: entity names only, by default."""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from tiny import TINY
from unlearnlab.corpus.tokenizer import build_tokenizer
from unlearnlab.experiments.config import load_config
from unlearnlab.methods.data import build_data, entity_mask
from unlearnlab.models.data import IGNORE
from unlearnlab.substrate.build import build_substrate

TRACE = "Ann Lee is the mother of Bo Kim. So the grandmother of Cy Kim is Ann Lee."


def test_entity_mask_marks_the_name_words_of_a_trace(tmp_path: Path) -> None:
    tok = build_tokenizer([TRACE], tmp_path)
    mask = entity_mask(tok, TRACE, ["Ann Lee", "Bo Kim", "Cy Kim", "Lee"])
    words = tok.convert_ids_to_tokens(tok(TRACE, add_special_tokens=False)["input_ids"])
    assert [w for w, m in zip(words, mask, strict=True) if m] == [
        "▁Ann", "▁Lee", "▁Bo", "▁Kim", "▁Cy", "▁Kim", "▁Ann", "▁Lee",
    ]  # fmt: skip
    assert len(mask) == len(words) and sum(mask) == 8


def test_entity_mask_needs_whole_words_and_says_when_nothing_is_named(tmp_path: Path) -> None:
    tok = build_tokenizer(["Annabel is here. B."], tmp_path)
    assert entity_mask(tok, "Annabel is here.", ["Ann"]) is None
    assert entity_mask(tok, "B.", ["Ann"]) is None


def test_entity_mask_covers_every_subword_of_a_multi_token_name() -> None:
    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    raw.train_from_iterator(
        ["the mother of the child is here"] * 20,
        trainers.BpeTrainer(vocab_size=300, initial_alphabet=alphabet),
    )
    tok = PreTrainedTokenizerFast(tokenizer_object=raw)
    text = " the mother is Zyxwv Qop."
    ids = tok(text, add_special_tokens=False)["input_ids"]
    mask = entity_mask(tok, text, ["Zyxwv Qop"])
    assert mask is not None and len(mask) == len(ids)
    named = tok.decode([i for i, m in zip(ids, mask, strict=True) if m])
    assert named.strip() == "Zyxwv Qop" and not any(mask[:3])


def test_forget_rows_unlearn_names_and_keep_the_trace_words(tmp_path: Path) -> None:
    substrate = build_substrate(load_config("compositional", TINY))
    tok = build_tokenizer(substrate.vocabulary_text(), tmp_path)
    names = set(substrate.world.entity_types)
    entities = build_data(substrate, tok, "deep", None, 0, "entities")
    everything = build_data(substrate, tok, "deep", None, 0, "all")
    assert entities.forget.ids.equal(everything.forget.ids)
    labels = entities.forget.labels
    assert (labels != IGNORE).sum() < (everything.forget.labels != IGNORE).sum()
    named = labels[labels != IGNORE].tolist()
    words = {w.removeprefix("▁") for w in tok.convert_ids_to_tokens(named)}
    assert words <= {part for name in names for part in name.split()}
    # Every forget row still carries some loss, a trace row only on its names.
    assert bool(((labels != IGNORE).sum(-1) > 0).all())
