"""A catalogue of hostile inputs: config files, field values, run ids, paths, uploads and text.

Each case must be refused with a message that names the problem (a `UserError`, shown to the user as it
is), and afterwards the same part of the app must still work with a well-formed input: nothing is left
half-done, nothing is written where it should not be.
"""

from __future__ import annotations

import io
import os
import re
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from clm_gui.config import DataConfig, RunConfig, TokenizerConfig, config_from_yaml, load_config
from clm_gui.data.sources import iter_documents
from clm_gui.data.uploads import UploadLimits, import_uploads
from clm_gui.errors import UserError
from clm_gui.files import append_jsonl, read_jsonl
from clm_gui.model.architecture import build_model
from clm_gui.model.generate import SamplingSettings, generate
from clm_gui.runs.folder import new_run_dir, open_run
from clm_gui.security import AccessPolicy
from clm_gui.tokenizer.training import train_tokenizer
from tests.fast_runs import write_corpus

LIMITS = UploadLimits(max_file_bytes=2_000_000, max_extracted_bytes=5_000_000, max_entries=100)


@dataclass
class Hostile:
    name: str
    area: str  # which "still works" check follows: config, policy, runs, uploads, text, generation
    attempt: Callable[[Path], object]  # given a scratch folder; must raise UserError
    expect: str  # a regular expression the message must match


# ---------------------------------------------------------------------------------------------
# How each kind of input arrives


def yaml_config(text: str) -> Callable[[Path], object]:
    """A config file's text, as the CLI and the Train tab's upload read it, then validated."""
    return lambda tmp: config_from_yaml(text).check(check_paths=False)


def config_file(content: bytes, overrides: tuple[str, ...] = ()) -> Callable[[Path], object]:
    def attempt(tmp: Path):
        path = tmp / "config.yaml"
        path.write_bytes(content)
        return load_config(path, overrides)
    return attempt


def hosted(field: str, value: str) -> Callable[[Path], object]:
    """A config naming a path, checked by the hosted policy of a visitor whose own folder is tmp/data."""
    def attempt(tmp: Path):
        cfg = RunConfig()
        section, key = field.split(".")
        setattr(getattr(cfg, section), key, value.replace("DATA", str(tmp / "data")))
        return AccessPolicy(hosted=True, readable=(tmp / "data",)).check_config(cfg)
    return attempt


def run_id(value: str) -> Callable[[Path], object]:
    return lambda tmp: open_run(tmp / "runs", value)


def upload(make: Callable[[Path], list[Path]]) -> Callable[[Path], object]:
    return lambda tmp: import_uploads(make(tmp), tmp / "uploads", LIMITS)


def zip_of(name: str, entries: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> Callable[[Path], list[Path]]:
    def make(tmp: Path) -> list[Path]:
        path = tmp / "incoming" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path, "w", compression=compression) as archive:
            for entry, data in entries.items():
                archive.writestr(entry, data)
        return [path]
    return make


def file_of(name: str, content: bytes = b"", size: int = 0) -> Callable[[Path], list[Path]]:
    def make(tmp: Path) -> list[Path]:
        path = tmp / "incoming" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        if size:
            os.truncate(path, size)  # sparse: a huge file that costs no disk
        return [path]
    return make


def tar_with_link(tmp: Path) -> list[Path]:
    path = tmp / "incoming" / "linked.tar.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as archive:
        link = tarfile.TarInfo("passwd.txt")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)
    return [path]


def dataset_file(name: str, content: bytes) -> Callable[[Path], object]:
    def attempt(tmp: Path):
        path = tmp / name
        path.write_bytes(content)
        return list(iter_documents(DataConfig(source=str(path)), "train"))
    return attempt


def prompt(text: str, **settings) -> Callable[[Path], object]:
    settings = {"max_new_tokens": 4, "seed": 0, **settings}
    return lambda tmp: generate(*tiny_model(), text, SamplingSettings(**settings))


def alias_bomb(levels: int = 9) -> str:
    """The 'billion laughs' in YAML: nine levels of nine aliases, 9**9 items once expanded."""
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + f"\ntrain: {{sample_prompts: *l{levels - 1}}}\n"


