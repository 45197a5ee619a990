"""Recommend a tokenizer from the dataset's domain and size: a well-known one on the Hub to reuse, or
the algorithm and vocabulary to train, with the reason in one sentence."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from clm_gui.config import BYTE_ALPHABET, TokenizerConfig
from clm_gui.units import format_bytes

if TYPE_CHECKING:  # profiling loads `datasets`; a recommendation needs only the profile's type
    from clm_gui.data.profiling import DatasetProfile


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


def _domain_of(profile: DatasetProfile | None) -> tuple[str, str]:
    """(kind, language) from a profile's domain guess; no profile means the demo corpus (Python code)."""
    if profile is None:
        return "code", "Python"
    return profile.domain["kind"], profile.domain["language"]


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
# Compute per byte decides too: a budget that can make this many passes over the corpus one byte per token
# has compute to spare for the data, and a model that reads bytes sees each symbol most often and starts
# memorising latest (the published recipe's model on 1 MB of English: bytes 2.15 held-out bits/byte,
# BPE-512 2.16, BPE-1024 2.24). With less compute per byte, merges let the model read more text per step:
# on 0.9 MB of English, which 10 minutes on 2 CPU cores read about 13 times a byte at a time, a 0.5M model
# scored 2.178 with BPE-2048 against 2.211 with BPE-1024 (docs/benchmarks.md, "Small data"); so such a
# budget gets at least COMPUTE_LIMITED_MIN_VOCAB.
BYTE_LEVEL_MIN_PASSES = 20
COMPUTE_LIMITED_MIN_VOCAB = 2048


def byte_level_vocab(cfg: TokenizerConfig | None = None) -> int:
    """A byte-level BPE with no merges: the 256 byte values and the special tokens."""
    cfg = cfg or TokenizerConfig()
    return BYTE_ALPHABET + len([t for t in (cfg.eos_token, cfg.pad_token) if t])


def vocab_for_corpus(n_bytes: float | None, byte_passes: float | None = None, small_model: bool = False) -> int:
    """The vocabulary size to train for a corpus of this many bytes (DEFAULT_VOCAB when unknown); bytes
    alone when the budget can make at least BYTE_LEVEL_MIN_PASSES passes over it at a byte a token with a
    model large enough to memorise it, and at least COMPUTE_LIMITED_MIN_VOCAB otherwise. `small_model`: the
    model the budget allows is too small to memorise the text (the planner's judgement): compute, not the
    data, limits it (a 0.5M model reading 0.42 MB of English bytes 25 times on 2 CPU cores was still improving
    at its end and scored 1.835 held-out bits/byte, behind the published recipe's 1.791)."""
    if byte_passes is not None and byte_passes >= BYTE_LEVEL_MIN_PASSES and not small_model:
        return byte_level_vocab()
    if not n_bytes:
        return DEFAULT_VOCAB
    by_size = next((vocab for most, vocab in VOCAB_BY_CORPUS_BYTES if n_bytes <= most), DEFAULT_VOCAB)
    return by_size if byte_passes is None else max(by_size, COMPUTE_LIMITED_MIN_VOCAB)


def recommend_tokenizer(profile: DatasetProfile | None, online: bool = True,
                        byte_passes: float | None = None, small_model: bool = False) -> Recommendation:
    """What to use for this dataset, and why, in one sentence. Offline (`online` False), a pretrained choice
    becomes its fallback, training, so that accepting it works without the Hub. `byte_passes`: the passes
    the time budget can make over the data at a byte a token (the planner's figure), when there is one, and
    `small_model` whether the model it allows is too small to memorise the data (see vocab_for_corpus)."""
    rec = _recommend_for_size(profile, byte_passes, small_model)
    if rec.action != "pretrained" or online:
        return rec
    return Recommendation(rec.domain, "train", (
        f"The Hugging Face Hub is out of reach from here, so instead of downloading {rec.hub_id}'s tokenizer, "
        f"train a byte-level BPE of {rec.vocab_size:,} tokens on your data: it never emits an unknown token."
    ), vocab_size=rec.vocab_size)


def _recommend_for_size(profile: DatasetProfile | None, byte_passes: float | None,
                        small_model: bool) -> Recommendation:
    """The domain's recommendation with a vocabulary sized to the corpus and the compute per byte (also a
    pretrained one's fallback)."""

    rec = _recommend_for_domain(profile)
    n_bytes = profile.bytes if profile else None
    if not n_bytes or rec.algorithm == "unigram":
        return rec
    vocab = vocab_for_corpus(n_bytes, byte_passes, small_model)
    if vocab == byte_level_vocab():
        return Recommendation(rec.domain, "train", (
            f"Your time budget can read these {format_bytes(n_bytes)} about {byte_passes:,.0f} times even one byte "
            "at a time, so the model reads bytes (a byte-level BPE with no merges): on a small corpus it sees "
            "every symbol most often and memorises the text latest, which scored best in the small-data benchmark."
        ), vocab_size=vocab)
    if rec.action == "pretrained" and n_bytes < PRETRAINED_MIN_BYTES:
        return Recommendation(rec.domain, "train", (
            f"On {format_bytes(n_bytes)} of text most of a pretrained tokenizer's 50k tokens would be seen a "
            f"handful of times, so train a byte-level BPE of {vocab:,} tokens on it, "
            f"{_why_this_size(vocab, n_bytes, small_model)}."
        ), vocab_size=vocab)
    return dataclasses.replace(rec, vocab_size=vocab)


def _why_this_size(vocab: int, n_bytes: float, small_model: bool) -> str:
    if vocab > vocab_for_corpus(n_bytes):
        limit = ("the model the time budget allows is too small to memorise it" if small_model else
                 f"the time budget cannot read it {BYTE_LEVEL_MIN_PASSES} times a byte at a time")
        return (f"more than a corpus this size calls for, because {limit}: longer tokens let the model read more "
                "text per step")
    return "the size that scored best on corpora of this size in the small-data benchmark"


def _recommend_for_domain(profile: DatasetProfile | None) -> Recommendation:
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
