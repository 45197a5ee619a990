"""Sharing a trained model: the final/ folder as a zip, or pushed to the Hugging Face Hub."""

from __future__ import annotations

import os
import secrets
import zipfile
from pathlib import Path

from clm_gui.config import is_hub_id
from clm_gui.errors import UserError
from clm_gui.files import TMP_PREFIX
from clm_gui.hub import hub_reachable
from clm_gui.runs.folder import RunDir

EXPORTS_DIR = "exports"


def final_dir(run: RunDir) -> Path:
    if not run.has_final_model():
        raise UserError(f"The run {run.id} has no final model yet: let it finish training first.")
    return run.final_dir


def zip_final(run: RunDir) -> Path:
    """runs/<id>/exports/<id>-final-<random>.zip holding final/ (model, tokenizer, model card), rebuilt
    each time. The file routes serve exports to whoever asks for one by name; the random part makes that
    name known only to whoever was handed it (the run's owner), so nobody else can guess the download."""
    final = final_dir(run)
    out = run.path / EXPORTS_DIR / f"{run.id}-final-{secrets.token_urlsafe(16)}.zip"
    out.parent.mkdir(exist_ok=True)
    for previous in out.parent.glob(f"{run.id}-final*.zip"):
        previous.unlink()
    tmp = out.with_name(TMP_PREFIX + out.name)
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(final.rglob("*")):
            if path.is_file():
                archive.write(path, Path(f"{run.id}-final") / path.relative_to(final))
    os.replace(tmp, out)
    return out


def push_to_hub(run: RunDir, repo_id: str, token: str, private: bool = True) -> str:
    """Upload final/ to a model repository on the Hub (created if needed); returns its URL."""
    final = final_dir(run)
    repo_id, token = repo_id.strip(), token.strip()
    if "/" not in repo_id or not is_hub_id(repo_id):
        raise UserError(f"{repo_id!r} is not a Hub repository id: use 'your-user-name/model-name'.")
    if not token:
        raise UserError("Pushing needs a Hugging Face access token with write permission "
                        "(https://huggingface.co/settings/tokens).")
    if not hub_reachable():
        raise UserError("The Hugging Face Hub cannot be reached from this machine (offline, or HF_HUB_OFFLINE "
                        "is set). Download the zip instead and upload it from a connected machine.")
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        commit = api.upload_folder(folder_path=str(final), repo_id=repo_id, repo_type="model",
                                   commit_message=f"Upload {run.id} trained with clm-gui")
    except Exception as exc:  # auth, permissions, network: all shown to the user as one line
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"Pushing to {repo_id} failed: {first_line}") from None
    return getattr(commit, "repo_url", None) or f"https://huggingface.co/{repo_id}"
