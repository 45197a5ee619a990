"""The lean training forward computes what the transformers model computes, on its own parameters."""

import pytest
import torch

from clm_gui.config import ModelConfig
from clm_gui.model.architecture import build_model
from clm_gui.train.fast_forward import hidden_states_fn
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
