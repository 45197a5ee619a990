"""The tokenizer wizard's library: training, saving and reloading, evaluation, recommendation, bad input.

Every tokenizer here is trained on a small corpus the test writes itself, or built by hand; nothing
is downloaded.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from clm_gui import cli
from clm_gui.config import DataConfig, TokenizerConfig
from clm_gui.data import packing
from clm_gui.data.domain import DomainGuess
from clm_gui.data.held_out import held_out_texts
from clm_gui.data.sources import iter_documents
from clm_gui.errors import Cancelled, UserError
from clm_gui.tokenizer.loading import MissingEosToken, list_local_tokenizers, load_tokenizer, save_tokenizer
from clm_gui.tokenizer.quality import compare_tokenizers, evaluate_tokenizer, token_boundaries
from clm_gui.tokenizer.recommendation import (COMPUTE_LIMITED_MIN_VOCAB, HUB_TOKENIZERS, byte_level_vocab,
                                              recommend_tokenizer)
from clm_gui.tokenizer.training import UNK_TOKEN, byte_level_tokenizer, train_tokenizer

SYLLABLES = "ka to ri mu sen lo pa di ve ng qu ark".split()
ALGORITHMS = ("bpe", "wordpiece", "unigram")
# Whitespace, indentation, punctuation runs, a markdown heading and accents: all seen in the corpus.
IN_ALPHABET = [
    "## note 7\n\n\tdef f(x):\n        return x == 2  # café\n",
    "  kato   senmu\r\n ripa -> quark ## naïve.",
    "café naïve katori",
]


def corpus_documents(n: int = 60, seed: int = 0) -> list[str]:
    """Prose over a few hundred made-up words that share syllables (so there are subwords to learn)."""
    rng = random.Random(seed)
    words = ["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 4))) for _ in range(400)]
    docs = []
    for i in range(n):
        prose = " ".join(rng.choice(words) for _ in range(40))
        docs.append(f"## note {i}\n\n{prose}.\n\tdef f{i}(x):\n        return x == {i}  # café naïve\r\n -> ok")
    return docs


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    for i, doc in enumerate(corpus_documents()):
        (folder / f"doc{i:03}.txt").write_text(doc, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def trained(corpus_dir, tmp_path_factory) -> dict[str, Path]:
    """One tokenizer per algorithm, trained on the corpus folder's training split and saved."""
    out = tmp_path_factory.mktemp("tokenizers")
    folders = {}
    for algorithm in ALGORITHMS:
        cfg = TokenizerConfig(algorithm=algorithm, vocab_size=300, min_frequency=1)
        tok = train_tokenizer(iter_documents(DataConfig(source=str(corpus_dir)), "train"), cfg)
        folders[algorithm] = save_tokenizer(tok, out / algorithm)
    return folders


def word_level_tokenizer(vocab: dict[str, int], **special) -> PreTrainedTokenizerFast:
    """A tokenizer whose output can be worked out by hand: one token per whitespace-separated word."""
    backend = Tokenizer(models.WordLevel(vocab, unk_token=UNK_TOKEN))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token=UNK_TOKEN, **special)


# ---------------------------------------------------------------------------------------------
# Training, saving, reloading


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_each_algorithm_trains_saves_and_reloads_the_same_tokenizer(trained, algorithm):
    reloaded = AutoTokenizer.from_pretrained(str(trained[algorithm]))
    through_loader = load_tokenizer(str(trained[algorithm]))
    assert reloaded.eos_token == "<|endoftext|>" and reloaded.pad_token == "<|pad|>"
    assert 258 <= len(reloaded) <= 300
    for text in IN_ALPHABET:
        ids = reloaded.encode(text)
        assert ids == through_loader.encode(text)
        assert len(ids) < len(text)  # it learned merges, not just characters
        assert reloaded.decode(ids) == text  # whitespace, punctuation and accents survive exactly


@pytest.mark.parametrize("algorithm", ["wordpiece", "unigram"])
def test_wordpiece_and_unigram_mark_unseen_characters_as_unknown(trained, algorithm):
    tok = load_tokenizer(str(trained[algorithm]))
    ids = tok.encode("kato 漢字")
    assert tok.unk_token == UNK_TOKEN and tok.unk_token_id in ids


def test_byte_level_bpe_has_no_unknown_token_even_for_unseen_characters(trained):
    tok = load_tokenizer(str(trained["bpe"]))
    assert tok.unk_token is None
    assert tok.decode(tok.encode("漢字 😀")) == "漢字 😀"


