"""A lean training forward pass over a transformers model's own parameters.

`transformers` models carry machinery for every use (caches, masks for padding, output dataclasses,
attention back-ends chosen at run time) that a packed, unpadded training batch never needs, and that
keeps `torch.compile` from seeing one clean graph. The functions here compute the same hidden states
with plain PyTorch operations, reading the parameters of the Hugging Face module in place: there is
no second copy of the weights, and the model saved at the end is the untouched transformers model.

`tests/test_fast_forward.py` checks that each function matches the model's own forward pass.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def gpt2_hidden_states(lm, input_ids: torch.Tensor) -> torch.Tensor:
    """The final-layer-norm output of a GPT2LMHeadModel, for full causal attention without padding."""
    t = lm.transformer
    B, T = input_ids.shape
    x = t.wte(input_ids) + t.wpe.weight[:T]
    x = t.drop(x)
    n_head = lm.config.n_head
    for block in t.h:
        attn, mlp = block.attn, block.mlp
        h = block.ln_1(x)
        q, k, v = attn.c_attn(h).split(attn.split_size, dim=2)  # Conv1D: one fused QKV product
        q, k, v = (z.view(B, T, n_head, -1).transpose(1, 2) for z in (q, k, v))
        dropout = attn.attn_dropout.p if attn.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=dropout)
        y = y.transpose(1, 2).reshape(B, T, -1)
        x = x + attn.resid_dropout(attn.c_proj(y))
        x = x + mlp.dropout(mlp.c_proj(mlp.act(mlp.c_fc(block.ln_2(x)))))
    return t.ln_f(x)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def llama_hidden_states(lm, input_ids: torch.Tensor) -> torch.Tensor:
    """The final-norm output of a LlamaForCausalLM, for full causal attention without padding."""
    m = lm.model
    B, T = input_ids.shape
    x = m.embed_tokens(input_ids)
    positions = torch.arange(T, device=input_ids.device).unsqueeze(0)
    cos, sin = m.rotary_emb(x, positions)
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    cfg = lm.config
    n_head, n_kv = cfg.num_attention_heads, cfg.num_key_value_heads
    for layer in m.layers:
        attn, mlp = layer.self_attn, layer.mlp
        h = layer.input_layernorm(x)
        q = attn.q_proj(h).view(B, T, n_head, -1).transpose(1, 2)
        k = attn.k_proj(h).view(B, T, n_kv, -1).transpose(1, 2)
        v = attn.v_proj(h).view(B, T, n_kv, -1).transpose(1, 2)
        q, k = q * cos + _rotate_half(q) * sin, k * cos + _rotate_half(k) * sin
        dropout = cfg.attention_dropout if attn.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=dropout, enable_gqa=n_kv != n_head)
        x = x + attn.o_proj(y.transpose(1, 2).reshape(B, T, -1))
        h = layer.post_attention_layernorm(x)
        x = x + mlp.down_proj(mlp.act_fn(mlp.gate_proj(h)) * mlp.up_proj(h))
    return m.norm(x)


HIDDEN_STATES = {"gpt2": gpt2_hidden_states, "llama": llama_hidden_states}


def hidden_states_fn(lm):
    """The lean forward for this model's family, or None (then the model's own forward is used)."""
    if any(getattr(module, "gradient_checkpointing", False) for module in lm.modules()):
        return None  # activation checkpointing lives in the model's own layer calls
    return HIDDEN_STATES.get(lm.config.model_type)