CASES = [
    # --- configuration files and field values ------------------------------------------------------
    Hostile("unknown key", "config", yaml_config("train:\n  max_stepz: 10\n"),
            r"Unknown setting\(s\) train\.max_stepz.*Known settings in train: max_steps"),
    Hostile("unknown section", "config", yaml_config("optimiser:\n  lr: 1\n"), r"Unknown section\(s\) optimiser"),
    Hostile("text for a number", "config", yaml_config("train: {max_steps: many}"),
            r"train\.max_steps must be a whole number, not 'many'"),
    Hostile("list for a number", "config", yaml_config("model: {n_layer: [1, 2]}"),
            r"model\.n_layer must be a whole number"),
    Hostile("text for a switch", "config", yaml_config("data: {streaming: maybe}"),
            r"data\.streaming must be true or false"),
    Hostile("a number for a section", "config", yaml_config("train: 5"), r"train must be a mapping of settings"),
    Hostile("a list for the whole file", "config", yaml_config("- a\n- b\n"), r"must be a mapping of sections"),
    Hostile("broken YAML", "config", yaml_config("train: {max_steps: 1"), r"not valid YAML"),
    Hostile("negative steps", "config", yaml_config("train: {max_steps: -5}"),
            r"train\.max_steps cannot be negative \(it is -5\)"),
    Hostile("negative width", "config", yaml_config("model: {n_embd: -64}"), r"model\.n_embd must be at least 1"),
    Hostile("negative learning rate", "config", yaml_config("train: {learning_rate: -0.001}"),
            r"train\.learning_rate must be above 0"),
    Hostile("NaN learning rate", "config", yaml_config("train: {learning_rate: .nan}"),
            r"train\.learning_rate must be a finite number, not nan"),
    Hostile("infinite time limit", "config", yaml_config("train: {max_minutes: .inf}"),
            r"train\.max_minutes must be a finite number, not inf"),
    Hostile("heads that do not divide the width", "config", yaml_config("model: {n_head: 3, n_embd: 64}"),
            r"model\.n_head \(3\) must divide model\.n_embd \(64\)"),
    Hostile("absurd vocabulary", "config", yaml_config("tokenizer: {vocab_size: 100000000}"),
            r"absurdly large"),
    Hostile("YAML alias bomb", "config", yaml_config(alias_bomb()),
            r"(?m)^- train\.sample_prompts must be a list of texts, not [^\n]{0,300}$"),
    Hostile("future schema version", "config", yaml_config("schema_version: 99"), r"schema_version is 99"),
    Hostile("NUL in a path field", "config", yaml_config('data: {source: "/tmp/a\\0b"}'),
            r"data\.source contains a NUL byte"),
    Hostile("lone surrogate in a prompt", "config", yaml_config('train: {sample_prompts: ["ok", "\\uD800"]}'),
            r"train\.sample_prompts contains .*lone surrogate"),
    Hostile("NUL in the run name", "config", yaml_config('name: "run\\0name"'), r"name contains a NUL byte"),
    Hostile("path characters in a Hub id", "config", yaml_config("data: {source: 'hub:../../etc'}"),
            r"not a valid Hub dataset id"),
    Hostile("override without a value", "config", config_file(b"name: x\n", ("train.max_steps",)),
            r"must look like section\.key=value"),
    Hostile("missing config file", "config", lambda tmp: load_config(tmp / "nowhere.yaml"), r"does not exist"),
    Hostile("binary config file", "config", config_file(b"\xff\xfe\x00\x01binary"),
            r"Cannot read configuration file|not valid YAML"),
    # --- paths, in hosted mode ------------------------------------------------------------------
    Hostile("system folder as dataset", "policy", hosted("data.source", "/etc"),
            r"data\.source '/etc' is not one of your uploads"),
    Hostile("traversal out of the data folder", "policy", hosted("data.source", "DATA/../../../etc/passwd"),
            r"not one of your uploads or saved tokenizers"),
    Hostile("symlink out of the data folder", "policy",
            lambda tmp: (tmp.joinpath("data").mkdir(), tmp.joinpath("data/link").symlink_to("/etc"),
                         hosted("data.source", "DATA/link")(tmp)),
            r"not one of your uploads or saved tokenizers"),
    Hostile("home folder as tokenizer", "policy", hosted("tokenizer.path", "~/.cache"),
            r"tokenizer\.path '~/\.cache' is not one of your uploads"),
    Hostile("relative tokenizer path", "policy", hosted("tokenizer.path", "../"),
            r"tokenizer\.path '\.\./' is not one of your uploads"),
    # --- run ids -----------------------------------------------------------------------------
    Hostile("run id climbing out", "runs", run_id("../../etc"), r"not a valid run id"),
    Hostile("run id with a slash", "runs", run_id("a/b"), r"not a valid run id.*no slashes"),
    Hostile("empty run id", "runs", run_id(""), r"not a valid run id"),
    Hostile("run id with a NUL", "runs", run_id("run\0id"), r"not a valid run id"),
    Hostile("run id like an option", "runs", run_id("-rf"), r"not a valid run id"),
    Hostile("overlong run id", "runs", run_id("r" * 101), r"at most 100 characters"),
    # --- uploads -----------------------------------------------------------------------------
    Hostile("huge file", "uploads", upload(file_of("big.txt", size=LIMITS.max_file_bytes + 1)),
            r"big\.txt is 2\.0 MB, over the upload limit of 2 MB"),
    Hostile("zip bomb by ratio", "uploads", upload(zip_of("bomb.zip", {"zeros.txt": b"\0" * 6_000_000})),
            r"bomb\.zip unpacks to more than 5 MB.*zip bomb"),
    Hostile("zip bomb by entries", "uploads", upload(zip_of("many.zip", {f"{i}.txt": b"x" for i in range(101)},
                                                          zipfile.ZIP_STORED)),
            r"many\.zip has more than 100 entries"),
    Hostile("zip entry climbing out", "uploads", upload(zip_of("evil.zip", {"../../evil.txt": b"pwned"})),
            r"no readable data files.*\.\./\.\./evil\.txt: unsafe path"),
    Hostile("zip entry with an absolute path", "uploads", upload(zip_of("abs.zip", {"/tmp/evil.txt": b"pwned"})),
            r"unsafe path"),
    Hostile("tar with a symlink to /etc/passwd", "uploads", upload(tar_with_link), r"a link or special file"),
    Hostile("program instead of data", "uploads", upload(file_of("tool.exe", b"MZ")), r"\.exe files are not accepted"),
    Hostile("not really a zip", "uploads", upload(file_of("fake.zip", b"just text")), r"not a readable archive"),
    Hostile("nothing uploaded", "uploads", lambda tmp: import_uploads([], tmp / "uploads", LIMITS),
            r"No files were uploaded"),
    # --- text -------------------------------------------------------------------------------
    Hostile("NUL bytes in a text file", "text", dataset_file("nul.txt", b"\0\0\0binary\0" * 100),
            r"nul\.txt is not a text file"),
    Hostile("JSON Lines with a lone surrogate", "text",
            dataset_file("bad.jsonl", b'{"text": "fine"}\n{"text": "bad \\ud800 here"}\n'), r"bad\.jsonl"),
    Hostile("lone surrogate in a prompt", "generation", prompt("def \ud800"), r"The prompt contains .*lone surrogate"),
    Hostile("absurd generation length", "generation", prompt("def ", max_new_tokens=10**9),
            r"max new tokens must be between 1 and 4096"),
    Hostile("NaN temperature", "generation", prompt("def ", temperature=float("nan")), r"temperature must be above 0"),
]


