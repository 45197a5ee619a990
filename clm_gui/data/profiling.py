"""The dataset profile: what the user needs to know about their data before training.

In memory the profile is exact (every document is read). Streaming, it reads a bounded sample (the
first N documents) and estimates the totals from what is known of the source's size (its file
bytes, or its row count) with a 95% margin from a ratio estimator. The margin covers sampling error
only; it assumes the rest of the data looks like its beginning, which the profile says.

Everything is computed in one pass with bounded memory per document, reports progress, and can be
cancelled between documents.
"""

from __future__ import annotations

import math
import random
import re
import time
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, field, fields

import datasets
import numpy as np
import psutil

from clm_gui.config import DataConfig
from clm_gui.data.sources import (DuplicateTracker, Extent, describe_split, drop_reason, iter_rows, load_source,
                                  normalize_whitespace, source_extent, source_files, split_rule, text_columns,
                                  text_getter)
from clm_gui.data.domain import CHARS_PER_TOKEN, guess_domain
from clm_gui.errors import Cancelled, UserError
from clm_gui.units import format_bytes

DEFAULT_SAMPLE = 2000
Z95 = 1.96
LINE_LENGTH_CAP = 100_000  # longer lines share the last bucket of the line-length counts
HISTOGRAM_BINS = 24
TOKEN_BATCH = 256
CONTEXT_CHOICES = (64, 128, 256, 512, 1024, 2048)
CONTEXT_COVERAGE = 90  # the suggested context holds this percentile of document lengths
# RAM per byte of text that an in-memory journey holds at its peak (the Python strings read, the Arrow table
# made of them and its copies, the profile's figures, then the training). Measured by bench/big_data.py
# (docs/benchmarks.md): the whole journey's peak over the process once imported, 9.2x for 0.3 GB (its in-memory
# profile alone 8.4x). "About 3x", the guess it replaced, sent 2.5 GB to memory on the 24 GB box, and out of it.
IN_MEMORY_BYTES_PER_BYTE = 9.0
IN_MEMORY_MARGIN = 1.5  # in-memory only while this many times what it needs is free (other programs, a larger model)
PARQUET_EXPANSION = 3  # Parquet is compressed: roughly this much text per byte on disk
PROGRESS_EVERY_S = 0.25
DOMAIN_DOCS = 100  # documents the domain guess looks at, drawn uniformly from those read
DOMAIN_DOC_CHARS = 4000

Progress = Callable[[int, int | None], None]  # (documents read, documents expected or None)


@dataclass
class DatasetProfile:
    """What profiling found. Totals are exact, or estimated (`estimated`) with a 95% margin in `margins`;
    None when the source does not record its size. Length statistics are dicts of mean, median, p95, min
    and max (`summary`); histograms of unit, what is counted, edges and counts (`log_histogram`).

    Plain text read as one stream (`stream_files` > 0: a file, or a few read in order) has no documents:
    its rows are pieces of about 256 KiB, so per-document figures are left out, the histogram counts
    lines and no context length is suggested (windows of any length are cut from the stream)."""

    estimated: bool
    sample_documents: int  # documents read
    documents: int | None  # kept by the filters, in the whole source
    characters: int | None
    bytes: int | None  # UTF-8
    tokens: int | None  # only when profiled with a tokenizer
    margins: dict[str, int | None]  # per total: 0 when exact
    disk_bytes: int | None
    kept_in_sample: int
    dropped: dict[str, int]  # documents per filter that dropped them
    chars_per_document: dict
    tokens_per_document: dict | None
    chars_per_token: float | None
    histogram: dict  # of characters per document, or per line for a stream
    token_histogram: dict | None
    empty: dict  # count and share of documents read
    duplicates: dict
    non_ascii_share: float
    replaced_bytes: int  # bytes of invalid UTF-8 replaced with U+FFFD
    lines: dict  # count and line-length statistics
    domain: dict  # DomainGuess.to_dict()
    context: dict  # the suggested context length and its reason (suggest_context_length)
    recommendation: dict  # the mode to use and why (recommend_mode)
    source: str
    mode: str  # in-memory | streaming
    text_columns: list[str]
    sample_limit: int | None  # streaming: the documents a sample reads at most
    elapsed_s: float
    split: str  # how the held-out split is made (describe_split)
    stream_files: int  # text files read in order as one stream; 0 when the source has documents
    suggestions: list[str] = field(default_factory=list)  # preprocessing the profile argues for

    def to_dict(self) -> dict:
        """Plain JSON values: what `--json` prints and what a browser keeps across reloads."""
        return asdict(self)

    @classmethod
    def from_dict(cls, kept) -> DatasetProfile | None:
        """A profile back from `to_dict()` (the browser's copy), or None for anything else: nothing kept, not
        a mapping, or a profile of another version that lacks a field or holds a value of another type (the
        tabs then ask for a new profile). Keys this version does not know are ignored."""
        if not isinstance(kept, dict):
            return None
        values = {}
        for spec in fields(cls):
            if spec.name not in kept:
                if spec.default_factory is MISSING:
                    return None
            elif _holds(kept[spec.name], spec.type):
                values[spec.name] = kept[spec.name]
            else:
                return None
        if any(key not in values[name] for name, keys in _KEPT_KEYS.items() for key in keys):
            return None
        return cls(**values)


