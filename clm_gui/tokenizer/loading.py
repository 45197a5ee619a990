"""Load a tokenizer (a saved folder, a run's folder or a Hub id) and save one in Hugging Face format,
so `AutoTokenizer.from_pretrained(folder)` gives back the same tokenizer."""

from __future__ import annotations

import os
from pathlib import Path

from transformers import AutoTokenizer, PreTrainedTokenizerFast

from clm_gui.config import is_hub_id, names_local_path
from clm_gui.errors import UserError, first_line
from clm_gui.security import in_force
from clm_gui.files import TMP_PREFIX, remove_tree

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


class MissingEosToken(UserError):
    """The tokenizer has no end-of-text token; `load_tokenizer(..., add_eos=True)` adds one."""


def _tokenizer_folder(folder: Path) -> Path:
    """The folder itself, or the tokenizer inside a run folder (tokenizer/ or final/)."""
    for candidate in (folder, folder / "tokenizer", folder / "final"):
        if any((candidate / name).is_file() for name in TOKENIZER_FILES):
            return candidate
    raise UserError(
        f"The folder {folder} holds no tokenizer (no tokenizer.json or tokenizer_config.json, nor a run's "
        "tokenizer/ folder). Choose a folder saved by a tokenizer or a run, or train a new tokenizer."
    )


def _from_folder(folder: Path):
    try:
        return AutoTokenizer.from_pretrained(str(folder))
    except Exception as exc:  # transformers raises several types for "this is not a tokenizer"
        raise UserError(f"The tokenizer in {folder} cannot be read: {first_line(exc)}") from None


def _from_hub(hub_id: str):
    try:  # a tokenizer downloaded before is in the local cache and loads offline
        return AutoTokenizer.from_pretrained(hub_id, local_files_only=True)
    except Exception:  # noqa: BLE001 - not cached: try the Hub below
        pass
    from clm_gui.hub import hub_reachable

    if not hub_reachable():
        raise UserError(
            f"The Hugging Face Hub cannot be reached, so the tokenizer {hub_id!r} cannot be downloaded. "
            "Choose a local tokenizer folder (for example a previous run's tokenizer/ folder) or train one."
        )
    try:
        return AutoTokenizer.from_pretrained(hub_id)
    except Exception as exc:  # not found, gated, no tokenizer files: all reported to the user
        raise UserError(f"Could not load the tokenizer {hub_id!r} from the Hub: {first_line(exc)}") from None


def load_tokenizer(path: str, eos_token: str = "<|endoftext|>", add_eos: bool = False) -> PreTrainedTokenizerFast:
    """Load a tokenizer from a local folder (or a Hub id) and make sure it can pack documents.

    A tokenizer without an end-of-text token raises `MissingEosToken`, unless `add_eos` is set, in
    which case `eos_token` is added to its vocabulary (one more token).
    """
    in_force().check_tokenizer(path)  # hosted: a Hub id, or a folder of the visitor's own tokenizers
    folder = Path(path).expanduser()
    if folder.is_dir():
        tok = _from_folder(_tokenizer_folder(folder))
    elif names_local_path(path) or not is_hub_id(path):
        raise UserError(f"{path!r} is neither an existing tokenizer folder nor a Hub id like 'owner/name'.")
    else:
        tok = _from_hub(path)
    if not getattr(tok, "is_fast", False):
        raise UserError(f"The tokenizer at {path} has no fast (Rust) version; convert it or choose another.")
    if tok.eos_token is None:
        if not add_eos:
            raise MissingEosToken(
                f"The tokenizer at {path} has no end-of-text token, which packing needs between documents. "
                f"Add one ({eos_token!r}, one more token in the vocabulary) or train a new tokenizer."
            )
        tok.add_special_tokens({"eos_token": eos_token})
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def save_tokenizer(tok: PreTrainedTokenizerFast, folder: Path) -> Path:
    """Save in Hugging Face format; written under a temporary name first, so a crash never leaves a
    half-written tokenizer where a run would load it."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f"{TMP_PREFIX}{folder.name}.{os.getpid()}")
    remove_tree(tmp)
    tok.save_pretrained(str(tmp))
    remove_tree(folder)
    os.replace(tmp, folder)
    return folder


def list_local_tokenizers(saved_dir: Path, runs_dir: Path | None = None) -> list[Path]:
    """Tokenizers saved in `saved_dir` by the Tokenizer tab, then those of the runs in `runs_dir`, if given
    (newest first)."""
    saved = sorted(Path(saved_dir).glob("*/tokenizer.json"))
    of_runs = sorted(Path(runs_dir).glob("*/tokenizer/tokenizer.json"), key=lambda p: p.stat().st_mtime,
                     reverse=True) if runs_dir is not None else []
    return [p.parent for p in saved + of_runs if not p.parent.name.startswith(".")]