# ---------------------------------------------------------------------------------------------
# What must still work afterwards, per area


_MODEL = []


def tiny_model():
    """A tokenizer trained on the small corpus and an untrained model of a few thousand parameters."""
    if not _MODEL:
        corpus = write_corpus(Path(os.environ.get("TMPDIR", "/tmp")) / f"hostile-corpus-{os.getpid()}.txt")
        texts = corpus.read_text().split("\n\n")
        tok = train_tokenizer(iter(texts), TokenizerConfig(vocab_size=300, min_frequency=1))
        cfg = RunConfig()
        cfg.model.n_layer, cfg.model.n_head, cfg.model.n_embd, cfg.model.context_length = 1, 2, 32, 32
        _MODEL.append((build_model(cfg.model, len(tok), 0, tok.eos_token_id, tok.pad_token_id), tok))
    return _MODEL[0]


def still_works(area: str, tmp: Path) -> None:
    if area == "config":
        assert config_from_yaml("train: {max_steps: 5}\nmodel: {n_layer: 2}\n").check(check_paths=False)
    elif area == "policy":
        (tmp / "data" / "uploads").mkdir(parents=True, exist_ok=True)
        policy = AccessPolicy(hosted=True, readable=(tmp / "data",))
        cfg = RunConfig(data=DataConfig(source=str(tmp / "data" / "uploads")))
        cfg.tokenizer.path = "openai-community/gpt2"
        assert policy.check_config(cfg) is cfg
        assert policy.check_config(RunConfig()).data.source == "demo"
    elif area == "runs":
        run = new_run_dir(tmp / "runs", RunConfig(name="fine"))
        assert open_run(tmp / "runs", run.id).path == run.path
    elif area == "uploads":
        good = file_of("notes.txt", b"some text\n\nmore text\n")(tmp)
        result = import_uploads(good, tmp / "uploads", LIMITS)
        assert result.files == ["notes.txt"]
        left = sorted(p.name for p in (tmp / "uploads").iterdir())
        assert left == [result.folder.name], left  # no half-unpacked staging folder is left behind
        assert not any(p.name == "evil.txt" for p in tmp.rglob("*")) and not Path("/tmp/evil.txt").exists()
    elif area == "text":
        path = write_corpus(tmp / "fine.txt", paragraphs=20)
        text, train = path.read_text(encoding="utf-8"), "".join(iter_documents(DataConfig(source=str(path)), "train"))
        assert text.startswith(train) and len(train) > 0.9 * len(text)  # all but the held-out tail
    elif area == "generation":
        model, tok = tiny_model()
        assert generate(model, tok, "def ", SamplingSettings(max_new_tokens=3, seed=0)).startswith("def ")
    else:
        raise AssertionError(f"unknown area {area}")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input_is_refused_with_a_clear_message_and_the_app_keeps_working(case, tmp_path):
    with pytest.raises(UserError) as refused:
        case.attempt(tmp_path)
    message = str(refused.value)
    assert re.search(case.expect, message, re.S), message[:500]
    assert "Traceback" not in message and len(message) < 2000
    still_works(case.area, tmp_path)


