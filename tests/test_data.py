"""Dataset sources in both modes, text columns, preview, preprocessing, and every bad input in words."""

from __future__ import annotations

import json
import sysconfig
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clm_gui.config import DataConfig
from clm_gui.data import sources as data, datafiles
from clm_gui.data.sources import (as_streaming, column_kinds, detect_text_column, iter_documents, iter_rows,
                                  load_source, preprocess, preview, text_getter)
from clm_gui.errors import UserError

DOCS = ["first document about cats", "second one, about dogs", "third: birds and more birds", "fourth, fish"]
PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00"


def texts(cfg: DataConfig, ds=None) -> list[str]:
    ds = load_source(cfg) if ds is None else ds
    get = text_getter(ds, cfg)
    return [get(row) for row in iter_rows(ds, cfg)]


def write_jsonl(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def write_csv(path, header, rows) -> str:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def make_source(kind: str, folder) -> str:
    """A source of the given kind holding DOCS, written into folder."""
    if kind == "txt-folder":
        for i, doc in enumerate(DOCS):
            (folder / f"doc{i}.txt").write_text(doc, encoding="utf-8")
        return str(folder)
    if kind == "txt-file":
        (folder / "book.txt").write_text("\n\n".join(DOCS) + "\n", encoding="utf-8")
        return str(folder / "book.txt")
    if kind == "md-folder":
        for i, doc in enumerate(DOCS):
            (folder / f"note{i}.md").write_text(doc, encoding="utf-8")
        return str(folder)
    if kind == "jsonl":
        return write_jsonl(folder / "d.jsonl", [{"id": i, "text": d} for i, d in enumerate(DOCS)])
    if kind == "json":
        (folder / "d.json").write_text(json.dumps([{"content": d, "n": 1} for d in DOCS]), encoding="utf-8")
        return str(folder / "d.json")
    if kind == "csv":
        return write_csv(folder / "d.csv", ["id", "text"], list(enumerate(DOCS)))
    if kind == "parquet":
        pq.write_table(pa.table({"text": DOCS, "n": list(range(len(DOCS)))}), folder / "d.parquet")
        return str(folder / "d.parquet")
    raise AssertionError(kind)


SOURCE_KINDS = ["txt-folder", "txt-file", "md-folder", "jsonl", "json", "csv", "parquet"]


@pytest.mark.parametrize("kind", SOURCE_KINDS)
@pytest.mark.parametrize("streaming", [False, True])
def test_every_local_source_gives_the_same_documents_in_both_modes(tmp_path, kind, streaming):
    # A single text file is one stream unless told otherwise; its paragraphs are DOCS.
    cfg = DataConfig(source=make_source(kind, tmp_path), streaming=streaming,
                     text_unit="paragraph" if kind == "txt-file" else "auto")
    ds = load_source(cfg)
    assert isinstance(ds, datasets.IterableDataset if streaming else datasets.Dataset)
    assert texts(cfg, ds) == DOCS


def test_in_memory_data_streams_through_to_iterable_dataset(tmp_path):
    cfg = DataConfig(source=make_source("jsonl", tmp_path))
    stream = as_streaming(load_source(cfg))
    assert isinstance(stream, datasets.IterableDataset)
    assert texts(cfg, stream) == DOCS


@pytest.mark.parametrize("streaming", [False, True])
def test_demo_corpus_is_python_source_in_both_modes(streaming):
    cfg = DataConfig(source="demo", streaming=streaming, max_documents=5)
    docs = texts(cfg)
    assert len(docs) == 5
    assert isinstance(load_source(cfg), datasets.IterableDataset if streaming else datasets.Dataset)


def test_the_demo_corpus_first_documents_are_a_mix_of_the_library_without_codec_tables():
    root = Path(sysconfig.get_paths()["stdlib"])
    files = data.demo_corpus_files()
    assert files == data.demo_corpus_files()  # a fixed order
    packages = [f.relative_to(root).parts for f in files]
    assert not [p for p in packages if p[0] in ("encodings", "site-packages")]
    first = {p[0] if len(p) > 1 else "(top level)" for p in packages[:100]}
    assert len(first) >= 5  # not the first package or two alphabetically
    assert "(top level)" in first and len(files) > 1000


# ---------------------------------------------------------------------------------------------
# Plain-text units.


def test_text_files_are_read_as_they_are_one_stream_whose_tail_is_held_out(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.txt").write_text("p1 line1\np1 line2\n\n\n  \np2\n", encoding="utf-8")
    cfg = DataConfig(source=str(tmp_path / "a"))
    assert texts(cfg) == ["p1 line1\np1 line2\n\n\n  \n", "p2\n"]  # blank lines kept; the last line held out
    assert list(iter_documents(cfg, "eval")) == ["p2\n"]
    (tmp_path / "a" / "two.txt").write_text("x\n\ny", encoding="utf-8")
    # Two files: the stream's tail is in the second, so the first is trained on whole.
    assert list(iter_documents(cfg, "train")) == ["p1 line1\np1 line2\n\n\n  \np2\n", "x\n\n"]
    assert list(iter_documents(cfg, "eval")) == ["y"]


@pytest.mark.parametrize("unit, expected", [
    ("document", ["a\r\nb\r\n\r\n", "c\n"]),  # one stream: the training text, then the held-out tail
    ("paragraph", ["a\r\nb", "c"]),
    ("line", ["a", "b", "", "c"]),
])
def test_text_unit_setting_chooses_documents_paragraphs_or_lines(tmp_path, unit, expected):
    (tmp_path / "f.txt").write_bytes(b"a\r\nb\r\n\r\nc\n")
    assert texts(DataConfig(source=str(tmp_path / "f.txt"), text_unit=unit)) == expected


def test_paragraphs_and_characters_cut_by_read_chunks_come_out_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(datafiles, "CHUNK_BYTES", 7)  # cuts inside words, separators and "é" (2 bytes)
    paragraphs = ["café au lait", "second\nparagraph é", "é" * 9]
    (tmp_path / "f.txt").write_text("\n\n".join(paragraphs), encoding="utf-8")
    assert texts(DataConfig(source=str(tmp_path / "f.txt"), text_unit="paragraph")) == paragraphs


# ---------------------------------------------------------------------------------------------
# Text columns.


def test_preferred_column_names_win_and_otherwise_the_longest_string_column(tmp_path):
    with_content = write_jsonl(tmp_path / "a.jsonl", [{"title": "x" * 100, "content": "short"}])
    assert detect_text_column(load_source(DataConfig(source=with_content))) == "content"
    longest = write_jsonl(tmp_path / "b.jsonl", [{"title": "short", "body": "a much longer body", "n": 5}])
    assert detect_text_column(load_source(DataConfig(source=longest))) == "body"


@pytest.mark.parametrize("streaming", [False, True])
def test_user_can_pick_a_column_or_join_several(tmp_path, streaming):
    source = write_jsonl(tmp_path / "d.jsonl", [{"title": "T1", "body": "B1"}, {"title": "T2", "body": "B2"}])
    assert texts(DataConfig(source=source, streaming=streaming, text_column="title")) == ["T1", "T2"]
    joined = DataConfig(source=source, streaming=streaming, join_columns=["title", "body"])
    assert texts(joined) == ["T1\nB1", "T2\nB2"]


def test_column_kinds_name_text_number_and_other_columns(tmp_path):
    source = write_jsonl(tmp_path / "d.jsonl", [{"text": "a", "n": 1, "x": 0.5, "tags": ["a"]}])
    for streaming in (False, True):
        kinds = column_kinds(load_source(DataConfig(source=source, streaming=streaming)))
        assert kinds == {"text": "text", "n": "number", "x": "number", "tags": "other"}


def test_preview_shortens_long_texts_and_marks_the_text_column(tmp_path):
    source = write_jsonl(tmp_path / "d.jsonl", [{"id": i, "text": "word " * 100} for i in range(30)])
    cfg = DataConfig(source=source)
    shown = preview(load_source(cfg), cfg, n=10, width=50)
    assert len(shown.rows) == 10
    assert shown.headers() == ["id", "▶ text"]
    assert shown.rows[0][1].startswith("word word") and "… (+450 chars)" in shown.rows[0][1]
    assert shown.problem == ""


def test_a_text_file_previews_as_its_text_and_its_name_without_how_it_was_read(tmp_path):
    source = tmp_path / "notes" / "book.txt"
    source.parent.mkdir()
    source.write_text("A line of a book.\n\nAnother paragraph.\n" * 50, encoding="utf-8")
    cfg = DataConfig(source=str(source.parent))
    shown = preview(load_source(cfg), cfg)
    assert shown.headers() == ["▶ text", "path"] and set(shown.column_kinds) == {"text", "path"}
    assert shown.rows[0][1] == "book.txt"  # the file as the user knows it


# ---------------------------------------------------------------------------------------------
# Preprocessing and splits.


@pytest.mark.parametrize("streaming", [False, True])
def test_filters_drop_empty_duplicate_short_and_long_documents_lazily(tmp_path, streaming):
    rows = [{"text": t} for t in ["keep me", "", "   ", "keep me", "tiny", "x" * 50, "another one  \n\n\n\nend"]]
    cfg = DataConfig(source=write_jsonl(tmp_path / "d.jsonl", rows), streaming=streaming, drop_empty=True,
                     drop_duplicates=True, min_chars=6, max_chars=40, normalize_whitespace=True,
                     eval_fraction=0.5)
    ds = load_source(cfg)
    kept = list(preprocess(iter(text_getter(ds, cfg)(r) for r in iter_rows(ds, cfg)), cfg))
    assert kept == ["keep me\n", "another one\n\nend\n"]  # normalised text ends in one newline


def test_eval_and_train_splits_are_disjoint_and_cover_every_document(tmp_path):
    rows = [{"text": f"document {i}"} for i in range(200)]
    cfg = DataConfig(source=write_jsonl(tmp_path / "d.jsonl", rows), eval_fraction=0.25)
    train, held_out = list(iter_documents(cfg, "train")), list(iter_documents(cfg, "eval"))
    assert 30 <= len(held_out) <= 70  # about a quarter, chosen by content
    assert not set(train) & set(held_out)
    assert sorted(train + held_out) == sorted(r["text"] for r in rows)


@pytest.mark.parametrize("streaming", [False, True])
def test_exact_duplicates_never_straddle_the_split(tmp_path, streaming):
    rows = [{"text": f"document {i % 40}"} for i in range(400)]  # each text ten times, spread out
    cfg = DataConfig(source=write_jsonl(tmp_path / "d.jsonl", rows), eval_fraction=0.2, streaming=streaming)
    train, held_out = list(iter_documents(cfg, "train")), list(iter_documents(cfg, "eval"))
    assert held_out and not set(train) & set(held_out)
    assert all(held_out.count(t) == 10 for t in set(held_out))


@pytest.mark.parametrize("streaming", [False, True])
def test_a_text_file_holds_out_its_contiguous_tail_from_a_line_start(tmp_path, streaming):
    lines = [f"line {i} of the book\n" for i in range(1000)]
    (tmp_path / "book.txt").write_text("".join(lines), encoding="utf-8")
    cfg = DataConfig(source=str(tmp_path / "book.txt"), eval_fraction=0.1, streaming=streaming)
    train, held_out = "".join(iter_documents(cfg, "train")), "".join(iter_documents(cfg, "eval"))
    assert train + held_out == "".join(lines)  # nothing lost, nothing rewritten
    assert held_out.startswith("line ") and train.endswith("\n")
    assert 0.09 < len(held_out) / len(train + held_out) < 0.11
    assert data.split_rule(cfg, data.source_files(cfg)) == "tail"
    assert "last 10% of the text" in data.describe_split(cfg)


def test_a_large_file_is_read_in_pieces_cut_at_line_breaks(tmp_path, monkeypatch):
    monkeypatch.setattr(datafiles, "CHUNK_BYTES", 64)
    text = "".join(f"sentence number {i} é\n" for i in range(300))
    (tmp_path / "big.txt").write_text(text, encoding="utf-8")
    cfg = DataConfig(source=str(tmp_path / "big.txt"), eval_fraction=0.05)
    pieces = texts(cfg)
    assert len(pieces) > 10 and all(p.endswith("\n") for p in pieces)
    assert "".join(pieces) == text


def test_a_line_longer_than_a_piece_is_cut_before_a_space_or_between_characters(tmp_path, monkeypatch):
    # A file of one 40 MB line was one piece, one tokenizer call and 6.5 GB of a streaming run (#29).
    monkeypatch.setattr(datafiles, "CHUNK_BYTES", 64)
    words = "".join(f"word{i} é " for i in range(300))
    no_spaces = "é" * 200 + "x" * 101
    for text in (words, no_spaces):
        (tmp_path / "line.txt").write_text(text, encoding="utf-8")
        pieces = [piece for piece, _, _ in datafiles.iter_text_pieces(tmp_path / "line.txt")]
        assert "".join(pieces) == text and len(pieces) > 5
        assert all(len(p.encode()) <= 2 * 64 for p in pieces)
        if text is words:
            assert all(p.startswith(" ") for p in pieces[1:])


def test_many_files_are_held_out_whole(tmp_path):
    for i in range(600):
        (tmp_path / f"f{i:03}.txt").write_text(f"file {i}\nsecond line\n", encoding="utf-8")
    cfg = DataConfig(source=str(tmp_path))
    assert data.split_rule(cfg, data.source_files(cfg)) == "documents"
    held_out = list(iter_documents(cfg, "eval"))
    assert held_out and all(t.endswith("second line\n") for t in held_out)
    assert "held out whole" in data.describe_split(cfg)


def test_max_documents_bounds_what_is_read(tmp_path):
    cfg = DataConfig(source=make_source("jsonl", tmp_path), max_documents=2, streaming=True)
    assert texts(cfg) == DOCS[:2]


# ---------------------------------------------------------------------------------------------
# Bad input: each a clear message.


def test_an_empty_file_says_it_is_empty(tmp_path):
    for name in ("empty.txt", "empty.jsonl", "empty.csv"):
        (tmp_path / name).write_bytes(b"")
        with pytest.raises(UserError, match=f"The file {name} is empty"):
            load_source(DataConfig(source=str(tmp_path / name)))


@pytest.mark.parametrize("streaming", [False, True])
def test_an_image_renamed_txt_is_refused_as_binary(tmp_path, streaming):
    (tmp_path / "photo.txt").write_bytes(PNG_HEADER + bytes(range(256)) * 4)
    with pytest.raises(UserError, match="photo.txt is not a text file"):
        texts(DataConfig(source=str(tmp_path / "photo.txt"), streaming=streaming))


@pytest.mark.parametrize("streaming", [False, True])
def test_invalid_utf8_is_replaced_and_the_replaced_bytes_are_counted(tmp_path, streaming):
    (tmp_path / "latin1.txt").write_bytes("café crème\n\nnaïve".encode("latin-1"))
    cfg = DataConfig(source=str(tmp_path / "latin1.txt"), streaming=streaming)
    rows = list(iter_rows(load_source(cfg), cfg))
    assert [r["text"] for r in rows] == ["caf\ufffd cr\ufffdme\n\n", "na\ufffdve"]  # training text, held-out tail
    assert [r["replaced_bytes"] for r in rows] == [2, 1]


@pytest.mark.parametrize("streaming", [False, True])
def test_a_broken_jsonl_line_is_named_by_its_number(tmp_path, streaming):
    (tmp_path / "d.jsonl").write_text('{"text": "a"}\n{"text": "b"}\n{"text": broken\n{"text": "d"}\n')
    cfg = DataConfig(source=str(tmp_path / "d.jsonl"), streaming=streaming)
    with pytest.raises(UserError, match=r"d.jsonl, line 3 is not valid JSON"):
        texts(cfg)


@pytest.mark.parametrize("streaming", [False, True])
def test_a_non_utf8_jsonl_file_names_the_line_and_byte(tmp_path, streaming):
    (tmp_path / "d.jsonl").write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    with pytest.raises(UserError, match=r"not valid UTF-8: line 2 has the byte 0xe9"):
        texts(DataConfig(source=str(tmp_path / "d.jsonl"), streaming=streaming))


@pytest.mark.parametrize("streaming", [False, True])
def test_a_csv_without_a_text_column_says_which_columns_it_has(tmp_path, streaming):
    source = write_csv(tmp_path / "n.csv", ["a", "b"], [[1, 2.5], [3, 4.5]])
    cfg = DataConfig(source=source, streaming=streaming)
    with pytest.raises(UserError, match=r"no text column \(found: a \(number\), b \(number\)\)"):
        texts(cfg)
    assert "no text column" in preview(load_source(cfg), cfg).problem


@pytest.mark.parametrize("streaming", [False, True])
def test_picking_a_column_of_numbers_asks_for_a_text_column(tmp_path, streaming):
    source = write_csv(tmp_path / "d.csv", ["id", "text"], [[1, "a"], [2, "b"]])
    with pytest.raises(UserError, match=r"id \(number\) hold no text; pick a text column: text"):
        texts(DataConfig(source=source, streaming=streaming, text_column="id"))


def test_a_missing_column_lists_the_columns_there_are(tmp_path):
    with pytest.raises(UserError, match="Column.s. body not found; the dataset has: id, text"):
        texts(DataConfig(source=make_source("jsonl", tmp_path), text_column="body"))


def test_a_folder_mixing_text_and_tables_asks_to_separate_them(tmp_path):
    make_source("jsonl", tmp_path)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UserError, match="mixes files of different kinds"):
        load_source(DataConfig(source=str(tmp_path)))


def test_a_hub_id_with_bad_characters_is_refused_before_any_network(monkeypatch):
    monkeypatch.setattr(data, "hub_reachable", lambda: pytest.fail("must not touch the network"))
    with pytest.raises(UserError, match="not a valid Hub dataset id"):
        load_source(DataConfig(source="hub:bad id/with spaces!"))


def test_an_unreachable_hub_fails_in_seconds_and_suggests_uploading(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    import socket

    from clm_gui import hub

    with socket.socket() as closed:  # a port that refuses connections: the network is "down"
        closed.bind(("127.0.0.1", 0))
        monkeypatch.setattr(hub, "HUB_HOST", closed.getsockname())
    attempts = []
    real_connect = socket.create_connection

    def connect(address, *args, **kwargs):
        attempts.append((address, kwargs.get("timeout", args[0] if args else None)))
        return real_connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", connect)
    with pytest.raises(UserError, match="Hub cannot be reached.*upload your files"):
        load_source(DataConfig(source="hub:someone/some-dataset", streaming=True))
    [(address, timeout)] = attempts  # one attempt, bounded by a timeout of seconds, not a retrying load
    assert address == hub.HUB_HOST and 0 < timeout <= 10


def test_offline_mode_refuses_hub_ids_with_the_same_message():
    with pytest.raises(UserError, match="Hugging Face Hub cannot be reached"):
        load_source(DataConfig(source="hub:someone/some-dataset"))
