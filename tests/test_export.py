"""Sharing a model: final/ as a zip, and pushing to the Hub (which must fail fast and clearly offline)."""

from __future__ import annotations

import zipfile

import pytest

from clm_gui.errors import UserError
from clm_gui.runs.export import push_to_hub, zip_final
from clm_gui.runs.folder import new_run_dir
from tests.conftest import make_tiny_config


@pytest.fixture
def finished_run(runs_root):
    run = new_run_dir(runs_root, make_tiny_config())
    run.final_dir.mkdir()
    for name, content in {"config.json": "{}", "model.safetensors": "weights", "README.md": "# card",
                          "loss.svg": "<svg/>", "tokenizer.json": "{}"}.items():
        (run.final_dir / name).write_text(content)
    return run


def test_the_zip_holds_every_file_of_final_under_one_folder(finished_run):
    path = zip_final(finished_run)
    with zipfile.ZipFile(path) as archive:
        names = sorted(archive.namelist())
        assert archive.read(f"{finished_run.id}-final/README.md") == b"# card"
    assert names == sorted(f"{finished_run.id}-final/{p.name}" for p in finished_run.final_dir.iterdir())
    assert path.parent == finished_run.path / "exports"


def test_the_zip_is_rebuilt_when_final_changes(finished_run):
    zip_final(finished_run)
    (finished_run.final_dir / "README.md").write_text("# updated card")
    with zipfile.ZipFile(zip_final(finished_run)) as archive:
        assert archive.read(f"{finished_run.id}-final/README.md") == b"# updated card"


def test_a_run_without_a_final_model_cannot_be_exported(runs_root):
    run = new_run_dir(runs_root, make_tiny_config())
    with pytest.raises(UserError, match="no final model yet"):
        zip_final(run)
    with pytest.raises(UserError, match="no final model yet"):
        push_to_hub(run, "me/model", "hf_token")


def test_pushing_offline_fails_at_once_with_advice(finished_run, monkeypatch, no_network):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError, match="cannot be reached.*Download the zip"):
        push_to_hub(finished_run, "me/model", "hf_token")  # without one connection attempt (no_network)


@pytest.mark.parametrize("repo_id,token,message", [
    ("model-without-owner", "hf_token", "your-user-name/model-name"),
    ("me/../../etc", "hf_token", "not a Hub repository id"),
    ("me/model", "  ", "access token"),
])
def test_pushing_checks_the_repository_id_and_token_first(finished_run, repo_id, token, message):
    with pytest.raises(UserError, match=message):
        push_to_hub(finished_run, repo_id, token)
