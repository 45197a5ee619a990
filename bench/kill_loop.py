"""SIGKILL soak: kill the training process at random moments, again and again, until the run finishes.

Each round starts `python -m clm_gui train` (a fresh run, then `--resume` once a checkpoint exists), lets
it log a random number of records plus a random fraction of a second, and SIGKILLs it. After every kill
the run folder must hold only complete, loadable checkpoints and a readable metrics file, and an app
starting on it must mark it interrupted. The CI test does one such kill; this does many.

    python bench/kill_loop.py                 # seed 0, until the run of 60 steps finishes
    python bench/kill_loop.py --seed 3 --steps 120
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clm_gui.jobs.manager import JobManager  # noqa: E402
from clm_gui.runs.folder import list_runs  # noqa: E402
from tests.fast_runs import fast_config, write_corpus  # noqa: E402
from tests.test_faults import assert_checkpoints_complete, assert_metrics_readable, kill_at_random_moment  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="clm-kill-"))
    runs_root = work / "runs"
    config = work / "config.yaml"
    fast_config(write_corpus(work / "corpus.txt"), max_steps=args.steps, save_interval=3).save(config)
    command = ["train", str(config), "--runs-dir", str(runs_root)]
    kills = mid_checkpoint = torn = 0
    started = time.time()
    while True:
        try:
            run = kill_at_random_moment(command, runs_root, work, rng)
        except AssertionError as finished:  # the run ended on its own before the kill: done
            print(f"round {kills + 1}: {finished}")
            break
        kills += 1
        half_written = [p.name for p in run.checkpoints_dir.glob(".tmp-step-*")] if run.checkpoints_dir.exists() else []
        mid_checkpoint += bool(half_written)
        torn += not run.metrics_path.read_bytes().endswith(b"\n")
        assert_checkpoints_complete(run)
        assert_metrics_readable(run)
        JobManager(runs_root)  # an app starting now
        state = run.read_status()["state"]
        assert state == "interrupted", state
        steps = [step for step, _ in run.checkpoints()]
        print(f"kill {kills}: checkpoints {steps}, half-written {half_written or '-'}, state {state}")
        if steps:
            command = ["train", "--resume", str(run.path)]
    run = list_runs(runs_root)[0]  # also when the run finished before the first kill
    final = [step for step, _ in run.checkpoints()]
    print(f"{kills} kills ({mid_checkpoint} during a checkpoint write, {torn} with a torn metrics line) in "
          f"{time.time() - started:.0f} s; the run reached checkpoints {final}, state {run.read_status()['state']}")
    return 0 if final and final[-1] == args.steps else 1


if __name__ == "__main__":
    sys.exit(main())
