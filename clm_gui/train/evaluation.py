"""Scoring a model on text: nats per token and bits per byte.

Bits per byte (the total negative log-likelihood in bits over the text's UTF-8 bytes) does not depend on
the tokenizer, so models with different vocabularies compare fairly. The text is scored the way it is
trained on: documents joined into one token stream, each followed by the end-of-text token. Windows
overlap by one token, so every token after the first is predicted exactly once, with the context of its
own window.

The trainer's periodic evaluation and `python -m clm_gui evaluate` both use `score_stream`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from clm_gui.data.packing import encode_batches
from clm_gui.errors import UserError
from clm_gui.train.loss import CausalLMLoss

LN2 = math.log(2)


@dataclass
class TokenStream:
    tokens: np.ndarray  # the documents' token ids, each document followed by the end-of-text token
    n_bytes: float  # the UTF-8 bytes of the text those tokens encode
    documents: int


def encode_stream(docs: Iterable[str], tokenizer, eos_id: int, max_tokens: int = 0) -> TokenStream:
    """The documents as one token stream, with their size in bytes; at most `max_tokens` tokens (0: all),
    a document cut short counting its bytes in proportion to the tokens kept."""
    pieces, n_tokens, n_bytes, documents = [], 0, 0.0, 0
    starts_document = True  # whether the next part is a document's first (a long one comes in slices)
    for batch in encode_batches(docs, tokenizer, eos_id):
        for text, part_ids, last in zip(*batch):
            part_bytes = len(text.encode("utf-8", "replace"))
            keep = len(part_ids) if not max_tokens else min(len(part_ids), max_tokens - n_tokens)
            pieces.append(part_ids[:keep])
            n_tokens, documents, starts_document = n_tokens + keep, documents + starts_document, last
            n_bytes += part_bytes * keep / max(len(part_ids), 1)
            if max_tokens and n_tokens >= max_tokens:
                return TokenStream(np.concatenate(pieces), n_bytes, documents)
    tokens = np.concatenate(pieces) if pieces else np.empty(0, dtype=np.int64)
    return TokenStream(tokens, n_bytes, documents)


def scoring_windows(tokens: np.ndarray, context_length: int) -> list[np.ndarray]:
    """Windows of at most context_length tokens, each starting at the previous one's last token, so that
    every token but the first is a prediction target exactly once."""
    stride = context_length - 1
    return [tokens[i:i + context_length] for i in range(0, max(len(tokens) - 1, 0), stride)]


@dataclass
class Score:
    nats_per_token: float
    bits_per_byte: float
    tokens: int  # tokens predicted
    bytes: float
    documents: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def score_stream(loss_module: torch.nn.Module, stream: TokenStream, context_length: int, batch_size: int,
                 device: torch.device, autocast=None) -> Score:
    """Score a token stream with a module whose forward(ids) is the mean next-token loss (CausalLMLoss)."""
    windows = scoring_windows(stream.tokens, context_length)
    if not windows:
        raise UserError("The text to score is shorter than two tokens.")
    # All windows reach the device in one copy, and the losses come back in one: a copy or a read per
    # batch would make the host wait for the device every batch, which is most of the time of a small model.
    full = [w for w in windows if len(w) == context_length]
    short = [w for w in windows if len(w) != context_length]  # the stream's short last window
    on_device = torch.from_numpy(np.stack(full).astype(np.int64)).to(device) if full else None
    batches = [on_device[i:i + batch_size] for i in range(0, len(full), batch_size)]
    batches += [torch.from_numpy(w[None].astype(np.int64)).to(device) for w in short]
    means = []
    for ids in batches:
        with autocast() if autocast else torch.autocast(device.type, enabled=False):
            means.append(loss_module(ids).float())
    targets = [ids.shape[0] * (ids.shape[1] - 1) for ids in batches]
    total = sum(mean * n for mean, n in zip(torch.stack(means).tolist(), targets))
    predicted = sum(targets)
    return Score(nats_per_token=total / predicted, bits_per_byte=total / LN2 / stream.n_bytes,
                 tokens=predicted, bytes=stream.n_bytes, documents=stream.documents)


def score_texts(lm, tokenizer, docs: Iterable[str], batch_size: int = 8) -> Score:
    """Bits per byte of a loaded model (and its tokenizer) on the given documents."""
    context = getattr(lm.config, "n_positions", None) or lm.config.max_position_embeddings
    stream = encode_stream(docs, tokenizer, tokenizer.eos_token_id)
    if stream.n_bytes == 0:
        raise UserError("There is no text to score.")
    return score_stream(CausalLMLoss(lm).eval(), stream, context, batch_size, lm.device)


def evaluate_model(model_path: str | Path, docs: Iterable[str], device: str = "cpu",
                   batch_size: int = 8) -> Score:
    """Bits per byte of a saved model (a run folder, its final/ or a checkpoint) on the given documents."""
    from clm_gui.model.generate import load_for_generation

    lm, tokenizer = load_for_generation(model_path, device)
    return score_texts(lm, tokenizer, docs, batch_size)
