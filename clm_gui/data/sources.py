"""Dataset sources, streaming vs in-memory, text extraction, preview, preprocessing and the held-out split.

Every source becomes a Hugging Face `datasets` object, in one of two modes:
- in memory: a `Dataset` (random access, exact statistics, fast repeated passes);
- streaming: an `IterableDataset` (read lazily; memory does not grow with the corpus).

The three ways of making an iterable dataset all appear here: `IterableDataset.from_generator` for
plain-text files and the built-in demo corpus, `load_dataset(..., streaming=True)` for table files and
the Hub, and `Dataset.to_iterable_dataset()` for data already in memory (`as_streaming`).

The held-out split (`split_rule`) is the same in both modes and needs no extra pass:
- plain text (one file, or a few files, read in order as one stream, kept as it is) holds out the
  stream's tail: contiguous text, never paragraphs interleaved with the training text;
- a source of many documents (rows, or many files) holds out whole documents chosen by a hash of their
  text, so exact duplicates always land on the same side.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import sysconfig
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import datasets

from clm_gui.config import HUB_SOURCE_PREFIX, DataConfig, is_hub_id, parse_hub_source
from clm_gui.data.datafiles import (check_not_binary, diagnose_table_file, iter_text_pieces, iter_text_units,
                                    parquet_rows, shorten, stream_held_out_starts)
from clm_gui.errors import UserError, first_line
from clm_gui.hub import hub_reachable
from clm_gui.security import in_force

TEXT_SUFFIXES = {".txt", ".md", ".py", ".rst", ".text", ".markdown"}
TABLE_BUILDERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
PREFERRED_TEXT_COLUMNS = ("text", "content", "code")
TEXT_FEATURES = datasets.Features({
    "text": datasets.Value("string"),
    "path": datasets.Value("string"),
    "replaced_bytes": datasets.Value("int64"),  # bytes that were not UTF-8 and became U+FFFD
    "held_out": datasets.Value("bool"),  # the tail of a text stream, kept for evaluation (split_rule "tail")
})
# How a text file was read, not what it says: a preview leaves these columns out.
READING_COLUMNS = ("replaced_bytes", "held_out")
# A text stream's tail is held out when holding out whole files would leave fewer than this many out:
# too few for a held-out loss that represents the data.
MIN_HELD_OUT_FILES = 10
SPLIT_VERSION = 2  # part of the token cache's key: caches made under an earlier split rule are not reused
_UNIT_SEPARATOR_BYTES = {"document": 0, "paragraph": 2, "line": 1}
ROW_BATCH = 256
# A stream is read fewer rows at a time: a text file's rows are pieces of up to 256 KiB (they were 1 MiB, and
# 256 of them held a 1.2 GB file's first 256 MiB in memory before its first document came out, #29). Short rows
# read about 1 microsecond slower each.
STREAM_ROW_BATCH = 16
# A look at a source's first rows (their columns, a preview) reads at most about this much text: 20 rows of
# 10,000 characters, or one piece of a text file.
PEEK_CHARS = 200_000

datasets.disable_progress_bars()


# ---------------------------------------------------------------------------------------------
# The built-in demo corpus: Python's own standard library, present on every machine.


def demo_corpus_files() -> list[Path]:
    """The standard library's `.py` files (no site-packages), in a fixed, shuffled order.

    Shuffled by a hash of each file's path, the same on every machine with the same Python, so that the
    first N documents (`data.max_documents`) are a mix of the library rather than its first packages
    alphabetically. The `encodings` package is left out: most of it is generated codec tables
    ("0x41 -> LATIN CAPITAL LETTER A"), which a small demo model would otherwise learn to recite.
    """
    root = Path(sysconfig.get_paths()["stdlib"])
    skipped = {"site-packages", "dist-packages", "__pycache__", "encodings"}
    files = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in skipped]
        files.extend(Path(folder) / n for n in names if n.endswith(".py"))
    return sorted(files, key=lambda f: hashlib.sha256(f.relative_to(root).as_posix().encode()).hexdigest())


# ---------------------------------------------------------------------------------------------
# Local files: which ones, of what kind.


@dataclass
class SourceFiles:
    kind: str  # "text", or the `datasets` builder that reads them: json, csv, parquet
    files: list[Path]

    @property
    def disk_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.files)


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


def source_files(cfg: DataConfig) -> SourceFiles | None:
    """The files behind a demo or local source (None for the Hub), checked for kind and emptiness."""
    if cfg.source == "demo":
        return SourceFiles("text", demo_corpus_files())
    if cfg.source.startswith(HUB_SOURCE_PREFIX):
        return None
    path = in_force().readable_path(cfg.source, "data.source")  # hosted: only the visitor's own uploads
    if not path.exists():
        raise UserError(f"The path {path} does not exist; check the spelling or upload the files.")
    files = _local_files(path)
    kinds = {TABLE_BUILDERS.get(f.suffix.lower(), "text") for f in files}
    if len(kinds) > 1:
        raise UserError(
            f"{path} mixes files of different kinds ({', '.join(sorted(kinds))}); "
            "put each kind in its own folder."
        )
    non_empty = [f for f in files if f.stat().st_size > 0]
    if not non_empty:
        what = f"The file {files[0].name} is" if len(files) == 1 else f"All {len(files)} files in {path} are"
        raise UserError(f"{what} empty (0 bytes): there is no text to train on. Choose or upload other files.")
    kind = kinds.pop()
    # An empty table file has no columns and breaks its builder; an empty text file is an empty document.
    return SourceFiles(kind, files if kind == "text" else non_empty)


def check_readable(cfg: DataConfig) -> None:
    """What can be said of a source before reading it: its files' kinds, that not all are empty, and no text
    file that is binary. An upload hears it at once rather than at Start."""
    found = source_files(cfg)
    for path in found.files if found is not None and found.kind == "text" else []:
        check_not_binary(path)


def resolve_text_unit(cfg: DataConfig, n_files: int = 0) -> str:
    """What one document is in plain-text files; see DataConfig.text_unit. Unless told otherwise, a file
    is one document: text has documents only where the data has them."""
    return "document" if cfg.text_unit == "auto" else cfg.text_unit


def split_rule(cfg: DataConfig, found: SourceFiles | None) -> str:
    """How the held-out split is made: "tail" (the last eval_fraction of the text stream) or "documents"
    (whole documents, one in 1/eval_fraction, chosen by a hash of their text)."""
    if found is None or found.kind != "text" or resolve_text_unit(cfg) != "document":
        return "documents"
    files = min(len(found.files), cfg.max_documents or len(found.files))
    return "tail" if files * cfg.eval_fraction < MIN_HELD_OUT_FILES else "documents"


def describe_split(cfg: DataConfig) -> str:
    """How the held-out split of this source is made, in one sentence for the Dataset tab."""
    share = f"{cfg.eval_fraction:.0%}" if cfg.eval_fraction >= 0.01 else f"{cfg.eval_fraction:.1%}"
    if split_rule(cfg, source_files(cfg)) == "tail":
        return (f"The last {share} of the text (from a line start; the files read in order as one stream) is "
                "held out: contiguous text the model never trains on, scored as it is.")
    return (f"{share} of the documents are held out whole, chosen by a hash of their text, so that an "
            "exact duplicate is never on both sides.")


def _read_text_files(paths: list[str], unit: str, held_out_starts: list[int | None],
                     held_out_only: bool) -> Iterator[dict]:
    for path, held_out_start in zip(paths, held_out_starts):
        if unit == "document":
            for text, replaced, held_out in iter_text_pieces(Path(path), held_out_start, held_out_only):
                yield {"text": text, "path": path, "replaced_bytes": replaced, "held_out": held_out}
            continue
        for text, replaced in iter_text_units(Path(path), unit):
            yield {"text": text, "path": path, "replaced_bytes": replaced, "held_out": False}


def _text_files_dataset(paths: list[Path], unit: str, held_out_starts: list[int | None], streaming: bool,
                        held_out_only: bool):
    # Both lists are sharded alike: a rank reading some of the files gets their own held-out starts.
    kwargs = {"paths": [str(p) for p in paths], "unit": unit, "held_out_starts": held_out_starts,
              "held_out_only": held_out_only}
    if streaming:
        # gen_kwargs holding a list makes the dataset sharded, so ranks and workers split it by file.
        # No `features`: declaring them makes `datasets` encode and decode every row, 5x slower to read;
        # the columns are then learnt from the first rows (see column_kinds).
        return datasets.IterableDataset.from_generator(_read_text_files, gen_kwargs=kwargs)
    columns: dict[str, list] = {name: [] for name in TEXT_FEATURES}
    for row in _read_text_files(**kwargs):
        for name, value in row.items():
            columns[name].append(value)
    return datasets.Dataset.from_dict(columns, features=TEXT_FEATURES)


def _local_dataset(found: SourceFiles, cfg: DataConfig, split: bool, held_out_only: bool):
    if found.kind == "text":
        files = found.files[:cfg.max_documents] if cfg.max_documents else found.files
        tail = split and split_rule(cfg, found) == "tail"
        starts = stream_held_out_starts(files, cfg.eval_fraction) if tail else [None] * len(files)
        return _text_files_dataset(files, resolve_text_unit(cfg), starts, cfg.streaming, tail and held_out_only)
    try:
        return datasets.load_dataset(found.kind, data_files=[str(f) for f in found.files], split="train",
                                     streaming=cfg.streaming)
    except Exception as exc:  # the builders raise many types; all mean "this file is unreadable"
        raise read_error(exc, cfg) from None


# ---------------------------------------------------------------------------------------------
# The Hugging Face Hub.


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
        raise UserError(f"Could not load {dataset_id!r} from the Hub: {first_line(exc)}") from None


def load_source(cfg: DataConfig, split: bool = True, held_out_only: bool = False):
    """The raw dataset named by `cfg.source`, with all its columns, in the configured mode. `split=False`
    reads a text stream whole, without cutting it where its held-out tail begins; `held_out_only` reads
    only that tail (other sources: all of it, the held-out documents being picked by their hash)."""
    if cfg.source.startswith(HUB_SOURCE_PREFIX):
        return _hub_dataset(cfg.source, cfg.streaming)
    return _local_dataset(source_files(cfg), cfg, split, held_out_only)


def as_streaming(ds):
    """An in-memory `Dataset` read as a stream (`to_iterable_dataset`); a stream is returned as it is."""
    return ds.to_iterable_dataset() if isinstance(ds, datasets.Dataset) else ds


# ---------------------------------------------------------------------------------------------
# Reading rows, with failures explained.


def _rows(ds, batch_size: int) -> Iterator[dict]:
    # Reading in batches skips most of the per-row work `datasets` does: 20x faster for a Dataset.
    for batch in ds.iter(batch_size=batch_size):
        names = list(batch)
        for values in zip(*(batch[name] for name in names)):
            yield dict(zip(names, values))


def iter_rows(ds, cfg: DataConfig, batch_size: int = ROW_BATCH) -> Iterator[dict]:
    """The rows of a loaded source (at most cfg.max_documents), turning read failures into UserErrors.
    A stream is read batch_size rows ahead: keep it small when only the first rows are wanted."""
    limit = cfg.max_documents or None
    if isinstance(ds, datasets.IterableDataset):
        batch_size = min(batch_size, STREAM_ROW_BATCH)
    try:
        yield from islice(_rows(ds, min(batch_size, limit or batch_size)), limit)
    except GeneratorExit:  # closed early; matched first, as UserError may already be gone at interpreter exit
        raise
    except UserError:
        raise
    except Exception as exc:  # pyarrow, pandas and the builders fail with many types mid-stream
        raise read_error(exc, cfg) from None


def read_error(exc: BaseException, cfg: DataConfig) -> UserError:
    """A UserError saying what is wrong with the source's files, found by re-reading them."""
    found = None if cfg.source.startswith(HUB_SOURCE_PREFIX) else source_files(cfg)
    for path in found.files if found and found.kind != "text" else []:
        problem = diagnose_table_file(path)
        if problem:
            return UserError(problem)
    return UserError(f"Cannot read {cfg.source}: {first_line(exc)}")


