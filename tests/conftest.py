"""Shared fixtures: tiny configurations that train in seconds on a CPU, and the app in a real browser."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never download weights or data
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from clm_gui.config import RunConfig  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def make_tiny_config(**train) -> RunConfig:
    """A model of about 100k parameters on 300 demo documents: a few seconds per 30 steps on a CPU."""
    cfg = RunConfig(name="tiny")
    cfg.data.max_documents = 300
    cfg.tokenizer.vocab_size = 1024
    cfg.model.n_layer, cfg.model.n_head, cfg.model.n_embd, cfg.model.context_length = 2, 2, 64, 64
    t = cfg.train
    t.max_steps, t.micro_batch_size, t.warmup_steps, t.learning_rate = 30, 8, 5, 3e-3
    t.eval_interval, t.eval_batches, t.sample_interval, t.save_interval = 10, 2, 0, 10
    t.log_interval, t.sample_max_new_tokens = 5, 8
    for key, value in train.items():
        setattr(t, key, value)
    return cfg.check()


@pytest.fixture
def tiny_config() -> RunConfig:
    return make_tiny_config()


@pytest.fixture(scope="session")
def profile_with(tmp_path_factory):
    """profile_with(**fields) -> a real DatasetProfile of a few documents, with these fields replaced."""
    import dataclasses

    from clm_gui.config import DataConfig
    from clm_gui.data.profiling import profile_source

    path = tmp_path_factory.mktemp("profile") / "docs.txt"
    path.write_text("A first document.\n\nA second one, a little longer.\n\nA third.\n", encoding="utf-8")
    profile = profile_source(DataConfig(source=str(path)))
    return lambda **fields: dataclasses.replace(profile, **fields)


@pytest.fixture
def runs_root(tmp_path) -> Path:
    return tmp_path / "runs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def serve_app(tmp_path):
    """serve_app(**settings) -> base URL of the app running in this process; closed after the test."""
    from clm_gui.hosting.settings import AppSettings
    from clm_gui.ui.app import build_app, launch_options

    served = []

    def start(**overrides) -> str:
        settings = AppSettings(runs_dir=tmp_path / "runs", port=free_port(), **overrides)
        settings.runs_dir.mkdir(parents=True, exist_ok=True)
        demo = build_app(settings)
        demo.queue()
        demo.launch(**launch_options(settings), prevent_thread_lock=True, quiet=True)  # as the app launches
        served.append(demo)
        return f"http://{settings.host}:{settings.port}"

    yield start
    for demo in served:
        demo.close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (./run.sh test does it as root).")
    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


@pytest.fixture
def step_gate(tmp_path, monkeypatch):
    """A StepGate that holds every run this test trains (the app's training processes inherit it)."""
    from tests.step_gate import StepGate  # imports torch: only for the tests that train

    gate = StepGate(tmp_path)
    for name, value in gate.env.items():
        monkeypatch.setenv(name, value)
    return gate


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test: "fails at once" means it never tries."""

    def refuse(self, address, *args):
        pytest.fail(f"tried to connect to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
