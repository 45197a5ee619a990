"""Several processes train one model: torchrun on CPU with gloo, and the app's launch command."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from clm_gui.errors import UserError
from clm_gui.files import remove_tree
from clm_gui.jobs.launch import MachineSettings, launch_command, selected_gpus
from clm_gui.runs.folder import RunDir
from clm_gui.train.trainer import train
from tests.conftest import free_port, make_tiny_config
from tests.fast_runs import fast_config, write_corpus

ROOT = Path(__file__).resolve().parents[1]


def torchrun_two_cpu_processes(tmp_path, *train_args: str) -> subprocess.CompletedProcess:
    """`torchrun --nproc_per_node 2 -m clm_gui train ARGS` on the CPU (gloo), each rank tracing its work."""
    env = {**os.environ, "CLM_GUI_DATA_TRACE": str(tmp_path / "trace"), "CLM_GUI_SHARD_TRACE": str(tmp_path / "shards"),
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
           "-m", "clm_gui", "train", *train_args, "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def train_two_cpu_processes(tmp_path, cfg, name: str) -> tuple[RunDir, subprocess.CompletedProcess]:
    config_path = tmp_path / f"{name}.yaml"
    cfg.save(config_path)
    runs = tmp_path / name
    out = torchrun_two_cpu_processes(tmp_path, str(config_path), "--runs-dir", str(runs))
    [run_path] = [p for p in runs.iterdir() if not p.name.startswith(".")]  # one folder, not one per rank
    return RunDir(run_path), out


@pytest.mark.slow
def test_two_cpu_processes_train_disjoint_shards_and_only_rank_0_writes(tmp_path):
    cfg = make_tiny_config(max_steps=8, eval_interval=4, save_interval=4, device="cpu")
    run, out = train_two_cpu_processes(tmp_path, cfg, "runs")
    assert run.read_status()["state"] == "finished" and run.read_status()["world_size"] == 2
    shards = [set((tmp_path / f"trace.rank{r}").read_text().split()) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 8 * 8  # 8 steps x 8 windows on each rank
    assert shards[0].isdisjoint(shards[1])
    steps = [r["step"] for r in run.read_metrics() if r["kind"] == "train"]
    assert steps == sorted(set(steps))  # one writer: no step logged twice
    assert [s for s, _ in run.checkpoints()] == [4, 8]
    assert AutoModelForCausalLM.from_pretrained(str(run.final_dir)).config.n_layer == 2
    reports = [line for line in out.stdout.splitlines() if line.startswith('{')]
    assert len(reports) == 1  # rank 0 alone prints its JSON status


def fsdp_config(tmp_path, **train):
    cfg = fast_config(write_corpus(tmp_path / "corpus.txt"), distributed="fsdp", sample_max_new_tokens=4, **train)
    cfg.model.n_layer = 2  # two transformer blocks, each sharded as its own unit
    return cfg


@pytest.mark.slow
def test_fsdp_shards_the_model_across_two_processes_and_saves_a_plain_model(tmp_path):
    cfg = fsdp_config(tmp_path, max_steps=4, eval_interval=2, sample_interval=2, save_interval=2)
    run, out = train_two_cpu_processes(tmp_path, cfg, "runs")

    assert run.read_status()["state"] == "finished" and run.read_status()["world_size"] == 2
    model = AutoModelForCausalLM.from_pretrained(str(run.final_dir))
    n_params = sum(p.numel() for p in model.parameters())
    held = [json.loads((tmp_path / f"shards.rank{r}").read_text()) for r in range(2)]
    assert sum(h["parameters"] for h in held) == n_params  # each rank held a slice; together, all of it
    assert all(h["parameters"] < 0.6 * n_params for h in held)
    assert all(h["optimizer_state"] == 2 * h["parameters"] for h in held)  # Adam's two moments, sliced alike
    shards = [set((tmp_path / f"trace.rank{r}").read_text().split()) for r in range(2)]
    assert shards[0].isdisjoint(shards[1])

    # Every rank evaluated and sampled (a sharded forward needs them all); rank 0 alone wrote.
    assert [r["step"] for r in run.read_metrics() if r["kind"] == "eval"] == [2, 4]
    assert [s["step"] for s in run.read_samples()] == [2, 4]
    assert [s for s, _ in run.checkpoints()] == [2, 4]
    assert len([line for line in out.stdout.splitlines() if line.startswith('{')]) == 1
    assert "lm_head.weight" not in load_file(str(run.final_dir / "model.safetensors"))  # tied: stored once
    tokenizer = AutoTokenizer.from_pretrained(str(run.final_dir))
    ids = tokenizer("def ", return_tensors="pt").input_ids
    assert model.generate(ids, max_new_tokens=4, do_sample=False).shape[1] == ids.shape[1] + 4


@pytest.mark.slow
def test_fsdp_run_resumed_from_a_checkpoint_repeats_the_uninterrupted_steps(tmp_path):
    cfg = fsdp_config(tmp_path, max_steps=8, save_interval=4)
    run, _ = train_two_cpu_processes(tmp_path, cfg, "runs")
    remove_tree(run.checkpoint_dir(8))  # as if the run had stopped after its step-4 checkpoint
    torchrun_two_cpu_processes(tmp_path, "--resume", str(run.path))

    records = [(r["step"], r["train_loss"]) for r in run.read_metrics() if r["kind"] == "train"]
    uninterrupted, resumed = dict(records[:8]), dict(records[8:])
    assert list(resumed) == [5, 6, 7, 8]
    # The checkpoint holds the whole fp32 state and gloo adds the two ranks' gradients in a fixed order,
    # so the resumed steps repeat the uninterrupted ones to float32 rounding.
    assert resumed == pytest.approx({s: uninterrupted[s] for s in resumed}, abs=1e-5)

    alone = train(run.load_config(), run, resume=True)  # one process: FSDP's checkpoint keys differ from DDP's
    assert alone["state"] == "failed" and "saved with FSDP" in alone["message"]


def test_launch_command_for_two_gpus_is_an_argument_list_for_accelerate(tmp_path):
    run = RunDir(tmp_path / "run-1")
    argv, env = launch_command(run, [0, 1], resume=False)
    assert argv[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    assert argv[argv.index("--num_processes") + 1] == "2"
    assert argv[argv.index("--gpu_ids") + 1] == "0,1"
    assert argv[-4:] == ["clm_gui", "train", "--run-dir", str(run.path)]
    assert env["NCCL_NVLS_ENABLE"] == "0"
    resumed, _ = launch_command(run, [2, 3], resume=True)
    assert resumed[-2:] == ["--resume", str(run.path)]


def test_launch_command_for_several_machines(tmp_path):
    machines = MachineSettings(num_machines=2, machine_rank=1, main_process_ip="10.0.0.5", main_process_port=29555)
    argv, _ = launch_command(RunDir(tmp_path / "r"), [0, 1, 2, 3], resume=False, machines=machines)
    value = lambda flag: argv[argv.index(flag) + 1]  # noqa: E731
    assert (value("--num_machines"), value("--machine_rank"), value("--num_processes")) == ("2", "1", "8")
    assert (value("--main_process_ip"), value("--main_process_port")) == ("10.0.0.5", "29555")


def test_gpu_selection_is_checked_against_the_machine():
    assert selected_gpus("", 4) == []
    assert selected_gpus("all", 3) == [0, 1, 2]
    assert selected_gpus("1, 3", 4) == [1, 3]
    with pytest.raises(UserError, match="this machine has 2"):
        selected_gpus("0,2", 2)
    with pytest.raises(UserError, match="twice"):
        selected_gpus("1,1", 2)


class RecordingLauncher:
    def __init__(self):
        self.launched = []

    def launch(self, run, cfg, resume):
        self.launched.append((run.id, resume))
        return FinishedHandle()


class FinishedHandle:
    def is_alive(self):
        return False

    def join(self, timeout=None):
        pass


def test_job_manager_starts_several_gpus_through_the_subprocess_launcher(tmp_path, monkeypatch):
    from clm_gui.jobs.manager import JobManager

    monkeypatch.setattr("torch.cuda.device_count", lambda: 2)
    single, several = RecordingLauncher(), RecordingLauncher()
    manager = JobManager(tmp_path / "runs", launcher=single, multi_gpu_launcher=several)
    cfg = make_tiny_config()
    cfg.train.gpus = "all"
    run = manager.start(cfg)
    assert several.launched == [(run.id, False)] and single.launched == []
    cfg.train.gpus = ""
    (run.path / "status.json").write_text('{"state": "finished"}')
    manager.start(cfg)
    assert len(single.launched) == 1


def test_subprocess_launcher_runs_an_argument_list_without_a_shell(tmp_path, monkeypatch):
    import subprocess

    from clm_gui.jobs.launch import SubprocessLauncher
    from clm_gui.runs.folder import new_run_dir

    calls = []

    class FakePopen:
        pid = 4242

        def __init__(self, argv, **kwargs):
            calls.append((argv, kwargs))

        def poll(self):
            return None

    monkeypatch.setattr(subprocess, "Popen", FakePopen)
    cfg = make_tiny_config()
    cfg.train.gpus = "0,1"
    run = new_run_dir(tmp_path / "runs", cfg)
    handle = SubprocessLauncher(available_gpus=2).launch(run, cfg, resume=False)
    [(argv, kwargs)] = calls
    assert isinstance(argv, list) and not kwargs.get("shell")
    assert argv[argv.index("--num_processes") + 1] == "2" and handle.is_alive()
    assert run.read_status()["pid"] == 4242


@pytest.mark.slow
@pytest.mark.parametrize("distributed", ["ddp", "fsdp"])
def test_two_processes_agree_on_the_best_model_and_stop_early_together(tmp_path, distributed):
    # An evaluation every step with patience 1: the first evaluation that is not a new best ends the run.
    cfg = fast_config(write_corpus(tmp_path / "corpus.txt"), distributed=distributed, max_steps=60,
                      eval_interval=1, early_stop_patience=1, save_interval=0, learning_rate=0.05,
                      schedule="constant", warmup_steps=1)  # a high constant rate: the loss soon wavers
    run, _ = train_two_cpu_processes(tmp_path, cfg, "runs")
    status = run.read_status()
    assert status["state"] == "finished" and status["message"].startswith("Stopped early at step"), status
    windows = [len((tmp_path / f"trace.rank{r}").read_text().split()) for r in range(2)]
    assert windows[0] == windows[1] == status["step"] * cfg.train.micro_batch_size  # both stopped at that step
    evals = [r for r in run.read_metrics() if r["kind"] == "eval"]
    best = min(evals, key=lambda r: r["eval_loss"])
    assert status["best"]["step"] == best["step"] < status["step"]
    saved = load_file(str(run.best_dir / "model.safetensors"))
    final = AutoModelForCausalLM.from_pretrained(str(run.final_dir)).state_dict()
    assert all(torch.equal(final[k], saved[k]) for k in saved)  # final/ is the best evaluation's model
