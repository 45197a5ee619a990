"""The held-out documents of a dataset, read lazily and bounded: the text tokenizers are measured on and
sample prompts are cut from (never text the model trains on)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from clm_gui.config import DataConfig
from clm_gui.errors import UserError

MAX_EVAL_BYTES = 2_000_000  # held-out text read for evaluation: enough for stable ratios, quick to encode


def stream_documents(data_cfg: DataConfig, split: str) -> Iterator[str]:
    """The split's documents read lazily whatever the dataset's mode, so that a bounded sample costs
    only its own reading and memory (the held-out rule is the same in both modes, so are the documents)."""
    from clm_gui.data.sources import iter_documents  # local: loading `datasets` is slow and not always needed

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
