"""Measure tokenizers on held-out text (bytes and characters per token, fertility, unknown rate,
vocabulary used), compare them, and show a text cut at its token boundaries."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerFast

EVAL_BATCH = 256  # documents per call into the Rust encoder, which encodes a batch in parallel


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


def held_out_bytes_per_token(tokenizer_path: str, eos_token: str, data_cfg) -> float:
    """Bytes per token of a saved tokenizer on a dataset's held-out text: the text per token the planner
    counts a dataset's tokens with (`model/sizing.dataset_tokens_from_profile`), as Quick start measures it."""
    from clm_gui.data.held_out import held_out_texts
    from clm_gui.tokenizer.loading import load_tokenizer

    return evaluate_tokenizer(load_tokenizer(tokenizer_path, eos_token), held_out_texts(data_cfg)).bytes_per_token


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