# ---------------------------------------------------------------------------------------------
# How big a source is, known without reading it all (the profile's estimates start from this).


@dataclass
class Extent:
    kind: str  # "text", "json", "csv", "parquet" or "hub"
    documents: int | None = None  # the exact number of raw documents, when known cheaply
    disk_bytes: int | None = None  # the files' size (or the Hub's recorded size)
    row_bytes: Callable[[dict], int] | None = None  # one row's approximate share of disk_bytes


def _json_row_bytes(row: dict) -> int:
    return len(json.dumps(row, ensure_ascii=False, default=str).encode("utf-8")) + 1


def _csv_row_bytes(row: dict) -> int:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(row.values())
    return len(buffer.getvalue().encode("utf-8"))


def _text_row_bytes(unit: str) -> Callable[[dict], int]:
    separator = _UNIT_SEPARATOR_BYTES[unit]
    # Each replaced byte became U+FFFD, which takes 3 bytes in UTF-8 but took 1 on disk.
    return lambda row: len(row["text"].encode("utf-8")) - 2 * row["replaced_bytes"] + separator


def source_extent(cfg: DataConfig, ds) -> Extent:
    """What is known about the size of a loaded source before reading it."""
    if cfg.source.startswith(HUB_SOURCE_PREFIX):
        split = (ds.info.splits or {}).get(parse_hub_source(cfg.source)[2])
        return Extent("hub", documents=(split.num_examples or None) if split else None,
                      disk_bytes=(split.num_bytes if split else None) or ds.info.dataset_size or None)
    found = source_files(cfg)
    disk = found.disk_bytes
    if found.kind == "parquet":
        return Extent("parquet", documents=parquet_rows(found.files), disk_bytes=disk)
    if found.kind != "text":
        return Extent(found.kind, disk_bytes=disk,
                      row_bytes=_json_row_bytes if found.kind == "json" else _csv_row_bytes)
    unit = resolve_text_unit(cfg)
    if unit == "document":
        return Extent("text", disk_bytes=disk, row_bytes=_text_row_bytes(unit))
    return Extent("text", disk_bytes=disk, row_bytes=_text_row_bytes(unit))


