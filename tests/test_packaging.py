"""The checkout is an installable package: `pip install .` gives `clm_gui` and a working `clm-gui` command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from clm_gui.jobs.launch import start_process
from clm_gui.runs.folder import RunDir

ROOT = Path(__file__).resolve().parents[1]


def test_pip_install_gives_the_package_and_a_clm_gui_command(tmp_path):
    # Built from a copy, so the build's egg-info and build/ folders never land in the checkout; offline
    # (--no-index) and with the setuptools already installed (--no-build-isolation).
    source, target = tmp_path / "source", tmp_path / "installed"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "clm_gui", source / "clm_gui", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "--target", str(target), str(source)], check=True, capture_output=True)

    assert (target / "clm_gui" / "cli.py").is_file() and (target / "clm_gui" / "ui" / "app.py").is_file()
    modules = {p.relative_to(ROOT) for p in (ROOT / "clm_gui").rglob("*.py") if "__pycache__" not in p.parts}
    missing = sorted(str(m) for m in modules if not (target / m).is_file())
    assert not missing, f"not installed: {missing}"  # every module of every sub-package, not only ui/
    # The command runs the installed copy: from a folder without the checkout, with only the target on the path.
    env = {**os.environ, "PYTHONPATH": str(target)}
    for command in ("app", "train"):
        shown = subprocess.run([str(target / "bin" / "clm-gui"), command, "--help"], env=env, cwd=tmp_path,
                               capture_output=True, text=True, check=True)
        assert f"usage: python -m clm_gui {command}" in shown.stdout


def test_the_package_depends_on_what_requirements_txt_installs():
    lines = (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    required = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["dependencies"] == required
    assert project["scripts"] == {"clm-gui": "clm_gui.cli:main"}


def test_a_training_child_finds_the_uninstalled_package_and_works_where_the_app_works(tmp_path, monkeypatch):
    # The app run from elsewhere than the checkout (the package is not installed in the test venv): the
    # child must still import this package, and resolve relative paths from the app's working directory.
    monkeypatch.chdir(tmp_path)
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    report = "import os, clm_gui; print(os.path.dirname(clm_gui.__file__)); print(os.getcwd())"
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    assert start_process(run, [sys.executable, "-c", report], env).wait() == 0
    assert run.log_path.read_text(encoding="utf-8").splitlines() == [str(ROOT / "clm_gui"), str(tmp_path)]
