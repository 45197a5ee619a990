"""Benchmark corpora from what every machine has (or gets from Debian's packages), each cut into a
training file (its first 90%) and a held-out file (the last 10%, from a line start).

- `prose`: Python's pydoc topics (0.47 MB of English technical prose, in every Python);
- `fortunes`: Debian's `fortunes` package (English quotations, jokes and verse, about 1 MB);
- `pydocs-N`: the first N MB of the Python documentation's reStructuredText sources (Debian's
  `python3.11-doc`: English prose with code examples, 11 MB in all);
- `demo-N`: the first N MB of the demo corpus (the standard library's source, as one stream).
"""

from __future__ import annotations

from pathlib import Path

HELD_OUT_SHARE = 0.1
FORTUNES = Path("/usr/share/games/fortunes")
PYDOCS = Path("/usr/share/doc/python3.11/html/_sources")


def _first_megabytes(paths, megabytes: float) -> str:
    wanted, parts, size = megabytes * 1e6, [], 0
    for path in paths:
        text = path.read_text(encoding="utf-8", errors="replace")
        parts.append(text)
        size += len(text.encode())
        if size >= wanted:
            break
    return "".join(parts)[: int(wanted)]


def _need(folder: Path, package: str) -> None:
    if not folder.is_dir():
        raise SystemExit(f"{folder} is missing: apt-get install {package}")


def corpus_text(name: str) -> str:
    if name == "prose":
        import pydoc_data.topics as topics

        return "\n\n".join(topics.topics[key] for key in sorted(topics.topics))
    if name == "fortunes":
        _need(FORTUNES, "fortunes")
        files = sorted(p for p in FORTUNES.iterdir() if p.is_file() and not p.suffix and not p.is_symlink())
        return "".join(p.read_text(encoding="utf-8", errors="replace") for p in files)
    if name.startswith("pydocs-"):
        _need(PYDOCS, "python3.11-doc")
        return _first_megabytes(sorted(PYDOCS.rglob("*.txt")), float(name[7:]))
    if name.startswith("demo-"):
        from clm_gui.data.sources import demo_corpus_files

        return _first_megabytes(demo_corpus_files(), float(name[5:]))
    raise SystemExit(f"unknown corpus {name!r}: use prose, fortunes, pydocs-N or demo-N (N megabytes)")


def write_corpus(name: str, folder: Path) -> tuple[Path, Path]:
    """(training file, held-out file): the first 90% and the last 10% of the corpus, cut at a line start."""
    folder.mkdir(parents=True, exist_ok=True)
    train, held_out = folder / f"{name}.train.txt", folder / f"{name}.heldout.txt"
    if train.is_file() and held_out.is_file():
        return train, held_out
    text = corpus_text(name)
    cut = text.find("\n", int(len(text) * (1 - HELD_OUT_SHARE))) + 1 or len(text)
    train.write_text(text[:cut], encoding="utf-8")
    held_out.write_text(text[cut:], encoding="utf-8")
    return train, held_out
