"""Dataset sources, streaming vs in-memory, text extraction, preprocessing and the held-out split.

Every source becomes a Hugging Face `datasets` object, in one of two modes:
- in memory: a `Dataset` (random access, exact statistics, fast repeated passes);
- streaming: an `IterableDataset` (read lazily; memory does not grow with the corpus).

The three ways of making an iterable dataset all appear here: `IterableDataset.from_generator` for the
built-in demo corpus, `load_dataset(..., streaming=True)` for files and the Hub, and
`Dataset.to_iterable_dataset()` for data already in memory.

The held-out split is a rule on the document index (one document in K, K = 1 / eval_fraction), so it
is the same in both modes, needs no extra pass, and never leaks a document into both splits.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import datasets

from clm_gui.config import HUB_SOURCE_PREFIX, DataConfig, is_hub_id, parse_hub_source
from clm_gui.errors import UserError

TEXT_SUFFIXES = {".txt", ".md", ".py", ".rst", ".text", ".markdown"}
TABLE_BUILDERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
PREFERRED_TEXT_COLUMNS = ("text", "content", "code")
HUB_HOST = ("huggingface.co", 443)

datasets.disable_progress_bars()


# ---------------------------------------------------------------------------------------------
# The built-in demo corpus: Python's own standard library, present on every machine.


def demo_corpus_files() -> list[Path]:
    """The standard library's `.py` files (no site-packages), in a fixed order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in ("site-packages", "dist-packages", "__pycache__"))
        files.extend(Path(folder) / n for n in sorted(names) if n.endswith(".py"))
    return files


def _read_text_files(paths: list[str]) -> Iterator[dict]:
    for path in paths:
        raw = Path(path).read_bytes()
        yield {"text": raw.decode("utf-8", errors="replace"), "path": str(path)}


def _text_files_dataset(paths: list[Path], streaming: bool):
    shards = [str(p) for p in paths]
    if streaming:
        # gen_kwargs holding a list makes the dataset sharded, so ranks and workers split it by file.
        return datasets.IterableDataset.from_generator(_read_text_files, gen_kwargs={"paths": shards})
    rows = list(_read_text_files(shards))
    return datasets.Dataset.from_dict({"text": [r["text"] for r in rows], "path": [r["path"] for r in rows]})


# ---------------------------------------------------------------------------------------------
# Sources.


def _local_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    files = sorted(
        p for p in path.rglob("*")
        if p.is_file() and (p.suffix.lower() in TEXT_SUFFIXES or p.suffix.lower() in TABLE_BUILDERS)
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )
    if not files:
        raise UserError(
            f"The folder {path} holds no readable files. Supported: "
            f"{', '.join(sorted(TEXT_SUFFIXES | set(TABLE_BUILDERS)))}."
        )
    return files


