"""Reading and checking local data files: plain text with a stated decoding fallback, and a precise
diagnosis of broken JSON Lines, JSON, CSV and Parquet files.

Plain text is decoded as UTF-8; bytes that are not valid UTF-8 become U+FFFD (the replacement
character) and are counted, so the profile can say how many were replaced instead of failing.
Table files are read by the `datasets` builders; when they fail, `diagnose_table_file` re-reads the
file line by line to say what is wrong and where (the builders' own errors name neither).
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path

from clm_gui.errors import UserError, first_line

SNIFF_BYTES = 8192
CHUNK_BYTES = 1 << 18  # text is read 256 KiB at a time, so a huge file never sits in memory, nor a stream's
# read-ahead of a few rows (a peek at its columns, a batch of rows: 1 MiB pieces made these megabytes, #29)
LINE_SEARCH_BYTES = 1 << 16  # how far past the held-out point a line break is looked for
CONTROL_SHARE_LIMIT = 0.3  # text has almost no control characters; binary formats are full of them
_ALLOWED_CONTROLS = {9, 10, 12, 13, 27}  # tab, newline, form feed, carriage return, escape (ANSI colours)
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")  # what "surrogateescape" makes of each undecodable byte
# Both start with a literal "\n", which lets the regex engine jump between candidates (a leading "\r?"
# makes it try every position: 20x slower). A "\r" left at the end of a piece is stripped in _units.
_PARAGRAPH_BREAK = re.compile(r"\n(?:[ \t]*\r?\n)+")
_LINE_BREAK = re.compile(r"\n")


def looks_binary(head: bytes) -> bool:
    """Whether the first bytes of a file are those of a binary format (an image, an archive...)."""
    if b"\0" in head:
        return True
    if not head:
        return False
    controls = sum(1 for b in head if b < 32 and b not in _ALLOWED_CONTROLS)
    return controls / len(head) > CONTROL_SHARE_LIMIT


def check_not_binary(path: Path) -> None:
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
    if looks_binary(head):
        raise UserError(
            f"{path.name} is not a text file (its bytes look like an image, archive or other binary "
            "format). Upload text (.txt, .md), JSON Lines, CSV or Parquet."
        )


def _replace_escaped(text: str) -> tuple[str, int]:
    """Swap each escaped undecodable byte for U+FFFD; return the text and how many bytes were replaced."""
    try:
        text.encode("utf-8")  # fast, and fails exactly when an escaped byte (a lone surrogate) is present
        return text, 0
    except UnicodeEncodeError:
        return _ESCAPED_BYTE.sub("\ufffd", text), len(_ESCAPED_BYTE.findall(text))


def decode_text(raw: bytes) -> tuple[str, int]:
    """UTF-8 with a fallback: undecodable bytes become U+FFFD, and their number is returned."""
    return _replace_escaped(raw.decode("utf-8", errors="surrogateescape"))


def line_start_near(path: Path, offset: int, may_take_whole_file: bool) -> int:
    """Where in a text file to begin its held-out tail, near `offset`: the next line start, else the
    previous one, else (when other text stays for training) the file's start, else the next character.
    The tail is never empty while the file is not."""
    size = path.stat().st_size
    offset = min(max(offset, 0), size - 1)
    with open(path, "rb") as f:
        f.seek(offset)
        ahead = f.read(LINE_SEARCH_BYTES)
        before_start = max(0, offset - LINE_SEARCH_BYTES)
        f.seek(before_start)
        behind = f.read(offset - before_start)
    forward = ahead.find(b"\n")
    if 0 <= forward and offset + forward + 1 < size:
        return offset + forward + 1
    backward = behind.rfind(b"\n")
    if backward >= 0:
        return before_start + backward + 1
    if may_take_whole_file or offset == 0:
        return 0
    # One long line: cut before the next byte that starts a UTF-8 character (not 0b10xxxxxx).
    return offset + next((i for i, byte in enumerate(ahead) if byte & 0xC0 != 0x80), len(ahead))


def stream_held_out_starts(paths: list[Path], fraction: float) -> list[int]:
    """For text files read as one stream, in order: the byte offset in each file where the held-out
    tail (the stream's last `fraction`) begins: the file's size before the tail, 0 inside it."""
    sizes = [p.stat().st_size for p in paths]
    cut = int(sum(sizes) * (1 - fraction))
    starts, seen = [], 0
    for path, size in zip(paths, sizes):
        if seen + size <= cut:
            starts.append(size)
        elif seen > cut:
            starts.append(0)
        else:
            starts.append(line_start_near(path, cut - seen, may_take_whole_file=seen > 0))
        seen += size
    if starts and all(s == 0 for s in starts) and sizes[0]:  # never hold everything out
        starts[0] = line_start_near(paths[0], int(sizes[0] * (1 - fraction)), may_take_whole_file=False)
    return starts


def _piece_end(pending: bytes) -> int:
    """Where to end a piece of text: after its last line break; in a longer line, before its last space;
    in text without either, before the last byte that starts a UTF-8 character (not 0b10xxxxxx)."""
    cut = pending.rfind(b"\n") + 1
    if cut or len(pending) < CHUNK_BYTES:
        return cut
    cut = pending.rfind(b" ")
    if cut > 0:
        return cut
    return next((i for i in range(len(pending) - 1, 0, -1) if pending[i] & 0xC0 != 0x80), len(pending))


def _byte_range_pieces(f, start: int, end: int) -> Iterator[bytes]:
    """Bytes start..end of an open file in pieces of about CHUNK_BYTES, each cut after a line break
    where there is one, so that no piece splits a line (or a UTF-8 character). A line longer than
    CHUNK_BYTES is cut too (before a space where it has one): a file of one 40 MB line was one piece (#29)."""
    f.seek(start)
    pending = b""
    remaining = end - start
    while remaining > 0:
        chunk = f.read(min(CHUNK_BYTES, remaining))
        if not chunk:
            break
        remaining -= len(chunk)
        pending += chunk
        cut = _piece_end(pending)
        if cut and remaining > 0:
            yield pending[:cut]
            pending = pending[cut:]
    if pending:
        yield pending


def iter_text_pieces(path: Path, held_out_start: int | None = None,
                     held_out_only: bool = False) -> Iterator[tuple[str, int, bool]]:
    """One text file as part of a stream, kept exactly as it is (line breaks, blank lines): (text,
    replaced bytes, held out) pieces of about CHUNK_BYTES, cut at line breaks; bytes from
    `held_out_start` on (see stream_held_out_starts) are held out, and `held_out_only` reads only those
    (the held-out text of a 10 GB file is not behind 9.8 GB of reading, #29). An empty file is one empty
    piece."""
    check_not_binary(path)
    size = path.stat().st_size
    if size == 0:
        yield "", 0, False
        return
    cut = size if held_out_start is None else held_out_start
    ranges = ((cut, size, True),) if held_out_only else ((0, cut, False), (cut, size, True))
    with open(path, "rb") as f:
        for start, end, held_out in ranges:
            for raw in _byte_range_pieces(f, start, end):
                yield *decode_text(raw), held_out


def iter_text_units(path: Path, unit: str) -> Iterator[tuple[str, int]]:
    """The documents of one text file as (text, replaced bytes): its paragraphs (separated by blank
    lines) or lines, read in chunks so that memory stays flat."""
    check_not_binary(path)
    splitter = _PARAGRAPH_BREAK if unit == "paragraph" else _LINE_BREAK
    decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")  # safe across chunk edges
    pending = ""
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            pieces = splitter.split(pending + decoder.decode(chunk))
            pending = pieces.pop()  # may continue in the next chunk
            yield from _units(pieces, unit)
    pending += decoder.decode(b"", final=True)
    yield from _units([pending] if pending else [], unit)


def _units(pieces: list[str], unit: str) -> Iterator[tuple[str, int]]:
    for piece in pieces:
        if unit == "paragraph":
            piece = piece.strip("\r\n")
            if not piece:  # blank lines at the start of a file are not a paragraph
                continue
        elif piece.endswith("\r"):  # a line ended by "\r\n"
            piece = piece[:-1]
        yield _replace_escaped(piece)


# ---------------------------------------------------------------------------------------------
# Diagnosis of table files that a `datasets` builder could not read.


def diagnose_table_file(path: Path) -> str | None:
    """The first problem that makes this table file unreadable, as a sentence; None if none is found."""
    suffix = path.suffix.lower()
    if path.stat().st_size == 0:
        return f"{path.name} is empty (0 bytes)."
    if suffix == ".parquet":
        return _parquet_problem(path)
    check_not_binary(path)
    problem = _encoding_problem(path)
    if problem:
        return problem
    if suffix == ".csv":
        return _csv_problem(path)
    return _json_problem(path)


def _encoding_problem(path: Path) -> str | None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            try:
                decoder.decode(line)
            except UnicodeDecodeError as exc:
                return (
                    f"{path.name} is not valid UTF-8: line {number} has the byte 0x{line[exc.start]:02x}. "
                    "Save the file as UTF-8 (for example `iconv -f latin1 -t utf-8`) and upload it again."
                )
    return None


def _json_problem(path: Path) -> str | None:
    with open(path, encoding="utf-8") as f:
        first = f.read(SNIFF_BYTES).lstrip()
    if path.suffix.lower() == ".json" and first.startswith("["):
        try:
            with open(path, encoding="utf-8") as f:
                json.load(f)
        except json.JSONDecodeError as exc:
            return f"{path.name} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        return None
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                return (
                    f"{path.name}, line {number} is not valid JSON ({exc.msg}, column {exc.colno}): "
                    f"{shorten(line.strip(), 60)!r}. Each line must be one JSON object; fix or remove that line."
                )
            if not isinstance(record, dict):
                return (
                    f"{path.name}, line {number} holds a JSON {type(record).__name__}, not an object; "
                    'each line must look like {"text": "..."}.'
                )
    return None


def _csv_problem(path: Path) -> str | None:
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
            for row in reader:
                if row and len(row) != len(header):
                    return (
                        f"{path.name}, line {reader.line_num} has {len(row)} fields but the header has "
                        f"{len(header)}; quote fields that contain commas or newlines."
                    )
        except csv.Error as exc:
            return f"{path.name}, line {reader.line_num} is not valid CSV: {exc}."
    if not header or not any(name.strip() for name in header):
        return f"{path.name} has no header line naming its columns; add one (for example `text`)."
    return None


def _parquet_problem(path: Path) -> str | None:
    import pyarrow.parquet as pq

    try:
        pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for "not parquet"
        return f"{path.name} is not a readable Parquet file ({first_line(exc)})."
    return None


def parquet_rows(paths: list[Path]) -> int:
    """Rows in Parquet files, from their footers (no data is read)."""
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in paths)


def shorten(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    return f"{text[:width].rstrip()}… (+{len(text) - width:,} chars)"
