"""How the training step runs (eager, compiled, one CUDA graph), the optimizer a captured step needs, and
the breakdown of a run's time. The graph itself needs a GPU: bench/train_throughput.py measures it there
and compares its loss curve with the compiled step's (docs/benchmarks.md, "Small models")."""

import pytest
import torch

from clm_gui.config import TrainConfig
from clm_gui.errors import UserError
from clm_gui.runs.folder import new_run_dir
from clm_gui.train.step_graph import prepare_optimizer, set_learning_rate
from clm_gui.train.trainer import make_optimizer, step_mode, train
from tests.fast_runs import fast_config, write_corpus

CPU, GPU = torch.device("cpu"), torch.device("cuda")


@pytest.mark.parametrize("setting, device, processes, precision, checkpointing, expected", [
    ("auto", CPU, 1, "fp32", False, "eager"),
    ("auto", GPU, 1, "bf16", False, "graph"),
    ("auto", GPU, 1, "fp32", False, "graph"),
    ("auto", GPU, 2, "bf16", False, "compiled"),  # DDP's all-reduce runs between the graph's kernels
    ("auto", GPU, 1, "fp16", False, "compiled"),  # the loss scaler reads the gradients on the host
    ("auto", GPU, 1, "bf16", True, "compiled"),  # activation checkpointing
    ("on", GPU, 1, "bf16", False, "compiled"),
    ("on", CPU, 1, "fp32", False, "compiled"),
    ("off", GPU, 1, "bf16", False, "eager"),
    ("graph", GPU, 1, "bf16", False, "graph"),
])
def test_step_mode_follows_the_setting_and_what_a_graph_can_hold(setting, device, processes, precision,
                                                                 checkpointing, expected):
    assert step_mode(setting, device, processes, precision, checkpointing) == expected


@pytest.mark.parametrize("device, processes, precision", [(CPU, 1, "fp32"), (GPU, 2, "bf16"), (GPU, 1, "fp16")])
def test_asking_for_a_graph_where_none_can_run_says_what_it_needs(device, processes, precision):
    with pytest.raises(UserError, match="graph needs one CUDA GPU.*use auto or on"):
        step_mode("graph", device, processes, precision, False)


def _optimizer():
    model = torch.nn.Linear(4, 3)
    return model, make_optimizer(model, TrainConfig(learning_rate=1e-2), CPU)


def test_a_captured_step_reads_its_learning_rate_from_a_tensor_set_in_place():
    model, optimizer = _optimizer()
    prepare_optimizer(optimizer, captured=True, device=CPU)
    tensors = [group["lr"] for group in optimizer.param_groups]
    assert all(torch.is_tensor(lr) and group["capturable"] for lr, group in zip(tensors, optimizer.param_groups))
    set_learning_rate(optimizer, 0.25)
    # The same tensors (a graph captured them), now holding the new rate.
    assert [group["lr"] for group in optimizer.param_groups] == tensors
    assert all(lr is group["lr"] and lr.item() == 0.25 for lr, group in zip(tensors, optimizer.param_groups))


def test_a_checkpoint_of_a_captured_run_resumes_in_an_eager_one():
    model, optimizer = _optimizer()
    prepare_optimizer(optimizer, captured=True, device=CPU)
    saved = optimizer.state_dict()
    model2, resumed = _optimizer()
    resumed.load_state_dict(saved)
    prepare_optimizer(resumed, captured=False, device=CPU)
    assert all(group["lr"] == pytest.approx(1e-2) and not torch.is_tensor(group["lr"]) and not group["capturable"]
               for group in resumed.param_groups)
    model2(torch.ones(2, 4)).sum().backward()
    before = model2.weight.detach().clone()
    set_learning_rate(resumed, 0.1)
    resumed.step()  # a CPU AdamW refuses a capturable group
    assert not torch.equal(before, model2.weight)


@pytest.mark.slow
def test_the_final_status_says_where_the_run_s_time_went(runs_root, tmp_path):
    cfg = fast_config(write_corpus(tmp_path / "corpus.txt"), eval_interval=4, sample_interval=4,
                      sample_max_new_tokens=4)
    run = new_run_dir(runs_root, cfg)
    status = train(cfg, run)
    assert status["state"] == "finished"
    timings = status["timings"]
    assert {"setup", "first_step", "eval", "samples", "saves", "final", "steps", "total"} <= set(timings)
    assert all(seconds >= 0 for seconds in timings.values())
    parts = sum(seconds for name, seconds in timings.items() if name != "total")
    assert parts == pytest.approx(timings["total"], abs=0.01)  # "steps" is the rest of the wall time
