"""Training on several GPUs (and several machines) through `accelerate launch`.

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
from clm_gui.runs import RunDir

# NVLink multicast can take a shared host's GPUs out of service; NCCL must not use it.
SAFE_NCCL_ENV = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1"}
LAUNCHED_AT_ENV = "CLM_GUI_LAUNCHED_AT"  # when the app started a training process (time.time())


def launched_at(now: float) -> float:
    """When this training started for its user: the app's launch of this process, or `now` (the trainer's
    clock) when nothing launched it."""
    try:
        return min(float(os.environ.get(LAUNCHED_AT_ENV, "")), now)
    except ValueError:
        return now


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
    through the run's STOP file), its output appended to the run's train.log."""
    log = open(run.log_path, "a", encoding="utf-8")  # noqa: SIM115 - the child owns it from here
    env = {**env, LAUNCHED_AT_ENV: str(time.time())}  # its time budget counts its start-up (imports) too
    process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               cwd=Path(__file__).resolve().parents[1], start_new_session=True)
    log.close()
    return process


def wants_several_processes(cfg: RunConfig, available_gpus: int) -> bool:
    return len(selected_gpus(cfg.train.gpus, available_gpus)) > 1


# ---------------------------------------------------------------------------------------------
# Inside each launched process: agree on one run folder.


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def prepare_process_run(config_path: Path | None, overrides, resume: Path | None, run_dir: Path | None,
                        runs_root: Path) -> tuple[RunDir, RunConfig]:
    """The run folder and configuration this process trains.

    One process: as `jobs.prepare_run` (a new run folder, or a checked resume). Several processes
    (`torchrun` / `accelerate launch`): rank 0 prepares the folder and tells the others where it is,
    so the ranks of one training never create one folder each.
    """
    from clm_gui.jobs import prepare_run

    def prepare() -> tuple[RunDir, RunConfig]:
        if run_dir is not None:  # a folder the app prepared (config.yaml written, nothing trained yet)
            run = RunDir(Path(run_dir))
            if not run.exists():
                raise UserError(f"{run_dir} is not a run folder (it has no config.yaml).")
            return run, run.load_config().check()
        return prepare_run(config_path, overrides, resume, runs_root)

    if world_size() == 1:
        return prepare()
    from datetime import timedelta

    from accelerate import PartialState
    from accelerate.utils import broadcast_object_list

    from clm_gui.trainer import resolve_device

    device_name = _device_setting(config_path, overrides, resume, run_dir)
    # Rank 0 may tokenize a large corpus while the others wait at a barrier: allow it hours, not minutes.
    state = PartialState(cpu=resolve_device(device_name).type == "cpu", timeout=timedelta(hours=6))
    shared: list = [None]
    if state.is_main_process:
        try:
            shared = [str(prepare()[0].path)]
        except UserError as exc:
            shared = [exc]
    broadcast_object_list(shared, from_process=0)
    if isinstance(shared[0], UserError):
        raise shared[0]
    run = RunDir(Path(shared[0]))
    return run, run.load_config()


def _device_setting(config_path, overrides, resume, run_dir) -> str:
    from clm_gui.config import apply_overrides, config_from_dict, load_config

    if config_path is not None:
        return load_config(config_path, overrides).train.device
    saved = RunDir(Path(resume or run_dir)).load_config()
    return config_from_dict(apply_overrides(saved.to_dict(), overrides)).train.device
