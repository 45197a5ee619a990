"""ModelConfig -> a `transformers` causal LM (GPT-2 or Llama family), initialised from scratch."""

from __future__ import annotations

import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, PreTrainedModel

from clm_gui.config import ModelConfig

VOCAB_MULTIPLE = 64  # matrix units run fastest on dimensions that are multiples of 64


def padded_vocab_size(n: int) -> int:
    return -(-n // VOCAB_MULTIPLE) * VOCAB_MULTIPLE


def llama_intermediate_size(n_embd: int) -> int:
    """Llama's SwiGLU width: 8/3 of the model width, rounded up to a multiple of 256."""
    return -(-int(8 * n_embd / 3) // 256) * 256


def hf_config(cfg: ModelConfig, vocab_size: int, eos_id: int | None = None, pad_id: int | None = None):
    """The transformers config for this model, with the vocabulary padded to a multiple of 64."""
    vocab = padded_vocab_size(vocab_size)
    special = {"bos_token_id": eos_id, "eos_token_id": eos_id, "pad_token_id": pad_id}
    if cfg.family == "gpt2":
        return GPT2Config(
            vocab_size=vocab,
            n_positions=cfg.context_length,
            n_embd=cfg.n_embd,
            n_layer=cfg.n_layer,
            n_head=cfg.n_head,
            n_inner=cfg.intermediate_size or None,
            resid_pdrop=cfg.dropout,
            embd_pdrop=cfg.dropout,
            attn_pdrop=cfg.dropout,
            # GPT-2's tanh-approximated GELU as PyTorch's one fused kernel: the same function as the
            # default "gelu_new" (eight element-wise operations), 15% less CPU time per step at 1.9M
            # parameters (docs/benchmarks.md, "CPU step"); every GPT-2 loader knows the name.
            activation_function="gelu_pytorch_tanh",
            tie_word_embeddings=cfg.tie_embeddings,
            use_cache=True,
            **special,
        )
    return LlamaConfig(
        vocab_size=vocab,
        hidden_size=cfg.n_embd,
        intermediate_size=cfg.intermediate_size or llama_intermediate_size(cfg.n_embd),
        num_hidden_layers=cfg.n_layer,
        num_attention_heads=cfg.n_head,
        num_key_value_heads=cfg.n_kv_head or cfg.n_head,
        max_position_embeddings=cfg.context_length,
        attention_dropout=cfg.dropout,
        tie_word_embeddings=cfg.tie_embeddings,
        use_cache=True,
        **special,
    )


def build_model(cfg: ModelConfig, vocab_size: int, seed: int, eos_id=None, pad_id=None) -> PreTrainedModel:
    """A freshly initialised model; the same seed gives the same weights on any device."""
    config = hf_config(cfg, vocab_size, eos_id, pad_id)
    config._attn_implementation = "sdpa"  # PyTorch's fused attention (flash / memory-efficient kernels)
    model_cls = GPT2LMHeadModel if cfg.family == "gpt2" else LlamaForCausalLM
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_cls(config)
    if cfg.gradient_checkpointing:
        kwargs = {"use_reentrant": False}
        if hasattr(model, "activation_checkpointing_enable"):  # the name since transformers 5.2x
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    return model


def count_parameters(model: torch.nn.Module) -> int:
    """Unique parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in model.parameters())