# What the tabs read inside a kept profile's nested values (an older version's domain had only a label).
_KEPT_KEYS = {"domain": ("kind", "language", "label"), "context": ("length",)}
# The outer types a profile's fields are annotated with; JSON brings a float such as 0.0 back as 0.
_JSON_TYPES = {"bool": (bool,), "int": (int,), "float": (int, float), "str": (str,), "dict": (dict,),
               "list": (list,), "None": (type(None),)}


def _holds(value, annotation: str) -> bool:
    """Whether a value read from JSON has a field's type ("int | None", "dict[str, int]": outer types only)."""
    outer = re.sub(r"\[.*\]", "", annotation)  # "dict[str, int | None]" -> "dict"
    kinds = [_JSON_TYPES[part.strip()] for part in outer.split("|")]
    return isinstance(value, sum(kinds, ()))


# ---------------------------------------------------------------------------------------------
# Small statistics helpers.


def summary(values: np.ndarray) -> dict:
    """mean, median, p95, min and max of a non-empty array of lengths."""
    return {"mean": float(values.mean()), "median": float(np.median(values)),
            "p95": float(np.percentile(values, 95)), "min": int(values.min()), "max": int(values.max())}


def log_histogram(values: np.ndarray, unit: str, per: str = "document", weights: np.ndarray | None = None) -> dict:
    """Counts of `per` (documents, lines) by length in `unit`, in logarithmic bins from the shortest to the
    longest (lengths span orders of magnitude); zero goes in the first bin. `weights`: how many have each
    of `values` (1 each when None)."""
    bottom, top = max(int(values.min()), 1), max(int(values.max()), 1) + 1
    edges = np.unique(np.round(np.geomspace(bottom, top, HISTOGRAM_BINS + 1)).astype(np.int64))
    if len(edges) < 2:
        edges = np.array([1, top])
    counts, _ = np.histogram(np.clip(values, 1, None), bins=edges, weights=weights)
    return {"unit": unit, "per": per, "edges": edges.tolist(), "counts": counts.astype(np.int64).tolist()}


def line_histogram(line_counts: np.ndarray) -> dict:
    """Non-blank lines by length in characters, from the counts per length (blank lines, which part
    paragraphs, would fill the first bin as if they were one character long)."""
    lengths = np.flatnonzero(line_counts[1:]) + 1
    if not len(lengths):
        lengths = np.array([0])
    return log_histogram(lengths, "characters", "non-blank line", weights=line_counts[lengths])


def percentile_of_counts(counts: np.ndarray, q: float) -> int:
    """The q-th percentile of values given as counts per value (index = value)."""
    cumulative = np.cumsum(counts)
    return int(np.searchsorted(cumulative, q / 100 * cumulative[-1]))


def ratio_estimate(x: np.ndarray, d: np.ndarray, total_d: float) -> tuple[float, float]:
    """Total of x over a population whose total of d is known, from a sample of pairs (x_i, d_i);
    returns (estimate, 95% margin). With d = 1 per document this is N times the sample mean."""
    n, sum_d = len(x), float(d.sum())
    ratio = float(x.sum()) / sum_d
    estimate = total_d * ratio
    if n < 2:
        return estimate, estimate
    residual_var = float(np.var(x - ratio * d, ddof=1))
    unsampled = max(0.0, 1 - sum_d / total_d)  # finite-population correction
    standard_error = total_d / (sum_d / n) * math.sqrt(unsampled * residual_var / n)
    return estimate, Z95 * standard_error


