"""train.optimizer "muon": Muon on the hidden matrices, AdamW on the rest (clm_gui.train.muon), what it
updates, how it resumes and how a captured step drives it."""

import copy

import pytest
import torch

from clm_gui.config import ConfigError, RunConfig, TrainConfig
from clm_gui.model.architecture import build_model
from clm_gui.runs.folder import RunDir, new_run_dir
from clm_gui.train.muon import MuonAdamW, orthogonalised
from clm_gui.train.step_graph import prepare_optimizer, set_learning_rate
from clm_gui.train.trainer import Trainer, make_optimizer, train
from tests.fast_runs import fast_config, write_corpus

CPU = torch.device("cpu")


def _pair(seed: int = 0):
    """A hidden matrix and a vector, each with a gradient."""
    torch.manual_seed(seed)
    matrix, vector = torch.nn.Parameter(torch.randn(24, 64)), torch.nn.Parameter(torch.randn(64))
    return matrix, vector


def _muon(matrix, vector, lr=1e-2):
    return MuonAdamW([{"params": [matrix], "muon": True, "weight_decay": 0.1},
                      {"params": [vector], "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.99))


def _steps(optimizer, params, gradients):
    for grads in gradients:
        for param, grad in zip(params, grads):
            param.grad = grad.clone()
        optimizer.step()


def _gradients(params, count=4, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return [[torch.randn(p.shape, generator=generator) for p in params] for _ in range(count)]


def test_an_orthogonalised_matrix_has_its_singular_values_near_one_whatever_its_scale_and_shape():
    torch.manual_seed(0)
    for shape in [(16, 48), (48, 16)]:
        matrix = torch.randn(shape) * torch.logspace(-1, 1, shape[1])  # columns 100x apart in scale
        values = torch.linalg.svdvals(orthogonalised(matrix))
        assert orthogonalised(matrix).shape == shape
        assert values.min() > 0.5 and values.max() < 1.5, values  # Jordan et al.'s iteration: within (0.5, 1.5)


def test_the_matrices_follow_torch_s_muon_and_the_rest_torch_s_adamw():
    """Matched to the published implementations (torch.optim.Muon scaled to AdamW's RMS, torch.optim.AdamW):
    the AdamW half exactly, the Muon half within bfloat16's rounding (torch's iterates in bfloat16)."""
    matrix, vector = _pair()
    theirs = copy.deepcopy([matrix, vector])
    ours = _muon(matrix, vector)
    muon = torch.optim.Muon([theirs[0]], lr=1e-2, weight_decay=0.1, adjust_lr_fn="match_rms_adamw")
    adamw = torch.optim.AdamW([theirs[1]], lr=1e-2, betas=(0.9, 0.99), weight_decay=0.0)
    gradients = _gradients([matrix, vector])
    start = matrix.detach().clone()
    _steps(ours, [matrix, vector], gradients)
    for grads in gradients:
        theirs[0].grad, theirs[1].grad = grads[0].clone(), grads[1].clone()
        muon.step()
        adamw.step()
    assert torch.allclose(vector, theirs[1], atol=1e-6)
    moved = (theirs[0] - start).abs().mean()
    assert (matrix - theirs[0]).abs().max() < 0.05 * moved  # the moves agree to a few percent


def test_a_learning_rate_tensor_set_in_place_drives_the_same_steps_as_a_number():
    """A captured step reads the rate from a tensor (step_graph.set_learning_rate fills it in place)."""
    plain, captured = _pair(), _pair()
    by_number, by_tensor = _muon(*plain), _muon(*captured)
    prepare_optimizer(by_tensor, captured=True, device=CPU)
    for rate, grads in zip([1e-2, 5e-3, 1e-3], _gradients(plain[0:2], count=3)):
        set_learning_rate(by_number, rate)
        set_learning_rate(by_tensor, rate)
        _steps(by_number, plain, [grads])
        _steps(by_tensor, captured, [grads])
    for a, b in zip(plain, captured):
        assert torch.allclose(a, b, atol=1e-6)


def test_its_state_saved_and_loaded_continues_exactly():
    params = _pair()
    optimizer = _muon(*params)
    gradients = _gradients(params, count=6)
    _steps(optimizer, params, gradients[:3])
    saved_params, saved_state = copy.deepcopy(params), copy.deepcopy(optimizer.state_dict())
    _steps(optimizer, params, gradients[3:])

    restored = _muon(*saved_params)
    restored.load_state_dict(saved_state)
    _steps(restored, saved_params, gradients[3:])
    for a, b in zip(params, saved_params):
        assert torch.equal(a, b)


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_muon_takes_the_hidden_matrices_and_adamw_the_embeddings_the_head_and_the_vectors(family):
    cfg = RunConfig().model
    cfg.family, cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.context_length = family, 2, 2, 32, 16
    lm = build_model(cfg, 100, 0, 0, 1)
    optimizer = make_optimizer(lm, TrainConfig(optimizer="muon", weight_decay=0.5), CPU)
    names = {id(p): name for name, p in lm.named_parameters()}
    by_kind = {muon: [names[id(p)] for g in optimizer.param_groups if g["muon"] == muon for p in g["params"]]
               for muon in (True, False)}
    assert by_kind[True] and all(".h." in n or ".layers." in n for n in by_kind[True])  # inside the blocks
    assert all(lm.get_parameter(n).dim() == 2 for n in by_kind[True])
    embeddings = {n for n in by_kind[False] if "wte" in n or "wpe" in n or "embed" in n or "lm_head" in n}
    assert embeddings and embeddings.isdisjoint(by_kind[True])
    assert sorted(by_kind[True] + by_kind[False]) == sorted(n for n, _ in lm.named_parameters())
    decayed = {names[id(p)] for g in optimizer.param_groups if g["weight_decay"] == 0.5 for p in g["params"]}
    assert decayed == {n for n, p in lm.named_parameters() if p.dim() == 2}  # matrices decay, vectors do not


def test_muon_is_refused_where_the_matrices_are_sharded():
    with pytest.raises(ConfigError, match="train.optimizer muon needs each matrix whole.*ddp"):
        TrainConfig(optimizer="muon", distributed="fsdp", max_steps=10).check()


@pytest.fixture
def corpus(tmp_path):
    return write_corpus(tmp_path / "corpus.txt")


def _losses(run: RunDir) -> dict[int, float]:
    return {r["step"]: r["train_loss"] for r in run.read_metrics() if "train_loss" in r}


def test_a_muon_run_learns_and_a_stopped_one_resumes_to_the_same_steps(tmp_path, corpus):
    cfg = fast_config(corpus, optimizer="muon", max_steps=12, save_interval=0)
    straight = new_run_dir(tmp_path / "runs", cfg)
    assert train(cfg, straight)["state"] == "finished"
    expected = _losses(straight)
    assert expected[12] < expected[1] - 0.5, expected

    split = new_run_dir(tmp_path / "runs", cfg)
    first = Trainer(cfg, split, should_stop=lambda: first.state.step >= 6)
    assert first.run()["state"] == "stopped"
    assert train(cfg, split, resume=True)["state"] == "finished"
    got = _losses(split)
    assert [got[s] for s in (8, 12)] == pytest.approx([expected[s] for s in (8, 12)], abs=1e-5)
