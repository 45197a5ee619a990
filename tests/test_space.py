"""A Hugging Face Space: the app started as a Space starts it (`python app.py`, no options, the Space's
environment), hosted, on the address and port the Space gives, with its storage where the Space keeps it;
and the README's front matter is one a Space accepts."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

from clm_gui.cli import app_settings, build_parser
from clm_gui.hosting import settings as hosting_settings
from clm_gui.hosting.settings import default_runs_dir
from tests.conftest import free_port
from tests.waiting import WAIT_S, wait_for

REPO = Path(__file__).resolve().parents[1]


def space_environment(port: int) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("CLM_GUI_")}
    env.update(SPACE_ID="someone/clm-gui", GRADIO_SERVER_NAME="0.0.0.0", GRADIO_SERVER_PORT=str(port),
               HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False",
               PYTHONUNBUFFERED="1")
    return env


def wait_until_listening(log: Path, base: str, child: subprocess.Popen) -> dict:
    """The page's config once the app says it is running. The server answers before Gradio's `launch` returns
    (launch then checks the URL itself), so a config alone is not the end of start-up: stopping the app
    then interrupts launch before it prints where it listens."""
    def served_config() -> dict | None:
        assert child.poll() is None, "the app exited before it served a page"
        if "clm-gui is running on" not in log.read_text():
            return None
        try:
            return httpx.get(f"{base}/config", timeout=10).raise_for_status().json()
        except httpx.HTTPError:
            return None

    return wait_for(served_config, WAIT_S, f"the app to say it is running and answer on {base}", every=0.5)


def test_the_app_started_as_a_space_starts_it_is_hosted_and_reached_on_the_port_it_was_given(tmp_path):
    port = free_port()
    log = tmp_path / "app.log"
    with log.open("w") as out:
        child = subprocess.Popen([sys.executable, str(REPO / "app.py")], cwd=tmp_path, env=space_environment(port),
                                 stdout=out, stderr=subprocess.STDOUT)
    try:
        config = wait_until_listening(log, f"http://127.0.0.1:{port}", child)
    finally:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    buttons = {c["props"].get("value"): c["props"].get("visible", True)
               for c in config["components"] if c.get("type") == "button"}
    assert buttons["Delete my uploads"] is True  # shown in hosted mode only
    assert (tmp_path / "runs").is_dir()  # no /data on this Space: runs beside the app, as a Space keeps them
    printed = log.read_text()
    assert f"clm-gui is running on http://localhost:{port}/ (every address of this machine, hosted mode" in printed
    assert "share=True" not in printed and "public URL" not in printed


def test_a_space_keeps_runs_in_its_persistent_storage_and_is_always_hosted(tmp_path, monkeypatch):
    for name in ("CLM_GUI_RUNS_DIR", "CLM_GUI_HOSTED", "SPACE_ID", "GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT"):
        monkeypatch.delenv(name, raising=False)
    storage = tmp_path / "data"
    monkeypatch.setattr(hosting_settings, "SPACE_STORAGE", storage)
    local = app_settings(build_parser().parse_args(["app"]))
    assert (local.hosted, local.host, local.port, local.runs_dir) == (False, "127.0.0.1", 7860, Path("runs"))

    monkeypatch.setenv("SPACE_ID", "someone/clm-gui")
    assert default_runs_dir() == Path("runs")  # a Space without persistent storage
    storage.mkdir()
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7861")
    space = app_settings(build_parser().parse_args(["app"]))
    assert (space.hosted, space.host, space.port, space.runs_dir) == (True, "0.0.0.0", 7861, storage / "runs")
    chosen = app_settings(build_parser().parse_args(["app", "--host", "127.0.0.1", "--port", "9000"]))
    assert (chosen.host, chosen.port) == ("127.0.0.1", 9000)  # an option still wins over the environment
    monkeypatch.setenv("CLM_GUI_RUNS_DIR", str(tmp_path / "elsewhere"))
    assert default_runs_dir() == tmp_path / "elsewhere"


def test_the_readme_front_matter_is_a_gradio_space_running_app_py_with_sign_in():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n---\n(.*?)---\n```", readme, re.S)
    assert block, "README.md has no Space front matter"
    meta = yaml.safe_load(block.group(1))
    assert meta["sdk"] == "gradio" and meta["hf_oauth"] is True
    assert (REPO / meta["app_file"]).is_file() and meta["app_file"] == "app.py"
    pins = [Requirement(line.split("#")[0]) for line in (REPO / "requirements.txt").read_text().splitlines()
            if line.startswith("gradio")]
    assert Version(str(meta["sdk_version"])) in pins[0].specifier  # the Space installs a Gradio the app supports