def test_the_byte_level_tokenizer_is_built_without_text_as_training_one_would_make_it():
    """Quick start's bytes-alone choice skips reading the corpus: the same tokenizer, byte for byte."""
    cfg = TokenizerConfig(algorithm="bpe", vocab_size=byte_level_vocab())
    texts = ["The quick brown fox, 漢字 and 😀.\n" * 50, "def f(x):\n    return x\n" * 50]
    built, trained = byte_level_tokenizer(cfg), train_tokenizer(iter(texts), cfg)
    assert built.backend_tokenizer.to_str() == trained.backend_tokenizer.to_str()
    assert built.decode(built.encode("漢字 😀")) == "漢字 😀"


WIDE_STRINGS = [
    "", " ", "\n\n\n", "\t\r\n\x00\x7f", "漢字かなカナ한국어", "שלום עולם مرحبا", "e\u0301 n\u0303 \u200d\ufeff",
    "👩‍👩‍👧‍👦🏳️‍🌈", "\U0010ffff\ue000", "<|endoftext|> inside text", "   leading and trailing   ",
]


@pytest.fixture(scope="module")
def reloaded_bpe(trained):
    return AutoTokenizer.from_pretrained(str(trained["bpe"]))


@pytest.mark.parametrize("text", WIDE_STRINGS)
def test_byte_level_bpe_round_trips_a_wide_set_of_strings(reloaded_bpe, text):
    if "<|endoftext|>" in text:  # a special token written in the text is recognised as that token
        assert reloaded_bpe.eos_token_id in reloaded_bpe.encode(text)
    assert reloaded_bpe.decode(reloaded_bpe.encode(text)) == text


@settings(max_examples=300, deadline=None)
@given(text=st.text())
def test_byte_level_bpe_decode_of_encode_is_the_input_for_any_unicode_string(reloaded_bpe, text):
    assert reloaded_bpe.decode(reloaded_bpe.encode(text)) == text


@settings(max_examples=100, deadline=None)
@given(text=st.text())
def test_token_boundaries_cut_the_text_without_losing_or_repeating_any_of_it(reloaded_bpe, text):
    assert "".join(piece for piece, _ in token_boundaries(reloaded_bpe, text)) == text


def test_min_frequency_drops_merges_rarer_than_it():
    docs = corpus_documents(20)
    every_pair = train_tokenizer(docs, TokenizerConfig(vocab_size=2000, min_frequency=1))
    frequent_only = train_tokenizer(docs, TokenizerConfig(vocab_size=2000, min_frequency=15))
    assert len(frequent_only) < len(every_pair)
    assert len(train_tokenizer(docs, TokenizerConfig(vocab_size=2000, min_frequency=10_000))) == 256 + 2


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_lowercase_and_nfkc_normalise_text_before_tokenizing(algorithm):
    cfg = TokenizerConfig(algorithm=algorithm, vocab_size=300, min_frequency=1, lowercase=True, nfkc=True)
    tok = train_tokenizer(corpus_documents(20), cfg)
    assert tok.encode("KATO SENMU") == tok.encode("kato senmu")
    assert tok.encode("ﬁ ｆｏｘ") == tok.encode("fi fox")  # ligature and full-width letters
    assert UNK_TOKEN not in tok.convert_ids_to_tokens(tok.encode("KATO SENMU ﬁ ｆｏｘ"))


class CountingDocuments:
    """A stream of corpus documents that remembers how many were pulled from it."""

    def __init__(self, n: int = 50):
        self.docs, self.pulled = corpus_documents(n), []

    def __iter__(self):
        for doc in self.docs:
            self.pulled.append(doc)
            yield doc


def test_training_reads_only_the_sample_and_reports_progress():
    documents, reports = CountingDocuments(), []
    train_tokenizer(documents, TokenizerConfig(vocab_size=300, sample_documents=7),
                    on_progress=lambda docs, size: reports.append((docs, size)))
    assert len(documents.pulled) == 7
    assert reports[-1] == (7, sum(len(d.encode()) for d in documents.pulled))


def test_training_reads_at_most_max_bytes_however_long_the_documents(monkeypatch):
    # One text file can be one document of gigabytes: the sample is bounded in bytes, and a long document
    # reaches the Rust trainer in slices (#29).
    monkeypatch.setattr(packing, "ENCODE_SLICE_CHARS", 500)
    one_document = " ".join(corpus_documents(60))
    slices, reports = [], []
    real_parts = packing.document_parts
    monkeypatch.setattr(packing, "document_parts", lambda text, limit: ((slices.append(part) or part, last)
                                                                        for part, last in real_parts(text, limit)))
    train_tokenizer(iter([one_document]), TokenizerConfig(vocab_size=300), max_bytes=5_000,
                    on_progress=lambda docs, size: reports.append((docs, size)))
    assert max(len(part) for part in slices) <= 500
    assert reports[-1] == (1, sum(len(part.encode()) for part in slices))
    assert 5_000 <= reports[-1][1] < 5_000 + 500 * 2  # stopped at the slice that reached the limit


