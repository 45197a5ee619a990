"""Faults during training: the process killed (also mid-checkpoint), out of memory, a NaN loss, a full disk,
and a resume whose configuration cannot match the checkpoint. Each ends with a run folder that tells the
truth and an app that can go on."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from clm_gui import cli
from clm_gui.config import RunConfig
from clm_gui.errors import ConfigError
from clm_gui.jobs.manager import JobManager
from clm_gui.runs.faults import memory_fixes, out_of_memory_message
from clm_gui.runs.folder import RunDir, list_runs, new_run_dir
from clm_gui.runs.monitor import current_metrics, current_status
from clm_gui.train import checkpoints as checkpoints_lib
from clm_gui.train import trainer as trainer_lib
from tests.fast_runs import fast_config, write_corpus
from tests.small_disk import SmallDisk
from tests.step_gate import StepGate
from tests.waiting import WAIT_S, wait_for

REPO = Path(__file__).resolve().parents[1]

# The command line in a child process, with a hook that can freeze it in the middle of writing a
# checkpoint (after model.safetensors, before the optimizer state and the COMPLETE marker).
CHILD = """
import os, pathlib, sys, time
import safetensors.torch as st
real_save = st.save_file
pause_in = os.environ.get("PAUSE_IN_FOLDER")

def save_file(tensors, filename, *args, **kwargs):
    real_save(tensors, filename, *args, **kwargs)
    if pathlib.Path(filename).parent.name == pause_in:
        pathlib.Path(os.environ["PAUSED_FLAG"]).write_text("paused")
        time.sleep(600)

st.save_file = save_file
from clm_gui.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture
def corpus(tmp_path) -> Path:
    return write_corpus(tmp_path / "corpus.txt")


def start_child(args: list[str], tmp_path: Path, pause_in: str = "", env: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, "PAUSE_IN_FOLDER": pause_in, "PAUSED_FLAG": str(tmp_path / "paused"), **(env or {})}
    log = open(tmp_path / "child.log", "ab")
    return subprocess.Popen([sys.executable, "-c", CHILD, *args], cwd=REPO, env=env, stdout=log, stderr=log)


def kill(child: subprocess.Popen) -> None:
    child.send_signal(signal.SIGKILL)  # a no-op for a child that has already ended
    child.wait(30)


def only_run(runs_root: Path) -> RunDir:
    runs = list_runs(runs_root)
    assert len(runs) == 1, runs
    return runs[0]


def assert_checkpoints_complete(run: RunDir) -> None:
    """Every checkpoint the app would offer or resume from loads, file by file."""
    for step, folder in run.checkpoints():
        state = json.loads((folder / "trainer_state.json").read_text())
        assert state["step"] == step
        assert load_file(str(folder / "model.safetensors"))
        assert torch.load(folder / "optimizer.pt", weights_only=True)["state"]


def assert_metrics_readable(run: RunDir) -> None:
    """Only the last line may be torn (the kill landed mid-write), and readers skip it."""
    lines = run.metrics_path.read_bytes().split(b"\n")
    torn = [i for i, line in enumerate(lines) if line and not _parses(line)]
    assert torn in ([], [len(lines) - 1]), torn
    assert len(run.read_metrics()) == len([x for x in lines if x]) - len(torn)
    assert current_metrics(run)[-1] in run.read_metrics()  # the page's incremental reader agrees


def _parses(line: bytes) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def new_train_records(run: RunDir, after_line: int) -> list[dict]:
    lines = run.metrics_path.read_text(encoding="utf-8").splitlines()[after_line:]
    return [json.loads(line) for line in lines if line.startswith("{") and '"kind": "train"' in line]


# ---------------------------------------------------------------------------------------------
# SIGKILL


