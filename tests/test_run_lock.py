"""One training at a time per runs folder, whoever started it: the app, the command line, or the ranks of
a torchrun launch all hold the runs folder's training lock, a kill -9 frees it, and a refusal names the
run that trains."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from clm_gui.jobs import run_lock
from clm_gui.jobs.manager import JobManager, ThreadLauncher
from clm_gui.jobs.run_lock import TrainingBusy, TrainingLock
from clm_gui.runs.folder import TRAINING_LOCK_HOLDER_FILE, list_runs
from tests.conftest import free_port
from tests.fast_runs import fast_config, write_corpus
from tests.step_gate import StepGate
from tests.waiting import WAIT_S

REPO = Path(__file__).resolve().parents[1]

# Holds a runs folder's lock for a named run, says so on stdout, and waits to be killed.
HOLD = """
import sys
from pathlib import Path
from clm_gui.jobs.run_lock import TrainingLock
lock = TrainingLock(Path(sys.argv[1])).acquire(sys.argv[2])  # kept: a collected lock is released
print("held", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def corpus(tmp_path) -> Path:
    return write_corpus(tmp_path / "corpus.txt")


@pytest.fixture
def no_wait(monkeypatch):
    """A refusal in this process answers at once instead of waiting out a passing probe."""
    monkeypatch.setattr(run_lock, "ACQUIRE_WAIT_S", 0)


def hold_lock(runs_root: Path, run_id: str) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(runs_root), run_id], cwd=REPO, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert holder.stdout.readline().strip() == "held"
    return holder


def kill_9(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(WAIT_S)


def cli_train(config: Path, runs_root: Path, env: dict | None = None, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "clm_gui", "train", str(config), "--runs-dir", str(runs_root)],
                            cwd=REPO, env={**os.environ, **(env or {})}, text=True, **popen)


def test_the_lock_admits_one_holder_and_names_its_run(tmp_path, no_wait):
    first = TrainingLock(tmp_path).acquire("run-a")
    with pytest.raises(TrainingBusy, match=rf"The run run-a is training .*process {os.getpid()}"):
        TrainingLock(tmp_path).acquire("run-b")  # a second holder, even in the same process
    assert TrainingLock(tmp_path).holder() == run_lock.Holder("run-a", os.getpid())
    first.release()
    assert TrainingLock(tmp_path).holder() is None
    with TrainingLock(tmp_path).acquire("run-b"):
        assert TrainingLock(tmp_path).holder().run_id == "run-b"


@pytest.mark.slow
def test_kill_9_of_the_holder_frees_the_lock_and_its_stale_note_is_cleared(tmp_path, corpus, no_wait):
    runs_root = tmp_path / "runs"
    holder = hold_lock(runs_root, "run-held-elsewhere")
    manager = JobManager(runs_root, launcher=ThreadLauncher())
    with pytest.raises(TrainingBusy, match="run-held-elsewhere"):  # no status.json says so: only the lock
        manager.start(fast_config(corpus))
    assert list_runs(runs_root) == []  # refused before any run folder was made

    kill_9(holder)
    assert (runs_root / TRAINING_LOCK_HOLDER_FILE).exists()  # the killed holder's note is left behind...
    assert TrainingLock(runs_root).holder() is None  # ...found stale, since the kernel freed the lock
    assert not (runs_root / TRAINING_LOCK_HOLDER_FILE).exists()
    manager.start(fast_config(corpus, max_steps=2))
    assert manager.wait(WAIT_S)["state"] == "finished"


@pytest.mark.slow
def test_the_cli_refuses_to_train_while_the_app_trains(tmp_path, corpus, step_gate):
    runs_root, config = tmp_path / "runs", tmp_path / "config.yaml"
    fast_config(corpus).save(config)
    manager = JobManager(runs_root)  # the app's default: a training child process
    step_gate.open_until(1)
    run = manager.start(fast_config(corpus))
    step_gate.wait_held_at(1)

    refused = cli_train(config, runs_root, stderr=subprocess.PIPE)
    _, stderr = refused.communicate(timeout=WAIT_S)
    assert refused.returncode == 2
    assert f"The run {run.id} is training" in stderr and "only one training runs at a time" in stderr
    assert [r.id for r in list_runs(runs_root)] == [run.id]  # it made no folder
    step_gate.open()
    assert manager.wait(WAIT_S)["state"] == "finished"


@pytest.mark.slow
def test_the_app_refuses_while_the_cli_trains_and_a_kill_9_of_the_cli_frees_it(tmp_path, corpus, no_wait):
    runs_root, config = tmp_path / "runs", tmp_path / "config.yaml"
    fast_config(corpus).save(config)
    gate = StepGate(tmp_path)
    gate.open_until(1)
    cli = cli_train(config, runs_root, env=gate.env, stderr=subprocess.DEVNULL)
    try:
        gate.wait_held_at(1)
        [run] = list_runs(runs_root)
        assert TrainingLock(runs_root).holder() == run_lock.Holder(run.id, cli.pid)
        manager = JobManager(runs_root, launcher=ThreadLauncher())
        with pytest.raises(TrainingBusy, match=run.id):
            manager.start(fast_config(corpus))
    finally:
        kill_9(cli)
    assert TrainingLock(runs_root).holder() is None
    manager = JobManager(runs_root, launcher=ThreadLauncher())  # an app starting after the kill
    assert [r.id for r in manager.interrupted] == [run.id]
    second = manager.start(fast_config(corpus, max_steps=2))
    assert second.id != run.id
    assert manager.wait(WAIT_S)["state"] == "finished"


@pytest.mark.slow
def test_every_rank_of_a_torchrun_launch_refuses_while_the_lock_is_held(tmp_path, corpus):
    runs_root, config = tmp_path / "runs", tmp_path / "config.yaml"
    fast_config(corpus).save(config)
    holder = hold_lock(runs_root, "run-held-elsewhere")
    try:
        out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                              "--master_port", str(free_port()), "-m", "clm_gui", "train", str(config),
                              "--runs-dir", str(runs_root)], cwd=REPO, capture_output=True, text=True,
                             timeout=WAIT_S, env={**os.environ, "OMP_NUM_THREADS": "1"})
    finally:
        kill_9(holder)
    assert out.returncode != 0
    assert out.stderr.count("error: The run run-held-elsewhere is training") == 2  # rank 0's refusal, on both
    assert list_runs(runs_root) == []
