"""A model folder's tokenizer as GGUF metadata: tokens, merges, special tokens and the pre-tokenizer.

llama.cpp does not run the Hugging Face tokenizer: it has its own BPE and knows a fixed list of
pre-tokenizers by name (`tokenizer.ggml.pre`). The stock converter finds that name by hashing the
tokenizer's output on a probe text, so a freshly trained tokenizer is never recognised. Here the name
comes from the tokenizer's own description instead: the app's byte-level BPE splits words with
`pre_tokenizers.ByteLevel(use_regex=True)`, whose regex is GPT-2's, which llama.cpp calls "gpt-2"
(tests/test_gguf_llama_cpp.py tokenises a probe text in llama.cpp to prove the two agree).

WordPiece and Unigram are refused: llama.cpp's WordPiece (BERT) and Unigram (T5) tokenizers split words
their own way, not with the app's regex, so the model would be fed tokens it never saw in training.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from gguf import GGUFWriter, TokenType

from clm_gui.errors import UserError

GPT2_PRE_TOKENIZER = "gpt-2"  # llama.cpp's name for GPT-2's word-splitting regex
_ALGORITHMS = {"WordPiece": "WordPiece", "Unigram": "Unigram", "WordLevel": "word-level"}


@dataclass
class GgufVocab:
    tokens: list[str]  # one per row of the embedding: the tokenizer's, then unused padding rows
    token_types: list[int]
    merges: list[str]  # "left right", in merge order
    eos_id: int
    pad_id: int | None

    @property
    def eos_token(self) -> str:
        return self.tokens[self.eos_id]

    def add_to(self, writer: GGUFWriter) -> None:
        writer.add_tokenizer_model("gpt2")  # llama.cpp's name for byte-level BPE
        writer.add_tokenizer_pre(GPT2_PRE_TOKENIZER)
        writer.add_token_list(self.tokens)
        writer.add_token_types(self.token_types)
        writer.add_token_merges(self.merges)
        writer.add_bos_token_id(self.eos_id)  # the app uses its end-of-text token as BOS too
        writer.add_eos_token_id(self.eos_id)
        if self.pad_id is not None:
            writer.add_pad_token_id(self.pad_id)
        # The app never adds special tokens to a prompt (training packs documents joined by end-of-text,
        # generation encodes the prompt as it is), so llama.cpp must not either.
        writer.add_add_bos_token(False)
        writer.add_add_eos_token(False)


ADVICE = ("Train the run with the app's default byte-level BPE tokenizer (tokenizer.algorithm: bpe, lowercase and "
          "NFKC off), or share the model as the Hugging Face zip, which keeps the tokenizer exactly.")


def tokenizer_problem(spec: dict) -> str | None:
    """Why llama.cpp's "gpt2" BPE with "gpt-2" words would not turn text into the same tokens as this
    tokenizer (its tokenizer.json), or None when it would."""
    model = spec.get("model") or {}
    kind = model.get("type")
    if kind in _ALGORITHMS:
        return (f"it is a {_ALGORITHMS[kind]} tokenizer, and llama.cpp splits words for {_ALGORITHMS[kind]} its "
                "own way, not the way this tokenizer was trained, so the model would read different tokens than it "
                "learned from.")
    if kind != "BPE":
        return f"its model type {kind!r} is not one llama.cpp can run."
    if spec.get("normalizer"):
        return ("it rewrites text before tokenizing (lowercasing or Unicode NFKC), a step llama.cpp does not have, "
                "so text with capitals or look-alike characters would become different tokens.")
    pre = spec.get("pre_tokenizer") or {}
    if not (pre.get("type") == "ByteLevel" and pre.get("use_regex", True) and not pre.get("add_prefix_space")):
        return ("it is not a byte-level BPE that splits words with GPT-2's rule, the one pre-tokenizer this exporter "
                "can name for llama.cpp.")
    if any(model.get(option) for option in ("continuing_subword_prefix", "end_of_word_suffix", "byte_fallback",
                                            "ignore_merges")):
        return ("its BPE uses options (subword prefixes or suffixes, byte fallback, ignored merges) that llama.cpp's "
                "GPT-2 BPE does not.")
    return None


def gguf_refusal(folder: Path) -> str | None:
    """Why the tokenizer saved in `folder` cannot go into a GGUF file, with what to do instead; None when it can."""
    try:
        problem = tokenizer_problem(json.loads((Path(folder) / "tokenizer.json").read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        problem = f"its tokenizer.json cannot be read ({exc})."
    return f"the tokenizer cannot be exported to GGUF: {problem} {ADVICE}" if problem else None


def _merge_text(merge) -> str:
    """A merge as GGUF stores it: "left right" (tokenizers writes pairs as lists since 0.20)."""
    return merge if isinstance(merge, str) else " ".join(merge)


def _special_id(config: dict, key: str, vocab: dict[str, int]) -> int | None:
    token = config.get(key)
    token = token.get("content") if isinstance(token, dict) else token
    return vocab.get(token) if token else None


def read_vocab(folder: Path, n_rows: int) -> GgufVocab:
    """The GGUF vocabulary of the tokenizer saved in `folder`, padded to the model's `n_rows` embedding rows
    (the app pads the vocabulary to a multiple of 64; those rows are never produced by the tokenizer)."""
    folder = Path(folder)
    try:
        spec = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
        config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"The tokenizer in {folder} cannot be read ({exc}); export a run's final/ model, which "
                        "holds tokenizer.json and tokenizer_config.json.") from None
    problem = tokenizer_problem(spec)
    if problem:
        raise UserError(f"The tokenizer in {folder} cannot be exported to GGUF: {problem} {ADVICE}")
    vocab = dict(spec["model"]["vocab"])
    added = {}  # id -> its type: a special token is CONTROL; another added token is matched whole in text
    for token in spec.get("added_tokens", []):
        vocab[token["content"]] = token["id"]
        added[token["id"]] = TokenType.CONTROL if token.get("special") else TokenType.USER_DEFINED
    if max(vocab.values()) >= n_rows:
        raise UserError(f"The tokenizer in {folder} has {max(vocab.values()) + 1:,} tokens but the model only "
                        f"{n_rows:,} embedding rows: they do not belong together.")
    eos_id = _special_id(config, "eos_token", vocab)
    if eos_id is None:
        raise UserError(f"The tokenizer in {folder} has no end-of-text token, which llama.cpp and Ollama need "
                        "to know where a text ends.")
    tokens = [f"[PAD{i}]" for i in range(n_rows)]
    types = [TokenType.UNUSED] * n_rows
    for token, i in vocab.items():
        tokens[i] = token
        types[i] = added.get(i, TokenType.NORMAL)
    return GgufVocab(tokens=tokens, token_types=[int(t) for t in types],
                     merges=[_merge_text(m) for m in spec["model"].get("merges", [])],
                     eos_id=eos_id, pad_id=_special_id(config, "pad_token", vocab))