@pytest.mark.slow
def test_killed_during_a_checkpoint_write_resumes_from_the_last_complete_checkpoint(tmp_path, corpus):
    runs_root = tmp_path / "runs"
    config = tmp_path / "config.yaml"
    fast_config(corpus, max_steps=8, save_interval=2).save(config)
    child = start_child(["train", str(config), "--runs-dir", str(runs_root)], tmp_path, pause_in=".tmp-step-4")
    try:
        wait_for((tmp_path / "paused").exists, what="the checkpoint at step 4 to be half written")
    finally:
        kill(child)

    run = only_run(runs_root)
    half_written = run.checkpoints_dir / ".tmp-step-4"
    assert (half_written / "model.safetensors").is_file() and not (half_written / "COMPLETE").exists()
    assert [step for step, _ in run.checkpoints()] == [2]  # the half-written one is never listed
    assert_checkpoints_complete(run)
    assert run.read_status()["state"] == "running"  # what the killed process last wrote...
    assert current_status(run)["state"] == "interrupted"  # ...is not what anyone is shown

    manager = JobManager(runs_root)  # an app (re)starting on this runs folder
    assert [r.id for r in manager.interrupted] == [run.id]
    status = run.read_status()
    assert status["state"] == "interrupted" and "step-2" in status["message"]

    lines_before = len(run.metrics_path.read_text(encoding="utf-8").splitlines())
    manager.resume(run.id)
    assert manager.wait(WAIT_S)["state"] == "finished"
    assert new_train_records(run, lines_before)[0]["step"] == 3  # continued from step 2, not from 4
    assert [step for step, _ in run.checkpoints()][-1] == 8
    assert (run.final_dir / "model.safetensors").is_file()


@pytest.mark.slow
def test_killed_at_a_random_moment_the_run_folder_stays_consistent_and_resumable(tmp_path, corpus):
    """One kill per CI run at a seeded random point of the loop; bench/kill_loop.py repeats it many times.

    A gate at a random step before the last holds the run, so the kill lands while it trains however
    fast the machine is: at the gate on a fast one, anywhere from a few records in up to it on a slow one.
    """
    rng = random.Random(int(os.environ.get("KILL_SEED", "9")))
    runs_root = tmp_path / "runs"
    config = tmp_path / "config.yaml"
    fast_config(corpus, max_steps=12, save_interval=3).save(config)
    gate = StepGate(tmp_path)
    gate.open_until(rng.randint(1, 11))
    run = kill_at_random_moment(["train", str(config), "--runs-dir", str(runs_root)], runs_root, tmp_path, rng,
                                gate)

    assert_checkpoints_complete(run)
    assert_metrics_readable(run)
    manager = JobManager(runs_root)  # marks the run interrupted, as an app start does
    assert run.read_status()["state"] == "interrupted"
    if run.checkpoints():
        manager.resume(run.id)
    else:  # killed before the first checkpoint: the message said to start again
        run = manager.start(run.load_config())
    assert manager.wait(WAIT_S)["state"] == "finished"
    assert [step for step, _ in run.checkpoints()][-1] == 12
    assert_checkpoints_complete(run)


def kill_at_random_moment(args: list[str], runs_root: Path, tmp_path: Path, rng: random.Random,
                          gate: StepGate | None = None) -> RunDir:
    """Start the CLI, let it log 1-5 more records and up to half a second more, SIGKILL it; return its run.

    Behind a gate the run cannot end first: it waits at the gate's step until the kill. Without one
    (bench/kill_loop.py runs until the run finishes on its own) it may, and this raises AssertionError.
    """
    child = start_child(args, tmp_path, env=gate.env if gate else None)
    held = gate.held_at if gate else lambda: None
    try:
        wait_for(lambda: list_runs(runs_root) and list_runs(runs_root)[0].metrics_path.exists()
                 or child.poll() is not None, what="training to start")
        run = list_runs(runs_root)[0]
        wanted = len(run.read_metrics()) + rng.randint(1, 5)
        wait_for(lambda: len(run.read_metrics()) >= wanted or held() is not None or child.poll() is not None,
                 what="more steps")
        # Not a race: any moment is a fair one to kill at; this one may fall inside a checkpoint or
        # metrics write.
        time.sleep(rng.uniform(0, 0.5))
    finally:
        kill(child)
    assert child.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    return run


def test_a_torn_last_metrics_line_is_skipped_and_the_next_record_lands_whole(tmp_path, tiny_config):
    run = new_run_dir(tmp_path / "runs", tiny_config)
    run.append_metrics({"kind": "train", "step": 1, "train_loss": 5.0})
    with open(run.metrics_path, "a", encoding="utf-8") as f:
        f.write('{"kind": "train", "step": 2, "train_lo')  # the process died mid-write
    assert [r["step"] for r in run.read_metrics()] == [1]
    assert [r["step"] for r in current_metrics(run)] == [1]
    run.append_metrics({"kind": "train", "step": 2, "train_loss": 4.0})  # the resumed run logs again
    assert [r["step"] for r in run.read_metrics()] == [1, 2]
    assert [r["step"] for r in current_metrics(run)] == [1, 2]