def test_training_can_be_cancelled_while_reading():
    documents = CountingDocuments()
    with pytest.raises(Cancelled, match="cancelled"):
        train_tokenizer(documents, TokenizerConfig(vocab_size=300), should_stop=lambda: len(documents.pulled) >= 3)
    assert len(documents.pulled) == 3


# ---------------------------------------------------------------------------------------------
# Loading


def test_a_run_folder_is_accepted_for_its_tokenizer(trained, tmp_path):
    run = tmp_path / "runs" / "20250101-000000-tiny"
    save_tokenizer(load_tokenizer(str(trained["bpe"])), run / "tokenizer")
    assert len(load_tokenizer(str(run))) == len(load_tokenizer(str(trained["bpe"])))


def test_local_tokenizers_are_listed_saved_ones_first(trained, tmp_path):
    runs = tmp_path / "runs"
    tok = load_tokenizer(str(trained["bpe"]))
    save_tokenizer(tok, runs / "a-run" / "tokenizer")
    save_tokenizer(tok, runs / ".tokenizers" / "bpe-300")
    assert list_local_tokenizers(runs / ".tokenizers", runs) == [runs / ".tokenizers" / "bpe-300",
                                                                 runs / "a-run" / "tokenizer"]
    assert list_local_tokenizers(runs / ".tokenizers") == [runs / ".tokenizers" / "bpe-300"]  # hosted: no runs


def test_saving_over_an_existing_tokenizer_replaces_it(trained, tmp_path):
    target = save_tokenizer(load_tokenizer(str(trained["bpe"])), tmp_path / "tok")
    save_tokenizer(load_tokenizer(str(trained["unigram"])), target)
    assert load_tokenizer(str(target)).unk_token == UNK_TOKEN
    assert [p.name for p in tmp_path.iterdir()] == ["tok"]  # no temporary folder left behind


def test_a_hub_id_fails_fast_and_points_to_local_folders_when_offline(no_network):
    with pytest.raises(UserError, match="cannot be reached.*local tokenizer folder"):
        load_tokenizer("someone/some-tokenizer-that-is-not-cached")  # without one connection attempt


# ---------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize("vocab_size, message", [
    (100, "at least 258"),
    (1_000_001, "at most 1,000,000"),
])
def test_a_vocabulary_outside_the_sensible_range_is_refused(vocab_size, message):
    with pytest.raises(UserError, match=message):
        train_tokenizer(corpus_documents(5), TokenizerConfig(vocab_size=vocab_size))


@pytest.mark.parametrize("algorithm", ["wordpiece", "unigram"])
def test_a_vocabulary_smaller_than_the_alphabet_is_refused(algorithm):
    many_characters = ["".join(chr(0x4E00 + i) for i in range(start, start + 20)) for start in range(0, 400, 20)]
    with pytest.raises(UserError, match="smaller than the alphabet plus 3 special tokens"):
        train_tokenizer(many_characters, TokenizerConfig(algorithm=algorithm, vocab_size=100, min_frequency=1))


def test_the_alphabet_message_counts_the_characters_for_wordpiece():
    many_characters = ["".join(chr(0x4E00 + i) for i in range(start, start + 20)) for start in range(0, 400, 20)]
    with pytest.raises(UserError, match="uses 400 distinct characters. Use at least 403"):
        train_tokenizer(many_characters, TokenizerConfig(algorithm="wordpiece", vocab_size=100, min_frequency=1))


def test_a_folder_without_a_tokenizer_is_refused_clearly(tmp_path):
    (tmp_path / "notes.txt").write_text("not a tokenizer")
    with pytest.raises(UserError, match="holds no tokenizer"):
        load_tokenizer(str(tmp_path))
    with pytest.raises(UserError, match="neither an existing tokenizer folder nor a Hub id"):
        load_tokenizer(str(tmp_path / "missing"))


