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


def gpt2_layer(block, x: torch.Tensor, n_head: int) -> torch.Tensor:
    """One GPT-2 block: pre-norm attention with one fused QKV product (Conv1D), then the MLP."""
    attn, mlp = block.attn, block.mlp
    B, T, _ = x.shape
    h = block.ln_1(x)
    q, k, v = attn.c_attn(h).split(attn.split_size, dim=2)
    q, k, v = (z.view(B, T, n_head, -1).transpose(1, 2) for z in (q, k, v))
    dropout = attn.attn_dropout.p if attn.training else 0.0
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=dropout)
    y = y.transpose(1, 2).reshape(B, T, -1)
    x = x + attn.resid_dropout(attn.c_proj(y))
    return x + mlp.dropout(mlp.c_proj(mlp.act(mlp.c_fc(block.ln_2(x)))))


def gpt2_hidden_states(lm, input_ids: torch.Tensor, layer=gpt2_layer) -> torch.Tensor:
    """The final-layer-norm output of a GPT2LMHeadModel, for full causal attention without padding."""
    t = lm.transformer
    x = t.drop(t.wte(input_ids) + t.wpe.weight[:input_ids.shape[1]])
    for block in t.h:
        x = layer(block, x, lm.config.n_head)
    return t.ln_f(x)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def llama_layer(layer, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, n_head: int, n_kv: int,
                attention_dropout: float) -> torch.Tensor:
    """One Llama decoder layer: pre-norm attention with rotary positions (grouped KV heads), then SwiGLU."""
    attn, mlp = layer.self_attn, layer.mlp
    B, T, _ = x.shape
    h = layer.input_layernorm(x)
    q = attn.q_proj(h).view(B, T, n_head, -1).transpose(1, 2)
    k = attn.k_proj(h).view(B, T, n_kv, -1).transpose(1, 2)
    v = attn.v_proj(h).view(B, T, n_kv, -1).transpose(1, 2)
    q, k = q * cos + _rotate_half(q) * sin, k * cos + _rotate_half(k) * sin
    dropout = attention_dropout if attn.training else 0.0
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=dropout, enable_gqa=n_kv != n_head)
    x = x + attn.o_proj(y.transpose(1, 2).reshape(B, T, -1))
    h = layer.post_attention_layernorm(x)
    return x + mlp.down_proj(mlp.act_fn(mlp.gate_proj(h)) * mlp.up_proj(h))


def llama_hidden_states(lm, input_ids: torch.Tensor, layer=llama_layer) -> torch.Tensor:
    """The final-norm output of a LlamaForCausalLM, for full causal attention without padding."""
    m, cfg = lm.model, lm.config
    x = m.embed_tokens(input_ids)
    positions = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
    cos, sin = m.rotary_emb(x, positions)
    for decoder_layer in m.layers:
        x = layer(decoder_layer, x, cos.unsqueeze(1), sin.unsqueeze(1), cfg.num_attention_heads,
                  cfg.num_key_value_heads, cfg.attention_dropout)
    return m.norm(x)


# Each family's forward and its layer: a forward takes `layer=` another function of the same signature
# (bench/train_throughput.py's "regional" variant passes the layer compiled, once for all of them).
HIDDEN_STATES = {"gpt2": gpt2_hidden_states, "llama": llama_hidden_states}
LAYERS = {"gpt2": gpt2_layer, "llama": llama_layer}


def hidden_states_fn(lm):
    """The lean forward for this model's family, or None (then the model's own forward is used)."""
    if any(getattr(module, "gradient_checkpointing", False) for module in lm.modules()):
        return None  # activation checkpointing lives in the model's own layer calls
    return HIDDEN_STATES.get(lm.config.model_type)
