"""Starting runs: a new run folder from a config, or a stopped run resumed with checked changes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from clm_gui.config import RunConfig, apply_overrides, config_from_dict, load_config
from clm_gui.errors import ConfigError, UserError
from clm_gui.runs import RunDir, new_run_dir

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


def prepare_run(config_path: Path | None, overrides: Sequence[str], resume: Path | None,
                runs_root: Path) -> tuple[RunDir, RunConfig]:
    """Validate the configuration and return the run folder to train in, with config.yaml written."""
    if resume is None:
        if config_path is None:
            raise UserError("Give a configuration file to train, or --resume RUN_DIR to continue a run.")
        cfg = load_config(config_path, overrides).check()
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
    cfg.check()
    if run.latest_checkpoint() is None:
        raise UserError(f"The run {run.id} has no complete checkpoint to resume from; start it again instead.")
    cfg.save(run.config_path)
    return run, cfg
