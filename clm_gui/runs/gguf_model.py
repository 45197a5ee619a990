"""The two model families the app trains, as llama.cpp reads them: hyperparameters and tensor layouts.

Tensor names come from the `gguf` package's own map (`gguf.get_tensor_name_map`), which knows the
Hugging Face names of GPT-2 and Llama; what differs between the two layouts is done here:
- GPT-2 stores its projections as `Conv1D` weights, (in, out); ggml wants (out, in), so they are transposed.
- Llama's query and key rows are ordered for `rotate_half` (the first half of each head, then the
  second); llama.cpp rotates adjacent pairs, so each head's rows are interleaved back.
- A tied output head is not written: llama.cpp reuses the token embedding when `output.weight` is absent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gguf
import torch

from clm_gui.errors import UserError

_CONV1D = (".attn.c_attn.weight", ".attn.c_proj.weight", ".mlp.c_fc.weight", ".mlp.c_proj.weight")
_KEPT_IN_F32 = ("position_embd.weight",)  # llama.cpp's converter keeps these exact, as it does norms and biases


@dataclass(frozen=True)
class Family:
    arch: gguf.MODEL_ARCH
    add_hparams: Callable[[gguf.GGUFWriter, dict], None]
    transposed: tuple[str, ...]  # the endings of the Hugging Face names stored (in, out)
    reorder_rows: Callable[[str, torch.Tensor, dict], torch.Tensor]  # (HF name, tensor, config.json) -> same shape

    @property
    def arch_name(self) -> str:
        return gguf.MODEL_ARCH_NAMES[self.arch]

    def transposes(self, name: str) -> bool:
        return name.endswith(self.transposed)

    def to_ggml(self, name: str, tensor: torch.Tensor, config: dict) -> torch.Tensor:
        return self.reorder_rows(name, tensor.T if self.transposes(name) else tensor, config)


def _gpt2_hparams(writer: gguf.GGUFWriter, config: dict) -> None:
    writer.add_context_length(config["n_positions"])
    writer.add_embedding_length(config["n_embd"])
    writer.add_feed_forward_length(config.get("n_inner") or 4 * config["n_embd"])
    writer.add_block_count(config["n_layer"])
    writer.add_head_count(config["n_head"])
    writer.add_layer_norm_eps(config["layer_norm_epsilon"])


def _rope_theta(config: dict) -> float:
    rope = config.get("rope_parameters") or {"rope_theta": config.get("rope_theta", 10000.0)}
    if rope.get("rope_type", "default") != "default" or config.get("rope_scaling"):
        raise UserError(f"This Llama model uses RoPE scaling ({rope.get('rope_type')}); the exporter writes "
                        "plain RoPE only, as the app trains it.")
    return float(rope["rope_theta"])


def _llama_head_dim(config: dict) -> int:
    return config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]


def _llama_hparams(writer: gguf.GGUFWriter, config: dict) -> None:
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_head_count_kv(config.get("num_key_value_heads") or config["num_attention_heads"])
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_rope_freq_base(_rope_theta(config))
    writer.add_rope_dimension_count(_llama_head_dim(config))
    writer.add_vocab_size(config["vocab_size"])


def _interleave_rope_rows(weight: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Per head, rows [x0..x(d/2-1), y0..y(d/2-1)] (rotate_half pairs x_i with y_i) become
    [x0, y0, x1, y1, ...] (llama.cpp rotates adjacent pairs)."""
    return weight.reshape(n_heads, 2, weight.shape[0] // n_heads // 2, *weight.shape[1:]) \
        .swapaxes(1, 2).reshape(weight.shape)


def _llama_reorder_rows(name: str, tensor: torch.Tensor, config: dict) -> torch.Tensor:
    if name.endswith("self_attn.q_proj.weight"):
        return _interleave_rope_rows(tensor, config["num_attention_heads"])
    if name.endswith("self_attn.k_proj.weight"):
        return _interleave_rope_rows(tensor, config.get("num_key_value_heads") or config["num_attention_heads"])
    return tensor


FAMILIES = {
    "gpt2": Family(gguf.MODEL_ARCH.GPT2, _gpt2_hparams, transposed=_CONV1D, reorder_rows=lambda name, t, config: t),
    "llama": Family(gguf.MODEL_ARCH.LLAMA, _llama_hparams, transposed=(), reorder_rows=_llama_reorder_rows),
}


def family_of(config: dict) -> Family:
    kind = config.get("model_type")
    if kind not in FAMILIES:
        raise UserError(f"The model family {kind!r} cannot be exported to GGUF: the exporter knows "
                        f"{' and '.join(FAMILIES)}, the two families the app trains.")
    return FAMILIES[kind]


def block_count(config: dict) -> int:
    return config.get("n_layer") or config["num_hidden_layers"]


def gguf_name(name: str, family: Family, n_blocks: int) -> str:
    mapped = gguf.get_tensor_name_map(family.arch, n_blocks).get_name(name, try_suffixes=(".weight", ".bias"))
    if mapped is None:
        raise UserError(f"The model has a tensor {name!r} that a {family.arch_name} model in llama.cpp does not "
                        "have: it was not trained by this app, or its architecture was changed.")
    return mapped


def stored_type(name: str, shape: tuple[int, ...], outtype: gguf.GGMLQuantizationType) -> gguf.GGMLQuantizationType:
    """The type a tensor is stored in: vectors (norms, biases) and position embeddings stay F32, as in
    llama.cpp's own converter (its kernels expect them so, and they are a tiny share of the file); a
    matrix whose rows do not split into Q8_0's blocks of 32 falls back to F16."""
    if len(shape) < 2 or not name.endswith(".weight") or name.endswith("_norm.weight") or name in _KEPT_IN_F32:
        return gguf.GGMLQuantizationType.F32
    block, _ = gguf.GGML_QUANT_SIZES[outtype]
    return outtype if shape[-1] % block == 0 else gguf.GGMLQuantizationType.F16