# ---------------------------------------------------------------------------------------------
# The recommendations.


def available_ram() -> int:
    return int(psutil.virtual_memory().available)


def recommend_for_source(cfg: DataConfig, free_ram: int | None = None) -> dict:
    """The mode to use, judged from the files' size before anything is read (unknown for the Hub)."""
    found = source_files(cfg)
    if found is None:
        return recommend_mode(None, free_ram)
    return recommend_mode(found.disk_bytes * (PARQUET_EXPANSION if found.kind == "parquet" else 1), free_ram)


def in_memory_limit(free_ram: int) -> int:
    """The largest text, in bytes, that in-memory training is recommended for with this much free RAM."""
    return int(free_ram / (IN_MEMORY_BYTES_PER_BYTE * IN_MEMORY_MARGIN))


def recommend_mode(text_bytes: int | None, free_ram: int | None = None) -> dict:
    """Streaming or in-memory, from the text size against the RAM that is free now, with the reason."""
    free_ram = available_ram() if free_ram is None else free_ram
    if text_bytes is None:
        return {"mode": "streaming", "text_bytes": None, "available_ram": free_ram,
                "reason": "The dataset's size is unknown, so streaming is the safe choice."}
    fits = text_bytes <= in_memory_limit(free_ram)
    verdict = ("fits comfortably in memory: in-memory gives an exact profile and fast repeated passes."
               if fits else "is too large to hold comfortably in memory: stream it.")
    return {"mode": "in-memory" if fits else "streaming", "text_bytes": int(text_bytes), "available_ram": free_ram,
            "reason": f"About {format_bytes(text_bytes)} of text against {format_bytes(free_ram)} of free RAM "
                      f"(in memory, training holds about {IN_MEMORY_BYTES_PER_BYTE:g}x the text size, "
                      f"{format_bytes(IN_MEMORY_BYTES_PER_BYTE * text_bytes)}, measured; it is chosen only while "
                      f"{IN_MEMORY_MARGIN:g}x that is free, up to {format_bytes(in_memory_limit(free_ram))} of text "
                      f"here): the dataset {verdict}"}


def suggest_context_length(doc_tokens: np.ndarray, measured: bool) -> dict:
    """The smallest usual context length holding CONTEXT_COVERAGE% of documents, with the reason."""
    covered = float(np.percentile(doc_tokens, CONTEXT_COVERAGE))
    median = float(np.median(doc_tokens))
    length = next((c for c in CONTEXT_CHOICES if c >= covered), CONTEXT_CHOICES[-1])
    how = "tokens" if measured else "tokens (estimated from characters until a tokenizer is chosen)"
    if covered > CONTEXT_CHOICES[-1]:
        reason = (f"{CONTEXT_COVERAGE}% of documents are up to {covered:,.0f} {how}, longer than a from-scratch "
                  f"model usually sees; {length} keeps training affordable and long documents are split across "
                  "windows.")
    else:
        reason = (f"{CONTEXT_COVERAGE}% of documents fit in {length} {how} (median {median:,.0f}); packing fills "
                  "each window with several short documents.")
    return {"length": length, "reason": reason}


def stream_context() -> dict:
    """No context length from a stream's data: it has no document lengths to fit, and packing cuts windows
    of any length from it, so the model's size sets the context."""
    return {"length": 0, "reason": "the text is one stream with no documents to fit: windows of any length are "
                                   "cut from it, and the model's size sets the context, as the Model tab's "
                                   "recommendation and Quick start choose it"}


# ---------------------------------------------------------------------------------------------
# The pass over the documents.


