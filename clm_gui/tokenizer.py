"""Tokenizers: reuse a pretrained one (local folder or Hub id) or train a new one on the corpus.

The result is always a `PreTrainedTokenizerFast` with its end-of-text and padding tokens set, saved in
Hugging Face format, so `AutoTokenizer.from_pretrained(folder)` gives back the same tokenizer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from clm_gui.config import TokenizerConfig, is_hub_id
from clm_gui.errors import UserError


def _normalizer(cfg: TokenizerConfig):
    steps = ([normalizers.NFKC()] if cfg.nfkc else []) + ([normalizers.Lowercase()] if cfg.lowercase else [])
    return normalizers.Sequence(steps) if steps else None


def special_tokens(cfg: TokenizerConfig) -> list[str]:
    return [t for t in (cfg.eos_token, cfg.pad_token) if t]


def _byte_level_bpe(cfg: TokenizerConfig) -> tuple[Tokenizer, trainers.Trainer]:
    tok = Tokenizer(models.BPE())
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


def _bounded(texts: Iterable[str], limit: int) -> Iterator[str]:
    for i, text in enumerate(texts):
        if limit and i >= limit:
            return
        yield text


def train_tokenizer(texts: Iterable[str], cfg: TokenizerConfig) -> PreTrainedTokenizerFast:
    """Train a new tokenizer from a stream of documents (never held in memory all at once)."""
    if cfg.algorithm != "bpe":
        raise UserError(f"Training a {cfg.algorithm} tokenizer is not available; use algorithm 'bpe'.")
    tok, trainer = _byte_level_bpe(cfg)
    tok.normalizer = _normalizer(cfg)
    seen = 0

    def counted() -> Iterator[str]:
        nonlocal seen
        for text in _bounded(texts, cfg.sample_documents):
            seen += 1
            yield text

    tok.train_from_iterator(counted(), trainer=trainer)
    if seen == 0:
        raise UserError("The dataset has no text to train a tokenizer on; check the source and its filters.")
    return wrap_tokenizer(tok, cfg)


def wrap_tokenizer(tok: Tokenizer, cfg: TokenizerConfig) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=cfg.eos_token,
        bos_token=cfg.eos_token,
        pad_token=cfg.pad_token or cfg.eos_token,
        clean_up_tokenization_spaces=False,
    )


def load_tokenizer(path: str, eos_token: str = "<|endoftext|>") -> PreTrainedTokenizerFast:
    """Load a tokenizer from a local folder (or a Hub id when online) and make sure it can pack."""
    folder = Path(path).expanduser()
    if folder.is_dir():
        try:
            tok = AutoTokenizer.from_pretrained(str(folder))
        except Exception as exc:  # transformers raises several types for "no tokenizer here"
            raise UserError(
                f"The folder {folder} holds no tokenizer AutoTokenizer can read "
                f"(tokenizer.json or tokenizer_config.json): {str(exc).splitlines()[0] if str(exc) else exc}"
            ) from None
    elif is_hub_id(path):
        from clm_gui.data import hub_reachable

        if not hub_reachable():
            raise UserError(
                f"The Hugging Face Hub cannot be reached, so the tokenizer {path!r} cannot be downloaded. "
                "Choose a local tokenizer folder (for example a previous run's tokenizer/ folder)."
            )
        tok = AutoTokenizer.from_pretrained(path)
    else:
        raise UserError(f"{path!r} is neither a tokenizer folder nor a Hub id like 'owner/name'.")
    if not getattr(tok, "is_fast", False):
        raise UserError(f"The tokenizer at {path} has no fast (Rust) version; convert it or choose another.")
    if tok.eos_token is None:
        raise UserError(
            f"The tokenizer at {path} has no end-of-text token, which packing needs between documents. "
            f"Add one (for example {eos_token!r}) or train a new tokenizer."
        )
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok
