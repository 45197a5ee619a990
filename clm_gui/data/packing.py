"""Tokenize documents and pack them into fixed context windows.

Documents are joined into one token stream with the end-of-text token after each document, then cut
into windows of `context_length` tokens. Labels are the inputs themselves (the model shifts them), as
`DataCollatorForLanguageModeling(mlm=False)` makes them; packed windows have no padding.

Two batch sources feed the trainer, with the same interface (`next_batch`, `state_dict`):
- `CachedWindows`: the corpus is tokenized once into a flat token file on disk (reused by later runs
  with the same data and tokenizer), then windows are drawn in a fresh random order each epoch.
- `StreamingWindows`: documents are tokenized on the fly by a background thread, ahead of the trainer.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple
from pathlib import Path

import numpy as np
import torch

from clm_gui.errors import Cancelled

ENCODE_BATCH = 256  # parts (documents, or slices of long ones) per call into the Rust tokenizer (parallel inside)
# ... and characters per call: a text file was read in 1 MiB pieces, so 256 of them made a 256 MiB call
# whose ids, as Python lists, held gigabytes and kept a streaming run from its first step for minutes (#29).
ENCODE_BATCH_CHARS = 1_000_000
# A longer document goes to the tokenizer in slices of at most this many characters: one 40 MB line was
# one call of 6 GB (#29). Slices also spread a long document over the cores.
ENCODE_SLICE_CHARS = 1 << 16


class EncodedBatch(NamedTuple):
    texts: list[str]  # each part's text: a document, or a slice of a long one
    ids: list[np.ndarray]  # each part's token ids, the end-of-text token after a document's last part
    ends: list[bool]  # whether the part is a document's last


def document_parts(doc: str, limit: int) -> Iterator[tuple[str, bool]]:
    """A document as (slice, whether it is the last) of at most `limit` characters, each cut before a space
    (where byte-level BPE's words begin, so that the slices split into the words the whole would), or at
    `limit` in text without spaces."""
    start = 0
    while len(doc) - start > limit:
        cut = doc.rfind(" ", start + 1, start + limit + 1)
        cut = cut if cut > start else start + limit
        yield doc[start:cut], False
        start = cut
    yield doc[start:], True


def encode_batches(docs: Iterable[str], tokenizer, eos_id: int) -> Iterator[EncodedBatch]:
    """The documents encoded, in batches of at most ENCODE_BATCH parts, ending with the part that reaches
    ENCODE_BATCH_CHARS characters; a document longer than ENCODE_SLICE_CHARS is encoded in slices."""
    backend = tokenizer.backend_tokenizer
    batch = EncodedBatch([], [], [])
    chars = 0

    def flush() -> EncodedBatch:
        nonlocal batch, chars
        encodings = backend.encode_batch_fast(batch.texts, add_special_tokens=False)
        done = batch._replace(ids=[np.asarray(e.ids + [eos_id] if end else e.ids, dtype=np.int64)
                                   for e, end in zip(encodings, batch.ends)])
        batch, chars = EncodedBatch([], [], []), 0
        return done

    for doc in docs:
        for part, last in document_parts(doc, ENCODE_SLICE_CHARS):
            batch.texts.append(part)
            batch.ends.append(last)
            chars += len(part)
            if len(batch.texts) == ENCODE_BATCH or chars >= ENCODE_BATCH_CHARS:
                yield flush()
    if batch.texts:
        yield flush()


def encode_documents(docs: Iterable[str], tokenizer, eos_id: int) -> Iterator[np.ndarray]:
    """Token ids of each batch of documents, each document followed by the end-of-text token."""
    for batch in encode_batches(docs, tokenizer, eos_id):
        yield np.concatenate(batch.ids)


def pack_windows(token_chunks: Iterable[np.ndarray], context_length: int) -> Iterator[np.ndarray]:
    """Cut a stream of token chunks into consecutive windows; the incomplete tail is dropped."""
    carry = np.empty(0, dtype=np.int64)
    for chunk in token_chunks:
        carry = np.concatenate([carry, chunk]) if len(carry) else chunk
        n = len(carry) // context_length
        for i in range(n):
            yield carry[i * context_length:(i + 1) * context_length]
        carry = carry[n * context_length:]


def to_batch(windows: list[np.ndarray] | np.ndarray, pin: bool) -> torch.Tensor:
    batch = torch.from_numpy(np.asarray(windows, dtype=np.int64))
    return batch.pin_memory() if pin else batch


# ---------------------------------------------------------------------------------------------
# One-time token cache on disk.


def token_dtype(vocab_size: int):
    return np.uint16 if vocab_size <= np.iinfo(np.uint16).max + 1 else np.uint32


def cache_key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]


def build_token_cache(docs: Iterable[str], tokenizer, eos_id: int, path: Path,
                      should_stop: Callable[[], bool] = lambda: False) -> Path:
    """Tokenize documents into `path` (flat token ids) once; later calls reuse the finished file.

    The file is written under a temporary name and renamed when complete, so an interrupted build is
    never mistaken for a finished cache. Memory stays bounded by one encode batch.
    """
    meta_path = path.with_suffix(".json")
    if path.is_file() and meta_path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    dtype = token_dtype(len(tokenizer))
    tmp = path.with_name(f".tmp-{path.name}.{os.getpid()}")
    n_tokens = 0
    with open(tmp, "wb") as f:
        for ids in encode_documents(docs, tokenizer, eos_id):
            if should_stop():
                f.close()
                tmp.unlink(missing_ok=True)
                raise Cancelled("Tokenizing the training data was stopped; nothing was kept.")
            f.write(ids.astype(dtype).tobytes())
            n_tokens += len(ids)
    os.replace(tmp, path)
    meta_path.write_text(json.dumps({"tokens": n_tokens, "dtype": np.dtype(dtype).name}))
    return path


def read_token_cache(path: Path) -> np.ndarray:
    meta = json.loads(path.with_suffix(".json").read_text())
    if meta["tokens"] == 0:
        return np.empty(0, dtype=meta["dtype"])
    return np.memmap(path, dtype=meta["dtype"], mode="r", shape=(meta["tokens"],))


class CachedWindows:
    """Random windows from a token file; each rank takes a disjoint share of every epoch's order.

    Every epoch cuts the token file at a fresh random shift (0 to context_length - 1 tokens, from the seed
    and the epoch number), so that a small corpus repeated for many passes shows the model new windows
    each time instead of the same ones in another order. Epoch and position are the whole state: a
    resumed run draws exactly the windows it would have drawn.
    """

    def __init__(self, tokens: np.ndarray, context_length: int, batch_size: int, seed: int,
                 rank: int = 0, world_size: int = 1, pin: bool = False):
        self.tokens, self.context_length, self.batch_size = tokens, context_length, batch_size
        self.seed, self.rank, self.world_size, self.pin = seed, rank, world_size, pin
        self.epoch, self.position = 0, 0
        self._start_epoch()

    @property
    def windows_per_rank(self) -> int:
        """Windows each rank trains on per epoch: the same for every shift (the fewest any leaves)."""
        return (len(self.tokens) - self._max_shift()) // self.context_length // self.world_size

    @property
    def passes(self) -> float:
        """Passes over the token file so far (epochs, with the current one's fraction)."""
        return self.epoch + self.position / max(1, len(self._order))

    def _max_shift(self) -> int:
        # Shifting a file shorter than two windows would leave it no whole window at all.
        return self.context_length - 1 if len(self.tokens) >= 2 * self.context_length else 0

    def _start_epoch(self) -> None:
        rng = np.random.default_rng([self.seed, self.epoch])
        self.shift = int(rng.integers(0, self._max_shift() + 1))
        n_windows = (len(self.tokens) - self.shift) // self.context_length
        order = rng.permutation(n_windows)
        # Every rank gets the same number of windows so that no rank waits on another at an epoch end.
        self._order = order[self.rank::self.world_size][: self.windows_per_rank]

    def window_starts(self) -> np.ndarray:
        """Where this rank's windows of the current epoch start in the token file, in order."""
        return self._order * self.context_length + self.shift

    def next_batch(self) -> torch.Tensor:
        rows = []
        while len(rows) < self.batch_size:
            if self.position >= len(self._order):
                self.epoch, self.position = self.epoch + 1, 0
                self._start_epoch()
            start = int(self._order[self.position]) * self.context_length + self.shift
            rows.append(self.tokens[start:start + self.context_length])
            self.position += 1
        return to_batch(rows, self.pin)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position = state["epoch"], state["position"]
        self._start_epoch()

    def close(self) -> None:
        pass


class StreamingWindows:
    """Windows tokenized on the fly by a background thread; the stream restarts at each epoch end.

    `make_docs()` returns a fresh iterator over this rank's documents. The position is the number of
    windows handed out, so a resumed run skips exactly what it already trained on.
    """

    def __init__(self, make_docs: Callable[[], Iterator[str]], tokenizer, eos_id: int, context_length: int,
                 batch_size: int, pin: bool = False, prefetch_batches: int = 8):
        self.make_docs, self.tokenizer, self.eos_id = make_docs, tokenizer, eos_id
        self.context_length, self.batch_size, self.pin = context_length, batch_size, pin
        self.position = 0
        self._queue: queue.Queue = queue.Queue(maxsize=prefetch_batches)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _windows_forever(self, skip: int) -> Iterator[np.ndarray]:
        while not self._stop.is_set():
            produced = 0
            # Part by part: a batch's parts are never joined into one more copy.
            batches = encode_batches(self.make_docs(), self.tokenizer, self.eos_id)
            parts = (ids for batch in batches for ids in batch.ids)
            for window in pack_windows(parts, self.context_length):
                produced += 1
                if skip:
                    skip -= 1
                    continue
                yield window
            if produced == 0:
                raise ValueError("the training split is smaller than one context window")

    def _produce(self, skip: int) -> None:
        try:
            rows: list[np.ndarray] = []
            for window in self._windows_forever(skip):
                if self._stop.is_set():  # else it tokenized on to the corpus's end, beside the evaluation (#29)
                    return
                rows.append(window)
                if len(rows) == self.batch_size:
                    self._put(to_batch(rows, self.pin))
                    rows = []
        except BaseException as exc:  # handed to the trainer's thread, which raises it
            self._put(exc)

    def _put(self, item) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def next_batch(self) -> torch.Tensor:
        if self._thread is None:
            self._thread = threading.Thread(target=self._produce, args=(self.position,), daemon=True)
            self._thread.start()
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        self.position += len(item)
        return item

    def state_dict(self) -> dict:
        return {"position": self.position}

    def load_state_dict(self, state: dict) -> None:
        assert self._thread is None, "load state before the first batch"
        self.position = state["position"]

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)  # let it leave the tokenizer before the interpreter exits