# ---------------------------------------------------------------------------------------------
# Out of memory


@pytest.mark.slow
def test_out_of_memory_stops_with_the_fix_in_numbers_releases_memory_and_the_next_run_starts(
        tmp_path, corpus, monkeypatch):
    cfg = fast_config(corpus, micro_batch_size=4, grad_accum_steps=1)
    run = new_run_dir(tmp_path / "runs", cfg)
    real_step = trainer_lib.Trainer._train_step
    model_ref = []

    def step_that_runs_out(self):
        model_ref.append(weakref.ref(self.lm))
        if self.state.step == 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return real_step(self)

    monkeypatch.setattr(trainer_lib.Trainer, "_train_step", step_that_runs_out)
    trainer = trainer_lib.Trainer(cfg, run)
    status = trainer.run()
    assert status["state"] == "failed"
    message = status["message"]
    assert "Out of memory on cpu at step 2" in message
    assert "4 sequences x 32 tokens" in message
    assert "train.micro_batch_size 2 and train.grad_accum_steps 2" in message
    assert "model.context_length 16" in message and "model.gradient_checkpointing true" in message
    assert run.read_status()["message"] == message
    assert model_ref[-1]() is None  # released though the trainer object itself is still referenced
    assert trainer.lm is None and trainer.optimizer is None

    monkeypatch.setattr(trainer_lib.Trainer, "_train_step", real_step)
    manager = JobManager(tmp_path / "runs")  # the same app starts the next run
    manager.start(cfg)
    assert manager.wait(WAIT_S)["state"] == "finished"


@pytest.mark.parametrize("micro, accum, context, checkpointing, expected", [
    (16, 1, 256, False, ["micro_batch_size 8 and train.grad_accum_steps 2 (the same 16 sequences",
                         "context_length 128", "gradient_checkpointing true"]),
    (5, 3, 64, True, ["micro_batch_size 2 and train.grad_accum_steps 8 (about the same 16 sequences",
                      "context_length 32"]),
    (1, 1, 8, True, []),
])
def test_memory_fixes_keep_the_batch_and_skip_what_is_already_done(micro, accum, context, checkpointing,
                                                                     expected, tiny_config):
    cfg = tiny_config
    cfg.train.micro_batch_size, cfg.train.grad_accum_steps = micro, accum
    cfg.model.context_length, cfg.model.gradient_checkpointing = context, checkpointing
    fixes = memory_fixes(cfg)
    assert len(fixes) == len(expected)
    for fix, fragment in zip(fixes, expected):
        assert fragment in fix
    if not expected:
        assert "smaller model" in out_of_memory_message(cfg, "cuda:0", 1)


def too_big_for_any_machine(corpus: Path):
    """Within every bound, yet about 58 TB to train: no machine this app drives has that memory."""
    cfg = fast_config(corpus)
    cfg.model.n_layer, cfg.model.n_head, cfg.model.n_embd = 256, 256, 32_768
    return cfg


def test_a_model_that_cannot_fit_the_device_is_refused_before_anything_is_written(tmp_path, corpus, capsys):
    config = tmp_path / "config.yaml"
    too_big_for_any_machine(corpus).save(config)
    runs_root = tmp_path / "runs"
    code = cli.main(["train", str(config), "--runs-dir", str(runs_root), "--set", "train.learning_rate=0"])
    err = capsys.readouterr().err
    assert code == 2
    assert "The model does not fit in memory: training it needs about 58," in err and "GB on the CPU" in err
    assert "To fit, use a smaller model: fewer layers (model.n_layer)" in err
    assert "train.learning_rate must be above 0" in err  # every problem at once
    # No run folder, no token cache (nothing tokenised): only the training lock the CLI held while it checked.
    assert {p.name for p in runs_root.iterdir()} <= {".training.lock", ".training.lock.json"}

    manager = JobManager(runs_root)  # the app's Start
    with pytest.raises(ConfigError, match="The model does not fit in memory"):
        manager.start(too_big_for_any_machine(corpus))
    assert list_runs(runs_root) == [] and not (runs_root / ".token-cache").exists()