def test_the_catalogue_holds_at_least_thirty_cases_over_every_area():
    assert len(CASES) >= 30
    assert {c.area for c in CASES} == {"config", "policy", "runs", "uploads", "text", "generation"}


# ---------------------------------------------------------------------------------------------
# Hostile inputs that are accepted, made harmless


def test_a_run_name_with_path_characters_becomes_a_safe_folder_name(tmp_path):
    for name in ("../../etc/passwd", "/abs/path", "..", " -rf ", "~root", "C:\\Windows"):
        run = new_run_dir(tmp_path / "runs", RunConfig(name=name))
        assert run.path.parent == tmp_path / "runs"
        assert open_run(tmp_path / "runs", run.id).path == run.path
        assert run.load_config().name == name  # kept as a label, never used as a path


def test_text_with_nul_bytes_inside_trains_and_encodes(tmp_path):
    texts = [f"line {i} with a \0 NUL and more words" for i in range(50)]
    tok = train_tokenizer(iter(texts), TokenizerConfig(vocab_size=300, min_frequency=1))
    assert tok.decode(tok("a \0 b")["input_ids"]) == "a \0 b"


def test_a_lone_surrogate_in_a_record_is_written_as_an_escape_and_read_back(tmp_path):
    path = tmp_path / "samples.jsonl"
    append_jsonl(path, {"text": "bad \ud800 text"})
    append_jsonl(path, {"text": "fine"})
    assert read_jsonl(path) == [{"text": "bad \ud800 text"}, {"text": "fine"}]
    assert b"\\ud800" in path.read_bytes()
    assert io.TextIOWrapper(io.BytesIO(path.read_bytes()), encoding="utf-8").read()  # valid UTF-8 on disk