@dataclass
class _Pass:
    """Running measurements over the documents read so far; per-document arrays are 8 bytes each."""

    count_replacements: bool
    row_bytes: Callable[[dict], int] | None
    tokenizer: object = None
    read: int = 0
    n_kept: int = 0
    empty: int = 0
    duplicates: int = 0
    replaced_bytes: int = 0
    non_ascii: int = 0
    dropped: Counter = field(default_factory=Counter)
    tracker: DuplicateTracker = field(default_factory=DuplicateTracker)
    line_counts: np.ndarray = field(default_factory=lambda: np.zeros(LINE_LENGTH_CAP + 1, np.int64))
    # Per document read (dropped ones count 0 characters): the pairs the ratio estimator needs.
    disk: array = field(default_factory=lambda: array("q"))
    chars: array = field(default_factory=lambda: array("q"))
    bytes: array = field(default_factory=lambda: array("q"))
    kept: array = field(default_factory=lambda: array("q"))
    tokens: array = field(default_factory=lambda: array("q"))
    domain_sample: list[tuple[str, str]] = field(default_factory=list)  # (text start, path), a reservoir
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    _pending: list[tuple[int, str]] = field(default_factory=list)  # kept texts waiting to be tokenized

    def add(self, row: dict, text: str, cfg: DataConfig) -> None:
        self.read += 1
        if self.count_replacements:
            self.replaced_bytes += row["replaced_bytes"]
        empty = not text.strip()
        duplicate = self.tracker.seen_before(text)
        self.empty += empty
        self.duplicates += duplicate and not empty
        self.disk.append(self.row_bytes(row) if self.row_bytes else 1)
        reason = drop_reason(text, cfg, duplicate)
        if reason:
            self.dropped[reason] += 1
            for column in (self.chars, self.bytes, self.kept, self.tokens):
                column.append(0)
            return
        self.chars.append(len(text))
        self.bytes.append(len(text.encode("utf-8")))
        self.kept.append(1)
        self.n_kept += 1
        self.tokens.append(0)
        self.non_ascii += len(text) - len(text.encode("ascii", "ignore"))
        # A final line break ends the last line, not a new empty one (a stream's pieces end with one).
        lengths = np.fromiter(map(len, text.removesuffix("\n").split("\n")), np.int64)
        self.line_counts += np.bincount(np.minimum(lengths, LINE_LENGTH_CAP), minlength=LINE_LENGTH_CAP + 1)
        self._sample_for_domain(text, str(row.get("path", "")))
        if self.tokenizer is not None:
            self._pending.append((len(self.tokens) - 1, text))
            if len(self._pending) >= TOKEN_BATCH:
                self.flush_tokens()

    def _sample_for_domain(self, text: str, path: str) -> None:
        """Keep a uniform sample of the kept documents read so far (reservoir sampling), so the domain
        guess sees the whole read and not only its first files."""
        entry = (text[:DOMAIN_DOC_CHARS], path)
        if len(self.domain_sample) < DOMAIN_DOCS:
            self.domain_sample.append(entry)
        elif (slot := self.rng.randrange(self.n_kept)) < DOMAIN_DOCS:
            self.domain_sample[slot] = entry

    def flush_tokens(self) -> None:
        if not self._pending:
            return
        backend = getattr(self.tokenizer, "backend_tokenizer", self.tokenizer)
        encodings = backend.encode_batch([text for _, text in self._pending], add_special_tokens=False)
        for (index, _), encoding in zip(self._pending, encodings):
            self.tokens[index] = len(encoding.ids)
        self._pending.clear()


def _is_streaming(ds) -> bool:
    return isinstance(ds, datasets.IterableDataset)


def _expected_documents(ds, cfg: DataConfig, limit: int | None, extent: Extent) -> int | None:
    known = len(ds) if not _is_streaming(ds) else extent.documents
    bounds = [b for b in (known, limit, cfg.max_documents or None) if b]
    return min(bounds) if bounds else None


