"""Preparing the run a training process trains: a new run folder from a config, or a stopped run resumed
with checked changes; and, when several processes train together, the one folder they all agree on.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from clm_gui.config import RunConfig, apply_overrides, config_from_dict, load_config
from clm_gui.errors import ConfigError, UserError
from clm_gui.machine.fit import ESTIMATE_READS, memory_problems
from clm_gui.runs.folder import RunDir, new_run_dir
from clm_gui.jobs.run_lock import TrainingLock

# Settings that fix the shape of the model or the meaning of its tokens: a checkpoint trained with one
# value cannot continue with another.
RESUME_LOCKED_SECTIONS = ("model", "tokenizer", "data")


def resume_conflicts(saved: RunConfig, wanted: RunConfig) -> list[str]:
    """The dotted names of locked settings that differ between a run and the config to resume it with."""
    old, new = saved.to_dict(), wanted.to_dict()
    return [
        f"{section}.{key} ({old[section][key]!r} -> {new[section][key]!r})"
        for section in RESUME_LOCKED_SECTIONS
        for key in old[section]
        if old[section][key] != new[section][key]
    ]


def resume_overrides(saved: RunConfig, until_step: int | None) -> list[str]:
    """The overrides that resume a run to `until_step` (to train it longer): none when that is unset or
    already the run's own step limit, so the run continues exactly as it was configured."""
    if not until_step or int(until_step) == saved.train.max_steps:
        return []
    if until_step < 0:
        raise UserError(f"Resume until step cannot be negative (it is {int(until_step)}): give a step past the "
                        "run's own to train it longer, or leave it empty to resume to its limit.")
    return [f"train.max_steps={int(until_step)}"]


def check_runnable(cfg: RunConfig) -> RunConfig:
    """Raise one ConfigError with every problem: the configuration's own, and a model that cannot fit the
    memory of the device it trains on (before anything is written); or return cfg."""
    problems = cfg.validate()
    if not any(name in problem for problem in problems for name in ESTIMATE_READS):
        problems += memory_problems(cfg)
    if problems:
        raise ConfigError(problems)
    return cfg


def prepare_run(config_path: Path | None, overrides: Sequence[str], resume: Path | None,
                runs_root: Path) -> tuple[RunDir, RunConfig]:
    """Validate the configuration and return the run folder to train in, with config.yaml written."""
    if resume is None:
        if config_path is None:
            raise UserError("Give a configuration file to train, or --resume RUN_DIR to continue a run.")
        cfg = check_runnable(load_config(config_path, overrides))
        return new_run_dir(Path(runs_root), cfg), cfg

    run = RunDir(Path(resume))
    if not run.exists():
        raise UserError(f"{resume} is not a run folder (it has no config.yaml).")
    saved = run.load_config()
    if config_path is not None:
        cfg = load_config(config_path, overrides)
    else:
        cfg = config_from_dict(apply_overrides(saved.to_dict(), overrides))
    conflicts = resume_conflicts(saved, cfg)
    if conflicts:
        raise ConfigError([
            "This run cannot be resumed with a different model, tokenizer or data; these settings differ "
            f"from its checkpoint: {', '.join(conflicts)}. Start a new run instead."
        ])
    check_runnable(cfg)
    if run.latest_checkpoint() is None:
        raise UserError(f"The run {run.id} has no complete checkpoint to resume from; start it again instead.")
    cfg.save(run.config_path)
    return run, cfg


def prepare_process_run(config_path: Path | None, overrides, resume: Path | None, run_dir: Path | None,
                        runs_root: Path) -> tuple[RunDir, RunConfig, TrainingLock | None]:
    """The run folder and configuration this process trains, and the training lock it holds.

    One process: as `prepare_run` (a new run folder, or a checked resume). Several processes
    (`torchrun` / `accelerate launch`): rank 0 prepares the folder and tells the others where it is,
    so the ranks of one training never create one folder each. The process that prepares (the only one,
    or rank 0) first takes the runs folder's training lock, before it creates or changes anything, and
    returns it for the caller to release when training ends (None on the other ranks); when another
    training holds it, every rank raises its `TrainingBusy`.
    """
    # Here, not at the top: torch loads with these, and the app imports this module (for prepare_run)
    # without training in its own process.
    from clm_gui.machine.devices import resolve_device, world_size

    def prepare_folder() -> tuple[RunDir, RunConfig]:
        if run_dir is not None:  # a folder the app prepared (config.yaml written, nothing trained yet)
            run = RunDir(Path(run_dir))
            if not run.exists():
                raise UserError(f"{run_dir} is not a run folder (it has no config.yaml).")
            return run, run.load_config().check()
        return prepare_run(config_path, overrides, resume, runs_root)

    def prepare() -> tuple[RunDir, RunConfig, TrainingLock]:
        existing = resume or run_dir
        lock = TrainingLock(Path(existing).resolve().parent if existing else Path(runs_root)).acquire()
        try:
            run, cfg = prepare_folder()
        except BaseException:
            lock.release()
            raise
        lock.name_run(run.id)
        return run, cfg, lock

    if world_size() == 1:
        return prepare()
    from datetime import timedelta

    from accelerate import PartialState
    from accelerate.utils import broadcast_object_list

    device_name = _device_setting(config_path, overrides, resume, run_dir)
    # Rank 0 may tokenize a large corpus while the others wait at a barrier: allow it hours, not minutes.
    state = PartialState(cpu=resolve_device(device_name).type == "cpu", timeout=timedelta(hours=6))
    shared: list = [None]
    lock = None
    if state.is_main_process:
        try:
            run, _, lock = prepare()
            shared = [str(run.path)]
        except UserError as exc:
            shared = [exc]
    broadcast_object_list(shared, from_process=0)
    if isinstance(shared[0], UserError):
        raise shared[0]
    run = RunDir(Path(shared[0]))
    return run, run.load_config(), lock


def _device_setting(config_path, overrides, resume, run_dir) -> str:
    if config_path is not None:
        return load_config(config_path, overrides).train.device
    saved = RunDir(Path(resume or run_dir)).load_config()
    return config_from_dict(apply_overrides(saved.to_dict(), overrides)).train.device
