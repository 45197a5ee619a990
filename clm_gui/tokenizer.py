"""Tokenizers: reuse a pretrained one (local folder or Hub id) or train a new one on the corpus,
evaluate them on held-out text, compare them, and recommend one from the dataset's domain.

The result is always a `PreTrainedTokenizerFast` with its end-of-text and padding tokens set, saved in
Hugging Face format, so `AutoTokenizer.from_pretrained(folder)` gives back the same tokenizer.

Three training algorithms, all lossless on text within their alphabet:
- byte-level BPE (GPT-2 style): starts from the 256 byte values, so it never needs an unknown token
  and `decode(encode(s)) == s` for every Unicode string;
- WordPiece and Unigram: start from the characters of the corpus (an unseen character becomes
  `<unk>`). Spaces are kept as a visible marker (U+2581) inside the tokens instead of being dropped,
  so newlines and indentation survive a round trip, which matters for code and for generation.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from clm_gui.config import DataConfig, RunConfig, TokenizerConfig, is_hub_id
from clm_gui.errors import Cancelled, UserError, first_line
from clm_gui.files import TMP_PREFIX, remove_tree

UNK_TOKEN = "<unk>"  # WordPiece and Unigram only; byte-level BPE has no unknowns
SPACE_MARKER = "\u2581"  # "▁", as in SentencePiece: a space that stays visible inside a token
CONTINUATION_PREFIX = "##"  # WordPiece's mark for a piece that continues a word
PROGRESS_INTERVAL_S = 0.25  # how often training reports progress (a UI cannot draw faster anyway)
MAX_EVAL_BYTES = 2_000_000  # held-out text read for evaluation: enough for stable ratios, quick to encode
EVAL_BATCH = 256  # documents per call into the Rust encoder, which encodes a batch in parallel
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")

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


# ---------------------------------------------------------------------------------------------
# Training.


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
    """The documents handed to the Rust trainer: counted, reported and stoppable, none of them kept."""

    def __init__(self, texts: Iterable[str], limit: int, on_progress, should_stop):
        self.texts, self.limit = texts, limit
        self.on_progress, self.should_stop = on_progress, should_stop
        self.documents = self.bytes = 0

    def __iter__(self) -> Iterator[str]:
        last_report = time.monotonic()
        texts = itertools.islice(self.texts, self.limit) if self.limit else self.texts
        for text in texts:
            if self.should_stop and self.should_stop():
                raise Cancelled("Tokenizer training was cancelled; nothing was saved.")
            self.documents += 1
            self.bytes += len(text.encode("utf-8", "replace"))
            if self.on_progress and time.monotonic() - last_report >= PROGRESS_INTERVAL_S:
                self.on_progress(self.documents, self.bytes)
                last_report = time.monotonic()
            yield text
        if self.on_progress:
            self.on_progress(self.documents, self.bytes)


def check_training_settings(cfg: TokenizerConfig) -> None:
    """Raise ConfigError listing every problem with the training settings (the config's own rules)."""
    RunConfig(tokenizer=dataclasses.replace(cfg, path="")).check(check_paths=False)


def train_tokenizer(
    texts: Iterable[str],
    cfg: TokenizerConfig,
    on_progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> PreTrainedTokenizerFast:
    """Train a new tokenizer from a stream of documents (never held in memory all at once).

    Reads at most `cfg.sample_documents` documents (0: all). `on_progress(documents, bytes)` is called
    a few times a second while reading; `should_stop()` is checked before each document, and once more
    after the trainer's final (uninterruptible) merge step, raising `Cancelled`.
    """
    check_training_settings(cfg)
    tok, trainer = _BUILDERS[cfg.algorithm](cfg)
    feed = _Feed(texts, cfg.sample_documents, on_progress, should_stop)
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


# ---------------------------------------------------------------------------------------------
# Loading and saving.


class MissingEosToken(UserError):
    """The tokenizer has no end-of-text token; `load_tokenizer(..., add_eos=True)` adds one."""


def _tokenizer_folder(folder: Path) -> Path:
    """The folder itself, or the tokenizer inside a run folder (tokenizer/ or final/)."""
    for candidate in (folder, folder / "tokenizer", folder / "final"):
        if any((candidate / name).is_file() for name in TOKENIZER_FILES):
            return candidate
    raise UserError(
        f"The folder {folder} holds no tokenizer (no tokenizer.json or tokenizer_config.json, nor a run's "
        "tokenizer/ folder). Choose a folder saved by a tokenizer or a run, or train a new tokenizer."
    )


def _from_folder(folder: Path):
    try:
        return AutoTokenizer.from_pretrained(str(folder))
    except Exception as exc:  # transformers raises several types for "this is not a tokenizer"
        raise UserError(f"The tokenizer in {folder} cannot be read: {first_line(exc)}") from None


def _from_hub(hub_id: str):
    try:  # a tokenizer downloaded before is in the local cache and loads offline
        return AutoTokenizer.from_pretrained(hub_id, local_files_only=True)
    except Exception:  # noqa: BLE001 - not cached: try the Hub below
        pass
    from clm_gui.data import hub_reachable

    if not hub_reachable():
        raise UserError(
            f"The Hugging Face Hub cannot be reached, so the tokenizer {hub_id!r} cannot be downloaded. "
            "Choose a local tokenizer folder (for example a previous run's tokenizer/ folder) or train one."
        )
    try:
        return AutoTokenizer.from_pretrained(hub_id)
    except Exception as exc:  # not found, gated, no tokenizer files: all reported to the user
        raise UserError(f"Could not load the tokenizer {hub_id!r} from the Hub: {first_line(exc)}") from None


def load_tokenizer(path: str, eos_token: str = "<|endoftext|>", add_eos: bool = False) -> PreTrainedTokenizerFast:
    """Load a tokenizer from a local folder (or a Hub id) and make sure it can pack documents.

    A tokenizer without an end-of-text token raises `MissingEosToken`, unless `add_eos` is set, in
    which case `eos_token` is added to its vocabulary (one more token).
    """
    folder = Path(path).expanduser()
    if folder.is_dir():
        tok = _from_folder(_tokenizer_folder(folder))
    elif path.startswith((".", "/", "~")) or not is_hub_id(path):
        raise UserError(f"{path!r} is neither an existing tokenizer folder nor a Hub id like 'owner/name'.")
    else:
        tok = _from_hub(path)
    if not getattr(tok, "is_fast", False):
        raise UserError(f"The tokenizer at {path} has no fast (Rust) version; convert it or choose another.")
    if tok.eos_token is None:
        if not add_eos:
            raise MissingEosToken(
                f"The tokenizer at {path} has no end-of-text token, which packing needs between documents. "
                f"Add one ({eos_token!r}, one more token in the vocabulary) or train a new tokenizer."
            )
        tok.add_special_tokens({"eos_token": eos_token})
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def save_tokenizer(tok: PreTrainedTokenizerFast, folder: Path) -> Path:
    """Save in Hugging Face format; written under a temporary name first, so a crash never leaves a
    half-written tokenizer where a run would load it."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f"{TMP_PREFIX}{folder.name}.{os.getpid()}")
    remove_tree(tmp)
    tok.save_pretrained(str(tmp))
    remove_tree(folder)
    os.replace(tmp, folder)
    return folder


def saved_tokenizers_dir(runs_dir: Path) -> Path:
    return Path(runs_dir) / ".tokenizers"


def list_local_tokenizers(runs_dir: Path) -> list[Path]:
    """Tokenizers saved by the wizard, then those of previous runs (newest first)."""
    runs_dir = Path(runs_dir)
    saved = sorted(saved_tokenizers_dir(runs_dir).glob("*/tokenizer.json"))
    of_runs = sorted(runs_dir.glob("*/tokenizer/tokenizer.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    return [p.parent for p in saved + of_runs if not p.parent.name.startswith(".")]


# ---------------------------------------------------------------------------------------------
# Evaluation on held-out text.


@dataclass
class TokenizerReport:
    """Counts from encoding held-out text; the ratios a user compares are derived from them."""

    name: str
    vocab_size: int
    documents: int
    characters: int
    bytes: int
    words: int  # runs of non-whitespace characters (str.split())
    tokens: int
    unknown_tokens: int
    distinct_tokens: int

    bytes_per_token = property(lambda self: _ratio(self.bytes, self.tokens))
    chars_per_token = property(lambda self: _ratio(self.characters, self.tokens))
    tokens_per_word = property(lambda self: _ratio(self.tokens, self.words))  # "fertility"
    unknown_rate = property(lambda self: _ratio(self.unknown_tokens, self.tokens))
    vocab_used = property(lambda self: _ratio(self.distinct_tokens, self.vocab_size))

    RATIOS = ("bytes_per_token", "chars_per_token", "tokens_per_word", "unknown_rate", "vocab_used")

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), **{name: getattr(self, name) for name in self.RATIOS}}


def _ratio(a: int, b: int) -> float:
    return a / b if b else 0.0


def stream_documents(data_cfg: DataConfig, split: str) -> Iterator[str]:
    """The split's documents read lazily whatever the dataset's mode, so that a bounded sample costs
    only its own reading and memory (the held-out rule is the same in both modes, so are the documents)."""
    from clm_gui.data import iter_documents  # local: loading `datasets` is slow and not always needed

    return iter_documents(dataclasses.replace(data_cfg, streaming=True), split)


def held_out_texts(data_cfg: DataConfig, max_bytes: int = MAX_EVAL_BYTES) -> list[str]:
    """The first held-out documents of the dataset, up to about `max_bytes` of text."""
    texts, total = [], 0
    for text in stream_documents(data_cfg, "eval"):
        texts.append(text)
        total += len(text.encode("utf-8", "replace"))
        if total >= max_bytes:
            break
    if not texts:
        raise UserError(
            "The dataset has no held-out text to evaluate on; check the source and its filters, "
            "or raise data.eval_fraction."
        )
    return texts


def _plain_backend(tok: PreTrainedTokenizerFast) -> Tokenizer:
    """A copy of the Rust tokenizer without truncation or padding, so every token is counted."""
    backend = Tokenizer.from_str(tok.backend_tokenizer.to_str())
    backend.no_truncation()
    backend.no_padding()
    return backend


def evaluate_tokenizer(tok: PreTrainedTokenizerFast, texts: Sequence[str], name: str = "") -> TokenizerReport:
    """Encode the texts (no special tokens added) and count what the ratios need."""
    backend = _plain_backend(tok)
    unk_id = tok.unk_token_id
    tokens = unknown = 0
    distinct: set[int] = set()
    for start in range(0, len(texts), EVAL_BATCH):
        for encoding in backend.encode_batch(list(texts[start:start + EVAL_BATCH]), add_special_tokens=False):
            ids = encoding.ids
            tokens += len(ids)
            distinct.update(ids)
            if unk_id is not None:
                unknown += ids.count(unk_id)
    return TokenizerReport(
        name=name or getattr(tok, "name_or_path", "") or "tokenizer",
        vocab_size=len(tok),
        documents=len(texts),
        characters=sum(map(len, texts)),
        bytes=sum(len(t.encode("utf-8", "replace")) for t in texts),
        words=sum(len(t.split()) for t in texts),
        tokens=tokens,
        unknown_tokens=unknown,
        distinct_tokens=len(distinct),
    )


def compare_tokenizers(tokenizers: dict[str, PreTrainedTokenizerFast], texts: Sequence[str]) -> list[TokenizerReport]:
    """One report per tokenizer, all on the same texts, in the order given."""
    return [evaluate_tokenizer(tok, texts, name) for name, tok in tokenizers.items()]


def token_boundaries(tok: PreTrainedTokenizerFast, text: str) -> list[tuple[str, int | None]]:
    """The text cut where the tokens are: (piece, token id), or (piece, None) for text no token covers.

    Byte-level BPE may split one character over two tokens; the character is shown with the first.
    """
    encoding = _plain_backend(tok).encode(text, add_special_tokens=False)
    pieces, position = [], 0
    for token_id, (start, end) in zip(encoding.ids, encoding.offsets):
        start = max(start, position)
        if start >= end:
            continue
        if start > position:
            pieces.append((text[position:start], None))
        pieces.append((text[start:end], token_id))
        position = end
    if position < len(text):
        pieces.append((text[position:], None))
    return pieces


# ---------------------------------------------------------------------------------------------
# Recommendation from the dataset's domain, and well-known tokenizers on the Hub.


@dataclass(frozen=True)
class HubTokenizer:
    domain: str  # code | english | multilingual | protein | dna
    hub_id: str
    algorithm: str
    vocab_size: int  # as published; the loaded tokenizer reports the exact size
    note: str


HUB_TOKENIZERS = (
    HubTokenizer("code", "codeparrot/codeparrot", "byte-level BPE", 32_768, "trained on Python code from GitHub"),
    HubTokenizer("code", "bigcode/starcoder2-3b", "byte-level BPE", 49_152, "trained on 600+ programming languages"),
    HubTokenizer("english", "openai-community/gpt2", "byte-level BPE", 50_257, "GPT-2, trained on English web text"),
    HubTokenizer("english", "EleutherAI/gpt-neox-20b", "byte-level BPE", 50_277, "the Pile: web, books, code"),
    HubTokenizer("english", "HuggingFaceTB/SmolLM2-135M", "byte-level BPE", 49_152, "web text, code and maths"),
    HubTokenizer("multilingual", "bigscience/bloom-560m", "byte-level BPE", 250_680, "46 natural languages"),
    HubTokenizer("multilingual", "FacebookAI/xlm-roberta-base", "Unigram", 250_002, "100 languages"),
    HubTokenizer("protein", "nferruz/ProtGPT2", "byte-level BPE", 50_257, "BPE trained on UniRef50 proteins"),
    HubTokenizer("protein", "facebook/esm2_t6_8M_UR50D", "character", 33, "one token per amino acid"),
    HubTokenizer("dna", "zhihan1996/DNABERT-2-117M", "BPE", 4_096, "BPE trained on multi-species genomes"),
)

ENGLISH = ("en", "eng", "english")


@dataclass
class Recommendation:
    domain: str  # code | english | natural language | protein | dna | tabular | other
    action: str  # "pretrained": reuse hub_id; "train": train with algorithm and vocab_size
    reason: str  # one sentence
    hub_id: str = ""
    algorithm: str = "bpe"  # the settings to train with, also the fallback when the Hub is unreachable
    vocab_size: int = 8192


def _domain_of(profile: dict | None) -> tuple[str, str]:
    """(kind, language) from a profile's domain guess; no profile means the demo corpus (Python code)."""
    if not profile:
        return "code", "Python"
    domain = profile.get("domain") if isinstance(profile, dict) else None
    if isinstance(domain, dict):
        return str(domain.get("kind") or domain.get("label") or ""), str(domain.get("language") or "")
    return str(domain or ""), ""


def _kind(kind: str, language: str) -> str:
    kind, words = kind.lower(), f"{kind} {language}".lower()
    if "protein" in words or "amino" in words:
        return "protein"
    if any(k in words for k in ("dna", "rna", "nucleotide", "genom")):
        return "dna"
    if "code" in kind or "program" in kind:
        return "code"
    if any(k in kind for k in ("natural", "prose", "language")):
        return "english" if language.lower() in ENGLISH else "natural language"
    return "tabular" if "tabular" in kind else "other"


def _hub_for(domain: str, language: str = "") -> HubTokenizer:
    choices = [h for h in HUB_TOKENIZERS if h.domain == domain]
    if domain == "code" and language.lower() not in ("python", "py"):
        return choices[1]  # the multi-language code tokenizer
    return choices[0]


# The vocabulary that fits a corpus of at most N bytes: a small corpus cannot teach the model many tokens
# (each is seen too rarely), and a tiny model cannot afford a large embedding. Fitted on bench/small_data.py
# (docs/benchmarks.md, "Small data"); above the last size, DEFAULT_VOCAB.
VOCAB_BY_CORPUS_BYTES = ((2e6, 1024), (8e6, 2048), (32e6, 4096), (128e6, 8192))
DEFAULT_VOCAB = 16384
PRETRAINED_MIN_BYTES = 100e6  # below this, a vocabulary learned from the data beats a pretrained 50k one


def vocab_for_corpus(n_bytes: float | None) -> int:
    """The vocabulary size to train for a corpus of this many bytes (DEFAULT_VOCAB when unknown)."""
    if not n_bytes:
        return DEFAULT_VOCAB
    return next((vocab for most, vocab in VOCAB_BY_CORPUS_BYTES if n_bytes <= most), DEFAULT_VOCAB)


def _corpus_bytes(profile: dict | None) -> float | None:
    value = profile.get("bytes") if isinstance(profile, dict) else None
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def recommend_tokenizer(profile: dict | None, online: bool = True) -> Recommendation:
    """What to use for this dataset, and why, in one sentence. Offline (`online` False), a pretrained choice
    becomes its fallback, training, so that accepting it works without the Hub."""
    rec = _recommend_for_size(profile)
    if rec.action != "pretrained" or online:
        return rec
    return Recommendation(rec.domain, "train", (
        f"The Hugging Face Hub is out of reach from here, so instead of downloading {rec.hub_id}'s tokenizer, "
        f"train a byte-level BPE of {rec.vocab_size:,} tokens on your data: it never emits an unknown token."
    ), vocab_size=rec.vocab_size)


def _recommend_for_size(profile: dict | None) -> Recommendation:
    """The domain's recommendation with a vocabulary sized to the corpus (also a pretrained one's fallback)."""
    from clm_gui.profiling import human_bytes

    rec = _recommend_for_domain(profile)
    n_bytes = _corpus_bytes(profile)
    if n_bytes is None or rec.algorithm == "unigram":
        return rec
    vocab = vocab_for_corpus(n_bytes)
    if rec.action == "pretrained" and n_bytes < PRETRAINED_MIN_BYTES:
        return Recommendation(rec.domain, "train", (
            f"On {human_bytes(n_bytes)} of text most of a pretrained tokenizer's 50k tokens would be seen a "
            f"handful of times, so train a byte-level BPE of {vocab:,} tokens on it, the size that scored best "
            "on corpora of this size in the small-data benchmark."
        ), vocab_size=vocab)
    return dataclasses.replace(rec, vocab_size=vocab)


def _recommend_for_domain(profile: dict | None) -> Recommendation:
    label, language = _domain_of(profile)
    kind = _kind(label, language)
    if kind == "code":
        hub = _hub_for("code", language)
        return Recommendation(kind, "pretrained", (
            f"Source code is full of indentation, operators and identifiers that {hub.hub_id}'s tokenizer "
            f"({hub.note}) already splits well, so reuse it; offline, train a byte-level BPE instead."
        ), hub_id=hub.hub_id)
    if kind == "english":
        hub = _hub_for("english")
        return Recommendation(kind, "pretrained", (
            f"English prose is what {hub.hub_id}'s byte-level BPE was trained on, so it splits your "
            "words efficiently and never emits an unknown token; offline, train a byte-level BPE instead."
        ), hub_id=hub.hub_id)
    if kind in ("protein", "dna"):
        alphabet = "20 amino acids" if kind == "protein" else "4 bases"
        return Recommendation(kind, "train", (
            f"Sequences over {alphabet} without spaces are cut into arbitrary fragments by text tokenizers, "
            "so train a small Unigram tokenizer on them: it stays close to one token per residue and "
            "learns the frequent motifs."
        ), algorithm="unigram", vocab_size=1024)
    if kind == "natural language":
        named = f"in {language}" if language else "in a language other than English"
        return Recommendation(kind, "train", (
            f"Text {named} is split into many short pieces by English-centred tokenizers, so train a "
            "byte-level BPE on it, which learns its words and still never emits an unknown token."
        ), vocab_size=16384)
    if kind == "tabular":
        return Recommendation(kind, "train", (
            "Tables and JSON repeat the same keys, delimiters and number shapes, so a byte-level BPE trained "
            "on them learns those as single tokens, which no tokenizer trained on prose does."
        ))
    return Recommendation(kind, "train", (
        "Unusual text is best served by a tokenizer learned from it: byte-level BPE learns its frequent "
        "patterns and handles any character without unknown tokens."
    ))