def profile_dataset(ds, cfg: DataConfig, *, sample: int = DEFAULT_SAMPLE, sample_bytes: int = 0, tokenizer=None,
                    progress: Progress | None = None, should_stop: Callable[[], bool] | None = None,
                    free_ram: int | None = None) -> DatasetProfile:
    """Profile a loaded source: exact for a `Dataset`, from the first `sample` documents of a stream, or
    fewer: up to the one that reaches `sample_bytes` bytes of text (0: no such limit).

    `tokenizer` (a `tokenizers.Tokenizer` or a Hugging Face fast tokenizer) adds token counts;
    `progress(read, expected)` is called a few times a second; `should_stop()` cancels."""
    started = time.monotonic()
    columns = text_columns(ds, cfg)
    get_text = text_getter(ds, cfg)
    extent = source_extent(cfg, ds)
    limit = sample if _is_streaming(ds) else None
    expected = _expected_documents(ds, cfg, limit, extent)
    state = _Pass(count_replacements=extent.kind == "text", row_bytes=extent.row_bytes, tokenizer=tokenizer)
    last_report, read_bytes, cut_short = 0.0, 0, False
    for row in iter_rows(ds, cfg):
        if should_stop and should_stop():
            raise Cancelled(f"Profiling was cancelled after {state.read:,} documents.")
        text = get_text(row)
        state.add(row, normalize_whitespace(text) if cfg.normalize_whitespace else text, cfg)
        read_bytes += len(text.encode("utf-8", "replace")) if sample_bytes else 0
        if progress and time.monotonic() - last_report >= PROGRESS_EVERY_S:
            progress(state.read, expected)
            last_report = time.monotonic()
        if limit and (state.read >= limit or sample_bytes and read_bytes >= sample_bytes):
            cut_short = True
            break
    state.flush_tokens()
    if progress:
        progress(state.read, expected)
    _check_some_kept(state, cfg)
    exact = not cut_short or state.read in (cfg.max_documents, extent.documents)
    stream_files = _stream_files(cfg)
    measured = _measurements(state, cfg, extent, exact, tokenizer is not None, free_ram, bool(stream_files))
    profile = DatasetProfile(**measured, source=cfg.source, mode="streaming" if _is_streaming(ds) else "in-memory",
                             text_columns=columns, sample_limit=limit, split=describe_split(cfg),
                             stream_files=stream_files, elapsed_s=round(time.monotonic() - started, 3))
    profile.suggestions = suggestions(profile, cfg)
    return profile


def profile_source(cfg: DataConfig, **options) -> DatasetProfile:
    """Load the configured source and profile it (see `profile_dataset` for the options)."""
    return profile_dataset(load_source(cfg), cfg, **options)


def _stream_files(cfg: DataConfig) -> int:
    """How many text files are read in order as one stream (the sources whose held-out split is the
    stream's tail); 0 for a source of documents."""
    found = source_files(cfg)
    if split_rule(cfg, found) != "tail":
        return 0
    return min(len(found.files), cfg.max_documents or len(found.files))


def _check_some_kept(state: _Pass, cfg: DataConfig) -> None:
    if state.read == 0:
        raise UserError(f"{cfg.source} has no documents: there is nothing to profile or train on.")
    if state.n_kept == 0:
        reasons = ", ".join(f"{n:,} {reason}" for reason, n in state.dropped.most_common())
        raise UserError(
            f"No documents are left after filtering: all {state.read:,} documents read were dropped ({reasons}). "
            "Loosen the filters (drop empty, minimum/maximum length) or choose other data."
        )


def _population(state: _Pass, cfg: DataConfig, extent: Extent) -> tuple[float, np.ndarray] | None:
    """What the sample is scaled up to: (documents, 1 per document) or (disk bytes, each row's bytes)."""
    if extent.documents:
        return float(min(extent.documents, cfg.max_documents or extent.documents)), np.ones(state.read)
    if extent.disk_bytes and extent.row_bytes:
        per_row = np.frombuffer(state.disk, np.int64).astype(float)
        if cfg.max_documents and extent.disk_bytes / per_row.mean() > cfg.max_documents:
            return float(cfg.max_documents), np.ones(state.read)
        return float(extent.disk_bytes), per_row
    return None


def _totals(state: _Pass, cfg: DataConfig, extent: Extent, exact: bool, columns: dict) -> tuple[dict, dict]:
    """The totals (documents, characters, bytes, tokens) and their 95% margins: 0 when exact, None
    (with the totals) when the source's size is unknown."""
    if exact:
        return {name: int(values.sum()) for name, values in columns.items()}, {name: 0 for name in columns}
    population = _population(state, cfg, extent)
    if population is None:
        return {name: None for name in columns}, {name: None for name in columns}
    size, per_row = population
    totals, margins = {}, {}
    for name, values in columns.items():
        estimate, margin = ratio_estimate(values.astype(float), per_row, size)
        totals[name], margins[name] = int(round(estimate)), int(round(margin))
    return totals, margins


def _as_array(values: array) -> np.ndarray:
    return np.frombuffer(values, np.int64) if len(values) else np.zeros(0, np.int64)