def test_a_tokenizer_without_end_of_text_is_refused_and_can_have_one_added(tmp_path):
    folder = tmp_path / "no-eos"
    word_level_tokenizer({UNK_TOKEN: 0, "fox": 1}).save_pretrained(str(folder))
    with pytest.raises(MissingEosToken, match="no end-of-text token.*Add one"):
        load_tokenizer(str(folder))
    fixed = load_tokenizer(str(folder), eos_token="<|endoftext|>", add_eos=True)
    assert (fixed.eos_token, len(fixed), fixed.pad_token) == ("<|endoftext|>", 3, "<|endoftext|>")
    reloaded = load_tokenizer(str(save_tokenizer(fixed, tmp_path / "with-eos")))
    assert reloaded.eos_token_id == 2 and reloaded.encode("fox <|endoftext|>") == [1, 2]


def test_a_dataset_with_no_text_is_refused(tmp_path):
    (tmp_path / "empty.txt").write_text("  \n\n")
    empty = DataConfig(source=str(tmp_path))
    for algorithm in ALGORITHMS:
        with pytest.raises(UserError, match="no text to train a tokenizer on"):
            train_tokenizer(iter_documents(empty, "train"), TokenizerConfig(algorithm=algorithm))
    with pytest.raises(UserError, match="no held-out text"):
        held_out_texts(empty)


# ---------------------------------------------------------------------------------------------
# Evaluation and comparison


def test_evaluation_figures_match_a_hand_count():
    vocab = {UNK_TOKEN: 0, "hello": 1, "world": 2, "héllo": 3, "<|endoftext|>": 4}
    tok = word_level_tokenizer(vocab, eos_token="<|endoftext|>")
    # tokens: hello world | héllo <unk> hello  -> 5 tokens, 1 unknown, 4 distinct of 5
    # characters 11 + 18 = 29; UTF-8 bytes 11 + 20 = 31 (é and ö take two); words 2 + 3 = 5
    report = evaluate_tokenizer(tok, ["hello world", "héllo  wörld hello"], name="words")
    assert (report.tokens, report.unknown_tokens, report.distinct_tokens) == (5, 1, 4)
    assert (report.characters, report.bytes, report.words, report.vocab_size) == (29, 31, 5, 5)
    assert report.bytes_per_token == pytest.approx(6.2)
    assert report.chars_per_token == pytest.approx(5.8)
    assert report.tokens_per_word == pytest.approx(1.0)
    assert report.unknown_rate == pytest.approx(0.2)
    assert report.vocab_used == pytest.approx(0.8)
    assert json.loads(json.dumps(report.to_dict()))["bytes_per_token"] == pytest.approx(6.2)


def test_token_boundaries_show_each_token_and_the_text_no_token_covers():
    tok = word_level_tokenizer({UNK_TOKEN: 0, "hello": 1})
    assert token_boundaries(tok, "hello  wörld") == [("hello", 1), ("  ", None), ("wörld", 0)]


def test_comparison_evaluates_every_tokenizer_on_the_same_text(trained, corpus_dir):
    texts = held_out_texts(DataConfig(source=str(corpus_dir)))
    tokenizers = {name: load_tokenizer(str(folder)) for name, folder in trained.items()}
    tokenizers["words"] = word_level_tokenizer({UNK_TOKEN: 0, "the": 1}, eos_token=UNK_TOKEN)
    reports = compare_tokenizers(tokenizers, texts)
    assert [r.name for r in reports] == ["bpe", "wordpiece", "unigram", "words"]
    assert len({(r.characters, r.bytes, r.words, r.documents) for r in reports}) == 1
    bpe, _, _, words = reports
    assert bpe.unknown_rate == 0 and bpe.bytes_per_token > 1.5
    assert words.unknown_rate > 0.5  # almost every word is unknown to a two-word vocabulary


# ---------------------------------------------------------------------------------------------
# Recommendation


def domain(kind: str, language: str = "") -> dict:
    return DomainGuess(kind, language).to_dict()


@pytest.mark.parametrize("kind, language, action, hub_or_algorithm", [
    ("code", "Python", "pretrained", "codeparrot/codeparrot"),
    ("code", "JavaScript", "pretrained", "bigcode/starcoder2-3b"),
    ("code", "", "pretrained", "bigcode/starcoder2-3b"),
    ("natural language", "English", "pretrained", "openai-community/gpt2"),
    ("natural language", "Latin script", "train", "bpe"),
    ("natural language", "CJK script", "train", "bpe"),
    ("biological sequences", "protein", "train", "unigram"),
    ("biological sequences", "DNA", "train", "unigram"),
    ("biological sequences", "RNA", "train", "unigram"),
    ("tabular", "JSON", "train", "bpe"),
    ("other", "", "train", "bpe"),
])
def test_recommendation_follows_the_dataset_domain(profile_with, kind, language, action, hub_or_algorithm):
    rec = recommend_tokenizer(profile_with(bytes=None, domain=domain(kind, language)))
    assert rec.action == action
    assert hub_or_algorithm == (rec.hub_id if action == "pretrained" else rec.algorithm)
    assert rec.reason.endswith(".") and ". " not in rec.reason  # one sentence
    if rec.hub_id:
        assert rec.hub_id in {h.hub_id for h in HUB_TOKENIZERS}