def _local_dataset(path: Path, streaming: bool):
    if not path.exists():
        raise UserError(f"The path {path} does not exist; check the spelling or upload the files.")
    files = _local_files(path)
    kinds = {TABLE_BUILDERS.get(f.suffix.lower(), "text") for f in files}
    if len(kinds) > 1:
        raise UserError(
            f"{path} mixes plain text files with table files ({', '.join(sorted(kinds))}); "
            "put each kind in its own folder."
        )
    kind = kinds.pop()
    if kind == "text":
        return _text_files_dataset(files, streaming)
    try:
        return datasets.load_dataset(kind, data_files=[str(f) for f in files], split="train", streaming=streaming)
    except Exception as exc:  # the builders raise many types; all mean "this file is unreadable"
        raise UserError(f"Cannot read {path} as {kind}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face Hub answers, decided in seconds (not the minutes a load would hang)."""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    try:
        with socket.create_connection(HUB_HOST, timeout=timeout):
            return True
    except OSError:
        return False


def _hub_dataset(source: str, streaming: bool):
    dataset_id, config, split = parse_hub_source(source)
    if not is_hub_id(dataset_id):
        raise UserError(
            f"{dataset_id!r} is not a valid Hub dataset id; it looks like 'owner/name' "
            "(letters, digits, '-', '_', '.')."
        )
    if not hub_reachable():
        raise UserError(
            f"The Hugging Face Hub cannot be reached, so {dataset_id!r} cannot be loaded. "
            "Check the network, or upload your files / choose a local folder instead."
        )
    try:
        return datasets.load_dataset(dataset_id, config, split=split, streaming=streaming)
    except Exception as exc:  # network, auth, missing config or split: all reported to the user
        raise UserError(f"Could not load {dataset_id!r} from the Hub: {_first_line(exc)}") from None


def load_source(cfg: DataConfig):
    """The raw dataset named by `cfg.source`, with all its columns, in the configured mode."""
    if cfg.source == "demo":
        return _text_files_dataset(demo_corpus_files(), cfg.streaming)
    if cfg.source.startswith(HUB_SOURCE_PREFIX):
        return _hub_dataset(cfg.source, cfg.streaming)
    return _local_dataset(Path(cfg.source).expanduser(), cfg.streaming)


# ---------------------------------------------------------------------------------------------
# Text column, preprocessing, splits.


def string_columns(features) -> list[str]:
    if not features:
        return []
    return [name for name, f in features.items() if getattr(f, "dtype", None) in ("string", "large_string")]


def detect_text_column(ds) -> str:
    """The column holding the text: text/content/code if present, else the longest string column."""
    columns = string_columns(ds.features)
    if not columns:
        raise UserError(
            "The dataset has no text column (found: "
            f"{', '.join(ds.column_names or []) or 'no columns'}); choose a file with a column of text."
        )
    for name in PREFERRED_TEXT_COLUMNS:
        if name in columns:
            return name
    rows = list(ds.take(50)) if isinstance(ds, datasets.IterableDataset) else ds.select(range(min(50, len(ds))))
    lengths = {c: sum(len(r[c] or "") for r in rows) for c in columns}
    return max(columns, key=lambda c: lengths[c])


def text_getter(ds, cfg: DataConfig):
    """A function row -> text, for the configured (or detected) column or joined columns."""
    columns = list(cfg.join_columns) or [cfg.text_column or detect_text_column(ds)]
    known = ds.column_names
    if known is not None:
        missing = [c for c in columns if c not in known]
        if missing:
            raise UserError(f"Column(s) {', '.join(missing)} not found; the dataset has: {', '.join(known)}.")
    string_cols = set(string_columns(ds.features))
    if ds.features is not None:
        non_text = [c for c in columns if c not in string_cols]
        if non_text:
            raise UserError(f"Column(s) {', '.join(non_text)} hold no text; pick a string column.")
    if len(columns) == 1:
        column = columns[0]
        return lambda row: row[column] or ""
    return lambda row: "\n".join(row[c] or "" for c in columns)


_TRAILING_SPACE = re.compile(r"[ \t]+$", re.MULTILINE)
_BLANK_RUNS = re.compile(r"\n{3,}")


def normalize_whitespace(text: str) -> str:
    return _BLANK_RUNS.sub("\n\n", _TRAILING_SPACE.sub("", text)).strip("\n") + ("\n" if text.strip() else "")


def preprocess(texts: Iterator[str], cfg: DataConfig) -> Iterator[str]:
    """Apply the configured filters lazily (works the same for both modes)."""
    seen: set[bytes] = set()  # 16 bytes per unique document: the price of exact de-duplication
    for text in texts:
        if cfg.normalize_whitespace:
            text = normalize_whitespace(text)
        if cfg.drop_empty and not text.strip():
            continue
        if len(text) < cfg.min_chars or (cfg.max_chars and len(text) > cfg.max_chars):
            continue
        if cfg.drop_duplicates:
            digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
            if digest in seen:
                continue
            seen.add(digest)
        yield text


def eval_period(cfg: DataConfig) -> int:
    return max(2, round(1 / cfg.eval_fraction))


def iter_documents(
    cfg: DataConfig, split: str = "train", rank: int = 0, world_size: int = 1, ds=None
) -> Iterator[str]:
    """The documents of one split, preprocessed; with several ranks, each gets a disjoint share.

    Document i (in source order, before filtering) is held out when i % K == 0. Training documents
    are dealt to ranks in turn, so ranks never overlap and none is lost.
    """
    assert split in ("train", "eval"), split
    ds = load_source(cfg) if ds is None else ds
    get_text = text_getter(ds, cfg)
    period = eval_period(cfg)

    def selected() -> Iterator[str]:
        train_index = 0
        for i, row in enumerate(ds):
            if cfg.max_documents and i >= cfg.max_documents:
                return
            is_eval = i % period == 0
            if split == "eval":
                if is_eval:
                    yield get_text(row)
                continue
            if is_eval:
                continue
            if train_index % world_size == rank:
                yield get_text(row)
            train_index += 1

    return preprocess(selected(), cfg)
