"""Uploads become a dataset folder; archives are unpacked safely, grouped by threat as Gradio's own
security tests are: path traversal, links, bombs, floods, and files that are not data."""

from __future__ import annotations

import io
import tarfile
import zipfile

import pytest

from clm_gui.config import DataConfig
from clm_gui.data.sources import iter_rows, load_source, text_getter
from clm_gui.data.uploads import UploadLimits, import_uploads, safe_relative_path
from clm_gui.errors import UserError

LIMITS = UploadLimits(max_file_bytes=1_000_000, max_extracted_bytes=2_000_000, max_entries=50)


def documents(folder) -> list[str]:
    cfg = DataConfig(source=str(folder))
    ds = load_source(cfg)
    get = text_getter(ds, cfg)
    return [get(row) for row in iter_rows(ds, cfg)]


def make_zip(path, entries: dict[str, bytes]):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in entries.items():
            zf.writestr(name, content)
    return path


def make_tar(path, entries: dict[str, bytes], links: dict[str, str] = ()):
    with tarfile.open(path, "w:gz") as tf:
        for name, content in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tf.addfile(info, io.BytesIO(content))
        for name, target in dict(links).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tf.addfile(info)
    return path


@pytest.fixture
def uploads_dir(tmp_path):
    return tmp_path / "runs" / ".uploads"


# ---------------------------------------------------------------------------------------------
# What works.


def test_several_files_at_once_become_one_dataset_folder(tmp_path, uploads_dir):
    a, b = tmp_path / "a.txt", tmp_path / "b.md"
    a.write_text("alpha document")
    b.write_text("beta document")
    result = import_uploads([a, b], uploads_dir, LIMITS)
    assert result.folder.parent == uploads_dir and sorted(result.files) == ["a.txt", "b.md"]
    assert documents(result.folder) == ["alpha document", "beta document"]


@pytest.mark.parametrize("archive", ["data.zip", "data.tar.gz"])
def test_archives_are_unpacked_keeping_their_folders(tmp_path, uploads_dir, archive):
    entries = {"corpus/one.txt": b"first", "corpus/sub/two.txt": b"second"}
    path = tmp_path / archive
    (make_zip if archive.endswith(".zip") else make_tar)(path, entries)
    result = import_uploads([path], uploads_dir, LIMITS)
    assert sorted(result.files) == ["data/corpus/one.txt", "data/corpus/sub/two.txt"]
    assert documents(result.folder) == ["first", "second"]


def test_uploading_the_same_files_again_reuses_the_folder(tmp_path, uploads_dir):
    (tmp_path / "a.txt").write_text("same")
    first = import_uploads([tmp_path / "a.txt"], uploads_dir, LIMITS)
    second = import_uploads([tmp_path / "a.txt"], uploads_dir, LIMITS)
    assert first.folder == second.folder and [p.name for p in uploads_dir.iterdir()] == [first.folder.name]


def test_same_names_from_different_uploads_do_not_overwrite_each_other(tmp_path, uploads_dir):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "a.txt").write_text("one")
    (tmp_path / "a.txt").write_text("two")
    result = import_uploads([tmp_path / "x" / "a.txt", tmp_path / "a.txt"], uploads_dir, LIMITS)
    assert sorted(result.files) == ["a-2.txt", "a.txt"]


# ---------------------------------------------------------------------------------------------
# Path traversal and links.


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/passwd.txt", "a/../../evil.txt", "C:/evil.txt",
                                  "..\\evil.txt"])
def test_entry_names_that_could_escape_are_refused(name):
    assert safe_relative_path(name) is None


def test_traversal_entries_are_skipped_and_nothing_lands_outside(tmp_path, uploads_dir):
    path = make_zip(tmp_path / "evil.zip", {"../../escaped.txt": b"x", "/abs.txt": b"y", "ok.txt": b"fine"})
    result = import_uploads([path], uploads_dir, LIMITS)
    assert result.files == ["evil/ok.txt"]
    assert len(result.skipped) == 2 and all("unsafe path" in s for s in result.skipped)
    assert not list(tmp_path.rglob("escaped.txt")) and not list(tmp_path.rglob("abs.txt"))


def test_symlinks_in_archives_are_not_extracted(tmp_path, uploads_dir):
    path = make_tar(tmp_path / "links.tar.gz", {"ok.txt": b"fine"}, links={"passwd.txt": "/etc/passwd"})
    result = import_uploads([path], uploads_dir, LIMITS)
    assert result.files == ["links/ok.txt"]
    assert result.skipped == ["passwd.txt: a link or special file, not extracted"]
    assert not (result.folder / "links" / "passwd.txt").exists()


# ---------------------------------------------------------------------------------------------
# Bombs and floods.


def test_a_zip_bomb_stops_at_the_extracted_size_limit(tmp_path, uploads_dir):
    path = make_zip(tmp_path / "bomb.zip", {f"z{i}.txt": b"0" * 1_000_000 for i in range(5)})
    assert path.stat().st_size < 50_000  # tiny on the wire, 5 MB unpacked
    with pytest.raises(UserError, match="unpacks to more than 2 MB.*zip bomb"):
        import_uploads([path], uploads_dir, LIMITS)
    assert not uploads_dir.exists() or not [p for p in uploads_dir.iterdir() if not p.name.startswith(".")]


def test_too_many_entries_are_refused(tmp_path, uploads_dir):
    path = make_zip(tmp_path / "many.zip", {f"f{i}.txt": b"x" for i in range(60)})
    with pytest.raises(UserError, match="more than 50 entries"):
        import_uploads([path], uploads_dir, LIMITS)


def test_a_file_over_the_upload_limit_is_refused_with_both_sizes(tmp_path, uploads_dir):
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 1_500_000)
    with pytest.raises(UserError, match=r"big.txt is 1.5 MB, over the upload limit of 1 MB"):
        import_uploads([big], uploads_dir, LIMITS)


# ---------------------------------------------------------------------------------------------
# Files that are not data.


def test_a_disallowed_file_type_is_refused_with_the_list_of_accepted_ones(tmp_path, uploads_dir):
    (tmp_path / "run.exe").write_bytes(b"MZ")
    with pytest.raises(UserError, match=r"run.exe: .exe files are not accepted. Upload .txt, .md"):
        import_uploads([tmp_path / "run.exe"], uploads_dir, LIMITS)


def test_a_zip_with_no_readable_files_says_what_it_found(tmp_path, uploads_dir):
    path = make_zip(tmp_path / "junk.zip", {"photo.png": b"\x89PNG", "inner.zip": b"PK", "__MACOSX/._a.txt": b""})
    with pytest.raises(UserError, match=r"holds no readable data files \(found: photo.png: .png is not a data "
                                        r"file type; inner.zip: nested archives are not unpacked\)"):
        import_uploads([path], uploads_dir, LIMITS)


def test_a_corrupt_archive_is_reported_as_unreadable(tmp_path, uploads_dir):
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(UserError, match="broken.zip is not a readable archive"):
        import_uploads([tmp_path / "broken.zip"], uploads_dir, LIMITS)


def test_nothing_uploaded_asks_for_files(uploads_dir):
    with pytest.raises(UserError, match="No files were uploaded"):
        import_uploads([], uploads_dir, LIMITS)
