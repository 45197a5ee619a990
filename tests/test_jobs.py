"""The background job: one training at a time, started, stopped, resumed and recovered through run folders."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from clm_gui.errors import UserError
from clm_gui.jobs.manager import JobManager, ThreadLauncher, manager_for, mark_interrupted
from clm_gui.jobs.preparation import resume_overrides
from clm_gui.runs.folder import list_runs, new_run_dir
from clm_gui.runs.monitor import current_metrics, current_status
from clm_gui.tokenizer.training import train_tokenizer
from clm_gui.train import trainer
from tests.conftest import make_tiny_config
from tests.waiting import WAIT_S, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shared_root(tmp_path_factory):
    """One runs folder for the module, so the token cache built by the first run serves the others."""
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    """A tokenizer trained once, so each run skips tokenizer training (seconds on a busy CPU)."""
    from clm_gui.data import sources as data

    cfg = make_tiny_config()
    folder = tmp_path_factory.mktemp("tokenizer")
    train_tokenizer(data.iter_documents(cfg.data, "train", 0, 1), cfg.tokenizer).save_pretrained(str(folder))
    return folder


def quick_config(tokenizer_dir, **train):
    cfg = make_tiny_config(**train)
    cfg.tokenizer.path = str(tokenizer_dir)
    return cfg.check()


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_start_returns_while_the_run_trains_in_the_background_to_the_end(shared_root, tokenizer_dir, step_gate):
    manager = JobManager(shared_root)
    run = manager.start(quick_config(tokenizer_dir, max_steps=10, save_interval=0))

    # The gate holds the run before its first step until the test opens it, so start() has returned
    # before training could finish (a start that waited for the training would never get here).
    assert manager.active_run() == run
    assert current_status(run)["state"] in ("queued", "running")
    step_gate.wait_held_at(0)
    assert not run.final_dir.exists()
    step_gate.open()
    status = manager.wait(timeout=WAIT_S)
    assert status["state"] == "finished", status
    assert (run.final_dir / "model.safetensors").is_file()
    assert manager.active_run() is None and manager.status() is None


def test_two_simultaneous_starts_start_exactly_one_run(shared_root, tokenizer_dir, step_gate):
    manager = JobManager(shared_root)
    before = {r.id for r in list_runs(shared_root)}
    barrier, results = threading.Barrier(2), []

    def click():
        barrier.wait()
        try:
            results.append(manager.start(quick_config(tokenizer_dir)))
        except UserError as exc:
            results.append(exc)

    clicks = [threading.Thread(target=click) for _ in range(2)]
    for t in clicks:
        t.start()
    for t in clicks:
        t.join()

    runs = [r for r in results if not isinstance(r, Exception)]
    refusals = [r for r in results if isinstance(r, Exception)]
    assert len(runs) == 1 and len(refusals) == 1
    assert "only one training runs at a time" in str(refusals[0])
    assert {r.id for r in list_runs(shared_root)} - before == {runs[0].id}
    with pytest.raises(UserError, match="still training"):  # held before its first step: it is training
        manager.start(quick_config(tokenizer_dir))
    manager.stop()
    step_gate.open()
    assert manager.wait(timeout=WAIT_S)["state"] == "stopped"


def test_stop_saves_a_checkpoint_at_the_next_step_and_resume_continues_to_the_end(shared_root, tokenizer_dir,
                                                                                  step_gate):
    manager = JobManager(shared_root)
    step_gate.open_until(5)
    run = manager.start(quick_config(tokenizer_dir, max_steps=40, save_interval=0, eval_interval=0))
    step_gate.wait_held_at(5)

    assert manager.stop() == run
    assert current_status(run)["state"] == "stopping"  # the run is held: the request waits for the trainer
    step_gate.open()
    status = manager.wait(timeout=WAIT_S)

    assert status["state"] == "stopped", status
    stopped_at = status["step"]
    assert stopped_at == 5  # the step it was asked at: no step trained after the request
    assert run.latest_checkpoint().name == f"step-{stopped_at}"
    assert not run.stop_path.exists()

    manager.resume(run.id)
    assert current_status(run)["state"] in ("queued", "running")
    assert manager.wait(timeout=WAIT_S)["state"] == "finished"
    steps = [r["step"] for r in current_metrics(run) if r.get("kind") == "train"]
    assert steps == sorted(steps) and steps[-1] == 40
    resumed = [s for s in steps if s > stopped_at]
    assert resumed and resumed[0] <= stopped_at + 5  # continued from the checkpoint, not from step 1


def test_runs_left_running_by_a_gone_process_are_marked_interrupted_and_can_be_resumed(shared_root, tokenizer_dir,
                                                                                       step_gate):
    manager = JobManager(shared_root)
    step_gate.open_until(5)
    run = manager.start(quick_config(tokenizer_dir, max_steps=20, save_interval=5, eval_interval=0))
    step_gate.wait_held_at(5)  # the checkpoint at step 5 is written
    manager.stop()
    step_gate.open()
    assert manager.wait(timeout=WAIT_S)["state"] == "stopped"
    # What an app killed mid-training leaves behind: "running", written by a process that no longer exists.
    run.write_status("running", "Training.", pid=dead_pid(), started=time.time() - 60)
    assert current_status(run)["state"] == "interrupted"  # shown honestly even before a restart

    restarted = JobManager(shared_root)  # an app restart

    assert [r.id for r in restarted.interrupted] == [run.id]
    status = run.read_status()
    assert status["state"] == "interrupted" and "resume" in status["message"]
    assert restarted.active_run() is None
    restarted.resume(run.id)
    assert restarted.wait(timeout=WAIT_S)["state"] == "finished"


def test_a_run_another_live_process_is_training_blocks_a_start(shared_root, tokenizer_dir):
    cfg = quick_config(tokenizer_dir)
    cli_run = new_run_dir(shared_root, cfg)
    cli_run.write_status("running", "Training (started from the command line).", pid=os.getpid(), started=time.time())
    try:
        manager = JobManager(shared_root)
        assert manager.interrupted == []  # its process is alive: not interrupted
        assert manager.status()["run_id"] == cli_run.id
        with pytest.raises(UserError, match=cli_run.id):
            manager.start(cfg)
        assert manager.stop() == cli_run  # the stop request reaches it through its folder
        assert cli_run.stop_path.exists()
    finally:
        cli_run.write_status("stopped", "Stopped.", pid=None)


def test_a_crash_inside_training_marks_the_run_failed_with_the_traceback_in_its_log(shared_root, tokenizer_dir,
                                                                                 monkeypatch):
    def explode(cfg, run, resume=False, **kwargs):
        raise RuntimeError("CUDA error: device-side assert")

    monkeypatch.setattr(trainer, "train", explode)
    manager = JobManager(shared_root, launcher=ThreadLauncher())  # a crash inside this process's thread
    run = manager.start(quick_config(tokenizer_dir))
    status = manager.wait(timeout=WAIT_S)

    assert status["state"] == "failed"
    assert "RuntimeError: CUDA error" in status["message"] and "train.log" in status["message"]
    assert "Traceback" in run.log_path.read_text()
    assert manager.active_run() is None


def test_a_training_process_killed_mid_run_leaves_its_run_failed_and_the_manager_free(shared_root, tokenizer_dir,
                                                                                      step_gate):
    manager = JobManager(shared_root)  # the app's default: a child process per run
    step_gate.open_until(1)
    run = manager.start(quick_config(tokenizer_dir))
    step_gate.wait_held_at(1)
    child = run.read_status()["pid"]
    assert child != os.getpid()  # trained outside the app's process

    os.kill(child, signal.SIGKILL)  # what the kernel's out-of-memory killer does
    status = wait_for(lambda: (s := current_status(run))["state"] == "failed" and s)

    assert "exit code -9" in status["message"]
    assert manager.active_run() is None
    step_gate.open()
    manager.start(quick_config(tokenizer_dir, max_steps=2, eval_interval=0))  # the next run may start
    assert manager.wait(timeout=WAIT_S)["state"] == "finished"


def test_stopping_or_resuming_without_a_suitable_run_explains_what_to_do(shared_root, tokenizer_dir):
    manager = JobManager(shared_root)
    with pytest.raises(UserError, match="nothing to stop"):
        manager.stop()
    fresh = new_run_dir(shared_root, quick_config(tokenizer_dir))
    fresh.write_status("stopped", "Stopped before the first step.")
    with pytest.raises(UserError, match="no complete checkpoint"):
        manager.resume(fresh.id)
    with pytest.raises(UserError, match="not a valid run id"):
        manager.resume("../../etc")


def test_mark_interrupted_leaves_finished_and_live_runs_alone(shared_root, tokenizer_dir):
    cfg = quick_config(tokenizer_dir)
    done, queued_orphan = new_run_dir(shared_root, cfg), new_run_dir(shared_root, cfg)
    done.write_status("finished", "Finished.", pid=None)
    queued_orphan.write_status("queued", "Waiting to start.", pid=None)  # the app died before the thread began

    marked = {r.id for r in mark_interrupted(shared_root)}

    assert queued_orphan.id in marked and done.id not in marked
    assert done.read_status()["state"] == "finished"
    assert "start it again" in queued_orphan.read_status()["message"]  # no checkpoint to resume from


def test_every_page_of_the_app_shares_one_manager_per_runs_folder(tmp_path):
    assert manager_for(tmp_path) is manager_for(tmp_path / "." )
    assert manager_for(tmp_path) is not manager_for(tmp_path / "other")


def test_resuming_until_a_later_step_overrides_the_step_limit_and_nothing_else():
    saved = make_tiny_config(max_steps=40)
    assert resume_overrides(saved, 80) == ["train.max_steps=80"]
    assert resume_overrides(saved, 80.0) == ["train.max_steps=80"]  # a number box gives a float
    assert resume_overrides(saved, 40) == []  # the run's own limit: it continues as configured
    assert resume_overrides(saved, None) == resume_overrides(saved, 0) == []
    with pytest.raises(UserError, match=r"Resume until step cannot be negative \(it is -1\)"):
        resume_overrides(saved, -1)  # named, not Gradio's "Value -1 is less than minimum value 1."