@pytest.mark.parametrize("n_bytes, vocab", [(300e3, 1024), (1e6, 1024), (5e6, 2048), (30e6, 4096), (1e9, 16384)])
def test_a_small_corpus_gets_a_small_vocabulary_learned_from_it(profile_with, n_bytes, vocab):
    for guess in (domain("natural language", "English"), domain("code", "Python"), domain("other")):
        rec = recommend_tokenizer(profile_with(bytes=int(n_bytes), domain=guess))
        if n_bytes < 100e6:
            assert (rec.action, rec.algorithm, rec.vocab_size) == ("train", "bpe", vocab)
        assert rec.reason.endswith(".") and ". " not in rec.reason
    assert recommend_tokenizer(profile_with(bytes=10**9, domain=domain("code", "Python"))).action == "pretrained"


def test_a_budget_that_reads_the_corpus_few_times_gets_longer_tokens_and_is_told_why(profile_with):
    english = profile_with(bytes=int(1e6), domain=domain("natural language", "English"))
    rec = recommend_tokenizer(english, byte_passes=10)
    assert rec.vocab_size == COMPUTE_LIMITED_MIN_VOCAB > recommend_tokenizer(english).vocab_size
    assert "cannot read it 20 times a byte at a time" in rec.reason and ". " not in rec.reason
    assert recommend_tokenizer(english, byte_passes=20).vocab_size == byte_level_vocab()
    # a model too small to memorise the text is limited by compute however often it could read it
    small = recommend_tokenizer(english, byte_passes=25, small_model=True)
    assert small.vocab_size == COMPUTE_LIMITED_MIN_VOCAB and "too small to memorise it" in small.reason


def test_without_a_profile_the_demo_corpus_recommendation_applies(profile_with):
    assert recommend_tokenizer(None) == recommend_tokenizer(profile_with(bytes=None, domain=domain("code", "Python")))


def test_the_curated_hub_list_covers_every_domain():
    assert {h.domain for h in HUB_TOKENIZERS} == {"code", "english", "multilingual", "protein", "dna"}


# ---------------------------------------------------------------------------------------------
# Command line


def test_cli_trains_then_evaluates_a_tokenizer_as_json(corpus_dir, tmp_path, capsys):
    out = tmp_path / "tok"
    assert cli.main(["tokenizer", "train", str(corpus_dir), "--algorithm", "wordpiece", "--vocab-size", "300",
                     "--min-frequency", "1", "--out", str(out), "--json"]) == 0
    trained_summary = json.loads(capsys.readouterr().out)
    assert trained_summary["vocab_size"] == len(load_tokenizer(str(out))) and trained_summary["documents"] > 0
    assert cli.main(["tokenizer", "eval", str(out), str(corpus_dir), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["vocab_size"] == trained_summary["vocab_size"]
    assert {"bytes_per_token", "chars_per_token", "tokens_per_word", "unknown_rate", "vocab_used"} <= set(report)


def test_cli_refuses_bad_input_with_a_message(corpus_dir, tmp_path, capsys):
    assert cli.main(["tokenizer", "train", str(corpus_dir), "--vocab-size", "10", "--out", str(tmp_path)]) == 2
    assert "at least 258" in capsys.readouterr().err
    assert cli.main(["tokenizer", "eval", str(tmp_path), str(corpus_dir)]) == 2
    assert "holds no tokenizer" in capsys.readouterr().err


def test_offline_a_pretrained_recommendation_becomes_its_training_fallback(profile_with):
    big_code = profile_with(bytes=10**9, domain=domain("code", "Python"))
    online = recommend_tokenizer(big_code)
    offline = recommend_tokenizer(big_code, online=False)
    assert online.action == "pretrained" and online.hub_id
    assert offline.action == "train" and not offline.hub_id and offline.vocab_size == online.vocab_size
    assert "out of reach" in offline.reason and online.hub_id in offline.reason
    small_prose = profile_with(bytes=10**6, domain=domain("natural language", "English"))
    assert recommend_tokenizer(small_prose, online=False) == recommend_tokenizer(small_prose)  # training anyway
    assert "1.0 MB of text" in recommend_tokenizer(small_prose).reason
