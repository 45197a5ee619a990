"""Every benchmark script still imports, and those with a CPU-sized setting run on it: a bench that
no longer runs (a renamed function, a changed signature) fails here instead of on the next GPU day.

Timings are never checked (tests never depend on the machine's speed): only that each script runs to
its end and prints its result.
"""

from __future__ import annotations

import importlib
import os
import py_compile
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"

# script: (arguments for a run of seconds on one CPU, a line its output must contain)
TINY_RUNS = {
    "big_data": (["--sizes", "0.002", "--modes", "streaming,in-memory", "--train-steps", "2", "--budget-minutes",
                  "1", "--workdir", "{tmp}"], "streaming"),
    "cpu_step": (["--layers", "1", "--width", "32", "--context", "16", "--batch", "2", "--rounds", "1",
                  "--steps", "1"], "x the hand-written GPT"),
    "sizing_accuracy": (["--smoke"], "| 0.02M |"),
    "small_data": (["--device", "cpu", "--minutes", "0.1", "--corpora", "prose", "--reference-steps", "10",
                    "--out", "{tmp}"], "| default journey |"),
    "train_throughput": (["--cpu", "--only", "tiny-cpu-synthetic", "--steps", "40", "--work", "{tmp}"],
                         "tiny-cpu-synthetic"),
    "tokenizer_speed": (["--documents", "20", "--vocab-size", "300", "--rounds", "1", "--samples", "20"],
                        "wizard"),
    "stream_memory": (["--large-gb", "0.002", "--small-mb", "0.2", "--formats", "txt", "--workdir", "{tmp}"],
                      "peak RSS large / small"),
    "kill_loop": (["--steps", "6"], "state finished"),
}
# script: why it is only imported here
IMPORT_ONLY = {
    "corpora": "a library of the other benches (no command)",
    "gguf_export": "a 124M model and llama.cpp generation: minutes, no smaller setting",
    "multi_gpu": "needs two or more CUDA GPUs",
    "poll_clients": "needs a served app (polling_load.py starts one)",
    "polling_load": "serves the app and trains in it for a minute",
    "polling_overhead": "serves the app and trains in it in several rounds, one with a browser",
    "reference_gpt": "its command measures on CUDA only; its CPU recipe runs in small_data's tiny run",
}
SCRIPTS = sorted(path.stem for path in BENCH.glob("*.py") if path.stem != "__init__")


def test_every_bench_script_is_run_here_or_says_why_not():
    assert sorted([*TINY_RUNS, *IMPORT_ONLY]) == SCRIPTS


@pytest.mark.parametrize("name", SCRIPTS)
def test_bench_script_imports(name):
    module = importlib.import_module(f"bench.{name}")
    assert name == "corpora" or callable(module.main)


@pytest.mark.parametrize("name", sorted(TINY_RUNS))
def test_bench_script_runs_on_a_tiny_setting(name, tmp_path):
    arguments, expected = TINY_RUNS[name]
    arguments = [argument.format(tmp=tmp_path) for argument in arguments]
    done = subprocess.run([sys.executable, str(BENCH / f"{name}.py"), *arguments], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert expected in done.stdout


def test_explore_scripts_compile_and_score_reads_a_runs_folder(tmp_path):
    # calibrate.py and score.py do their work at import (plain scripts); score.py on a folder without runs
    # prints nothing, which checks its imports and its arguments.
    for path in (BENCH / "explore").glob("*.py"):
        py_compile.compile(str(path), doraise=True)
    held_out = tmp_path / "held_out.txt"
    held_out.write_text("Held-out text.\n", encoding="utf-8")
    (tmp_path / "runs").mkdir()
    done = subprocess.run([sys.executable, str(BENCH / "explore" / "score.py"), str(tmp_path / "runs")],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HELD_OUT": str(held_out), "CUDA_VISIBLE_DEVICES": ""})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout == ""