@pytest.mark.parametrize("gpus, device, free_gb, refused", [
    ("", "cuda:1", {0: 80.0, 1: 10.0}, True),  # one GPU: the one train.device names
    ("", "cuda:0", {0: 80.0, 1: 10.0}, False),
    ("0,1", "cuda", {0: 80.0, 1: 10.0}, True),  # several: the one with the least free memory
    ("all", "cuda", {0: 80.0, 1: 80.0}, False),
])
def test_the_memory_check_reads_the_free_memory_of_the_gpus_the_run_trains_on(monkeypatch, gpus, device, free_gb,
                                                                              refused):
    """GPT-2 medium's shape (8,192 tokens) at micro-batch 16 x 1,024 tokens: about 22 GB on an H100, by the
    planner's estimate; more than 10 GB free, less than 80."""
    from clm_gui.machine import devices, fit
    from clm_gui.machine.hardware import CpuInfo, DiskInfo, GpuInfo, HardwareSnapshot, MemoryInfo

    machine = HardwareSnapshot(CpuInfo("cpu", 8, 16, None, None, 0.0, None), MemoryInfo(500.0, 400.0, 20.0),
                               DiskInfo("/", 100.0, 50.0),
                               [GpuInfo(i, "NVIDIA H100 80GB HBM3", 80.0, 80.0 - free, free, bf16=True)
                                for i, free in free_gb.items()])
    monkeypatch.setattr(fit, "snapshot", lambda: machine)
    monkeypatch.setattr(devices, "resolve_device", torch.device)  # as if the GPUs were visible to torch
    cfg = RunConfig()
    cfg.model.n_layer, cfg.model.n_head, cfg.model.n_embd, cfg.model.context_length = 24, 16, 1024, 1024
    cfg.train.micro_batch_size, cfg.train.device, cfg.train.gpus = 16, device, gpus
    problems = fit.memory_problems(cfg)
    assert bool(problems) == refused, problems
    if refused:
        assert "which has 10.0 GB" in problems[0] and "GPU 1 (NVIDIA H100 80GB HBM3, free memory)" in problems[0]
        assert "train.micro_batch_size 8 and train.grad_accum_steps 2" in problems[0]  # the batch can shrink


# ---------------------------------------------------------------------------------------------
# NaN loss, full disk


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_non_finite_loss_stops_the_run_and_says_so_before_saving_it(tmp_path, corpus, monkeypatch, bad):
    real_step = trainer_lib.Trainer._train_step

    def diverging_step(self):
        loss = real_step(self)
        return loss * bad if self.state.step >= 2 else loss  # step 3 onwards

    monkeypatch.setattr(trainer_lib.Trainer, "_train_step", diverging_step)
    cfg = fast_config(corpus, save_interval=2)
    run = new_run_dir(tmp_path / "runs", cfg)
    status = trainer_lib.train(cfg, run)
    assert status["state"] == "failed"
    assert f"loss became {bad}" in status["message"] and "learning_rate" in status["message"]
    assert [step for step, _ in run.checkpoints()] == [2]  # nothing saved after the loss went bad


@pytest.fixture
def small_disk(tmp_path):
    disk = SmallDisk(tmp_path / "disk")
    yield disk
    disk.unmount()


def train_until_the_disk_fills(cfg, disk: SmallDisk, leave: int, tmp_path: Path) -> tuple[RunDir, int, str]:
    """Train `cfg` with the CLI, its runs folder on `disk`; held after step 3, the disk is filled to `leave`
    free bytes (given the checkpoint at step 2) and the run goes on. Returns the run, the exit code, the log."""
    runs_root, config, gate = disk.path / "runs", tmp_path / "config.yaml", StepGate(tmp_path)
    cfg.save(config)
    gate.open_until(3)
    child = start_child(["train", str(config), "--runs-dir", str(runs_root)], tmp_path, env=gate.env)
    try:
        gate.wait_held_at(3)
        run = only_run(runs_root)
        disk.fill(leave(run) if callable(leave) else leave)
        gate.open()
        child.wait(WAIT_S)
    finally:
        kill(child)
    return run, child.returncode, (tmp_path / "child.log").read_text()


def assert_no_partial_files(run: RunDir) -> None:
    """Nothing half-written stays in the run folder, under a trusted name or a temporary one."""
    assert not [p for p in run.path.rglob("*") if p.name.startswith(".tmp")]
    assert_checkpoints_complete(run)


def weights_size(run: RunDir) -> int:
    return (run.checkpoint_dir(2) / "model.safetensors").stat().st_size


def half_the_weights(run: RunDir) -> int:
    """Room for the metrics of a step or two, not for the weights of the model (safetensors fails)."""
    return weights_size(run) // 2


