"""Train a new tokenizer on the corpus, streamed (never held in memory all at once).

Three training algorithms, all lossless on text within their alphabet:
- byte-level BPE (GPT-2 style): starts from the 256 byte values, so it never needs an unknown token
  and `decode(encode(s)) == s` for every Unicode string;
- WordPiece and Unigram: start from the characters of the corpus (an unseen character becomes
  `<unk>`). Spaces are kept as a visible marker (U+2581) inside the tokens instead of being dropped,
  so newlines and indentation survive a round trip, which matters for code and for generation.

The result is a `PreTrainedTokenizerFast` with its end-of-text and padding tokens set.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable, Iterable, Iterator

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from clm_gui.config import RunConfig, TokenizerConfig
from clm_gui.data import packing
from clm_gui.errors import Cancelled, UserError

UNK_TOKEN = "<unk>"  # WordPiece and Unigram only; byte-level BPE has no unknowns
SPACE_MARKER = "\u2581"  # "▁", as in SentencePiece: a space that stays visible inside a token
CONTINUATION_PREFIX = "##"  # WordPiece's mark for a piece that continues a word
PROGRESS_INTERVAL_S = 0.25  # how often training reports progress (a UI cannot draw faster anyway)

# Words are letter runs, digit runs, single punctuation characters, runs of spaces or one other
# whitespace character; a space marker in front attaches to the word it precedes. Punctuation is one
# character per word for WordPiece so that no word can begin with the continuation prefix "##"
# (which would be ambiguous on decoding); Unigram has no prefix and keeps punctuation runs like "==".
_LETTERS, _DIGITS = r"[\p{L}\p{M}]+", r"\p{N}+"
_OTHER = rf"[^\s{SPACE_MARKER}\p{{L}}\p{{M}}\p{{N}}]"
_SPACES = rf"{SPACE_MARKER}+(?={SPACE_MARKER})|{SPACE_MARKER}|\s"


def _word_pattern(punctuation_runs: bool) -> str:
    other = _OTHER + ("+" if punctuation_runs else "")
    return "|".join(f"{SPACE_MARKER}?{part}" for part in (_LETTERS, _DIGITS, other)) + "|" + _SPACES



def special_tokens(cfg: TokenizerConfig) -> list[str]:
    return [t for t in (cfg.eos_token, cfg.pad_token) if t]


def _normalizer(cfg: TokenizerConfig, mark_spaces: bool):
    steps = [normalizers.NFKC()] if cfg.nfkc else []
    steps += [normalizers.Lowercase()] if cfg.lowercase else []
    steps += [normalizers.Replace(" ", SPACE_MARKER)] if mark_spaces else []
    return normalizers.Sequence(steps) if steps else None


def _byte_level_bpe(cfg: TokenizerConfig) -> tuple[Tokenizer, trainers.Trainer]:
    tok = Tokenizer(models.BPE())
    tok.normalizer = _normalizer(cfg, mark_spaces=False)
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=cfg.vocab_size,
        min_frequency=cfg.min_frequency,
        special_tokens=special_tokens(cfg),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte: no unknown tokens, ever
        show_progress=False,
    )
    return tok, trainer


def _wordpiece(cfg: TokenizerConfig) -> tuple[Tokenizer, trainers.Trainer]:
    tok = Tokenizer(models.WordPiece(unk_token=UNK_TOKEN, continuing_subword_prefix=CONTINUATION_PREFIX))
    tok.normalizer = _normalizer(cfg, mark_spaces=True)
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(_word_pattern(punctuation_runs=False)), "isolated")
    # The WordPiece decoder joins words with a space; spaces are already in the tokens as markers, so
    # the joining spaces are removed before the markers become spaces again.
    tok.decoder = decoders.Sequence([
        decoders.WordPiece(prefix=CONTINUATION_PREFIX, cleanup=False),
        decoders.Replace(" ", ""),
        decoders.Replace(SPACE_MARKER, " "),
    ])
    trainer = trainers.WordPieceTrainer(
        vocab_size=cfg.vocab_size,
        min_frequency=cfg.min_frequency,
        special_tokens=special_tokens(cfg) + [UNK_TOKEN],
        continuing_subword_prefix=CONTINUATION_PREFIX,
        show_progress=False,
    )
    return tok, trainer


def _unigram(cfg: TokenizerConfig) -> tuple[Tokenizer, trainers.Trainer]:
    tok = Tokenizer(models.Unigram())
    tok.normalizer = _normalizer(cfg, mark_spaces=True)
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(_word_pattern(punctuation_runs=True)), "isolated")
    tok.decoder = decoders.Replace(SPACE_MARKER, " ")
    # Unigram has no minimum frequency: it starts from many candidate pieces and prunes the least useful.
    trainer = trainers.UnigramTrainer(
        vocab_size=cfg.vocab_size,
        special_tokens=special_tokens(cfg) + [UNK_TOKEN],
        unk_token=UNK_TOKEN,
        show_progress=False,
    )
    return tok, trainer


_BUILDERS = {"bpe": _byte_level_bpe, "wordpiece": _wordpiece, "unigram": _unigram}


class _Feed:
    """The text handed to the Rust trainer: counted, reported and stoppable, none of it kept. A long document
    goes in slices (the trainer buffers hundreds of items, which were 1 MiB pieces of a text file, #29), and
    reading stops at `max_documents` documents or at the slice that reaches `max_bytes` bytes (0: no limit)."""

    def __init__(self, texts: Iterable[str], max_documents: int, max_bytes: int, on_progress, should_stop):
        self.texts, self.max_documents, self.max_bytes = texts, max_documents, max_bytes
        self.on_progress, self.should_stop = on_progress, should_stop
        self.documents = self.bytes = 0

    def __iter__(self) -> Iterator[str]:
        last_report = time.monotonic()
        for part in self._parts():
            if self.should_stop and self.should_stop():
                raise Cancelled("Tokenizer training was cancelled; nothing was saved.")
            self.bytes += len(part.encode("utf-8", "replace"))
            if self.on_progress and time.monotonic() - last_report >= PROGRESS_INTERVAL_S:
                self.on_progress(self.documents, self.bytes)
                last_report = time.monotonic()
            yield part
            if self.max_bytes and self.bytes >= self.max_bytes:
                break
        if self.on_progress:
            self.on_progress(self.documents, self.bytes)

    def _parts(self) -> Iterator[str]:
        for text in itertools.islice(self.texts, self.max_documents) if self.max_documents else self.texts:
            self.documents += 1
            for part, _ in packing.document_parts(text, packing.ENCODE_SLICE_CHARS):
                yield part


def check_training_settings(cfg: TokenizerConfig) -> None:
    """Raise ConfigError listing every problem with the training settings (the config's own rules)."""
    RunConfig(tokenizer=dataclasses.replace(cfg, path="")).check(check_paths=False)


def train_tokenizer(
    texts: Iterable[str],
    cfg: TokenizerConfig,
    on_progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    max_bytes: int = 0,
) -> PreTrainedTokenizerFast:
    """Train a new tokenizer from a stream of documents (never held in memory all at once).

    Reads at most `cfg.sample_documents` documents and `max_bytes` bytes of UTF-8 (0: all).
    `on_progress(documents, bytes)` is called a few times a second while reading; `should_stop()` is checked
    before each document (or slice of a long one), and once more after the trainer's final (uninterruptible)
    merge step, raising `Cancelled`.
    """
    check_training_settings(cfg)
    tok, trainer = _BUILDERS[cfg.algorithm](cfg)
    feed = _Feed(texts, cfg.sample_documents, max_bytes, on_progress, should_stop)
    try:
        tok.train_from_iterator(iter(feed), trainer=trainer)
    except Exception as exc:  # the Rust trainer raises plain Exception
        if "not large enough to contain all chars" in str(exc):
            raise UserError(_alphabet_message(cfg, None)) from None
        raise
    if should_stop and should_stop():
        raise Cancelled("Tokenizer training was cancelled; nothing was saved.")
    if feed.documents == 0:
        raise UserError("The dataset has no text to train a tokenizer on; check the source and its filters.")
    if tok.get_vocab_size() > cfg.vocab_size:  # WordPiece keeps the whole alphabet, whatever the size
        alphabet = sum(1 for t in tok.get_vocab() if len(t) == 1)
        raise UserError(_alphabet_message(cfg, alphabet))
    return wrap_tokenizer(tok, cfg)


def byte_level_tokenizer(cfg: TokenizerConfig) -> PreTrainedTokenizerFast:
    """Byte-level BPE with no merges (the 256 byte values and the special tokens): what training one of
    that size learns from any text, built without reading any (on a large corpus, seconds saved)."""
    tok, trainer = _byte_level_bpe(cfg)
    tok.train_from_iterator(iter(()), trainer=trainer)
    return wrap_tokenizer(tok, cfg)


def _alphabet_message(cfg: TokenizerConfig, alphabet: int | None) -> str:
    reserved = len(special_tokens(cfg)) + 1  # + <unk>
    counted = f"{alphabet:,} distinct characters" if alphabet else "more distinct characters than that"
    need = f"at least {alphabet + reserved:,}" if alphabet else "a larger one"
    return (
        f"tokenizer.vocab_size ({cfg.vocab_size:,}) is smaller than the alphabet plus {reserved} special "
        f"tokens: the text uses {counted}. Use {need}, turn on NFKC or lowercasing to merge "
        "look-alike characters, or use byte-level BPE, whose alphabet is always 256 bytes."
    )


def wrap_tokenizer(tok: Tokenizer, cfg: TokenizerConfig) -> PreTrainedTokenizerFast:
    has_unk = tok.token_to_id(UNK_TOKEN) is not None
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=cfg.eos_token,
        bos_token=cfg.eos_token,
        pad_token=cfg.pad_token or cfg.eos_token,
        **({"unk_token": UNK_TOKEN} if has_unk else {}),
        clean_up_tokenization_spaces=False,
    )
