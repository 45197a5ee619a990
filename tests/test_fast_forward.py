"""The lean training forward computes what the transformers model computes, on its own parameters."""

import pytest
import torch

from clm_gui.config import ModelConfig
from clm_gui.model.architecture import build_model
from clm_gui.train.fast_forward import HIDDEN_STATES, LAYERS, hidden_states_fn
from clm_gui.train.loss import CausalLMLoss


@pytest.mark.parametrize("family, kv_heads", [("gpt2", 0), ("llama", 0), ("llama", 2)])
def test_lean_forward_matches_the_models_own_forward(family, kv_heads):
    cfg = ModelConfig(family=family, n_layer=2, n_head=4, n_embd=64, n_kv_head=kv_heads, context_length=32)
    lm = build_model(cfg, vocab_size=300, seed=0).eval()
    ids = torch.randint(0, 300, (3, 32))
    lean = hidden_states_fn(lm)
    assert lean is not None
    expected = lm.base_model(input_ids=ids).last_hidden_state
    assert torch.allclose(lean(lm, ids), expected, atol=1e-5)
    loss = CausalLMLoss(lm)(ids)
    assert torch.allclose(loss, lm(input_ids=ids, labels=ids).loss, atol=1e-5)


def test_gradient_checkpointing_falls_back_to_the_models_forward():
    cfg = ModelConfig(n_layer=1, n_head=2, n_embd=32, context_length=16, gradient_checkpointing=True)
    assert hidden_states_fn(build_model(cfg, vocab_size=100, seed=0)) is None


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_a_layer_compiled_once_serves_every_layer_with_the_eager_result(family):
    """The contract of `layer=` that regional compilation (bench/train_throughput.py's "regional") relies on:
    one compiled graph however deep the model, the same hidden states and gradients. Dynamo's own graph
    count, through AOTAutograd without code generation (what decides the reuse)."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    lm = build_model(ModelConfig(family=family, n_layer=5, n_head=4, n_embd=64, context_length=32), 300, 0)
    ids = torch.randint(0, 300, (3, 32))
    compiled = torch.compile(LAYERS[family], backend="aot_eager")
    hidden = HIDDEN_STATES[family](lm, ids, layer=compiled)
    hidden.sum().backward()
    grads = [p.grad.clone() for p in lm.parameters() if p.grad is not None]
    lm.zero_grad()
    eager = HIDDEN_STATES[family](lm, ids)
    eager.sum().backward()
    assert counters["stats"]["unique_graphs"] == 1
    assert torch.allclose(hidden, eager, atol=1e-5)
    assert all(torch.allclose(a, p.grad, atol=1e-5) for a, p in zip(grads, (p for p in lm.parameters() if p.grad is not None)))


def test_gpt2_models_use_the_fused_tanh_gelu_which_computes_what_gpt2s_default_does(tmp_path):
    """One fused kernel instead of GPT-2's eight element-wise operations (CPU steps are faster), the same
    function; a saved model reloads with it."""
    from transformers import AutoModelForCausalLM
    from transformers.activations import ACT2FN

    lm = build_model(ModelConfig(family="gpt2", n_layer=2, n_head=4, n_embd=64, context_length=32), 300, 0).eval()
    ids = torch.randint(0, 300, (3, 32))
    fused = lm(input_ids=ids).logits
    for block in lm.transformer.h:
        block.mlp.act = ACT2FN["gelu_new"]
    assert torch.allclose(fused, lm(input_ids=ids).logits, atol=1e-5)
    lm.save_pretrained(tmp_path)
    assert AutoModelForCausalLM.from_pretrained(tmp_path).config.activation_function == "gelu_pytorch_tanh"