def the_weights_and_a_half(run: RunDir) -> int:
    """Room for the weights, not for the optimizer's state, twice their size (torch.save fails)."""
    return weights_size(run) * 3 // 2


@pytest.mark.slow
@pytest.mark.parametrize("what, evaluate_every, leave", [
    ("the checkpoint at step 4", 0, half_the_weights),
    ("the checkpoint at step 4", 0, the_weights_and_a_half),
    ("the best model (step 4)", 4, half_the_weights),
])
def test_a_full_disk_ends_the_run_with_the_message_and_the_previous_checkpoint_resumes(
        tmp_path, corpus, small_disk, what, evaluate_every, leave):
    """A real full disk (a 16 MB tmpfs): safetensors and torch.save raise their own errors there, not OSError."""
    cfg = fast_config(corpus, save_interval=2, eval_interval=evaluate_every)
    run, code, log = train_until_the_disk_fills(cfg, small_disk, leave, tmp_path)

    assert code == 1 and "Traceback" not in log, log[-3000:]
    status = run.read_status()
    assert status["state"] == "failed" and status["pid"] is None
    assert status["message"].startswith(f"Saving {what} failed: the disk is full (No space left on device). "
                                        "The previous checkpoint (step-2) is intact"), status["message"]
    assert status["message"] in log  # the CLI says it too
    assert [step for step, _ in run.checkpoints()] == [2]
    assert_no_partial_files(run)

    small_disk.empty()  # space is freed: the run resumes from step 2 and finishes
    assert cli.main(["train", "--resume", str(run.path)]) == 0
    assert run.read_status()["state"] == "finished"
    assert (run.final_dir / "model.safetensors").is_file()


def test_a_disk_with_no_byte_left_still_ends_the_run_as_failed_with_the_message(tmp_path, corpus, small_disk):
    """No room even for a new status.json: the old one's bytes take the final state."""
    run, code, log = train_until_the_disk_fills(fast_config(corpus, save_interval=2), small_disk, 0, tmp_path)

    assert code == 1 and "Traceback" not in log, log[-3000:]
    status = run.read_status()
    assert status["state"] == "failed" and status["pid"] is None
    # The metrics of step 4 or its checkpoint, whichever needed a new block first.
    assert "failed: the disk is full (No space left on device). The previous checkpoint (step-2) is intact" \
        in status["message"], status["message"]
    assert_no_partial_files(run)
    assert_metrics_readable(run)


# ---------------------------------------------------------------------------------------------
# A damaged checkpoint, a crash


@pytest.fixture
def run_with_three_checkpoints(tmp_path, corpus) -> RunDir:
    cfg = fast_config(corpus, max_steps=6, save_interval=2, keep_checkpoints=3)
    run = new_run_dir(tmp_path / "runs", cfg)
    assert trainer_lib.train(cfg, run)["state"] == "finished"
    assert [step for step, _ in run.checkpoints()] == [2, 4, 6]
    return run


def truncate_to_half(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)  # a real truncated file; its COMPLETE marker stays


@pytest.mark.slow
@pytest.mark.parametrize("damaged", ["model.safetensors", "optimizer.pt"])
def test_resume_passes_over_a_damaged_newest_checkpoint_and_says_which_it_used(
        run_with_three_checkpoints, tmp_path, monkeypatch, capsys, damaged):
    run = run_with_three_checkpoints
    truncate_to_half(run.checkpoint_dir(6) / damaged)
    gate = StepGate(tmp_path)
    gate.open_until(5)  # a resume from step 4 trains step 5 and is held there; one from step 6 is held at 6
    for name, value in gate.env.items():
        monkeypatch.setenv(name, value)
    held = {}

    def look_while_held():  # the CLI must run in the main thread (it sets signal handlers)
        try:
            wait_for(lambda: gate.held_at() is not None, what="the resumed run to reach the gate")
            held.update(step=gate.held_at(), status=run.read_status())
        finally:
            gate.open()

    watcher = threading.Thread(target=look_while_held)
    watcher.start()
    code = cli.main(["train", "--resume", str(run.path), "--set", "train.max_steps=8"])
    watcher.join(WAIT_S)
    assert held["step"] == 5 and held["status"]["state"] == "running"
    message = held["status"]["message"]
    assert f"Resumed from step-4: step-6 ({damaged}: " in message and "could not be read" in message, message
    assert code == 0
    assert run.read_status()["state"] == "finished"
    assert f"Resumed from step-4: step-6 ({damaged}: " in capsys.readouterr().err  # the log says it too
    assert [step for step, _ in run.checkpoints()][-1] == 8