# ---------------------------------------------------------------------------------------------
# Columns: which hold text, which one is the text.


def _feature_kind(feature) -> str:
    dtype = str(getattr(feature, "dtype", ""))
    if dtype in ("string", "large_string"):
        return "text"
    if dtype.startswith(("int", "uint", "float")):
        return "number"
    return "other"


def _value_kind(value) -> str:
    if isinstance(value, str):
        return "text"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "number"
    return "other"


def _peek(ds, cfg: DataConfig | None, n: int) -> list[dict]:
    """The first n rows, or fewer: up to the one that reaches PEEK_CHARS characters of text. A stream is read
    a row at a time, as its rows can be big: a text file's are pieces of up to 256 KiB, and peeks of 20 rows of
    1 MiB read a 30 MB file twice before its first document (#29)."""
    batch_size = 1 if isinstance(ds, datasets.IterableDataset) else n
    rows, chars = [], 0
    for row in iter_rows(ds, cfg, batch_size=batch_size) if cfg else _rows(ds, batch_size):
        rows.append(row)
        chars += sum(len(value) for value in row.values() if isinstance(value, str))
        if len(rows) == n or chars >= PEEK_CHARS:
            break
    return rows


def column_kinds(ds, cfg: DataConfig | None = None) -> dict[str, str]:
    """Each column's kind: text, number or other; from the features, or the first rows when unknown."""
    if ds.features:
        return {name: _feature_kind(f) for name, f in ds.features.items()}
    kinds: dict[str, str] = {}
    for row in _peek(ds, cfg, 20):
        for name, value in row.items():
            if value is not None and kinds.get(name) != "text":
                kinds[name] = _value_kind(value)
            kinds.setdefault(name, "other")
    return kinds


