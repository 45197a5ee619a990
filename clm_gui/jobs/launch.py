"""Training child processes: `accelerate launch` on several GPUs (and several machines), and the start of
every training child of the app.

The app never runs its own launcher: for more than one GPU it starts `accelerate launch` as a child
process (an argument list, never a shell string) running the same `python -m clm_gui train` the
command line uses, on a run folder the app has already written. Every rank reads its share of the
data; rank 0 alone writes the run folder, which the app watches exactly as for a single-GPU run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from clm_gui.config import RunConfig
from clm_gui.errors import UserError
from clm_gui.runs.folder import RunDir
from clm_gui.train.schedule import LAUNCHED_AT_ENV

# NVLink multicast can take a shared host's GPUs out of service; NCCL must not use it.
SAFE_NCCL_ENV = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1"}
@dataclass
class MachineSettings:
    """Where this process sits among the machines of one training (defaults: a single machine)."""

    num_machines: int = 1
    machine_rank: int = 0
    main_process_ip: str = "127.0.0.1"
    main_process_port: int = 29500


def selected_gpus(gpus: str, available: int) -> list[int]:
    """The GPU indices a `train.gpus` value selects on a machine with `available` GPUs."""
    spec = gpus.replace(" ", "")
    if not spec:
        return []
    chosen = list(range(available)) if spec == "all" else [int(g) for g in spec.split(",")]
    missing = [g for g in chosen if g >= available]
    if missing or not chosen:
        raise UserError(f"train.gpus asks for GPU(s) {missing or gpus} but this machine has {available} "
                        f"(numbered 0 to {available - 1}).")
    if len(set(chosen)) != len(chosen):
        raise UserError(f"train.gpus lists a GPU twice: {gpus}.")
    return chosen


def launch_command(run: RunDir, gpu_ids: list[int], resume: bool,
                   machines: MachineSettings = MachineSettings()) -> tuple[list[str], dict[str, str]]:
    """The argument list and environment that train `run` on these GPUs of each machine."""
    per_machine = len(gpu_ids)
    argv = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--multi_gpu",
        "--num_machines", str(machines.num_machines),
        "--machine_rank", str(machines.machine_rank),
        "--num_processes", str(per_machine * machines.num_machines),
        "--gpu_ids", ",".join(map(str, gpu_ids)),
        "--main_process_ip", machines.main_process_ip,
        "--main_process_port", str(machines.main_process_port),
        "--mixed_precision", "no",  # the trainer chooses the precision from the run configuration
        "--dynamo_backend", "no",  # and decides on torch.compile itself
        "-m", "clm_gui", "train", "--resume" if resume else "--run-dir", str(run.path),
    ]
    env = {**os.environ, **SAFE_NCCL_ENV, "PYTHONUNBUFFERED": "1"}
    return argv, env


class ProcessHandle:
    """A training child process, seen by the job manager like a thread."""

    def __init__(self, process: subprocess.Popen):
        self.process = process

    def is_alive(self) -> bool:
        return self.process.poll() is None

    def join(self, timeout: float | None = None) -> None:
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass


class SubprocessLauncher:
    """Starts `accelerate launch` for runs that ask for several GPUs; output goes to the run's train.log."""

    def __init__(self, available_gpus: int, machines: MachineSettings = MachineSettings()):
        self.available_gpus, self.machines = available_gpus, machines

    def launch(self, run: RunDir, cfg: RunConfig, resume: bool) -> ProcessHandle:
        gpu_ids = selected_gpus(cfg.train.gpus, self.available_gpus)
        argv, env = launch_command(run, gpu_ids, resume, self.machines)
        process = start_process(run, argv, env)
        run.write_status("queued", f"Starting {len(gpu_ids)} training processes.", pid=process.pid)
        return ProcessHandle(process)


def start_process(run: RunDir, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    """A training child in a session of its own (Ctrl-C on the app does not reach it: the app stops it
    through the run's STOP file), its output appended to the run's train.log.

    The child runs in the app's working directory, so a relative path in the configuration means the same
    file to both. It finds this package as the app did: installed, or (run from a checkout, as run.sh
    does) through the folder holding it, put first on its PYTHONPATH.
    """
    package_root = str(Path(__file__).resolve().parents[2])  # clm_gui/jobs/launch.py -> the folder holding clm_gui
    env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))}
    log = open(run.log_path, "a", encoding="utf-8")  # noqa: SIM115 - the child owns it from here
    env = {**env, LAUNCHED_AT_ENV: str(time.time())}  # its time budget counts its start-up (imports) too
    process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True)
    log.close()
    return process