def _line_stats(counts: np.ndarray) -> dict:
    n = int(counts.sum())
    return {"count": n, "mean": float((counts * np.arange(len(counts))).sum() / n),
            "median": percentile_of_counts(counts, 50), "p95": percentile_of_counts(counts, 95),
            "max": int(np.flatnonzero(counts)[-1])}


def _measurements(state: _Pass, cfg: DataConfig, extent: Extent, exact: bool, tokenized: bool,
                  free_ram: int | None, stream: bool) -> dict:
    """The measured fields of a DatasetProfile; a stream's rows are pieces of it, not documents."""
    kept = _as_array(state.kept).astype(bool)
    columns = {"documents": _as_array(state.kept), "characters": _as_array(state.chars),
               "bytes": _as_array(state.bytes)}
    if tokenized:
        columns["tokens"] = _as_array(state.tokens)
    totals, margins = _totals(state, cfg, extent, exact, columns)
    doc_chars = columns["characters"][kept]
    texts, paths = zip(*state.domain_sample)
    domain = guess_domain(list(texts), [p for p in paths if p])
    doc_tokens = columns["tokens"][kept] if tokenized else doc_chars / CHARS_PER_TOKEN[domain.kind]
    text_bytes = totals["bytes"] if totals["bytes"] is not None else extent.disk_bytes
    return {
        "estimated": not exact,
        "sample_documents": state.read,
        **totals,
        "tokens": totals.get("tokens"),
        "margins": margins,
        "disk_bytes": extent.disk_bytes,
        "kept_in_sample": state.n_kept,
        "dropped": dict(state.dropped),
        "chars_per_document": summary(doc_chars),
        "tokens_per_document": summary(doc_tokens) if tokenized else None,
        "chars_per_token": float(doc_chars.sum() / max(1, doc_tokens.sum())) if tokenized else None,
        "histogram": line_histogram(state.line_counts) if stream else log_histogram(doc_chars, "characters"),
        "token_histogram": log_histogram(doc_tokens, "tokens") if tokenized and not stream else None,
        "empty": {"count": state.empty, "share": state.empty / state.read},
        "duplicates": {"count": state.duplicates, "share": state.duplicates / state.read},
        "non_ascii_share": state.non_ascii / max(1, int(doc_chars.sum())),
        "replaced_bytes": state.replaced_bytes,
        "lines": _line_stats(state.line_counts),
        "domain": domain.to_dict(),
        "context": stream_context() if stream else suggest_context_length(doc_tokens, measured=tokenized),
        "recommendation": recommend_mode(text_bytes, free_ram),
    }


def suggestions(profile: DatasetProfile, cfg: DataConfig) -> list[str]:
    """Preprocessing steps the profile argues for, each with its reason."""
    tips = []
    empty, duplicates = profile.empty, profile.duplicates
    if empty["count"] and not cfg.drop_empty:
        tips.append(f"{empty['count']:,} documents ({empty['share']:.1%}) are empty: turn on 'drop empty documents'.")
    # Lines or paragraphs cut from running text repeat by nature ("Exeunt.", a speaker's name): they are the
    # text, not copies of documents, so dropping them would tear it apart.
    if duplicates["share"] >= 0.01 and not cfg.drop_duplicates and cfg.text_unit not in ("line", "paragraph"):
        tips.append(f"{duplicates['share']:.1%} of documents are exact duplicates: turn on 'drop duplicates' so the "
                    "model does not learn them by heart.")
    chars = profile.chars_per_document
    long_tail = chars["max"] > 50 * max(chars["median"], 1) and chars["max"] > 10_000
    if not cfg.max_chars and not profile.stream_files and long_tail:  # a stream's pieces are not documents
        cap = int(float(f"{4 * chars['p95']:.2g}"))
        tips.append(f"The longest document has {chars['max']:,} characters, {chars['max'] / max(chars['median'], 1):,.0f}x "
                    f"the median: a maximum length (for example {cap:,}) stops a few documents dominating.")
    if profile.replaced_bytes:
        tips.append(f"{profile.replaced_bytes:,} bytes were not valid UTF-8 and were replaced with U+FFFD (the files "
                    "are decoded as UTF-8 with replacement); convert the files to UTF-8 if that is wrong.")
    return tips


# ---------------------------------------------------------------------------------------------
# The profile in words: (label, value) rows for the command line and the tab.