def _describe_columns(kinds: dict[str, str]) -> str:
    return ", ".join(f"{name} ({kind})" for name, kind in kinds.items()) or "no columns"


def detect_text_column(ds, cfg: DataConfig | None = None) -> str:
    """The column holding the text: text/content/code if present, else the longest string column."""
    kinds = column_kinds(ds, cfg)
    columns = [name for name, kind in kinds.items() if kind == "text"]
    if not columns:
        raise UserError(
            f"The dataset has no text column (found: {_describe_columns(kinds)}); "
            "choose a file with a column of text, for example a CSV with a `text` column."
        )
    for name in PREFERRED_TEXT_COLUMNS:
        if name in columns:
            return name
    rows = _peek(ds, cfg, 50)
    lengths = {c: sum(len(r.get(c) or "") for r in rows) for c in columns}
    return max(columns, key=lambda c: lengths[c])


def text_columns(ds, cfg: DataConfig) -> list[str]:
    """The configured columns (joined or single), or the detected one; each checked to hold text."""
    columns = list(cfg.join_columns) or [cfg.text_column or detect_text_column(ds, cfg)]
    kinds = column_kinds(ds, cfg)
    missing = [c for c in columns if c not in kinds]
    if missing and kinds:
        raise UserError(f"Column(s) {', '.join(missing)} not found; the dataset has: {', '.join(kinds)}.")
    wrong = [c for c in columns if c in kinds and kinds[c] != "text"]
    if wrong:
        usable = [name for name, kind in kinds.items() if kind == "text"]
        hint = f"pick a text column: {', '.join(usable)}." if usable else "the dataset has no text column."
        raise UserError(
            f"Column(s) {', '.join(f'{c} ({kinds[c]})' for c in wrong)} hold no text; {hint}"
        )
    return columns