@pytest.mark.slow
def test_a_resume_with_every_checkpoint_damaged_fails_with_a_message_not_a_traceback(
        run_with_three_checkpoints, capsys):
    run = run_with_three_checkpoints
    for _, folder in run.checkpoints():
        truncate_to_half(folder / "model.safetensors")
    assert cli.main(["train", "--resume", str(run.path), "--set", "train.max_steps=8"]) == 1
    status = run.read_status()
    assert status["state"] == "failed" and status["pid"] is None
    assert status["message"].startswith(f"No checkpoint of the run {run.id} can be read: step-6 (model.safetensors: ")
    assert "step-2 (model.safetensors: " in status["message"] and "Start the run again" in status["message"]
    assert status["message"] in capsys.readouterr().err


def test_a_crash_in_the_cli_marks_the_run_failed_instead_of_leaving_it_running(tmp_path, corpus, monkeypatch):
    def crash(cfg, run, **kwargs):
        run.write_status("running", "Training.", pid=os.getpid())
        raise RuntimeError("a bug\nits details")

    monkeypatch.setattr(trainer_lib, "train", crash)
    config = tmp_path / "config.yaml"
    fast_config(corpus).save(config)
    with pytest.raises(RuntimeError, match="a bug"):  # the traceback is still shown
        cli.main(["train", str(config), "--runs-dir", str(tmp_path / "runs")])
    status = only_run(tmp_path / "runs").read_status()
    assert status["state"] == "failed" and status["pid"] is None
    assert status["message"].startswith("Training crashed: RuntimeError: a bug. Details are in this process's")


# ---------------------------------------------------------------------------------------------
# Resume with a configuration that cannot match


@pytest.fixture
def stopped_run(tmp_path, tiny_config) -> RunDir:
    """A run folder as a stopped run leaves it: config.yaml and one complete checkpoint."""
    run = new_run_dir(tmp_path / "runs", tiny_config)
    checkpoint = run.checkpoint_dir(10)
    checkpoint.mkdir(parents=True)
    (checkpoint / "COMPLETE").write_text("ok")
    run.write_status("stopped", "Stopped at step 10; resume to continue.", step=10)
    return run


def test_cli_refuses_a_resume_that_changes_the_model_or_tokenizer_and_names_the_fields(stopped_run, capsys):
    code = cli.main(["train", "--resume", str(stopped_run.path), "--set", "model.n_embd=128",
                     "--set", "tokenizer.vocab_size=2048"])
    assert code == 2
    err = capsys.readouterr().err
    assert "model.n_embd (64 -> 128)" in err and "tokenizer.vocab_size (1024 -> 2048)" in err
    assert "Start a new run instead" in err
    assert stopped_run.load_config().model.n_embd == 64  # the run's config.yaml is untouched


def test_cli_refuses_a_resume_with_another_config_file_naming_each_difference(stopped_run, tmp_path, capsys):
    other = stopped_run.load_config()
    other.tokenizer.algorithm, other.model.family = "wordpiece", "llama"
    other.save(tmp_path / "other.yaml")
    assert cli.main(["train", str(tmp_path / "other.yaml"), "--resume", str(stopped_run.path)]) == 2
    err = capsys.readouterr().err
    assert "tokenizer.algorithm ('bpe' -> 'wordpiece')" in err and "model.family ('gpt2' -> 'llama')" in err


def test_job_manager_refuses_an_incompatible_resume_and_accepts_a_longer_one(stopped_run, tmp_path):
    class NoTraining:  # the launcher is not reached for a refused resume; for an accepted one, nothing trains
        def launch(self, run, cfg, resume):
            self.launched = (run.id, cfg.train.max_steps, resume)
            return type("Done", (), {"is_alive": lambda self: False, "join": lambda self, t=None: None})()

    manager = JobManager(tmp_path / "runs", launcher=NoTraining())
    with pytest.raises(ConfigError) as refused:
        manager.resume(stopped_run.id, ["model.n_layer=3", "model.context_length=128"])
    assert "model.n_layer (2 -> 3)" in str(refused.value) and "model.context_length (64 -> 128)" in str(refused.value)
    assert stopped_run.read_status()["state"] == "stopped"

    manager.resume(stopped_run.id, ["train.max_steps=60"])  # training settings may change
    assert manager.launcher.launched == (stopped_run.id, 60, True)