def _total(profile: DatasetProfile, name: str, format_value=lambda v: f"{v:,}") -> str:
    value, margin = getattr(profile, name), profile.margins.get(name)
    if value is None:
        return "unknown (the source does not record its size)"
    if not profile.estimated:
        return format_value(value)
    return f"≈ {format_value(value)}" + (f" ± {format_value(margin)}" if margin else "")


def _lengths(stats: dict) -> str:
    return (f"mean {stats['mean']:,.0f}, median {stats['median']:,.0f}, p95 {stats['p95']:,.0f}, "
            f"max {stats['max']:,}")


def profile_summary(profile: DatasetProfile, source_label: str = "") -> list[tuple[str, str]]:
    """The profile as (label, value) rows, estimates marked with ≈ and their 95% margin. `source_label`: the
    source as the user knows it (an upload's file names rather than the folder it was copied into)."""
    read = profile.sample_documents
    source = source_label or profile.source
    rows = [("Source", f"{source} ({profile.mode}, text from {', '.join(profile.text_columns)})")]
    if profile.stream_files:
        return rows + _stream_rows(profile) + _common_rows(profile)
    if profile.estimated:
        rows.append(("Sample", f"the first {read:,} documents; totals are estimates (95% margin) that assume "
                               "the rest of the data looks alike"))
    else:
        rows.append(("Read", f"all {read:,} documents (exact figures)"))
    rows += [
        ("Documents", _total(profile, "documents")),
        ("Characters", _total(profile, "characters")),
        ("Bytes (UTF-8)", _total(profile, "bytes", format_bytes)),
    ]
    if profile.tokens is not None or profile.tokens_per_document:
        rows.append(("Tokens", _total(profile, "tokens")))
        rows.append(("Tokens per document", _lengths(profile.tokens_per_document)))
        rows.append(("Characters per token", f"{profile.chars_per_token:.2f}"))
    rows.append(("Characters per document", _lengths(profile.chars_per_document)))
    empty, duplicates = profile.empty, profile.duplicates
    rows += [
        ("Empty documents", f"{empty['count']:,} ({empty['share']:.1%})"),
        ("Exact duplicates", f"{duplicates['count']:,} ({duplicates['share']:.1%})"),
    ]
    return rows + _common_rows(profile)


def _stream_rows(profile: DatasetProfile) -> list[tuple[str, str]]:
    """What a text stream is: its files and its size; it has no documents to count."""
    files = f"{profile.stream_files} file" + ("s read in order" if profile.stream_files > 1 else "")
    rows = [("Read", f"{'the start of ' if profile.estimated else 'all of '}the text"
                     f"{'; totals are estimates (95% margin)' if profile.estimated else ' (exact figures)'}"),
            ("Documents", f"none: {files} read as one stream of text, cut into windows for training"),
            ("Characters", _total(profile, "characters")),
            ("Bytes (UTF-8)", _total(profile, "bytes", format_bytes))]
    if profile.tokens is not None:
        rows += [("Tokens", _total(profile, "tokens")), ("Characters per token", f"{profile.chars_per_token:.2f}")]
    return rows


def _common_rows(profile: DatasetProfile) -> list[tuple[str, str]]:
    """The rows that documents and a stream share: the characters, lines, domain and recommendations."""
    rows = [("Non-ASCII characters", f"{profile.non_ascii_share:.2%}")]
    if profile.replaced_bytes:
        rows.append(("Invalid UTF-8", f"{profile.replaced_bytes:,} bytes replaced with U+FFFD"))
    lines = profile.lines
    rows.append(("Lines", f"{lines['count']:,}; length mean {lines['mean']:,.1f}, median {lines['median']:,}, "
                          f"p95 {lines['p95']:,}, max {lines['max']:,}"))
    if profile.dropped:
        rows.append(("Dropped by filters", ", ".join(f"{n:,} {why}" for why, n in profile.dropped.items())))
    rows += [
        ("Domain", f"{profile.domain['label']}: {' '.join(profile.domain['evidence'])}"),
        ("Suggested context length", f"{profile.context['length'] or 'none from the data'} "
                                      f"({profile.context['reason']})"),
        ("Recommended mode", f"{profile.recommendation['mode']} ({profile.recommendation['reason']})"),
    ]
    if profile.split:
        rows.append(("Held-out split", profile.split))
    rows += [("Suggestion", tip) for tip in profile.suggestions]
    return rows