def text_getter(ds, cfg: DataConfig) -> Callable[[dict], str]:
    """A function row -> text, for the configured (or detected) column or joined columns."""
    columns = text_columns(ds, cfg)

    def cell(row: dict, column: str) -> str:
        value = row.get(column)
        if isinstance(value, str) or value is None:
            return value or ""
        raise UserError(f"Column {column} holds {type(value).__name__} values (such as {value!r}), "
                        "not text; pick a text column.")

    if len(columns) == 1:
        return lambda row: cell(row, columns[0])
    return lambda row: "\n".join(cell(row, c) for c in columns)


# ---------------------------------------------------------------------------------------------
# Preview: the first rows, shortened, with the text column marked.

TEXT_MARK = "▶ "


@dataclass
class Preview:
    columns: list[str]
    rows: list[list[str]]
    text_columns: list[str] = field(default_factory=list)  # empty when no text column could be found
    column_kinds: dict[str, str] = field(default_factory=dict)
    problem: str = ""  # why no text column could be used, in words

    def headers(self) -> list[str]:
        return [TEXT_MARK + c if c in self.text_columns else c for c in self.columns]


def text_of(value) -> str:
    """A cell shown in a preview: text as it is, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return "" if value is None else json.dumps(value, ensure_ascii=False, default=str)


def _shown_cell(column: str, value, cfg: DataConfig) -> str:
    """A cell as the preview shows it: the `path` of a text file relative to the source folder (which file
    of the user's own, not where the app keeps it)."""
    if column == "path" and isinstance(value, str) and Path(cfg.source).is_dir():
        try:
            return str(Path(value).relative_to(Path(cfg.source)))
        except ValueError:
            pass
    return text_of(value)


def preview(ds, cfg: DataConfig, n: int = 20, width: int = 200) -> Preview:
    """The first n rows as strings (long ones shortened), the text column(s) and any column problem."""
    rows = _peek(ds, cfg, n)
    if not rows:
        raise UserError(f"{cfg.source} has no rows: there is nothing to preview or train on.")
    kinds = column_kinds(ds, cfg)
    columns = list(ds.column_names or rows[0])
    if set(columns) == set(TEXT_FEATURES):  # a text file's rows: its text and which file it is
        columns = [c for c in columns if c not in READING_COLUMNS]
        kinds = {c: kinds[c] for c in columns}
    table = [[shorten(_shown_cell(c, row.get(c), cfg), width) for c in columns] for row in rows]
    try:
        chosen = text_columns(ds, cfg)
    except UserError as exc:
        return Preview(columns, table, [], kinds, str(exc))
    return Preview(columns, table, chosen, kinds)


# ---------------------------------------------------------------------------------------------
# Preprocessing and splits.


_TRAILING_SPACE = re.compile(r"[ \t]+$", re.MULTILINE)
_BLANK_RUNS = re.compile(r"\n{3,}")


def normalize_whitespace(text: str) -> str:
    return _BLANK_RUNS.sub("\n\n", _TRAILING_SPACE.sub("", text)).strip("\n") + ("\n" if text.strip() else "")


class DuplicateTracker:
    """Exact duplicates by content hash: 16 bytes per distinct document is the price."""

    def __init__(self):
        self._seen: set[bytes] = set()

    def seen_before(self, text: str) -> bool:
        digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        if digest in self._seen:
            return True
        self._seen.add(digest)
        return False


def drop_reason(text: str, cfg: DataConfig, duplicate: bool) -> str | None:
    """Why the configured filters drop this (already normalised) document, or None to keep it."""
    if cfg.drop_empty and not text.strip():
        return "empty"
    if len(text) < cfg.min_chars:
        return "shorter than min_chars"
    if cfg.max_chars and len(text) > cfg.max_chars:
        return "longer than max_chars"
    if cfg.drop_duplicates and duplicate:
        return "duplicate"
    return None


def _filtered(pairs: Iterator[tuple[str, object]], cfg: DataConfig) -> Iterator[tuple[str, object]]:
    """(text, anything) pairs whose text passes the configured filters, the text normalised if asked."""
    tracker = DuplicateTracker() if cfg.drop_duplicates else None
    for text, extra in pairs:
        if cfg.normalize_whitespace:
            text = normalize_whitespace(text)
        duplicate = tracker is not None and tracker.seen_before(text)
        if drop_reason(text, cfg, duplicate) is None:
            yield text, extra


def preprocess(texts: Iterator[str], cfg: DataConfig) -> Iterator[str]:
    """Apply the configured filters lazily (works the same for both modes)."""
    return (text for text, _ in _filtered(((t, None) for t in texts), cfg))


def held_out_by_hash(text: str, fraction: float) -> bool:
    """Whether a document is in the held-out split of a "documents" split: a hash of its text, so that
    copies of a document are all on one side, the same in both modes and on every machine."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") < fraction * 2**64


def iter_documents(
    cfg: DataConfig, split: str = "train", rank: int = 0, world_size: int = 1, ds=None
) -> Iterator[str]:
    """The documents of one split ("train", "eval", or "all" of them), preprocessed; with several ranks,
    each gets a disjoint share of the training split.

    Which documents are held out is `split_rule`'s: the rows a text stream marks `held_out`, or the
    documents `held_out_by_hash` picks. Training documents are dealt to ranks in turn, so ranks never
    overlap and none is lost.
    """
    assert split in ("train", "eval", "all"), split
    ds = load_source(cfg, split=split != "all", held_out_only=split == "eval") if ds is None else ds
    get_text = text_getter(ds, cfg)
    by_tail = split_rule(cfg, None if cfg.source.startswith(HUB_SOURCE_PREFIX) else source_files(cfg)) == "tail"

    def selected() -> Iterator[str]:
        train_index = 0
        for text, row in _filtered(((get_text(row), row) for row in iter_rows(ds, cfg)), cfg):
            if split == "all":
                yield text
                continue
            is_eval = bool(row.get("held_out")) if by_tail else held_out_by_hash(text, cfg.eval_fraction)
            if split == "eval":
                if is_eval:
                    yield text
                continue
            if is_eval:
                continue
            if train_index % world_size == rank:
                yield text
            train_index += 1

    return selected()
