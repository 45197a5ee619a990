"""The app's background job (`JobManager`): one training at a time, started, stopped, resumed, deleted
and watched through its run folder, each action only by whoever may control the run (`ownership`).
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from clm_gui.config import RunConfig
from clm_gui.errors import UserError
from clm_gui.files import remove_tree
from clm_gui.hosting.access import is_hosted_visitor, keep_caches_with_owner, visitor_policy
from clm_gui.hosting.ownership import Visitor, check_control, machine_user, record_owner, require_visitor
from clm_gui.hosting.quotas import Quotas, check_new_run
from clm_gui.jobs.preparation import check_runnable, prepare_run
from clm_gui.machine.hardware import cpu_training_threads
from clm_gui.runs.faults import crash_message
from clm_gui.runs.folder import ACTIVE_STATES, RunDir, list_runs, new_run_dir, open_run
from clm_gui.runs.monitor import current_status, is_active, process_alive
from clm_gui.jobs.run_lock import TrainingBusy, TrainingLock

MACHINE = machine_user()  # who acts when no visitor is named: the CLI, tests, a local app

# ---------------------------------------------------------------------------------------------
# The background job. A job is identified by its run folder and watched only by reading that folder
# (status.json, metrics.jsonl, the STOP file), so the same manager works for a training thread in
# this process and for a training subprocess (e.g. `accelerate launch` on several GPUs): a launcher
# only has to start the training and return a handle that says whether it is still alive.


class JobHandle(Protocol):
    def is_alive(self) -> bool: ...

    def join(self, timeout: float | None = None) -> None: ...


class Launcher(Protocol):
    def launch(self, run: RunDir, cfg: RunConfig, resume: bool) -> JobHandle: ...


class ProcessLauncher:
    """Trains one device in a child process, `python -m clm_gui train --run-dir RUN`: the app's default.

    The web server and the training loop then share no interpreter lock. Measured on a 2-core box, an
    idle Gradio server in the same process slowed a Python-bound thread by about 11% (its queue wakes every
    millisecond), before any page polled; that is the work a training step does between kernels. A crash
    on either side also leaves the other running. The child writes the run folder exactly as a thread
    would, so the app watches it the same way; its output goes to the run's train.log.
    """

    def launch(self, run: RunDir, cfg: RunConfig, resume: bool) -> JobHandle:
        from clm_gui.jobs.launch import ProcessHandle, start_process

        argv = [sys.executable, "-m", "clm_gui", "train", "--resume" if resume else "--run-dir", str(run.path)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        threads = cpu_threads_beside_the_app(cfg)
        if threads:
            env["OMP_NUM_THREADS"] = str(threads)
        process = start_process(run, argv, env)
        threading.Thread(target=report_exit, args=(process, run), name=f"watch-{run.id}", daemon=True).start()
        return ProcessHandle(process)


def report_exit(process: subprocess.Popen, run: RunDir) -> None:
    """A training child that dies without saying so (killed, out of memory) leaves its run "failed"."""
    code = process.wait()
    if code and run.read_status().get("state") in ACTIVE_STATES:
        run.write_status("failed", f"The training process ended with exit code {code} before finishing; "
                                   "the end of the log says why.", pid=None, finished=time.time())


def cpu_threads_beside_the_app(cfg: RunConfig) -> int | None:
    """Threads for training on the CPU next to the web server: every core but one, or None on a GPU.

    Leaving a core to the server keeps pages responsive: on a 2-core box, polling with 12 pages open went
    from p95 3.5 s to 0.4 s, and training ran faster (bench/polling_load.py).
    """
    import torch

    if cfg.train.device == "cpu" or (cfg.train.device == "auto" and not torch.cuda.is_available()):
        return cpu_training_threads()
    return None


class ThreadLauncher:
    """Trains in a daemon thread of the app's process: one CPU or one GPU, no process start-up.

    The thread belongs to the process, not to a browser session, so closing the page never stops it;
    but it shares the interpreter lock with the web server (see ProcessLauncher).
    """

    def launch(self, run: RunDir, cfg: RunConfig, resume: bool) -> JobHandle:
        thread = threading.Thread(target=train_guarded, args=(cfg, run, resume), name=f"train-{run.id}",
                                  daemon=True)
        thread.start()
        return thread


def train_guarded(cfg: RunConfig, run: RunDir, resume: bool) -> None:
    """Train holding the runs folder's training lock, and turn any unexpected crash into a "failed"
    status with the traceback in train.log."""
    try:
        import torch

        from clm_gui.train.trainer import train  # torch loads here, not when the app starts

        threads = cpu_threads_beside_the_app(cfg)
        if threads:
            torch.set_num_threads(threads)
        with TrainingLock(run.path.parent).acquire(run.id):
            train(cfg, run, resume=resume)
    except TrainingBusy as exc:  # another process took the lock after the manager looked
        run.write_status("failed", str(exc), pid=None, finished=time.time())
    except BaseException as exc:  # noqa: BLE001 - a crash must never leave the run marked "running"
        with open(run.log_path, "a", encoding="utf-8") as log:
            log.write(traceback.format_exc())
        run.write_status("failed", crash_message(exc), pid=None, finished=time.time())


def mark_interrupted(runs_root: Path) -> list[RunDir]:
    """Runs left "running" by a process that is gone (an app restart, a crash) become "interrupted"."""
    marked = []
    for run in list_runs(runs_root):
        status = run.read_status()
        if status.get("state") not in ACTIVE_STATES or process_alive(status):
            continue
        checkpoint = run.latest_checkpoint()
        advice = (f"resume it to continue from the checkpoint at {checkpoint.name}" if checkpoint
                  else "it has no checkpoint, so start it again")
        run.stop_path.unlink(missing_ok=True)
        run.write_status("interrupted", f"The training process ended unexpectedly; {advice}.", pid=None)
        marked.append(run)
    return marked


class JobManager:
    """The one training job of this app: start, stop, resume and status, all through run folders."""

    def __init__(self, runs_root: Path, launcher: Launcher | None = None, multi_gpu_launcher: Launcher | None = None):
        self.runs_root = Path(runs_root)
        self.launcher = launcher or ProcessLauncher()
        self.multi_gpu_launcher = multi_gpu_launcher  # made on first use: it needs the GPU count
        self._lock = threading.Lock()  # two Start clicks at once must start one run
        self._job: tuple[RunDir, JobHandle] | None = None
        self.interrupted = mark_interrupted(self.runs_root)

    def active_run(self) -> RunDir | None:
        """The run training now: this app's job, or a run another process (the CLI) is training here."""
        if self._job is not None:
            run, handle = self._job
            if handle.is_alive() or is_active(current_status(run)):  # a dead process's "running" does not count
                return run
        for run in list_runs(self.runs_root):
            status = run.read_status()
            if status.get("state") in ACTIVE_STATES and process_alive(status):
                return run
        return None

    def is_training(self, run_id: str | None) -> bool:
        """Whether `run_id` is the run training now: a second Start of the run a page started is no new start."""
        active = self.active_run()
        return bool(run_id) and active is not None and active.id == run_id

    def status(self) -> dict | None:
        """The active run's status (with its id), or None when nothing trains."""
        run = self.active_run()
        return None if run is None else {**current_status(run), "run_id": run.id}

    def start(self, cfg: RunConfig, by: Visitor | None = MACHINE, quotas: Quotas = Quotas()) -> RunDir:
        """Create a run folder for `cfg`, owned by `by`, and start training it in the background; returns
        at once. Refused when something trains, when its model cannot fit the device's memory, or (hosted)
        when `cfg` names a path `by` may not read, or when it would exceed `by`'s quotas."""
        by = require_visitor(by)
        visitor_policy(self.runs_root, by, hosted=is_hosted_visitor(by)).check_config(cfg)  # before anything reads
        check_runnable(cfg)
        with self._lock:
            self._refuse_if_busy()
            check_new_run(quotas, self.runs_root, by, cfg)
            run = new_run_dir(self.runs_root, cfg)
            record_owner(run, by)
            keep_caches_with_owner(run, by)
            self._job = (run, self._launcher_for(cfg).launch(run, cfg, resume=False))
        return run

    def resume(self, run_id: str, overrides: Sequence[str] = (), by: Visitor | None = MACHINE) -> RunDir:
        """Continue a stopped or interrupted run of `by`'s from its latest checkpoint; returns at once."""
        with self._lock:
            check_control(by, run := open_run(self.runs_root, run_id), "resume")
            self._refuse_if_busy()
            run, cfg = prepare_run(None, overrides, run.path, self.runs_root)
            step = int(run.latest_checkpoint().name.removeprefix("step-"))
            run.stop_path.unlink(missing_ok=True)
            run.write_status("queued", f"Resuming from the checkpoint at step {step}.", step=step)
            self._job = (run, self._launcher_for(cfg).launch(run, cfg, resume=True))
        return run

    def stop(self, by: Visitor | None = MACHINE) -> RunDir:
        """Ask the active run, if `by` may control it, to stop: it saves a checkpoint at its next step and ends."""
        run = self.active_run()
        if run is None:
            raise UserError("No run is training, so there is nothing to stop.")
        check_control(by, run, "stop")
        run.stop_path.write_text("Stop requested from the app.\n", encoding="utf-8")
        return run

    def delete(self, run_id: str, by: Visitor | None = MACHINE) -> None:
        """Remove a run folder of `by`'s that is not training (it frees its place in their quota)."""
        with self._lock:
            run = open_run(self.runs_root, run_id)
            check_control(by, run, "delete")
            if run == self.active_run():
                raise UserError(f"The run {run.id} is training; stop it first, then delete it.")
            remove_tree(run.path)

    def wait(self, timeout: float | None = None) -> dict:
        """Block until this app's job ends (or the timeout passes); returns the run's status."""
        if self._job is None:
            raise UserError("No run was started by this app.")
        run, handle = self._job
        handle.join(timeout)
        return current_status(run)

    def shutdown(self, timeout: float = 30.0) -> None:
        """On app exit: stop the job so it saves a checkpoint, and give it a moment to do so."""
        if self._job is not None and self._job[1].is_alive():
            self.stop()
            self._job[1].join(timeout)

    def _launcher_for(self, cfg: RunConfig) -> Launcher:
        """A thread for one device; `accelerate launch` in a child process when train.gpus names several."""
        if not cfg.train.gpus:
            return self.launcher
        import torch

        from clm_gui.jobs.launch import SubprocessLauncher, selected_gpus

        available = torch.cuda.device_count()
        if len(selected_gpus(cfg.train.gpus, available)) == 1:
            return self.launcher  # one GPU: train.device says which
        if self.multi_gpu_launcher is None:
            self.multi_gpu_launcher = SubprocessLauncher(available)
        return self.multi_gpu_launcher

    def _refuse_if_busy(self) -> None:
        """Refuse while a run of this folder trains: one this app sees, or any process holding the lock."""
        active = self.active_run()
        if active is not None:
            raise TrainingBusy(
                f"The run {active.id} is still training; only one training runs at a time on this machine. "
                "Stop it (it keeps a checkpoint you can resume), or wait for it to finish."
            )
        holder = TrainingLock(self.runs_root).holder()
        if holder is not None:
            raise TrainingBusy(holder.busy_message())


_MANAGERS: dict[Path, JobManager] = {}
_MANAGERS_LOCK = threading.Lock()


def manager_for(runs_root: Path) -> JobManager:
    """The process-wide job manager of a runs folder, shared by every browser session."""
    key = Path(runs_root).resolve()
    with _MANAGERS_LOCK:
        if key not in _MANAGERS:
            _MANAGERS[key] = JobManager(key)
            atexit.register(_MANAGERS[key].shutdown)
        return _MANAGERS[key]
